"""Subjects: a function's contract as data, so that properties need not name the function.

A :class:`Subject` says how to draw valid and invalid arguments, what the float64
oracle expects (values, elementwise bound, dtype, shape), which argument carries
the batch, and which argument is the seed. ``vmap_over_batch`` is the first one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jax
import numpy as np
from hypothesis import strategies as st

import strategies as S
from conformance.oracle import accurate_affine, linear_params
from conformance.tolerance import TINY, affine_bound

Args = dict[str, Any]


@dataclass(frozen=True)
class Expected:
    """What a conforming implementation returns for one call, within ``bound`` elementwise."""

    value: np.ndarray  # float64, flat
    bound: np.ndarray  # float64, flat, same shape as value
    dtype: np.dtype
    shape: tuple[int, ...]


@dataclass(frozen=True)
class StrategyConfig:
    pool: S.ShapePool | S.FreeShapes = S.DEFAULT_POOL
    x64: bool = False
    #: draw only inside this edge of the domain (a name from ``Subject.edges``)
    edge: str | None = None


@dataclass(frozen=True)
class Subject:
    name: str
    signature: str
    summary: str
    arg_names: tuple[str, ...]
    #: valid arguments: (config, min_batch) -> strategy of argument dicts
    valid_args: Callable[[StrategyConfig, int], st.SearchStrategy[Args]]
    #: invalid arguments: strategy of (args, argument to be named, what is wrong)
    invalid_args: Callable[[], st.SearchStrategy[tuple[Args, str, str]]]
    #: the oracle: (args, x64) -> Expected
    expected: Callable[[Args, bool], Expected]
    #: the edges of the domain that ``valid_args`` can pin: config -> names
    edges: Callable[[StrategyConfig], tuple[str, ...]]
    #: the argument whose axis 0 is the batch; output rows follow it
    batch_arg: str = "x_batch"
    seed_arg: str = "seed"

    def ordered(self, args: Args) -> Args:
        """``args`` in the function's parameter order (calls are positional)."""
        missing = [n for n in self.arg_names if n not in args]
        if missing:
            raise ValueError(f"{self.name} needs the arguments {missing}")
        return {n: args[n] for n in self.arg_names}

    def batch_size(self, args: Args) -> int:
        return args[self.batch_arg].shape[0]

    def take_rows(self, args: Args, rows: np.ndarray) -> Args:
        x = args[self.batch_arg]
        return {**args, self.batch_arg: x.with_values(x.values[np.asarray(rows, dtype=np.intp)])}

    def replace_row(self, args: Args, row: int, values: np.ndarray) -> Args:
        x = args[self.batch_arg]
        new = x.values.copy()
        new[row] = values
        return {**args, self.batch_arg: x.with_values(new)}

    def output_rows(self, flat: np.ndarray, args: Args) -> np.ndarray:
        """The flat output viewed as (B, per-row values)."""
        batch = self.batch_size(args)
        return flat.reshape(batch, -1) if batch else flat.reshape(0, 0)

    def has_nonzero_input(self, args: Args) -> bool:
        return bool(np.any(args[self.batch_arg].values.astype(np.float64) != 0))


def args_key(args: Args) -> str:
    """A cheap exact key for a set of arguments (types, dtypes, kinds and bytes included)."""
    h = hashlib.sha1()
    for name in sorted(args):
        v = args[name]
        if isinstance(v, S.KindedArray):
            h.update(f"{name}:{v.dtype.name}{v.shape}{v.kind}:".encode())
            h.update(np.ascontiguousarray(v.values).tobytes())
        else:
            h.update(f"{name}:{type(v).__module__}.{type(v).__name__}:{v!r};".encode())
    return h.hexdigest()


def output_dtype(x_dtype: np.dtype, param_dtype: Any = np.float32) -> np.dtype:
    """JAX's promotion of the input dtype with the parameters' dtype, canonicalised."""
    promoted = jax.dtypes.result_type(x_dtype, param_dtype)
    return np.dtype(jax.dtypes.canonicalize_dtype(promoted))


def _vmap_over_batch_expected(args: Args, x64: bool) -> Expected:
    x = args["x_batch"].values
    seed, features = int(args["seed"]), int(args["features"])
    batch, d_in = x.shape
    kernel, bias = linear_params(seed, d_in, features)
    dtype = output_dtype(x.dtype)
    tiny_x = TINY.get(x.dtype.name, 0.0)
    result = accurate_affine(x, kernel, bias, tiny_x)
    bound = affine_bound(result.magnitude, result.flushable, d_in + 1, dtype.name) + result.error
    return Expected(result.value.reshape(-1), bound.reshape(-1), dtype, (batch * features,))


def _vmap_over_batch_valid(config: StrategyConfig, min_batch: int) -> st.SearchStrategy[Args]:
    pins: dict[str, Any] = {}
    if config.edge is not None:
        known = dict(S.vmap_over_batch_edges(config.pool, x64=config.x64))
        if config.edge not in known:
            raise ValueError(f"unknown edge {config.edge!r}; known: {', '.join(known)}")
        pins = dict(known[config.edge])
    pool = pins.pop("pool", config.pool)
    return S.vmap_over_batch_args(pool=pool, x64=config.x64, min_batch=min_batch, **pins)


def _vmap_over_batch_edges(config: StrategyConfig) -> tuple[str, ...]:
    return tuple(name for name, _ in S.vmap_over_batch_edges(config.pool, x64=config.x64))


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
)

SUBJECTS: dict[str, Subject] = {VMAP_OVER_BATCH.name: VMAP_OVER_BATCH}


def get_subject(name: str) -> Subject:
    if name not in SUBJECTS:
        raise KeyError(f"unknown subject {name!r}; known: {', '.join(SUBJECTS)}")
    return SUBJECTS[name]
