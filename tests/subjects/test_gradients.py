"""The gradient oracles, the directions the gradient properties draw, and the worker's encoding.

The oracles are checked against the plain float64 formulas (docs/properties.md, "Gradients"); that their
bounds accept correct float32 gradients and reject wrong ones is the zoo's job
(``tests/properties/test_zoo_gradients.py``).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import strategies as S
from conformance.cases.codec import array_from_json as decode_direction
from conformance.cases.codec import array_to_json as encode_direction
from conformance.numerics.oracle import ensemble_params, linear_params
from conformance.properties.transforms import (
    DIRECTION_FAMILIES,
    GRADIENT_DTYPES,
    direction_values,
    gradient_calls,
)
from conformance.subjects import VMAP_ANCHORED, VMAP_OVER_BATCH, VMAP_OVER_ENSEMBLE, StrategyConfig


def _args(batch: int, d_in: int, features: int, members: int | None = None) -> dict:
    x = S.make_values((batch, d_in), "float32", "ordinary", 3)
    args = {"seed": 11, "x_batch": S.KindedArray(x), "features": features}
    return args if members is None else {**args, "n_models": members}


def _close(expected: object, want: np.ndarray) -> None:
    """The oracle's value is the float64 formula's up to float64 rounding, and within its bound."""
    value = expected.value.reshape(want.shape)
    assert np.all(np.abs(value - want) <= 1e-12 * (np.abs(want) + 1e-30) + 1e-300)
    assert np.all(expected.bound >= 0) and np.all(np.isfinite(expected.bound))


SHAPES = [(3, 4, 2), (1, 1, 1), (0, 3, 2), (2, 129, 65)]


@pytest.mark.parametrize(("batch", "d_in", "features"), SHAPES)
def test_batch_oracles_are_the_float64_formulas(batch: int, d_in: int, features: int) -> None:
    args = _args(batch, d_in, features)
    w = linear_params(11, d_in, features)[0].astype(np.float64)
    ct = np.random.default_rng(0).standard_normal(batch * features).astype(np.float32)
    t = np.random.default_rng(1).standard_normal((batch, d_in)).astype(np.float32)
    vjp = VMAP_OVER_BATCH.vjp_expected(args, ct, False)
    assert vjp.shape == (batch, d_in) and vjp.dtype == np.float32
    _close(vjp, ct.astype(np.float64).reshape(batch, features) @ w.T)
    jvp = VMAP_OVER_BATCH.jvp_expected(args, t, False)
    assert jvp.shape == (batch * features,) and jvp.dtype == np.float32
    _close(jvp, t.astype(np.float64) @ w)


@pytest.mark.parametrize(("batch", "d_in", "features"), SHAPES)
def test_ensemble_oracles_are_the_float64_formulas(batch: int, d_in: int, features: int) -> None:
    members = 3
    args = _args(batch, d_in, features, members)
    w = ensemble_params(11, d_in, features, members)[0].astype(np.float64)
    ct = np.random.default_rng(0).standard_normal(members * batch * features).astype(np.float32)
    t = np.random.default_rng(1).standard_normal((batch, d_in)).astype(np.float32)
    vjp = VMAP_OVER_ENSEMBLE.vjp_expected(args, ct, False)
    want = np.einsum("mbf,mdf->bd", ct.astype(np.float64).reshape(members, batch, features), w)
    _close(vjp, want)
    jvp = VMAP_OVER_ENSEMBLE.jvp_expected(args, t, False)
    _close(jvp, np.einsum("bd,mdf->mbf", t.astype(np.float64), w))


@pytest.mark.parametrize(("batch", "d_in", "features"), SHAPES)
def test_anchored_oracles_are_the_float64_formulas(batch: int, d_in: int, features: int) -> None:
    args = _args(batch, d_in, features)
    w = linear_params(11, d_in, features)[0].astype(np.float64)
    ct = np.random.default_rng(0).standard_normal(batch * features).astype(np.float32)
    t = np.random.default_rng(1).standard_normal((batch, d_in)).astype(np.float32)
    g = ct.astype(np.float64).reshape(batch, features) @ w.T
    want = g.copy()
    want[:, 0] -= g.sum(axis=1)  # the coupling through x[0]
    vjp = VMAP_ANCHORED.vjp_expected(args, ct, False)
    value = vjp.value.reshape(batch, d_in)
    # Column 0 cancels: compare it against the magnitude of the terms it sums.
    scale = np.abs(ct.astype(np.float64).reshape(batch, features)) @ np.abs(w.T).sum(axis=1, keepdims=True)
    assert np.all(np.abs(value[:, 0] - want[:, 0]) <= 1e-12 * scale[:, 0] + 1e-300)
    assert np.allclose(value[:, 1:], want[:, 1:], rtol=1e-12, atol=0)
    t64 = t.astype(np.float64)
    _close(VMAP_ANCHORED.jvp_expected(args, t, False), (t64 - t64[:, :1]) @ w)


def test_the_anchored_bound_of_column_0_covers_the_coupling() -> None:
    """Column 0 sums every product twice over (g_0 - sum g): its bound is the widest."""
    args = _args(2, 16, 3)
    ct = np.random.default_rng(0).standard_normal(6).astype(np.float32)
    bound = VMAP_ANCHORED.vjp_expected(args, ct, False).bound.reshape(2, 16)
    plain = VMAP_OVER_BATCH.vjp_expected(args, ct, False).bound.reshape(2, 16)
    assert np.all(bound[:, 0] > plain[:, 0]) and np.allclose(bound[:, 1:], plain[:, 1:])


def test_zero_direction_has_zero_gradient_and_a_tiny_bound() -> None:
    args = _args(2, 3, 4)
    expected = VMAP_OVER_BATCH.vjp_expected(args, np.zeros(8, np.float32), False)
    assert np.all(expected.value == 0) and np.all(expected.bound < 1e-35)


@pytest.mark.parametrize("dtype", ["float32", "float64", "bfloat16"])
@pytest.mark.parametrize("shape", [(2, 3), (0, 4), (5,)])
def test_directions_travel_as_exact_plain_data(dtype: str, shape: tuple[int, ...]) -> None:
    values = np.random.default_rng(0).standard_normal(shape).astype(S.np_dtype(dtype))
    data = encode_direction(values)
    assert set(data) == {"dtype", "shape", "data"} and isinstance(data["data"], str)
    back = decode_direction(data)
    assert back.dtype == values.dtype and back.shape == values.shape and back.tobytes() == values.tobytes()


@settings(max_examples=30, deadline=None)
@given(st.data())
def test_gradient_cases_are_float32_or_float64_with_a_direction(data: st.DataObject) -> None:
    x64 = data.draw(st.booleans())
    subject = data.draw(st.sampled_from([VMAP_OVER_BATCH, VMAP_OVER_ENSEMBLE, VMAP_ANCHORED]))
    case = data.draw(gradient_calls(subject, StrategyConfig(pool=S.COMPACT_POOL, x64=x64)))
    assert case["args"]["x_batch"].dtype.name in (GRADIENT_DTYPES if x64 else ("float32",))
    assert case["direction"] in DIRECTION_FAMILIES
    values = direction_values(case, (4, 3), np.dtype(np.float32))
    assert values.dtype == np.float32 and np.all(np.isfinite(values))
    assert np.array_equal(values, direction_values(case, (4, 3), np.dtype(np.float32)))  # deterministic
    if case["direction"] == "zeros":
        assert not values.any()
    else:
        assert values.any()
