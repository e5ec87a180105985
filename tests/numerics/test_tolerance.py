"""The oracle and the tolerance model, checked against exact arithmetic and against real computations.

* the oracle (:func:`conformance.numerics.oracle.accurate_affine`) is exact to within the error it
  reports, and that error is far below the bound it helps enforce;
* the bound (:func:`conformance.numerics.tolerance.affine_bound`) accepts every correct way of
  computing ``x @ W + b`` in float32 (XLA, BLAS, loops in either order, pairwise and
  blocked sums, float64 rounded once, fused steps);
* the bound rejects matmuls whose inputs were rounded to float16 / bfloat16, and a
  wrong kernel;
* the platform table (``jax_default_matmul_precision``, backends), the flush-to-zero
  allowance, ``gamma``, ``output_dtype`` and the subject's ``expected()``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from fractions import Fraction

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from conformance.numerics.oracle import accurate_affine, linear_params
from conformance.numerics.tolerance import TINY, UNIT_ROUNDOFF, affine_bound, gamma, matmul_input_rounding
from conformance.subjects import VMAP_OVER_BATCH, output_dtype
from impl.nnx_vmap import vmap_over_batch
from strategies import KindedArray

BF16 = np.dtype(ml_dtypes.bfloat16)
F16 = np.dtype(np.float16)
F32 = np.dtype(np.float32)
F64 = np.dtype(np.float64)

#: (D_in, features) pairs shared by every test that builds real parameters or runs XLA:
#: each new shape costs a Flax init (~0.6 s) and an XLA compile (~0.15 s).
LAYER_SHAPES = ((1, 4), (3, 16), (20, 5), (64, 8), (200, 16))
BATCHES = (1, 3, 8)

FAST = settings(
    max_examples=40,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


# ----------------------------------------------------------------------------------------------
# helpers


def exact_affine(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray) -> list[list[Fraction]]:
    """``x @ kernel + bias`` in exact rational arithmetic, from the exact float values."""
    xf = [[Fraction(float(v)) for v in row] for row in np.asarray(x, np.float64)]
    wf = [[Fraction(float(v)) for v in row] for row in np.asarray(kernel, np.float64)]
    bf = [Fraction(float(v)) for v in np.asarray(bias, np.float64)]
    d_in, features = len(wf), len(bf)
    return [[sum((row[i] * wf[i][j] for i in range(d_in)), bf[j]) for j in range(features)] for row in xf]


def assert_oracle_exact(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray, result) -> None:
    exact = exact_affine(x, kernel, bias)
    for r, row in enumerate(exact):
        for j, want in enumerate(row):
            got = Fraction(float(result.value[r, j]))
            err = Fraction(float(result.error[r, j]))
            assert abs(got - want) <= err, (
                f"oracle[{r},{j}] = {float(got)!r}, exact {float(want)!r}: off by "
                f"{float(abs(got - want))!r} > reported error {float(err)!r}"
            )


def oracle_and_bound(
    x: np.ndarray,
    kernel: np.ndarray,
    bias: np.ndarray,
    compute: str = "float32",
    backend: str | None = "cpu",
    use_flushable: bool = True,
):
    """(oracle value, elementwise bound) exactly as the subject builds them."""
    tiny_x = TINY.get(np.dtype(x.dtype).name, 0.0)
    result = accurate_affine(x, kernel, bias, tiny_x)
    flushable = result.flushable if use_flushable else np.zeros_like(result.flushable)
    bound = affine_bound(result.magnitude, flushable, x.shape[1] + 1, compute, backend) + result.error
    return result.value, bound


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


def round_to(a: np.ndarray, fmt: str) -> np.ndarray:
    """``a`` rounded (to nearest even) to ``fmt``, returned as float64."""
    a32 = np.asarray(a, np.float32)
    if fmt == "bfloat16":
        return a32.astype(BF16).astype(np.float64)
    if fmt == "float16":
        return a32.astype(F16).astype(np.float64)
    if fmt == "tensorfloat32":  # 10 explicit significand bits, float32 exponent range
        bits = np.ascontiguousarray(a32).view(np.uint32).astype(np.uint64)
        bits = (bits + 0xFFF + ((bits >> 13) & 1)) & ~np.uint64(0x1FFF)
        return bits.astype(np.uint32).view(np.float32).astype(np.float64)
    raise ValueError(fmt)


def rounded_input_matmul(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray, fmt: str) -> np.ndarray:
    """A matmul whose inputs were rounded to ``fmt`` (products from the rounded values), float32 out."""
    out = round_to(x, fmt) @ round_to(kernel, fmt) + np.asarray(bias, np.float64)
    return out.astype(np.float32)


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


# ----------------------------------------------------------------------------------------------
# 1. the oracle is exact within its reported error, and far more accurate than the bound


def float64_values() -> st.SearchStrategy[float]:
    """Zero or +-m * 10**e with a full 53-bit mantissa; products with float32 stay normal."""
    scaled = st.builds(
        lambda m, e, s: s * m * 10.0**e,
        st.floats(1.0, 10.0, exclude_max=True),
        st.integers(-150, 150),
        st.sampled_from([-1.0, 1.0]),
    )
    return st.one_of(st.just(0.0), scaled)


FLOAT32_ANY = st.floats(width=32, allow_nan=False, allow_infinity=False)


@st.composite
def oracle_cases(draw):
    batch = draw(st.integers(1, 4))
    d_in = draw(st.integers(1, 20))
    features = draw(st.integers(1, 5))
    if draw(st.booleans()):
        x = draw(hnp.arrays(np.float32, (batch, d_in), elements=FLOAT32_ANY))
    else:
        x = draw(hnp.arrays(np.float64, (batch, d_in), elements=float64_values()))
    kernel = draw(hnp.arrays(np.float32, (d_in, features), elements=FLOAT32_ANY))
    bias = draw(hnp.arrays(np.float32, (features,), elements=FLOAT32_ANY))
    return x, kernel, bias


def _bounds_without_error(x, kernel, bias, result, compute):
    return affine_bound(result.magnitude, result.flushable, x.shape[1] + 1, compute, "cpu")


@FAST
@given(oracle_cases())
def test_oracle_is_exact_within_its_error_and_far_below_the_float32_bound(case):
    x, kernel, bias = case
    tiny_x = TINY.get(x.dtype.name, 0.0)
    result = accurate_affine(x, kernel, bias, tiny_x)
    assert result.value.shape == (x.shape[0], kernel.shape[1])
    assert np.all(np.isfinite(result.value)) and np.all(np.isfinite(result.error))
    assert_oracle_exact(x, kernel, bias, result)
    bound32 = _bounds_without_error(x, kernel, bias, result, "float32")
    assert np.all(result.error * 1e6 <= bound32), (result.error, bound32)


@FAST
@given(oracle_cases().filter(lambda c: c[0].shape[1] >= 2))
def test_oracle_error_is_below_the_float64_bound(case):
    x, kernel, bias = case
    result = accurate_affine(x, kernel, bias, TINY.get(x.dtype.name, 0.0))
    bound64 = _bounds_without_error(x, kernel, bias, result, "float64")
    assert np.all(result.error < bound64), (result.error, bound64)


def test_oracle_error_is_below_the_float64_bound_for_one_input_feature():
    # D_in = 1, no cancellation: the oracle reports 2 u |y|, while gamma_2 M is also ~2 u |y|.
    x = np.array([[3.0]], np.float32)
    kernel = np.array([[0.5]], np.float32)
    bias = np.zeros(1, np.float32)
    result = accurate_affine(x, kernel, bias, TINY["float32"])
    assert_oracle_exact(x, kernel, bias, result)
    bound64 = _bounds_without_error(x, kernel, bias, result, "float64")
    assert np.all(result.error < bound64), (
        f"oracle error {result.error.item()!r} is not below the float64 bound {bound64.item()!r}: "
        "in float64 compute the oracle is not more accurate than the tolerance it enforces"
    )


@st.composite
def cancelling_cases(draw):
    """x = [A1, s, -A1, A2, -A2, ...] with matching kernel rows: the big terms cancel exactly."""
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    pairs = draw(st.integers(1, 4))
    features = draw(st.integers(1, 5))
    big = st.builds(lambda m, e: m * 10.0**e, st.floats(1.0, 10.0, exclude_max=True), st.integers(20, 30))
    ordinary = st.builds(
        lambda m, s: s * m, st.floats(0.5, 2.0, exclude_max=True, width=32), st.sampled_from([-1.0, 1.0])
    )
    s = draw(ordinary)
    bigs = draw(st.lists(big, min_size=pairs, max_size=pairs))
    x_row = [bigs[0], s, -bigs[0]]
    for a in bigs[1:]:
        x_row += [a, -a]
    x = np.array([x_row], dtype=dtype)
    x[0, 2] = -x[0, 0]  # exact negation after rounding to the dtype
    for k in range(1, pairs):
        x[0, 2 + 2 * k] = -x[0, 1 + 2 * k]
    w_rows = draw(st.lists(hnp.arrays(np.float32, (features,), elements=ordinary), min_size=pairs + 1))
    kernel = [w_rows[0], w_rows[-1], w_rows[0]]
    for k in range(1, pairs):
        kernel += [w_rows[k], w_rows[k]]
    kernel = np.array(kernel, np.float32)
    bias = np.zeros(features, np.float32)
    return x, kernel, bias


@FAST
@given(cancelling_cases())
def test_oracle_survives_exact_cancellation_where_naive_float64_fails(case):
    x, kernel, bias = case
    result = accurate_affine(x, kernel, bias, TINY.get(x.dtype.name, 0.0))
    assert_oracle_exact(x, kernel, bias, result)
    exact = exact_affine(x, kernel, bias)
    x64, k64 = x.astype(np.float64), kernel.astype(np.float64)
    naive = np.zeros((1, kernel.shape[1]))
    for i in range(x.shape[1]):  # left to right, float64
        naive = naive + x64[:, i : i + 1] * k64[i]
    for j in range(kernel.shape[1]):
        assert exact[0][j] != 0
        assert Fraction(float(naive[0, j])) != exact[0][j], "the case was meant to defeat naive summation"
        got = Fraction(float(result.value[0, j]))
        if x.dtype == np.float32:  # s * w has 48 bits: exact in float64
            assert got == exact[0][j]
        else:  # s * w needs 77 bits: correctly rounded at worst
            assert abs(got - exact[0][j]) <= abs(exact[0][j]) * Fraction(2) ** -53


def test_oracle_survives_near_cancellation_of_inexact_float64_products():
    """x = [X, -next(X)]: both products need 77 bits; naive float64 loses the 1-ulp difference."""
    rng = np.random.default_rng(1234)
    naive_wrong = 0
    trials = 150
    for _ in range(trials):
        big = float(rng.uniform(1.0, 2.0) * 10.0 ** rng.integers(-100, 100))
        x = np.array([[big, -np.nextafter(big, np.inf)]])
        w = np.float32(rng.uniform(0.1, 1.0))
        kernel = np.array([[w, -w], [w, w]], np.float32)
        bias = np.zeros(2, np.float32)
        result = accurate_affine(x, kernel, bias, 0.0)
        assert_oracle_exact(x, kernel, bias, result)
        exact = exact_affine(x, kernel, bias)
        # the near-cancelling column is computed to full float64 accuracy
        rel = abs(Fraction(float(result.value[0, 0])) - exact[0][0]) / abs(exact[0][0])
        assert rel <= Fraction(2) ** -52
        naive = x[0, 0] * np.float64(w) + x[0, 1] * np.float64(w)
        naive_wrong += Fraction(float(naive)) != exact[0][0]
    assert naive_wrong > trials // 4, f"naive float64 was wrong only {naive_wrong}/{trials} times"


def test_oracle_is_exact_for_huge_float64_inputs():
    # |x| > DBL_MAX / (2**27 + 1) ~ 1.3e300: the Veltkamp split overflows and falls back to
    # hi = x, lo = 0, so x * W (53 x 24 bits) is rounded, not exact.
    big = 1.2345678901234567e305
    x = np.array([[big, -np.nextafter(big, np.inf)]])
    kernel = np.full((2, 1), 0.1, np.float32)
    bias = np.zeros(1, np.float32)
    result = accurate_affine(x, kernel, bias, 0.0)
    assert_oracle_exact(x, kernel, bias, result)


# ----------------------------------------------------------------------------------------------
# 2. the bound never accuses a correct computation


@st.composite
def float32_compute_cases(draw):
    batch = draw(st.sampled_from(BATCHES))
    d_in, features = draw(st.sampled_from(LAYER_SHAPES))
    dtype = draw(st.sampled_from([F32, BF16, F16]))
    family = draw(st.sampled_from(["ordinary", "large", "tiny", "wide"]))
    signs = draw(st.sampled_from(["mixed", "positive", "zeros"]))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    x = make_x(rng, (batch, d_in), dtype, family, signs)
    if draw(st.booleans()):
        kernel, bias = linear_params(draw(st.integers(-1000, 1000)), d_in, features)
        label = "flax params"
    else:
        scale = 10.0 ** draw(st.integers(-3, 3))
        kernel = (rng.standard_normal((d_in, features)) * scale).astype(np.float32)
        bias = (rng.standard_normal(features) * scale * draw(st.sampled_from([0.0, 1.0, 1e3]))).astype(
            np.float32
        )
        label = f"random kernel, scale {scale}"
    return x, kernel, bias, f"{dtype.name} {family} {signs} {label}"


@FAST
@given(float32_compute_cases())
def test_bound_accepts_correct_float32_computations(case):
    x, kernel, bias, label = case
    value, bound = oracle_and_bound(x, kernel, bias)
    for name, got in correct_float32_results(x, kernel, bias).items():
        bad = outside(got, value, bound)
        assert not bad.any(), f"{name} ({label}) rejected at {bad.sum()} elements; " + describe_worst(
            got, value, bound
        )


@pytest.mark.parametrize("d_in,features", LAYER_SHAPES)
def test_bound_accepts_correct_computations_with_flax_params(d_in, features):
    rng = np.random.default_rng(d_in)
    for seed in (0, 1, 7, -3, 2**40):
        kernel, bias = linear_params(seed, d_in, features)
        for dtype in (F32, BF16, F16):
            x = make_x(rng, (8, d_in), dtype, "ordinary", "mixed")
            value, bound = oracle_and_bound(x, kernel, bias)
            for name, got in correct_float32_results(x, kernel, bias).items():
                assert not outside(got, value, bound).any(), f"{name} seed {seed} {dtype}: " + (
                    describe_worst(got, value, bound)
                )


# ----------------------------------------------------------------------------------------------
# 3. the bound catches the bugs it must


@pytest.mark.parametrize("d_in,features", LAYER_SHAPES)
def test_bound_rejects_low_precision_inputs_and_wrong_kernels(d_in, features):
    for seed in range(12):
        rng = np.random.default_rng(seed)
        x = rng.standard_normal((8, d_in)).astype(np.float32)
        kernel, bias = linear_params(seed, d_in, features)
        value, bound = oracle_and_bound(x, kernel, bias)
        # sanity: the correct result is accepted, so the rejections below are about the bug
        assert not outside((x.astype(np.float64) @ kernel + bias).astype(np.float32), value, bound).any()
        for fmt in ("float16", "bfloat16"):
            got = rounded_input_matmul(x, kernel, bias, fmt)
            assert outside(got, value, bound).any(), f"{fmt}-input matmul accepted (seed {seed}, D {d_in})"
        wrong_kernel, wrong_bias = linear_params(seed + 1, d_in, features)
        got = (x.astype(np.float64) @ wrong_kernel + wrong_bias).astype(np.float32)
        assert outside(got, value, bound).any(), f"kernel of seed {seed + 1} accepted for seed {seed}"


def test_bound_rejects_low_precision_inputs_for_every_input_width():
    """D_in = 1..200 with standard-normal kernels (no Flax init per width)."""
    rng = np.random.default_rng(99)
    for d_in in list(range(1, 40)) + list(range(40, 201, 16)):
        x = rng.standard_normal((4, d_in)).astype(np.float32)
        kernel = (rng.standard_normal((d_in, 4)) / np.sqrt(d_in)).astype(np.float32)
        bias = np.zeros(4, np.float32)
        value, bound = oracle_and_bound(x, kernel, bias)
        for fmt in ("float16", "bfloat16"):
            got = rounded_input_matmul(x, kernel, bias, fmt)
            assert outside(got, value, bound).any(), f"{fmt}-input matmul accepted for D_in={d_in}"


# ----------------------------------------------------------------------------------------------
# 4. the platform table


def test_matmul_precision_setting_selects_the_input_rounding():
    rng = np.random.default_rng(5)
    d_in, features = 64, 8
    x = rng.standard_normal((8, d_in)).astype(np.float32)
    kernel, bias = linear_params(3, d_in, features)
    bf16_matmul = rounded_input_matmul(x, kernel, bias, "bfloat16")

    assert jax.default_backend() == "cpu"
    assert matmul_input_rounding("float32") is None
    value, bound_default = oracle_and_bound(x, kernel, bias, backend=None)
    assert outside(bf16_matmul, value, bound_default).any()

    with jax.default_matmul_precision("bfloat16"):
        assert matmul_input_rounding("float32") == "bfloat16"
        assert matmul_input_rounding("float32", backend="cpu") == "bfloat16"
        assert matmul_input_rounding("float64") is None
        _, bound_bf16 = oracle_and_bound(x, kernel, bias, backend=None)
        xla = np.asarray(jnp.asarray(x) @ jnp.asarray(kernel) + jnp.asarray(bias))
    assert np.all(bound_bf16 >= bound_default)
    assert not outside(bf16_matmul, value, bound_bf16).any(), describe_worst(bf16_matmul, value, bound_bf16)
    assert not outside(xla, value, bound_bf16).any()
    # still tight enough to catch a wrong kernel
    wrong_kernel, _ = linear_params(4, d_in, features)
    assert outside((x.astype(np.float64) @ wrong_kernel).astype(np.float32), value, bound_bf16).any()
    assert matmul_input_rounding("float32") is None  # restored

    saved = jax.config.jax_default_matmul_precision
    try:
        jax.config.update("jax_default_matmul_precision", "bfloat16")
        assert matmul_input_rounding("float32") == "bfloat16"
        jax.config.update("jax_default_matmul_precision", "highest")
        assert matmul_input_rounding("float32") is None
        assert matmul_input_rounding("float32", backend="tpu") is None
        jax.config.update("jax_default_matmul_precision", "float32")
        assert matmul_input_rounding("float32", backend="gpu") is None
        jax.config.update("jax_default_matmul_precision", "tensorfloat32")
        assert matmul_input_rounding("float32") == "tensorfloat32"
        jax.config.update("jax_default_matmul_precision", "default")
        assert matmul_input_rounding("float32") is None
        assert matmul_input_rounding("float32", backend="gpu") == "tensorfloat32"
    finally:
        jax.config.update("jax_default_matmul_precision", saved)
    assert matmul_input_rounding("float32") is None


def test_backend_defaults():
    assert jax.config.jax_default_matmul_precision is None
    assert matmul_input_rounding("float32", backend="cpu") is None
    assert matmul_input_rounding("float32", backend="gpu") == "tensorfloat32"
    assert matmul_input_rounding("float32", backend="cuda") == "tensorfloat32"
    assert matmul_input_rounding("float32", backend="tpu") == "bfloat16"
    assert matmul_input_rounding("float32", backend="some-new-accelerator") == "bfloat16"  # the worst

    rng = np.random.default_rng(11)
    d_in, features = 200, 16
    x = rng.standard_normal((8, d_in)).astype(np.float32)
    kernel, bias = linear_params(0, d_in, features)
    tf32 = rounded_input_matmul(x, kernel, bias, "tensorfloat32")
    bf16 = rounded_input_matmul(x, kernel, bias, "bfloat16")
    value, gpu = oracle_and_bound(x, kernel, bias, backend="gpu")
    _, tpu = oracle_and_bound(x, kernel, bias, backend="tpu")
    _, cpu = oracle_and_bound(x, kernel, bias, backend="cpu")
    assert not outside(tf32, value, gpu).any()
    assert outside(tf32, value, cpu).any()
    assert not outside(bf16, value, tpu).any()
    # with one input feature there is no averaging: bf16 rounding (2**-8) exceeds the TF32 bound
    x1 = x[:, :1]
    kernel1, bias1 = linear_params(0, 1, 4)
    value1, gpu1 = oracle_and_bound(x1, kernel1, bias1, backend="gpu")
    _, tpu1 = oracle_and_bound(x1, kernel1, bias1, backend="tpu")
    bf16_1 = rounded_input_matmul(x1, kernel1, bias1, "bfloat16")
    assert outside(bf16_1, value1, gpu1).any()
    assert not outside(bf16_1, value1, tpu1).any()


def test_float64_compute_is_never_input_rounded():
    backends = (None, "cpu", "gpu", "cuda", "rocm", "tpu", "unknown")
    magnitude, flushable = np.array([1.0, 3.0, 1e-300]), np.zeros(3)
    reference = affine_bound(magnitude, flushable, 11, "float64", "cpu")
    assert np.all(reference >= gamma(11, UNIT_ROUNDOFF["float64"]) * magnitude)
    assert np.all(reference[:2] <= 1.2 * gamma(11, UNIT_ROUNDOFF["float64"]) * magnitude[:2])
    for setting in (None, "default", "highest", "high", "tensorfloat32", "bfloat16"):
        with jax.default_matmul_precision(setting):
            for backend in backends:
                assert matmul_input_rounding("float64", backend) is None, (setting, backend)
                bound = affine_bound(magnitude, flushable, 11, "float64", backend)
                np.testing.assert_array_equal(bound, reference)


@pytest.mark.parametrize("backend", ["gpu", "tpu"])
def test_bf16_algorithm_preset_is_treated_as_bf16_inputs(backend):
    # jax accepts dot-algorithm presets such as "BF16_BF16_F32" (bf16 inputs, f32 accumulation)
    # as jax_default_matmul_precision; such a matmul is no better than one with "bfloat16".
    rng = np.random.default_rng(2)
    x = rng.standard_normal((8, 64)).astype(np.float32)
    kernel, bias = linear_params(1, 64, 8)
    bf16 = rounded_input_matmul(x, kernel, bias, "bfloat16")
    try:
        jax.config.update("jax_default_matmul_precision", "BF16_BF16_F32")
    except ValueError as e:  # presets arrived after jax 0.4.31, which accepts only the names
        pytest.skip(f"jax {jax.__version__} has no dot-algorithm presets: {e}")
    finally:
        jax.config.update("jax_default_matmul_precision", None)
    with jax.default_matmul_precision("BF16_BF16_F32"):
        rounding = matmul_input_rounding("float32", backend=backend)
        value, bound = oracle_and_bound(x, kernel, bias, backend=backend)
    assert rounding is not None and UNIT_ROUNDOFF[rounding] >= UNIT_ROUNDOFF["bfloat16"], rounding
    assert not outside(bf16, value, bound).any()


# ----------------------------------------------------------------------------------------------
# 5. flushed subnormal inputs


@pytest.mark.parametrize("d_in,features", [(3, 16), (20, 5)])
def test_flushing_float16_subnormals_is_accepted(d_in, features):
    rng = np.random.default_rng(d_in)
    kernel, bias = linear_params(5, d_in, features)
    tiny16 = TINY["float16"]
    for trial in range(10):
        x = rng.standard_normal((8, d_in)).astype(np.float16)
        sub = rng.random((8, d_in)) < 0.5
        x[sub] = np.float16(1e-6) * rng.choice([-1, 1], int(sub.sum())).astype(np.float16)
        x[trial % 8] = np.float16(3e-7)  # a row of subnormals only
        assert np.all(np.abs(x[sub].astype(np.float64)) < tiny16) and np.all(x[sub] != 0)
        flushed = np.where(np.abs(x.astype(np.float64)) < tiny16, 0.0, x.astype(np.float64))
        got = (flushed @ kernel + bias).astype(np.float32)
        value, bound = oracle_and_bound(x, kernel, bias)
        assert not outside(got, value, bound).any(), describe_worst(got, value, bound)
        # and it is the flushable term that makes the all-subnormal row pass
        _, strict = oracle_and_bound(x, kernel, bias, use_flushable=False)
        assert outside(got, value, strict)[trial % 8].any()
        # not flushing is correct too
        unflushed = (x.astype(np.float64) @ kernel + bias).astype(np.float32)
        assert not outside(unflushed, value, bound).any()


# ----------------------------------------------------------------------------------------------
# 6. gamma


def test_gamma_domain():
    u = UNIT_ROUNDOFF["float32"]
    assert gamma(1, u) == pytest.approx(u / (1 - u), rel=1e-15)
    assert 0 < gamma(2**24 - 1, u) < float("inf")
    for n in (2**24, 2**24 + 1, 2**30):
        with pytest.raises(ValueError):
            gamma(n, u)
    with pytest.raises(ValueError):
        gamma(2, 0.5)
    with pytest.raises(ValueError):
        gamma(1, 1.0)
    with pytest.raises(ValueError):
        affine_bound(np.ones(1), np.zeros(1), 2**24, "float32", "cpu")


@settings(max_examples=200, deadline=None, database=None)
@given(st.integers(1, 2**40), st.sampled_from(sorted(UNIT_ROUNDOFF.values())))
def test_gamma_raises_exactly_when_nu_reaches_one(n, u):
    if n * u >= 1:
        with pytest.raises(ValueError):
            gamma(n, u)
    else:
        g = gamma(n, u)
        assert g >= n * u and g == pytest.approx(n * u / (1 - n * u), rel=1e-12)


# ----------------------------------------------------------------------------------------------
# 7. output_dtype


@pytest.mark.filterwarnings("ignore:Explicitly requested dtype")
@pytest.mark.parametrize(
    "dtype", [np.float16, ml_dtypes.bfloat16, np.float32, np.float64, np.int8, np.uint8, np.int32, np.int64]
)
def test_output_dtype_without_x64(dtype):
    assert not jax.config.jax_enable_x64
    assert output_dtype(np.dtype(dtype)) == np.dtype(np.float32)
    got = (jnp.asarray(np.ones((1, 2), dtype)) @ jnp.ones((2, 3), jnp.float32)).dtype
    assert output_dtype(np.dtype(dtype)) == np.dtype(got)


def test_output_dtype_and_expected_with_x64_in_a_subprocess():
    script = textwrap.dedent(
        """
        import json
        import jax
        jax.config.update("jax_enable_x64", True)
        import jax.numpy as jnp, ml_dtypes, numpy as np
        from conformance.subjects import VMAP_OVER_BATCH, output_dtype
        from impl.nnx_vmap import vmap_over_batch
        from strategies import KindedArray
        out = {}
        for d in ["float16", "float32", "float64", "int32", "int64"]:
            dt = np.dtype(d)
            actual = (jnp.asarray(np.ones((1, 2), dt)) @ jnp.ones((2, 3), jnp.float32)).dtype
            out[d] = [output_dtype(dt).name, np.dtype(actual).name]
        out["bfloat16"] = [output_dtype(np.dtype(ml_dtypes.bfloat16)).name, "float32"]
        x = np.random.default_rng(0).standard_normal((3, 7))
        args = {"seed": 4, "x_batch": KindedArray(x, "numpy"), "features": 5}
        exp = VMAP_OVER_BATCH.expected(args, True)
        got = np.asarray(vmap_over_batch(4, x, 5))
        out["expected_dtype"] = exp.dtype.name
        out["impl_dtype"] = got.dtype.name
        out["inside"] = bool(np.all(np.abs(got.astype(np.float64) - exp.value) <= exp.bound))
        out["bound_is_float64_sized"] = bool(np.all(exp.bound < 1e-12 * (1 + np.abs(exp.value))))
        print(json.dumps(out))
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["float64"] == ["float64", "float64"]
    assert out["int64"][0] == out["int64"][1]
    for d in ("float16", "float32", "int32", "bfloat16"):
        assert out[d] == ["float32", "float32"], (d, out[d])
    assert out["expected_dtype"] == out["impl_dtype"] == "float64"
    assert out["inside"]
    assert out["bound_is_float64_sized"]


# ----------------------------------------------------------------------------------------------
# 8. the subject's expected() against the built-in implementation


SUBJECT_CASES = [
    (0, (3, 20), F32, 5),
    (2**40, (8, 3), F32, 16),
    (-5, (3, 64), BF16, 8),
    (7, (1, 200), F16, 3.7),
    (11, (0, 20), F32, 5),
    (3, (3, 20), F64, 5),
    (1, (3, 3), np.dtype(np.int32), 16),
]


@pytest.mark.filterwarnings("ignore:Explicitly requested dtype")
@pytest.mark.parametrize("seed,shape,dtype,features", SUBJECT_CASES)
def test_subject_expected_agrees_with_the_builtin(seed, shape, dtype, features):
    rng = np.random.default_rng(abs(seed) % 1000)
    if dtype.kind == "i":
        x = rng.integers(-(2**31), 2**31 - 1, shape).astype(dtype)  # rounded to float32 on the way in
    elif dtype == F64:  # full 53-bit values: rounded to float32 on the way in
        x = rng.standard_normal(shape) * 10.0 ** rng.uniform(-3, 3, shape)
    else:
        x = make_x(rng, shape, dtype, "wide", "mixed")
    args = {"seed": seed, "x_batch": KindedArray(x, "numpy"), "features": features}
    exp = VMAP_OVER_BATCH.expected(args, False)
    got = np.asarray(vmap_over_batch(seed, x, features))
    n_out = shape[0] * int(features)
    assert exp.shape == (n_out,) == got.shape
    assert exp.value.shape == exp.bound.shape == (n_out,)
    assert exp.dtype == np.dtype(np.float32) == got.dtype
    assert np.all(exp.bound >= 0)
    bad = outside(got, exp.value, exp.bound)
    assert not bad.any(), describe_worst(got, exp.value, exp.bound)
    if n_out:
        # the bound is a float32-sized tolerance, not a blanket one: the other seed's layer is rejected
        assert np.any(x != 0)
        other = np.asarray(vmap_over_batch(seed + 1, x, features))
        assert outside(other, exp.value, exp.bound).any()
