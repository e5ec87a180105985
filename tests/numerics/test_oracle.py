"""The oracle (conformance/numerics/oracle.py), checked against Flax and against exact arithmetic.

* its parameters are the bits Flax draws for ``nnx.Linear(d_in, features, rngs=nnx.Rngs(seed))``,
  for every seed the subjects accept (int64, negative, beyond 2**32);
* :func:`~conformance.numerics.oracle.accurate_affine` is exact to within the error it reports,
  through exact and near cancellation and for huge float64 inputs, and that error is far below
  the bound (:func:`conformance.numerics.tolerance.affine_bound`) it helps enforce.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from flax import nnx
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from conformance.numerics.oracle import accurate_affine, ensemble_params, linear_params
from conformance.numerics.tolerance import TINY, affine_bound
from tests.numerics.helpers import FAST

SEEDS = (0, 1, -1, 2**31 - 1, 2**32 + 7, -(2**40), 2**63 - 1)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize(("d_in", "features"), [(1, 1), (3, 65), (129, 2)])
def test_linear_params_are_the_eager_draw(seed: int, d_in: int, features: int) -> None:
    layer = nnx.Linear(d_in, features, rngs=nnx.Rngs(seed))
    kernel, bias = linear_params(seed, d_in, features)
    assert kernel.tobytes() == np.asarray(layer.kernel[...]).tobytes()
    assert bias.tobytes() == np.asarray(layer.bias[...]).tobytes()
    assert not kernel.flags.writeable and not bias.flags.writeable


@pytest.mark.parametrize("seed", SEEDS[:4])
def test_ensemble_params_are_the_eager_draw(seed: int) -> None:
    @nnx.split_rngs(splits=3)
    @nnx.vmap(in_axes=(0,), out_axes=0)
    def members(rngs: nnx.Rngs) -> nnx.Linear:
        return nnx.Linear(4, 5, rngs=rngs)

    stack = members(nnx.Rngs(seed))
    kernels, biases = ensemble_params(seed, 4, 5, 3)
    assert kernels.shape == (3, 4, 5) and biases.shape == (3, 5)
    assert kernels.tobytes() == np.asarray(stack.kernel[...]).tobytes()
    assert biases.tobytes() == np.asarray(stack.bias[...]).tobytes()


def test_other_seeds_draw_other_parameters() -> None:
    assert linear_params(0, 3, 4)[0].tobytes() != linear_params(1, 3, 4)[0].tobytes()


# --------------------------------------------------------------------------- accurate_affine


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
