"""The tolerance model (conformance/numerics/tolerance.py): the bound, checked against real computations,
and the comparison of a result against it.

* the bound (:func:`conformance.numerics.tolerance.affine_bound`) accepts every correct way of
  computing ``x @ W + b`` in float32 (XLA, BLAS, loops in either order, pairwise and
  blocked sums, float64 rounded once, fused steps);
* the bound rejects matmuls whose inputs were rounded to float16 / bfloat16, and a
  wrong kernel;
* the platform table (``jax_default_matmul_precision``, backends), the flush-to-zero
  allowance and ``gamma``;
* the comparison of a result against its bound (``compare``, ``assert_close``, the probe the
  runner reads the headroom from);
* the probabilistic model (``--tolerance probabilistic``): its gamma, never looser than the
  rigorous one, and the flush and underflow terms it keeps.

The oracle the bound is built around is tested in ``test_oracle.py``; ``output_dtype`` and the
subject's ``expected()`` in ``tests/subjects/test_subjects.py``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conformance.base.failures import PropertyFailure
from conformance.numerics import tolerance
from conformance.numerics.oracle import accurate_affine, linear_params
from conformance.numerics.tolerance import (
    TINY,
    UNIT_ROUNDOFF,
    Closeness,
    affine_bound,
    assert_close,
    compare,
    gamma,
    matmul_input_rounding,
    probing,
    ratios,
)
from tests.numerics.helpers import (
    BF16,
    F16,
    F32,
    FAST,
    correct_float32_results,
    describe_worst,
    make_x,
    outside,
)

#: (D_in, features) pairs shared by every test that builds real parameters or runs XLA:
#: each new shape costs a Flax init (~0.6 s) and an XLA compile (~0.15 s).
LAYER_SHAPES = ((1, 4), (3, 16), (20, 5), (64, 8), (200, 16))
BATCHES = (1, 3, 8)

# ----------------------------------------------------------------------------------------------
# helpers


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


# ----------------------------------------------------------------------------------------------
# 1. the bound never accuses a correct computation


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
# 2. the bound catches the bugs it must


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
# 3. the platform table


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
# 4. flushed subnormal inputs


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
# 5. gamma


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
# 6. comparing a result against its bound: compare, assert_close, probing


def test_compare_finds_the_largest_ratio_and_the_first_mismatch() -> None:
    want = np.array([1.0, 2.0, 3.0, 4.0])
    allowed = np.array([0.1, 0.1, 1.0, 0.5])
    got = np.array([1.05, 2.2, 3.5, 4.25], dtype=np.float32)  # ratios 0.5, 2, 0.5, 0.5
    c = compare(got, want, allowed)
    assert c.max_ratio == pytest.approx(2.0, rel=1e-6)
    assert (c.worst, c.first_mismatch, c.mismatches, c.size) == (1, 1, 1, 4)
    assert not c.within
    ok = compare(np.array([1.05, 2.05, 3.5]), want[:3], allowed[:3])
    assert ok.within and ok.first_mismatch is None
    assert ok.max_ratio == pytest.approx(0.5)


def test_nan_and_a_zero_allowance_never_pass() -> None:
    want, allowed = np.zeros(3), np.array([0.0, 0.0, 1.0])
    r = ratios(np.array([0.0, 1e-300, np.nan]), want, allowed)
    assert r[0] == 0.0 and r[1] == np.inf and r[2] == np.inf  # 0/0 is no error; NaN is never close
    c = compare(np.array([0.0, 0.0, np.nan]), want, allowed)
    assert c.mismatches == 1 and c.first_mismatch == 2 and c.max_ratio == np.inf


def test_an_empty_output_is_within_with_no_worst_element() -> None:
    assert compare(np.zeros(0), np.zeros(0), np.zeros(0)) == Closeness(0.0, None, None, 0, 0)


def test_assert_close_raises_with_the_first_mismatch_and_returns_the_closeness() -> None:
    want, allowed = np.array([1.0, 2.0, 3.0]), np.full(3, 0.1)
    with pytest.raises(PropertyFailure) as raised:
        assert_close(np.array([1.0, 2.5, 9.0]), want, allowed, "off", lambda i: f"row {i}")
    failure = raised.value
    assert failure.message.startswith(
        "off: 2 of 3 elements differ by more than allowed; first at index 1 (row 1)"
    )
    assert "= 5 x allowed" in failure.message
    assert failure.details == {"index": 1, "got": 2.5, "expected": 2.0, "allowed": 0.1, "mismatches": 2}
    held = assert_close(np.array([1.0, 2.05, 3.0]), want, allowed, "fine")
    assert held.within and held.max_ratio == pytest.approx(0.5)


def test_a_probe_keeps_the_worst_comparison_of_its_block_and_only_recorded_ones() -> None:
    want, allowed = np.zeros(4), np.ones(4)
    with probing() as probe:
        assert_close(np.array([0.1, 0.2, 0.0, 0.0]), want, allowed, "first")
        assert_close(np.array([0.0, 0.0, 0.7, 0.0]), want, allowed, "second", lambda i: f"feature {i}")
        assert_close(np.array([0.9, 0, 0, 0]), want, allowed, "a reference", record=False)
        with pytest.raises(PropertyFailure):
            assert_close(np.array([0.0, 0.0, 0.0, 3.0]), want, allowed, "off")
    assert probe.worst is not None
    assert (probe.worst.ratio, probe.worst.what, probe.worst.location) == (3.0, "off", "index 3")
    assert (probe.comparisons, probe.elements) == (3, 12)
    with probing() as inner:
        assert_close(np.array([0.0, 0.0, 0.7, 0.0]), want, allowed, "second", lambda i: f"feature {i}")
    assert inner.worst is not None and inner.worst.location == "index 2 (feature 2)"
    # outside a probe nothing is kept, and nothing fails for it
    assert_close(np.zeros(4), want, allowed, "unobserved")
    assert tolerance._PROBE.get() is None


# ----------------------------------------------------------------------------------------------
# 7. the probabilistic model (--tolerance probabilistic)

U32, U16 = 2.0**-24, 2.0**-11


def test_the_probabilistic_gamma_is_higham_and_marys() -> None:
    for n in (1, 100, 4097, 10**6):
        lam_sqrt_n_u = tolerance.LAMBDA * np.sqrt(n) * U32
        expected = np.expm1(lam_sqrt_n_u + n * U32 * U32 / (1 - U32))
        assert tolerance.probabilistic_gamma(n, U32) == pytest.approx(expected, rel=1e-12)
        assert tolerance.probabilistic_gamma(n, U32) == pytest.approx(lam_sqrt_n_u, rel=1e-3)
    # the chance one term breaks it: 2 exp(-lambda^2 (1-u)^2 / 2), about 3.9e-22 for lambda = 10
    assert tolerance.term_failure_probability(U32) == pytest.approx(2 * np.exp(-50 * (1 - U32) ** 2))
    assert 3.8e-22 < tolerance.term_failure_probability(U32) < 3.9e-22


def test_the_probabilistic_model_takes_the_smaller_gamma_so_it_is_never_looser() -> None:
    for n in (1, 2, 50, 99):  # lambda sqrt(n) >= n: the worst case is the smaller
        assert tolerance.accumulation_gamma(n, U32, "probabilistic") == tolerance.gamma(n, U32)
    for n, share_ in ((1024, 10 / 32), (4097, 10 / 64.0)):
        ratio = tolerance.accumulation_gamma(n, U32, "probabilistic") / tolerance.gamma(n, U32)
        assert ratio == pytest.approx(share_, rel=0.01)
    # past n u = 1 the rigorous gamma is undefined; the probabilistic one still is
    assert tolerance.accumulation_gamma(2**25, U32, "probabilistic") < 1
    with pytest.raises(ValueError, match="unknown tolerance 'loose'"):
        tolerance.accumulation_gamma(3, U32, "loose")


def test_the_probabilistic_bound_keeps_the_flush_and_underflow_terms() -> None:
    magnitude = np.array([0.0, 1.0, 1e3])
    flushable = np.array([1e-39, 0.0, 0.0])
    rigorous = tolerance.affine_bound(magnitude, flushable, 4097, "float32", "cpu")
    probable = tolerance.affine_bound(magnitude, flushable, 4097, "float32", "cpu", model="probabilistic")
    assert probable[0] == rigorous[0] == 1e-39 + 4098 * tolerance.TINY["float32"]
    assert np.all(probable[1:] < 0.2 * rigorous[1:])
