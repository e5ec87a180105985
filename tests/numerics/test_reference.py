"""The tolerance of a per-sample subject (conformance/numerics/reference.py): correct float32
rewrites and more accurate ones pass, the exact-vs-tanh GELU swap does not."""

from __future__ import annotations

import math

import ml_dtypes
import numpy as np
import pytest

from conformance.numerics.reference import epsilon, reference_bound
from conformance.numerics.tolerance import compare

FACTOR, FLOOR = 32.0, 8.0


def _gelu(x: np.ndarray, approximate: bool) -> np.ndarray:
    if approximate:
        return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))
    erf = np.vectorize(math.erf)
    return 0.5 * x * (1 + erf(x / math.sqrt(2)))


def _block(
    x: np.ndarray, w1: np.ndarray, w2: np.ndarray, dtype: type, approximate: bool = True, order: int = 0
):
    """An MLP block (B, L, D) -> (B, L, D) in ``dtype``: ``order`` picks one of several correct
    float32 evaluation orders of the same real function."""
    x, w1, w2 = (a.astype(dtype) for a in (x, w1, w2))
    if order == 0:
        h = x @ w1
    elif order == 1:  # another contraction order: split the sum in two halves
        k = w1.shape[0] // 2
        h = (x[..., :k] @ w1[:k]) + (x[..., k:] @ w1[k:])
    else:  # one row at a time, elementwise products summed in reverse
        h = np.stack([np.sum((x[..., :, None] * w1)[..., ::-1, :], axis=-2)[i] for i in range(x.shape[0])])
    h = _gelu(h.astype(dtype), approximate).astype(dtype)
    return (h @ w2).astype(dtype)


def _case(seed: int, scale: float = 1.0):
    rng = np.random.default_rng(seed)
    b, length, d = rng.integers(1, 6), rng.integers(1, 5), rng.integers(2, 17)
    x = (rng.standard_normal((b, length, d)) * scale).astype(np.float32)
    w1 = (rng.standard_normal((d, 4 * d)) / math.sqrt(d)).astype(np.float32)
    w2 = (rng.standard_normal((4 * d, d)) / math.sqrt(4 * d)).astype(np.float32)
    return x, w1, w2


def _bound(x, w1, w2):
    oracle = _block(x, w1, w2, np.float64)
    references = np.stack([_block(x, w1, w2, np.float32), _block(x, w1, w2, np.float32, order=1)])
    return reference_bound(oracle, references, FACTOR, FLOOR)


@pytest.mark.parametrize("scale", [1.0, 10.0])
def test_correct_float32_rewrites_in_other_orders_pass(scale: float) -> None:
    worst = 0.0
    for seed in range(150):
        x, w1, w2 = _case(seed, scale)
        value, allowed = _bound(x, w1, w2)
        closeness = compare(_block(x, w1, w2, np.float32, order=2).reshape(-1), value, allowed)
        assert closeness.within, (seed, closeness)
        worst = max(worst, closeness.max_ratio)
    assert worst < 0.5  # and with room to spare


def test_a_rewrite_more_accurate_than_the_reference_passes() -> None:
    for seed in range(50):
        x, w1, w2 = _case(seed)
        value, allowed = _bound(x, w1, w2)
        more_accurate = _block(x, w1, w2, np.float64).astype(np.float32)  # float64, cast back
        assert compare(more_accurate.reshape(-1), value, allowed).within


def test_the_exact_gelu_instead_of_the_tanh_approximation_fails() -> None:
    caught = 0
    for seed in range(50):
        x, w1, w2 = _case(seed)
        value, allowed = _bound(x, w1, w2)
        exact = _block(x, w1, w2, np.float32, approximate=False)
        caught += not compare(exact.reshape(-1), value, allowed).within
    assert caught >= 48, caught


def test_outputs_where_a_reference_overflows_are_outside_the_domain_but_nan_is_not() -> None:
    oracle = np.array([[1.0, 1e300], [2.0, 3.0]])
    references = np.array([[[1.0, np.inf], [2.0, 3.0]]], dtype=np.float32)
    value, allowed = reference_bound(oracle, references, FACTOR, FLOOR)
    assert allowed[1] == np.inf and value[1] == 0.0
    assert compare(np.array([1.0, np.inf, 2.0, 3.0]), value, allowed).within
    assert not compare(np.array([1.0, np.nan, 2.0, 3.0]), value, allowed).within


def test_a_row_whose_oracle_is_zero_gets_the_batchs_floor_not_nothing() -> None:
    oracle = np.array([[0.0, 0.0], [1000.0, -1000.0]])
    value, allowed = reference_bound(oracle, oracle[None].astype(np.float32), FACTOR, FLOOR)
    assert allowed[0] == pytest.approx(FLOOR * epsilon(np.dtype(np.float32)) * 1000.0 / 1024)
    assert allowed[2] == pytest.approx(FLOOR * epsilon(np.dtype(np.float32)) * 1000.0)


def test_the_floor_follows_the_output_dtype_and_an_empty_batch_is_empty() -> None:
    assert epsilon(np.dtype(ml_dtypes.bfloat16)) == 2.0**-7
    assert epsilon(np.dtype(np.float16)) == 2.0**-10
    value, allowed = reference_bound(np.zeros((0, 3)), np.zeros((2, 0, 3), np.float32), FACTOR, FLOOR)
    assert value.shape == allowed.shape == (0,)
    with pytest.raises(ValueError, match="the oracle has shape"):
        reference_bound(np.zeros((2, 3)), np.zeros((1, 2, 4), np.float32), FACTOR, FLOOR)
