"""Argument checks for the strategy constructors: clear ``InvalidArgument`` errors naming the argument.

Plain constructors check when called; ``@st.composite`` strategies check when
first drawn from (or on ``.validate()``), as Hypothesis's own strategies do.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any

from hypothesis.errors import InvalidArgument


def check_int_range(name: str, value: Any, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgument(f"{name}={value!r} must be an int")
    if value < low or (high is not None and value > high):
        bound = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise InvalidArgument(f"{name}={value!r} must be {bound}")
    return value


def check_pool(name: str, values: Iterable[Any], low: int) -> tuple[int, ...]:
    try:
        pool = tuple(values)
    except TypeError:
        raise InvalidArgument(f"{name}={values!r} must be a sequence of ints") from None
    if not pool:
        raise InvalidArgument(f"{name} must not be empty")
    for v in pool:
        check_int_range(f"an element of {name}", v, low)
    return pool


def check_choices(name: str, values: Iterable[Any], allowed: Iterable[Any]) -> tuple[Any, ...]:
    allowed = tuple(allowed)
    try:
        chosen = tuple(values)
    except TypeError:
        raise InvalidArgument(f"{name}={values!r} must be a sequence") from None
    if not chosen:
        raise InvalidArgument(f"{name} must not be empty")
    for v in chosen:
        if v not in allowed:
            raise InvalidArgument(f"{name} contains {v!r}; allowed: {', '.join(map(str, allowed))}")
    return chosen


def reused(factory: Callable[..., Any]) -> Callable[..., Any]:
    """Build each strategy once per set of arguments, then hand out the same (immutable) object.

    Hypothesis validates a strategy the first time it is drawn from; a composite
    strategy that builds its parts anew on every draw pays that again and again.
    Arguments that cannot be hashed (a list, say) fall back to building anew, so
    validation and its ``InvalidArgument`` are unchanged.
    """
    cached = functools.lru_cache(maxsize=1024)(factory)

    @functools.wraps(factory)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return cached(*args, **kwargs)
        except TypeError as e:
            if "unhashable" not in str(e):
                raise
            return factory(*args, **kwargs)

    return wrapper
