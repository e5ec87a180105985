"""Scalar arguments: seeds and ``features``, in every type a caller may pass.

``seed`` and ``features`` go through ``int()``, so floats truncate toward zero
(``-3.7 -> -3``) and numpy scalars are as good as Python ints. Without
``jax_enable_x64``, ``nnx.Rngs`` reduces seeds modulo 2**32 (``Rngs(2**32) ==
Rngs(0)``): that is the reference's behaviour, and :func:`seed_identity`
tells which seeds name the same stream.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import strategies as st

from strategies._checks import check_choices, reused

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

#: Seed buckets, in shrinking order. Each is reached routinely by :func:`seeds`.
SEED_BUCKETS = (
    "zero",
    "small",
    "above_2**16",
    "above_2**31",
    "above_2**32",
    "negative",
    "fractional",
    "numpy_int",
    "numpy_float",
)

_INT_BUCKETS = {
    "zero": st.just(0),
    "small": st.integers(1, 2**16 - 1),
    "above_2**16": st.integers(2**16, 2**31 - 1),
    "above_2**31": st.integers(2**31, 2**32 - 1),
    "above_2**32": st.integers(2**32, INT64_MAX),
    "negative": st.one_of(st.integers(-(2**16), -1), st.integers(INT64_MIN, -(2**16) - 1)),
}

_FRACTIONS = (0.5, 0.25, 0.75, 0.3, 0.7, 0.9)


def fractional(whole: st.SearchStrategy[int]) -> st.SearchStrategy[float]:
    """Floats ``w + f`` or ``-(w + f)`` with a fractional part ``f`` in (0, 1)."""
    return st.builds(
        lambda w, f, neg: -(w + f) if neg else w + f,
        whole,
        st.sampled_from(_FRACTIONS),
        st.booleans(),
    )


def _numpy_int_seed() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.integers(0, 2**31 - 1).map(np.int32),
        st.integers(INT64_MIN, INT64_MAX).map(np.int64),
        st.integers(0, 2**32 - 1).map(np.uint32),
        st.integers(-(2**31), 2**31 - 1).map(lambda v: np.int64(v)),
    )


def _numpy_float_seed() -> st.SearchStrategy[Any]:
    return st.one_of(
        fractional(st.integers(0, 2**20)).map(np.float64),
        fractional(st.integers(0, 2**20)).map(np.float32),
        st.integers(-(2**40), 2**40).map(np.float64),
    )


@reused
def seed_bucket_strategy(name: str) -> st.SearchStrategy[Any]:
    """Seeds from one bucket of :data:`SEED_BUCKETS`."""
    check_choices("bucket", (name,), SEED_BUCKETS)
    if name in _INT_BUCKETS:
        return _INT_BUCKETS[name]
    if name == "fractional":
        return fractional(st.integers(0, 2**40))
    return _numpy_int_seed() if name == "numpy_int" else _numpy_float_seed()


@reused
def seeds(buckets: tuple[str, ...] = SEED_BUCKETS) -> st.SearchStrategy[Any]:
    """Seeds from the named buckets (default: all of :data:`SEED_BUCKETS`).

    The bucket is drawn first, uniformly, so every bucket gets its share of
    examples (a flat ``one_of`` would weight buckets by their inner branches).
    Every value is valid: ``int(value)`` lies in the int64 range ``nnx.Rngs`` accepts.
    """
    buckets = check_choices("buckets", buckets, SEED_BUCKETS)
    return st.sampled_from(buckets).flatmap(seed_bucket_strategy)


def seed_bucket(seed: Any) -> str:
    """The bucket of :data:`SEED_BUCKETS` a seed value belongs to."""
    if isinstance(seed, np.integer):
        return "numpy_int"
    if isinstance(seed, np.floating):
        return "numpy_float"
    if isinstance(seed, float):
        return "fractional"
    value = int(seed)
    if value == 0:
        return "zero"
    if value < 0:
        return "negative"
    for name, low in (("above_2**32", 2**32), ("above_2**31", 2**31), ("above_2**16", 2**16)):
        if value >= low:
            return name
    return "small"


def seed_identity(seed: Any, *, x64: bool) -> int:
    """The stream a seed names: ``int(seed)``, reduced modulo 2**32 without x64."""
    value = int(seed)
    return value if x64 else value % 2**32


def related_seeds(seed: Any, *, x64: bool) -> st.SearchStrategy[int]:
    """Seeds near ``seed`` that name a *different* stream: +-1, negation, flips of bits 16, 31, 32+.

    These are the seeds a truncating or wrapping implementation confuses.
    """
    base = int(seed)
    offsets = [1, -1, 2**16, -(2**16), 2**31, 2**32, 2**32 + 1, 2**40, 2**48]
    candidates = [base + o for o in offsets] + [-base, base ^ 0xFFFF, base ^ (1 << 31)]
    own = seed_identity(base, x64=x64)
    valid = [
        c
        for c in dict.fromkeys(candidates)
        if INT64_MIN <= c <= INT64_MAX and seed_identity(c, x64=x64) != own
    ]
    return st.sampled_from(valid)


#: How ``features`` is spelled, in shrinking order.
FEATURES_SPELLINGS = ("int", "float", "fractional", "numpy_int32", "numpy_int64", "numpy_float64")


def spell_features(value: int, spelling: str) -> Any:
    """``value`` written as ``spelling``; ``int()`` of the result is ``value``."""
    check_choices("spelling", (spelling,), FEATURES_SPELLINGS)
    return {
        "int": lambda v: v,
        "float": float,
        "fractional": lambda v: v + 0.7,
        "numpy_int32": np.int32,
        "numpy_int64": np.int64,
        "numpy_float64": lambda v: np.float64(v + 0.5),
    }[spelling](value)


@reused
def features_spellings(
    spellings: tuple[str, ...] = FEATURES_SPELLINGS,
) -> st.SearchStrategy[str]:
    return st.sampled_from(check_choices("spellings", spellings, FEATURES_SPELLINGS))
