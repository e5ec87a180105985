"""The three built-in implementations: clear errors on bad input, the reference's semantics on good input."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import impl

BUILTINS = ("nnx_vmap", "manual_lift", "broadcast")


def reference(seed: Any, x_batch: Any, features: Any) -> jax.Array:
    """The seed text's code, verbatim: the independent check for valid inputs."""
    model = nnx.Linear(x_batch.shape[-1], int(features), rngs=nnx.Rngs(int(seed)))

    @nnx.vmap(in_axes=(None, 0))
    def fwd(model: Any, x: Any) -> Any:
        return model(x)

    return fwd(model, x_batch).reshape(-1)


@pytest.fixture(autouse=True, scope="module")
def without_x64() -> Iterator[None]:
    """These tests pin the default (32-bit) mode, whatever other tests did to the global flag."""
    before = bool(jax.config.jax_enable_x64)
    jax.config.update("jax_enable_x64", False)
    yield
    jax.config.update("jax_enable_x64", before)


@pytest.fixture(params=BUILTINS)
def fn(request: pytest.FixtureRequest) -> Callable[..., Any]:
    implementation = impl.get(request.param)
    assert implementation.builtin
    return implementation.fn


def values(shape: tuple[int, ...], dtype: Any = np.float32, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


#: The one valid x_batch the invalid seed/features cases use.
X = values((2, 3))


def bits(a: Any) -> tuple[str, tuple[int, ...], bytes]:
    """Everything bitwise equality compares: dtype, shape and bytes."""
    a = np.asarray(a)
    return a.dtype.name, a.shape, a.tobytes()


# --------------------------------------------------------------------------- invalid input


def check_rejected(call: Callable[[], Any], argument: str) -> str:
    """``call()`` raises ValueError/TypeError naming ``argument``, raised by neither JAX nor Flax."""
    with pytest.raises(Exception) as info:  # noqa: B017 - the type is checked below, with a clear message
        call()
    error = info.value
    assert type(error) in (ValueError, TypeError), f"raised {type(error).__name__}: {error}"
    assert not isinstance(error, (ZeroDivisionError, OverflowError))
    message = str(error)
    assert argument in message, f"message does not name {argument!r}: {message!r}"
    frames = [str(entry.path) for entry in info.traceback]
    inside = [f for f in frames if "/jax/" in f or "/flax/" in f or "/jaxlib/" in f]
    assert not inside, f"the error came from inside JAX/Flax ({inside[-1]}): {message!r}"
    return message


INVALID_X = {
    "1-D": lambda: values((3,)),
    "1-D jax": lambda: jnp.ones((3,), jnp.float32),
    "3-D": lambda: values((1, 2, 3)),
    "0-D": lambda: np.float32(1.0).reshape(()),
    "0-D array": lambda: np.array(1.0, np.float32),
    "D_in=0": lambda: np.zeros((2, 0), np.float32),
    "bool dtype": lambda: np.ones((2, 3), bool),
    "complex dtype": lambda: np.ones((2, 3), np.complex64),
    "complex jax": lambda: jnp.ones((2, 3), jnp.complex64),
    "string array": lambda: np.array([["a", "b"], ["c", "d"]]),
    "python list": lambda: [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]],
    "str": lambda: "not an array",
    "None": lambda: None,
}


@pytest.mark.parametrize("case", list(INVALID_X))
def test_invalid_x_batch(fn: Callable[..., Any], case: str) -> None:
    x = INVALID_X[case]()
    check_rejected(lambda: fn(0, x, 2), "x_batch")


@pytest.mark.parametrize("case", ["1-D", "1-D jax"])
def test_one_dimensional_x_batch_says_how_to_add_the_batch_axis(fn: Callable[..., Any], case: str) -> None:
    x = INVALID_X[case]()
    message = check_rejected(lambda: fn(0, x, 2), "x_batch")
    assert "x[None, :]" in message


INVALID_FEATURES = [0, -1, 0.5, -0.5, float("nan"), float("inf"), float("-inf"), None, 2**31, "2", 1j]


@pytest.mark.parametrize("features", INVALID_FEATURES, ids=repr)
def test_invalid_features(fn: Callable[..., Any], features: Any) -> None:
    check_rejected(lambda: fn(0, X, features), "features")


INVALID_SEEDS = [
    float("nan"),
    float("inf"),
    float("-inf"),
    2**63,
    -(2**63) - 1,
    1e300,
    -1e300,
    None,
    True,
    False,
    np.bool_(True),
    "0",
    1j,
]


@pytest.mark.parametrize("seed", INVALID_SEEDS, ids=repr)
def test_invalid_seed(fn: Callable[..., Any], seed: Any) -> None:
    check_rejected(lambda: fn(seed, X, 2), "seed")


# --------------------------------------------------------------------------- valid input


def assert_same(got: Any, want: Any) -> None:
    got_bits, want_bits = bits(got), bits(want)
    assert got_bits[:2] == want_bits[:2]
    np.testing.assert_array_equal(np.asarray(got), np.asarray(want))
    assert got_bits == want_bits


@pytest.mark.parametrize(
    ("seed", "whole"),
    [(3.7, 3), (-3.7, -3), (3.2, 3), (0.9, 0), (-0.9, 0), (np.float32(3.7), 3), (np.float64(-3.7), -3)],
    ids=repr,
)
def test_seed_truncates_like_int(fn: Callable[..., Any], seed: Any, whole: int) -> None:
    assert int(seed) == whole  # the test's own premise
    got = fn(seed, X, 2)
    assert_same(got, fn(whole, X, 2))
    assert_same(got, reference(seed, X, 2))


def test_negative_seed_truncates_toward_zero_not_down(fn: Callable[..., Any]) -> None:
    assert bits(fn(-3.7, X, 2)) != bits(fn(-4, X, 2))


@pytest.mark.parametrize("seed", [np.int64(3), np.int32(3), np.uint32(3), np.array(3)], ids=repr)
def test_numpy_integer_seed_is_the_int(fn: Callable[..., Any], seed: Any) -> None:
    assert_same(fn(seed, X, 2), fn(3, X, 2))
    assert_same(fn(seed, X, 2), reference(seed, X, 2))


@pytest.mark.parametrize(
    ("features", "rows"),
    [(2.9, 2), (2, 2), (np.int64(2), 2), (np.float32(2.9), 2), (np.float64(2.5), 2), (1.999, 1)],
    ids=repr,
)
def test_features_truncates_like_int(fn: Callable[..., Any], features: Any, rows: int) -> None:
    assert int(features) == rows
    got = fn(5, X, features)
    assert np.shape(got) == (X.shape[0] * rows,)
    assert_same(got, fn(5, X, rows))
    assert_same(got, reference(5, X, features))


def test_empty_batch(fn: Callable[..., Any]) -> None:
    x = np.zeros((0, 3), np.float32)
    got = fn(1, x, 2)
    assert np.shape(got) == (0,)
    assert np.asarray(got).dtype == np.float32
    assert_same(got, reference(1, x, 2))


@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "float16", "int32"])
def test_output_dtype_is_float32(fn: Callable[..., Any], dtype: str) -> None:
    x = jnp.asarray(values((2, 3)) * 4).astype(dtype)
    got = fn(2, x, 2)
    want = reference(2, x, 2)
    assert isinstance(got, jax.Array)
    assert got.dtype == np.float32 == jnp.result_type(x.dtype, jnp.float32)
    assert got.shape == want.shape == (x.shape[0] * 2,)
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("kind", ["numpy", "jax"])
@pytest.mark.parametrize(("batch", "d_in", "features"), [(2, 3, 2), (5, 4, 3), (1, 1, 1)])
def test_builtins_are_bitwise_identical_and_match_the_reference(
    kind: str, batch: int, d_in: int, features: int
) -> None:
    x = values((batch, d_in), seed=batch)
    if kind == "jax":
        x = jnp.asarray(x)
    outputs = {name: impl.get(name).fn(11, x, features) for name in BUILTINS}
    want = reference(11, x, features)
    for name, got in outputs.items():
        assert bits(got) == bits(outputs["nnx_vmap"]), f"{name} differs from nnx_vmap"
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-6, atol=1e-6)
    assert bits(outputs["nnx_vmap"]) == bits(want)


@pytest.mark.parametrize(
    "seed", [2**32, -1, 2**32 + 5, 2**63 - 1, -(2**63), -(2**32) + 7, np.int64(2**40 + 3)], ids=repr
)
def test_seeds_alias_modulo_2_32_without_x64(fn: Callable[..., Any], seed: Any) -> None:
    assert not jax.config.jax_enable_x64
    alias = int(seed) % 2**32
    assert alias != int(seed)
    got = fn(seed, X, 2)
    assert_same(got, fn(alias, X, 2))
    assert_same(got, reference(seed, X, 2))


def test_distinct_seeds_modulo_2_32_differ(fn: Callable[..., Any]) -> None:
    """Keeps the aliasing test honest: an implementation that ignored the seed would pass it."""
    outputs = [bits(fn(s, X, 2)) for s in (0, 1, 2**32 - 1, 2**31)]
    assert len(set(outputs)) == len(outputs)


@pytest.mark.parametrize("seed", [2**63 - 1, -(2**63), np.int64(2**63 - 1), np.int64(-(2**63))], ids=repr)
def test_int64_extreme_seeds_accepted(fn: Callable[..., Any], seed: Any) -> None:
    got = fn(seed, X, 2)
    assert np.shape(got) == (X.shape[0] * 2,)
    assert np.all(np.isfinite(np.asarray(got)))
    assert_same(got, reference(seed, X, 2))


def test_features_upper_limit_is_int32_max() -> None:
    """2**31 - 1 is within the accepted range (checked on validation only: building it would not fit)."""
    from impl.validation import FEATURES_MAX, check_features

    assert FEATURES_MAX == 2**31 - 1
    assert check_features(2**31 - 1) == 2**31 - 1
    assert check_features(float(2**31 - 1) + 0.5) == 2**31 - 1
    assert check_features(np.int64(7)) == 7
    assert isinstance(check_features(np.float32(2.9)), int)


def test_inputs_are_not_modified(fn: Callable[..., Any]) -> None:
    x = values((2, 3))
    before = x.copy()
    fn(0, x, 2)
    assert x.tobytes() == before.tobytes()


def test_output_is_finite_for_large_finite_int_input(fn: Callable[..., Any]) -> None:
    x = np.full((2, 3), 2**20, np.int32)
    got = np.asarray(fn(4, x, 2))
    want = np.asarray(reference(4, x, 2))
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, want, rtol=1e-6)
    assert not math.isnan(float(got.sum()))
