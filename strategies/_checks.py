"""Argument checks for the strategy constructors: clear ``InvalidArgument`` errors naming the argument.

Plain constructors check when called; ``@st.composite`` strategies check when
first drawn from (or on ``.validate()``), as Hypothesis's own strategies do.
"""

from __future__ import annotations

from collections.abc import Iterable
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
