"""The built-in subjects: three lifts of ``nnx.Linear`` over a batch, with their float64 oracles.

* ``vmap_over_batch``    -- one ``nnx.Linear`` applied per sample (``in_axes=(None, 0)``)
* ``vmap_over_ensemble`` -- a stack of ``nnx.Linear`` members on a shared batch (``in_axes=(0, None)``)
* ``vmap_anchored``      -- a module written for one sample, ``Linear(x - x[0])``, that does
  not broadcast: plain ``model(x_batch)`` subtracts the first *sample* from every row

Each oracle (forward, VJP, JVP) is the affine map in float64 with its rounding-error bound
(:func:`_affine_expected`). :data:`BUILTINS` lists them in report order.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import strategies as S
from conformance.numerics.oracle import U64, accurate_affine, ensemble_params, linear_params
from conformance.numerics.tolerance import TINY, UNIT_ROUNDOFF, affine_bound
from conformance.subjects.subject import Args, Expected, StrategyConfig, Subject, applicable, output_dtype

# --------------------------------------------------------------------------- the affine oracle


def _affine_expected(
    x: np.ndarray,
    kernel: np.ndarray,
    bias: np.ndarray,
    x_dtype: np.dtype,
    extra_rounding: float = 0.0,
    n_terms: int | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Oracle value, bound and probabilistic bound of ``x @ kernel + bias`` (float64, shape (B, F)).

    ``extra_rounding`` is a relative error the implementation may make on ``x``
    itself before the product (a rounded elementwise step such as ``x - x[0]``).
    ``n_terms`` is the error model's ``n`` (default ``D_in + 1``: the bias counts as a term).
    """
    dtype = output_dtype(x_dtype)
    d_in = x.shape[1]
    result = accurate_affine(x, kernel, bias, TINY.get(x_dtype.name, 0.0))
    n = d_in + 1 if n_terms is None else n_terms
    bound = affine_bound(result.magnitude, result.flushable, n, dtype.name) + result.error
    probable = affine_bound(result.magnitude, result.flushable, n, dtype.name, model="probabilistic")
    probable = probable + result.error
    if extra_rounding:
        # |x| @ |W| bounds how far a relative error of each x_i moves the sum (kept in both models).
        spread = np.abs(x) @ np.abs(np.asarray(kernel, dtype=np.float64))
        bound = bound + extra_rounding * (1 + 4 * d_in * U64) * spread
        probable = probable + extra_rounding * (1 + 4 * d_in * U64) * spread
    return result.value, bound, probable


def _flat(
    value: np.ndarray,
    bound: np.ndarray,
    probable: np.ndarray,
    dtype: np.dtype,
    shape: tuple[int, ...] | None = None,
) -> Expected:
    """An :class:`Expected` of flat arrays (``shape``: the output's, default flat)."""
    flat = (value.size,) if shape is None else shape
    return Expected(value.reshape(-1), bound.reshape(-1), np.dtype(dtype), flat, probable.reshape(-1))


def _shape(args: Args) -> tuple[int, int]:
    return args["x_batch"].shape[0], int(args["features"])


def _edge_pins(edges: tuple[tuple[str, dict[str, Any]], ...], edge: str | None) -> dict[str, Any]:
    if edge is None:
        return {}
    known = dict(edges)
    if edge not in known:
        raise ValueError(f"unknown edge {edge!r}; known: {', '.join(known)}")
    return dict(known[edge])


# --------------------------------------------------------------------------- vmap_over_batch


def _vmap_over_batch_expected(args: Args, x64: bool) -> Expected:
    x = args["x_batch"].values
    seed, features = int(args["seed"]), int(args["features"])
    kernel, bias = linear_params(seed, x.shape[1], features)
    return _flat(*_affine_expected(x, kernel, bias, x.dtype), output_dtype(x.dtype))


def _gradient_expected(
    value: np.ndarray, bound: np.ndarray, probable: np.ndarray, dtype: np.dtype
) -> Expected:
    """The gradient with respect to ``x_batch``: shaped and typed like it (not flattened)."""
    return _flat(value, bound, probable, dtype, tuple(value.shape))


def _tangent_expected(
    value: np.ndarray, bound: np.ndarray, probable: np.ndarray, dtype: np.dtype
) -> Expected:
    """The JVP's tangent output: flat like the forward output."""
    return _flat(value, bound, probable, dtype)


def _vmap_over_batch_vjp(args: Args, cotangent: np.ndarray, x64: bool) -> Expected:
    """``dX = CT @ W^T``: per element a dot product over the ``features`` (n = features)."""
    x = args["x_batch"].values
    seed, features = int(args["seed"]), int(args["features"])
    kernel, _ = linear_params(seed, x.shape[1], features)
    ct = cotangent.reshape(x.shape[0], features)
    return _gradient_expected(
        *_affine_expected(ct, kernel.T, np.zeros(x.shape[1]), ct.dtype, n_terms=features), x.dtype
    )


def _vmap_over_batch_jvp(args: Args, tangent: np.ndarray, x64: bool) -> Expected:
    """``T @ W``: the forward pass without the bias (n = D_in)."""
    seed, features = int(args["seed"]), int(args["features"])
    kernel, _ = linear_params(seed, tangent.shape[1], features)
    triple = _affine_expected(tangent, kernel, np.zeros(features), tangent.dtype, n_terms=tangent.shape[1])
    return _tangent_expected(*triple, output_dtype(tangent.dtype))


@S.reused  # built once per configuration: the properties' strategies ask on every draw
def _vmap_over_batch_valid(config: StrategyConfig, min_batch: int, min_members: int = 1) -> Any:
    pins = _edge_pins(S.vmap_over_batch_edges(config.pool, x64=config.x64), config.edge)
    pool = pins.pop("pool", config.pool)
    return S.vmap_over_batch_args(pool=pool, x64=config.x64, min_batch=min_batch, **pins)


def _vmap_over_batch_edges(config: StrategyConfig) -> tuple[str, ...]:
    names = (name for name, _ in S.vmap_over_batch_edges(config.pool, x64=config.x64))
    return S.searched_edges(names, config.pool)


VMAP_OVER_BATCH = Subject(
    name="vmap_over_batch",
    signature="vmap_over_batch(seed, x_batch, features) -> (B * features,)",
    summary="nnx.Linear(D_in, int(features), rngs=nnx.Rngs(int(seed))) applied per sample "
    "with nnx.vmap(in_axes=(None, 0)), flattened",
    arg_names=("seed", "x_batch", "features"),
    valid_args=_vmap_over_batch_valid,
    invalid_args=S.invalid_vmap_over_batch_args,
    expected=_vmap_over_batch_expected,
    edges=_vmap_over_batch_edges,
    output_shape=_shape,
    properties=applicable("golden"),  # and its checked-in golden cases
    vjp_expected=_vmap_over_batch_vjp,
    jvp_expected=_vmap_over_batch_jvp,
)


# --------------------------------------------------------------------------- vmap_over_ensemble


def _vmap_over_ensemble_expected(args: Args, x64: bool) -> Expected:
    x = args["x_batch"].values
    seed, features, members = int(args["seed"]), int(args["features"]), int(args["n_models"])
    kernels, biases = ensemble_params(seed, x.shape[1], features, members)
    parts = [_affine_expected(x, kernels[m], biases[m], x.dtype) for m in range(members)]
    value, bound, probable = (np.stack(column) for column in zip(*parts, strict=True))
    return _flat(value, bound, probable, output_dtype(x.dtype))


def _vmap_over_ensemble_vjp(args: Args, cotangent: np.ndarray, x64: bool) -> Expected:
    """``dX = sum_m CT_m @ W_m^T``: one dot product over (member, feature) (n = n_models * features)."""
    x = args["x_batch"].values
    seed, features, members = int(args["seed"]), int(args["features"]), int(args["n_models"])
    kernels, _ = ensemble_params(seed, x.shape[1], features, members)
    # (B, members * features) against (members * features, D_in), in the same (member, feature) order
    ct = cotangent.reshape(members, x.shape[0], features).transpose(1, 0, 2)
    ct = ct.reshape(x.shape[0], members * features)
    stacked = kernels.transpose(0, 2, 1).reshape(members * features, x.shape[1])
    triple = _affine_expected(ct, stacked, np.zeros(x.shape[1]), ct.dtype, n_terms=members * features)
    return _gradient_expected(*triple, x.dtype)


def _vmap_over_ensemble_jvp(args: Args, tangent: np.ndarray, x64: bool) -> Expected:
    """``T @ W_m`` for every member m: each member's forward pass without its bias (n = D_in)."""
    seed, features, members = int(args["seed"]), int(args["features"]), int(args["n_models"])
    kernels, _ = ensemble_params(seed, tangent.shape[1], features, members)
    d_in, zeros = tangent.shape[1], np.zeros(features)
    parts = [
        _affine_expected(tangent, kernels[m], zeros, tangent.dtype, n_terms=d_in) for m in range(members)
    ]
    value, bound, probable = (np.stack(column) for column in zip(*parts, strict=True))
    return _tangent_expected(value, bound, probable, output_dtype(tangent.dtype))


@S.reused
def _vmap_over_ensemble_valid(config: StrategyConfig, min_batch: int, min_members: int = 1) -> Any:
    pins = _edge_pins(S.vmap_over_ensemble_edges(config.pool, x64=config.x64), config.edge)
    pool = pins.pop("pool", config.pool)
    return S.vmap_over_ensemble_args(
        pool=pool, x64=config.x64, min_batch=min_batch, min_members=min_members, **pins
    )


def _vmap_over_ensemble_edges(config: StrategyConfig) -> tuple[str, ...]:
    names = (name for name, _ in S.vmap_over_ensemble_edges(config.pool, x64=config.x64))
    return S.searched_edges(names, config.pool)


def _ensemble_shape(args: Args) -> tuple[int, int, int]:
    return (int(args["n_models"]), *_shape(args))


VMAP_OVER_ENSEMBLE = Subject(
    name="vmap_over_ensemble",
    signature="vmap_over_ensemble(seed, x_batch, features, n_models) -> (n_models * B * features,)",
    summary="int(n_models) nnx.Linear(D_in, int(features)) members made with nnx.split_rngs + "
    "nnx.vmap from nnx.Rngs(int(seed)), applied to a shared batch with nnx.vmap(in_axes=(0, None)), "
    "the (n_models, B, features) result flattened",
    arg_names=("seed", "x_batch", "features", "n_models"),
    valid_args=_vmap_over_ensemble_valid,
    invalid_args=S.invalid_vmap_over_ensemble_args,
    expected=_vmap_over_ensemble_expected,
    edges=_vmap_over_ensemble_edges,
    output_shape=_ensemble_shape,
    output_axes=("member", "row", "feature"),
    # the claims about members, reported after those about one call's inputs; golden cases
    properties=applicable("golden", after={"inputs_untouched": ("member_independence", "distinct_members")}),
    vjp_expected=_vmap_over_ensemble_vjp,
    jvp_expected=_vmap_over_ensemble_jvp,
)


# --------------------------------------------------------------------------- vmap_anchored


def _anchored(x: np.ndarray) -> np.ndarray:
    """Each sample measured from its own first coordinate, exactly in float64 up to one rounding."""
    x = np.asarray(x, dtype=np.float64)
    return x - x[:, :1]


def _vmap_anchored_expected(args: Args, x64: bool) -> Expected:
    x = args["x_batch"].values
    seed, features = int(args["seed"]), int(args["features"])
    kernel, bias = linear_params(seed, x.shape[1], features)
    # ``x - x[0]`` rounds once in the input dtype (and may round again on promotion to
    # float32); the float64 difference itself may round once more.
    rounding = UNIT_ROUNDOFF.get(x.dtype.name, UNIT_ROUNDOFF["float32"]) + UNIT_ROUNDOFF["float32"] + U64
    return _flat(*_affine_expected(_anchored(x), kernel, bias, x.dtype, rounding), output_dtype(x.dtype))


def _vmap_anchored_vjp(args: Args, cotangent: np.ndarray, x64: bool) -> Expected:
    """Per row ``g = CT @ W^T``, then the coupling through ``x[0]``: ``dX = g - e_0 sum(g)``.

    Columns ``i >= 1`` are ``g_i`` (n = features). Column 0 is ``g_0 - sum_i g_i``, which
    a conforming implementation computes as that difference: each product passes through
    the sum over features, the sum over ``D_in`` and the subtraction (n = features + D_in),
    and ``g_0`` enters twice (so its magnitude counts twice). The oracle computes column 0
    as one dot product of exact terms, ``-sum_{i >= 1} sum_f CT_f W_if``.
    """
    x = args["x_batch"].values
    seed, features = int(args["seed"]), int(args["features"])
    batch, d_in = x.shape
    kernel, _ = linear_params(seed, d_in, features)
    ct = cotangent.reshape(batch, features)
    dtype = output_dtype(ct.dtype)
    tiny = TINY.get(ct.dtype.name, 0.0)
    g = accurate_affine(ct, kernel.T, np.zeros(d_in), tiny)
    value = g.value.copy()
    bound = affine_bound(g.magnitude, g.flushable, features, dtype.name) + g.error
    probable = affine_bound(g.magnitude, g.flushable, features, dtype.name, model="probabilistic") + g.error
    # Column 0: (d_in - 1) * features exact products, in the order of np.tile's columns.
    rest = accurate_affine(np.tile(ct, (1, d_in - 1)), -kernel[1:].reshape(-1, 1), np.zeros(1), tiny)
    magnitude = rest.magnitude[:, 0] + 2 * g.magnitude[:, 0]
    flushable = rest.flushable[:, 0] + 2 * g.flushable[:, 0]
    value[:, 0] = rest.value[:, 0]
    underflow = d_in * features * TINY[dtype.name]  # each product may underflow on its own
    n = features + d_in
    bound[:, 0] = affine_bound(magnitude, flushable, n, dtype.name) + rest.error[:, 0] + underflow
    probable[:, 0] = (
        affine_bound(magnitude, flushable, n, dtype.name, model="probabilistic")
        + rest.error[:, 0]
        + underflow
    )
    return _gradient_expected(value, bound, probable, x.dtype)


def _vmap_anchored_jvp(args: Args, tangent: np.ndarray, x64: bool) -> Expected:
    """``(T_i - T_i[0]) @ W`` per row: the forward pass on the tangent without the bias (n = D_in),
    with the anchoring's subtraction rounded once in the tangent's dtype (and once in the oracle)."""
    seed, features = int(args["seed"]), int(args["features"])
    kernel, _ = linear_params(seed, tangent.shape[1], features)
    rounding = UNIT_ROUNDOFF.get(tangent.dtype.name, UNIT_ROUNDOFF["float32"]) + U64
    triple = _affine_expected(
        _anchored(tangent), kernel, np.zeros(features), tangent.dtype, rounding, n_terms=tangent.shape[1]
    )
    return _tangent_expected(*triple, output_dtype(tangent.dtype))


VMAP_ANCHORED = Subject(
    name="vmap_anchored",
    signature="vmap_anchored(seed, x_batch, features) -> (B * features,)",
    summary="a module written for one sample, nnx.Linear(D_in, int(features)) applied to x - x[0] "
    "(the sample measured from its own first coordinate), made with nnx.Rngs(int(seed)) and "
    "applied per sample with nnx.vmap(in_axes=(None, 0)), flattened",
    arg_names=("seed", "x_batch", "features"),
    valid_args=_vmap_over_batch_valid,
    invalid_args=S.invalid_vmap_over_batch_args,
    expected=_vmap_anchored_expected,
    edges=_vmap_over_batch_edges,
    output_shape=_shape,
    informative=lambda args: bool(np.any(_anchored(args["x_batch"].values) != 0)),
    silent_edges=("family zeros", "D_in == 1"),  # one coordinate minus itself is zero
    properties=applicable(),  # no golden cases
    vjp_expected=_vmap_anchored_vjp,
    jvp_expected=_vmap_anchored_jvp,
)


#: The built-in subjects, in report order.
BUILTINS: tuple[Subject, ...] = (VMAP_OVER_BATCH, VMAP_OVER_ENSEMBLE, VMAP_ANCHORED)
