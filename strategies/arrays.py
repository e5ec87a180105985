"""Input arrays: dtypes and value families for ``x_batch``.

Values come from a numpy generator seeded by Hypothesis, so a 100 x 200 array
costs one draw, not 20,000; Hypothesis still shrinks the shape, the dtype, the
value family (towards ``zeros``) and the generator seed. Every family keeps the
layer's output finite: ``large`` stays far enough below the dtype's maximum.
"""

from __future__ import annotations

import ml_dtypes
import numpy as np
from hypothesis import strategies as st

from strategies._checks import check_choices, check_int_range, reused
from strategies.kinds import ARRAY_KINDS, KindedArray

#: Floating dtypes accepted by the layer, in shrinking order. float64 needs x64.
FLOAT_DTYPES = ("float32", "bfloat16", "float16")
X64_DTYPES = FLOAT_DTYPES + ("float64",)

#: Value families, in shrinking order.
VALUE_FAMILIES = ("zeros", "ordinary", "zero_rows", "negative", "large")

#: Magnitude of the ``large`` family per dtype: big, but |x| * sqrt(D_in) * max|W|
#: stays well inside the float32 (or float64) output range, and inside the input dtype.
LARGE_MAGNITUDE = {"float16": 3.0e4, "bfloat16": 1.0e30, "float32": 1.0e30, "float64": 1.0e150}


def np_dtype(name: str) -> np.dtype:
    """numpy dtype by name, bfloat16 included."""
    return np.dtype(ml_dtypes.bfloat16) if name == "bfloat16" else np.dtype(name)


@reused
def dtypes(*, x64: bool = False, only: tuple[str, ...] | None = None) -> st.SearchStrategy[str]:
    """Names of the input dtypes; float64 only when ``x64``; ``only`` restricts them."""
    allowed = X64_DTYPES if x64 else FLOAT_DTYPES
    return st.sampled_from(allowed if only is None else check_choices("dtypes", only, allowed))


@reused
def array_kinds(kinds: tuple[str, ...] = ARRAY_KINDS) -> st.SearchStrategy[str]:
    return st.sampled_from(check_choices("kinds", kinds, ARRAY_KINDS))


@reused
def value_families(families: tuple[str, ...] = VALUE_FAMILIES) -> st.SearchStrategy[str]:
    return st.sampled_from(check_choices("families", families, VALUE_FAMILIES))


def make_values(shape: tuple[int, ...], dtype: str, family: str, seed: int) -> np.ndarray:
    """Deterministic values of ``family`` for ``shape`` and ``dtype`` from generator ``seed``."""
    check_choices("family", (family,), VALUE_FAMILIES)
    check_int_range("seed", seed, 0)
    rng = np.random.default_rng(seed)
    if family == "zeros":
        values = np.zeros(shape)
    else:
        values = rng.standard_normal(shape) * 2.0
        if family == "negative":
            values = -np.abs(values) - 0.125
        elif family == "large":
            big = LARGE_MAGNITUDE[dtype]
            values = np.clip(values / 4.0 * big, -big, big)
        elif family == "zero_rows" and len(shape) >= 1 and shape[0] > 0:
            zero = rng.random(shape[0]) < 0.5
            zero[rng.integers(shape[0])] = True
            values[zero] = 0.0
    return np.ascontiguousarray(values.astype(np_dtype(dtype)))


@reused
@st.composite
def x_batches(
    draw: st.DrawFn,
    shape: tuple[int, int],
    *,
    x64: bool = False,
    kinds: tuple[str, ...] = ARRAY_KINDS,
    families: tuple[str, ...] = VALUE_FAMILIES,
    only_dtypes: tuple[str, ...] | None = None,
) -> KindedArray:
    """A ``KindedArray`` of ``shape`` with a drawn dtype, value family and array kind."""
    dtype = draw(dtypes(x64=x64, only=only_dtypes))
    family = draw(value_families(families))
    seed = 0 if family == "zeros" else draw(st.integers(0, 2**32 - 1))
    kind = draw(array_kinds(kinds))
    return KindedArray(make_values(shape, dtype, family, seed), kind, family)
