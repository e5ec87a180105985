"""Helpers of the numeric tests (tolerance, oracle, headroom, subjects): the float dtypes, the
Hypothesis settings of the numeric property tests, inputs of a magnitude family and sign pattern,
several correct float32 computations of ``x @ W + b``, and the check of a result against a bound."""

from __future__ import annotations

import jax
import ml_dtypes
import numpy as np
from hypothesis import HealthCheck, Phase, settings

BF16 = np.dtype(ml_dtypes.bfloat16)
F16 = np.dtype(np.float16)
F32 = np.dtype(np.float32)
F64 = np.dtype(np.float64)

#: Hypothesis settings of the numeric property tests: quick, no database, no deadline.
FAST = settings(
    max_examples=40,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def outside(got: np.ndarray, value: np.ndarray, bound: np.ndarray) -> np.ndarray:
    """Mask of elements outside the bound (non-finite results count as outside)."""
    err = np.abs(np.asarray(got, np.float64) - value)
    return ~(err <= bound)


def describe_worst(got: np.ndarray, value: np.ndarray, bound: np.ndarray) -> str:
    err = np.abs(np.asarray(got, np.float64) - value)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(bound > 0, err / bound, np.inf)
    k = np.unravel_index(np.nanargmax(ratio), ratio.shape)
    return f"worst at {k}: got {got[k]!r}, oracle {value[k]!r}, |err| {err[k]:.3e}, bound {bound[k]:.3e}"


@jax.jit
def _xla_affine(x: jax.Array, kernel: jax.Array, bias: jax.Array) -> jax.Array:
    return x @ kernel + bias


def _pairwise(terms: np.ndarray) -> np.ndarray:
    n = terms.shape[1]
    if n == 1:
        return terms[:, 0]
    half = n // 2
    return _pairwise(terms[:, :half]) + _pairwise(terms[:, half:])


def correct_float32_results(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray) -> dict[str, np.ndarray]:
    """Several correct float32 computations of ``x @ kernel + bias`` (different orders and fusions)."""
    x32 = np.asarray(x, np.float32)
    k32 = np.asarray(kernel, np.float32)
    b32 = np.asarray(bias, np.float32)
    batch, d_in = x32.shape
    features = k32.shape[1]
    out: dict[str, np.ndarray] = {}

    out["xla_matmul"] = np.asarray(_xla_affine(x32, k32, b32))
    out["numpy_float32"] = x32 @ k32 + b32

    acc = np.broadcast_to(b32, (batch, features)).copy()
    for i in range(d_in):
        acc = acc + x32[:, i : i + 1] * k32[i]
    out["loop_forward"] = acc

    acc = np.zeros((batch, features), np.float32)
    for i in reversed(range(d_in)):
        acc = acc + x32[:, i : i + 1] * k32[i]
    out["loop_reversed_bias_last"] = acc + b32

    terms = x32[:, :, None] * k32[None, :, :]  # (B, D, F), each product rounded to float32
    with_bias = np.concatenate([terms, np.broadcast_to(b32, (batch, 1, features))], axis=1)
    out["pairwise"] = _pairwise(with_bias)

    partial = [terms[:, i : i + 16].sum(axis=1, dtype=np.float32) for i in range(0, d_in, 16)]
    acc = b32 + np.zeros((batch, features), np.float32)
    for p in reversed(partial):
        acc = acc + p
    out["blocked_16"] = acc

    x64, k64 = x32.astype(np.float64), k32.astype(np.float64)
    out["float64_rounded_once"] = (x64 @ k64 + b32.astype(np.float64)).astype(np.float32)

    acc = np.broadcast_to(b32, (batch, features)).copy()
    for i in range(d_in):  # fused multiply-add step: exact product, one (double) rounding per step
        acc = (acc.astype(np.float64) + x64[:, i : i + 1] * k64[i]).astype(np.float32)
    out["fused_steps"] = acc

    for name, got in out.items():
        assert got.dtype == np.float32, name
        assert got.shape == (batch, features), name
    return out


def make_x(rng: np.random.Generator, shape: tuple[int, int], dtype: np.dtype, family: str, signs: str):
    """Values of ``x`` in ``dtype`` from a magnitude family and a sign pattern."""
    if family == "ordinary":
        mag = np.abs(rng.standard_normal(shape))
    elif family == "large":
        top = np.log10(3e4) if dtype == F16 else 30.0
        mag = 10.0 ** rng.uniform(top - 6, top, shape)
    elif family == "tiny":  # includes subnormals of the dtype
        lo, hi = (-7.5, -4.0) if dtype == F16 else (-44.0, -36.0)
        mag = 10.0 ** rng.uniform(lo, hi, shape)
    elif family == "wide":
        span = 4.0 if dtype == F16 else 30.0
        mag = 10.0 ** rng.uniform(-span, span, shape)
    else:
        raise ValueError(family)
    if signs == "mixed":
        sign = rng.choice([-1.0, 1.0], shape)
    elif signs == "positive":
        sign = np.ones(shape)
    else:  # "zeros": mixed signs with exact zeros sprinkled in
        sign = rng.choice([-1.0, 0.0, 1.0], shape)
    return (sign * mag).astype(np.float32).astype(dtype)
