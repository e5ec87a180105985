"""Argument checks for the strategy constructors: clear ``InvalidArgument`` errors naming the argument.

Plain constructors check when called; ``@st.composite`` strategies check when
first drawn from (or on ``.validate()``), as Hypothesis's own strategies do.
"""

from __future__ import annotations

import functools
import struct
import threading
from collections import OrderedDict
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


def check_pool(name: str, values: Iterable[Any], low: int, *, empty: bool = False) -> tuple[int, ...]:
    try:
        pool = tuple(values)
    except TypeError:
        raise InvalidArgument(f"{name}={values!r} must be a sequence of ints") from None
    if not pool and not empty:
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


def _value_key(value: Any) -> Any:
    """A cache key that tells apart values that compare equal across types.

    ``True == 1 == 1.0`` (and ``0.0 == -0.0``), so a plain cache would hand the strategy
    built for one to a call with another and skip that call's checks. As Hypothesis's
    own strategy cache does, key each value by ``(type, value)``, floats by their bits,
    and recurse into tuples (and frozensets) so their elements are keyed the same way.
    """
    if isinstance(value, float):
        return (type(value), struct.pack("!d", value))
    if isinstance(value, tuple):
        return (type(value), tuple(_value_key(v) for v in value))
    if isinstance(value, frozenset):
        return (type(value), frozenset(_value_key(v) for v in value))
    return (type(value), value)


def reused(factory: Callable[..., Any], maxsize: int = 1024) -> Callable[..., Any]:
    """Build each strategy once per set of arguments, then hand out the same (immutable) object.

    Hypothesis validates a strategy the first time it is drawn from; a composite
    strategy that builds its parts anew on every draw pays that again and again.
    Arguments are keyed with their types (``min_batch=True`` is not ``min_batch=1``),
    so every distinct call still runs its own checks. Arguments that cannot be hashed
    (a list, say) fall back to building anew, so validation and its
    ``InvalidArgument`` are unchanged. A call that raises caches nothing.
    """
    cache: OrderedDict[Any, Any] = OrderedDict()
    lock = threading.Lock()

    @functools.wraps(factory)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            key = (
                tuple(_value_key(v) for v in args),
                frozenset((k, _value_key(v)) for k, v in kwargs.items()),
            )
            hash(key)
        except TypeError:  # an unhashable argument
            return factory(*args, **kwargs)
        with lock:
            if key in cache:
                cache.move_to_end(key)
                return cache[key]
        made = factory(*args, **kwargs)
        with lock:
            made = cache.setdefault(key, made)
            cache.move_to_end(key)
            while len(cache) > maxsize:
                cache.popitem(last=False)
        return made

    return wrapper
