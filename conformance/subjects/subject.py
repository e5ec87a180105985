"""A subject: a function's contract as data, so that properties need not name the function.

A :class:`Subject` says how to draw valid and invalid arguments, what the float64 oracle
expects (:class:`Expected`: values, elementwise bound, dtype, shape), how the flat output
is laid out (its named axes: which one follows the batch, which one the ensemble members),
which argument is the seed, and which properties apply (:func:`applicable`).

The properties themselves, their names and groups, come from one place: the ``@prop``
declarations, read by :func:`conformance.base.catalogue.catalogue`. A subject says only
how it differs from the rest: which of the :data:`OPT_IN` properties it has, and where
its report order departs from the catalogue's.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import jax
import numpy as np
from hypothesis import strategies as st

import strategies as S
from conformance.base.catalogue import catalogue

Args = dict[str, Any]

#: The catalogue's properties that apply only to a subject that names them in :func:`applicable`:
#: the claims about ensemble members (a subject with a "member" output axis) and the comparison
#: with checked-in golden values (a subject with golden cases, :mod:`conformance.cases.golden`).
OPT_IN: tuple[str, ...] = ("member_independence", "distinct_members", "golden", "randomness_as_declared")

#: The properties that check a subject's derivative oracle: property -> the :class:`Subject`
#: field it needs. A subject without that oracle cannot have the property.
GRADIENT_ORACLES: dict[str, str] = {
    "vjp_agrees_with_oracle": "vjp_expected",
    "jvp_agrees_with_oracle": "jvp_expected",
}


def applicable(*opted: str, after: Mapping[str, tuple[str, ...]] | None = None) -> tuple[str, ...]:
    """The properties of a subject, in report order: every property of the catalogue but the
    :data:`OPT_IN` ones, plus the opted-in ones, in catalogue order.

    ``opted`` names opted-in properties that take their catalogue place; ``after`` names
    properties (opted-in or not) reported right after another one instead, as
    ``{property it follows: (properties, ...)}``.
    """
    known = catalogue()
    placed = tuple(p for group in (after or {}).values() for p in group)
    unknown = [p for p in (*opted, *placed, *(after or {})) if p not in known]
    if unknown:
        raise ValueError(f"unknown properties {unknown}; the catalogue has: {', '.join(known)}")
    wanted = set(opted) | set(placed)
    out = [p for p in known if (p not in OPT_IN or p in wanted) and p not in placed]
    for anchor, group in (after or {}).items():
        if anchor not in out:
            raise ValueError(f"{group} cannot follow {anchor!r}: it is not among the properties {out}")
        i = out.index(anchor) + 1
        out[i:i] = group
    return tuple(out)


def _in_group(group: str) -> tuple[str, ...]:
    return tuple(p for p in applicable() if catalogue()[p].group == group)


#: Views of the catalogue for choosing properties (``--property``, tests): the forward claims
#: every subject has, the transform claims other than the gradients, and the gradients.
COMMON_PROPERTIES: tuple[str, ...] = _in_group("forward")
GRADIENT_PROPERTIES: tuple[str, ...] = tuple(p for p in _in_group("transform") if p in GRADIENT_ORACLES)
FORWARD_TRANSFORM_PROPERTIES: tuple[str, ...] = tuple(
    p for p in _in_group("transform") if p not in GRADIENT_ORACLES
)


def _tile_narrowing(config: StrategyConfig) -> Mapping[str, tuple[str, ...]]:
    return S.tile_narrowing(config.pool)


@dataclass(frozen=True)
class Expected:
    """What a conforming implementation returns for one call, within ``bound`` elementwise."""

    value: np.ndarray  # float64, flat
    bound: np.ndarray  # float64, flat, same shape as value: the run's tolerance (rigorous by default)
    dtype: np.dtype
    shape: tuple[int, ...]
    #: the probabilistic model's bound (tolerance.affine_bound(model="probabilistic"), never above
    #: the rigorous one): the tolerance under --tolerance probabilistic, and the line past which a
    #: pass gets a headroom warning (conformance.numerics.headroom)
    probable: np.ndarray | None = None


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
    #: valid arguments: (config, min_batch, min_members) -> strategy of argument dicts
    valid_args: Callable[[StrategyConfig, int, int], st.SearchStrategy[Args]]
    #: invalid arguments: strategy of (args, argument to be named, what is wrong)
    invalid_args: Callable[[], st.SearchStrategy[tuple[Args, str, str]]]
    #: the oracle: (args, x64) -> Expected
    expected: Callable[[Args, bool], Expected]
    #: the edges of the domain that a search covers (``valid_args`` can pin them): config -> names
    edges: Callable[[StrategyConfig], tuple[str, ...]]
    #: the unflattened output shape for some arguments, e.g. (B, features)
    output_shape: Callable[[Args], tuple[int, ...]]
    #: names of the output's axes; "row" follows the batch, "member" the ensemble
    output_axes: tuple[str, ...] = ("row", "feature")
    #: the properties that apply, in report order (built with :func:`applicable`); left empty:
    #: :func:`applicable`'s, without the gradient properties whose oracle the subject lacks
    properties: tuple[str, ...] = ()
    #: whether an input carries signal, so that different seeds must give different outputs
    informative: Callable[[Args], bool] | None = None
    #: edges where no input has signal (a claim that needs it cannot reach them, by design)
    silent_edges: tuple[str, ...] = ("family zeros",)
    #: searched edge -> edges (not searched) that ``valid_args`` can also pin, tried in turn to
    #: narrow a failure there to a smaller counterexample: config -> that mapping
    narrowing: Callable[[StrategyConfig], Mapping[str, tuple[str, ...]]] = _tile_narrowing
    #: the argument whose axis 0 is the batch
    batch_arg: str = "x_batch"
    seed_arg: str = "seed"
    #: the VJP oracle: (args, cotangent shaped like the output, x64) -> Expected of the gradient
    #: with respect to the batch argument (shape of the batch, its dtype)
    vjp_expected: Callable[[Args, np.ndarray, bool], Expected] | None = None
    #: the JVP oracle: (args, tangent shaped like the batch, x64) -> Expected of the tangent output
    #: (flat like the output)
    jvp_expected: Callable[[Args, np.ndarray, bool], Expected] | None = None
    #: what a batch does with the module's random draws: None (it draws none), "different"
    #: (each sample its own) or "same" (every sample the same ones)
    randomness: str | None = None
    #: the names of its free references (a per-sample subject's); None: the registry's built-ins
    builtins: tuple[str, ...] | None = None
    #: defined by a per-sample reference run through the oracle, not by a formula: whether two
    #: seeds must give different outputs on an input is the oracle's to say
    reference_defined: bool = False
    #: names of the batch argument's axes (where a gradient element lies)
    batch_axes: tuple[str, ...] = ("row", "input coordinate")
    #: how the output dtype is chosen, for a wrong-dtype message
    dtype_rule: str = "JAX's promotion of the input dtype with float32 parameters"
    #: a per-sample subject's: (args) -> None when its make builds their model in the oracle
    #: worker, OracleError when it fails there too (an implementation's worker said it failed)
    confirm_make: Callable[[Args], None] | None = None
    #: properties that say nothing of this subject, with why: each cell is a skip saying so
    not_applicable: Mapping[str, str] = field(default_factory=dict, hash=False, compare=False)

    def __post_init__(self) -> None:
        if not self.properties:
            lacking = {p for p, oracle in GRADIENT_ORACLES.items() if getattr(self, oracle) is None}
            object.__setattr__(self, "properties", tuple(p for p in applicable() if p not in lacking))
        unknown = [p for p in self.properties if p not in catalogue()]
        if unknown:
            raise ValueError(f"subject {self.name}: unknown properties {unknown}")
        for prop, oracle in GRADIENT_ORACLES.items():
            if prop in self.properties and getattr(self, oracle) is None:
                raise ValueError(f"subject {self.name}: {prop} needs the oracle {oracle}")

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

    def _along(self, axis: str, flat: np.ndarray, args: Args) -> np.ndarray:
        """The flat output as (size of ``axis``, everything else), ``axis`` moved to the front."""
        shape = self.output_shape(args)
        k = self.output_axes.index(axis)
        return np.moveaxis(flat.reshape(shape), k, 0).reshape(shape[k], -1)

    def output_rows(self, flat: np.ndarray, args: Args) -> np.ndarray:
        """The flat output viewed as (B, the values that belong to each input row)."""
        return self._along("row", flat, args)

    def output_members(self, flat: np.ndarray, args: Args) -> np.ndarray:
        """The flat output viewed as (n_models, each member's values)."""
        return self._along("member", flat, args)

    def locate(self, index: int, args: Args) -> str:
        """Where a flat output index lies, e.g. ``row 3, feature 1``."""
        coords = np.unravel_index(index, self.output_shape(args))
        return ", ".join(f"{axis} {int(c)}" for axis, c in zip(self.output_axes, coords, strict=True))

    def locate_in(self, axis: str, index: int, args: Args) -> str:
        """Where an index of the (``axis``, rest) view of the output lies, e.g. ``row 2, feature 0``."""
        shape = self.output_shape(args)
        k = self.output_axes.index(axis)
        rest = [(a, n) for i, (a, n) in enumerate(zip(self.output_axes, shape, strict=True)) if i != k]
        width = int(np.prod([n for _, n in rest]))
        first, within = divmod(index, width) if width else (index, 0)
        coords = np.unravel_index(within, [n for _, n in rest]) if width else ()
        parts = [f"{axis} {first}"] + [f"{a} {int(c)}" for (a, _), c in zip(rest, coords, strict=True)]
        return ", ".join(parts)

    def has_signal(self, args: Args) -> bool:
        if self.informative is not None:
            return self.informative(args)
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
