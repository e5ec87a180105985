"""Whole argument sets, valid and invalid, for ``vmap_over_batch(seed, x_batch, features)`` and
``vmap_over_ensemble(seed, x_batch, features, n_models)``.

Arguments are dicts keyed by parameter name, with ``x_batch`` a
:class:`~strategies.kinds.KindedArray` (call ``.materialize()`` to get the array).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from types import MappingProxyType
from typing import Any

import numpy as np
from hypothesis import strategies as st

from strategies._checks import reused
from strategies.arrays import FLOAT_DTYPES, VALUE_FAMILIES, X64_DTYPES, make_values, x_batches
from strategies.kinds import ARRAY_KINDS, KindedArray
from strategies.scalars import FEATURES_SPELLINGS, SEED_BUCKETS, features_spellings, seeds, spell_features
from strategies.shapes import DEFAULT_POOL, FreeShapes, ShapePool, member_counts, shapes

Args = dict[str, Any]


@st.composite
def vmap_over_batch_args(
    draw: st.DrawFn,
    *,
    pool: ShapePool | FreeShapes = DEFAULT_POOL,
    x64: bool = False,
    min_batch: int = 0,
    kinds: tuple[str, ...] = ARRAY_KINDS,
    families: tuple[str, ...] = VALUE_FAMILIES,
    spellings: tuple[str, ...] = FEATURES_SPELLINGS,
    seed_buckets: tuple[str, ...] = SEED_BUCKETS,
    only_dtypes: tuple[str, ...] | None = None,
    square: bool | None = None,
) -> Args:
    """Valid ``{"seed", "x_batch", "features"}`` covering every edge of the domain.

    Every keyword narrows the domain; :data:`VMAP_OVER_BATCH_EDGES` names the
    narrowings that pin one edge each.
    """
    batch, d_in, features = draw(shapes(pool, min_batch=min_batch, square=square))
    x = draw(x_batches((batch, d_in), x64=x64, kinds=kinds, families=families, only_dtypes=only_dtypes))
    return {
        "seed": draw(seeds(seed_buckets)),
        "x_batch": x,
        "features": spell_features(features, draw(features_spellings(spellings))),
    }


def _pool_edges(pool: ShapePool) -> list[tuple[str, dict[str, Any]]]:
    """Edges of the shape pool: B = 0, 1, small, above 64; D_in = 1, above 128; features = 1, above 64."""
    out = []
    for label, axis, keep in (
        ("B == 0", "batch", lambda v: v == 0),
        ("B == 1", "batch", lambda v: v == 1),
        ("B in 2..8", "batch", lambda v: 2 <= v <= 8),
        ("B > 64", "batch", lambda v: v > 64),
        ("D_in == 1", "d_in", lambda v: v == 1),
        ("D_in > 128", "d_in", lambda v: v > 128),
        ("features == 1", "features", lambda v: v == 1),
        ("features > 64", "features", lambda v: v > 64),
    ):
        values = tuple(v for v in getattr(pool, axis) if keep(v))
        if values:
            out.append((label, {"pool": replace(pool, **{axis: values})}))
    return out


#: Edge names that start with this are tile edges: costly shapes, drawn only by the
#: properties that opt in (``Property.tiles``).
TILE_EDGE = "tile "

#: Value families whose every row carries signal.
SIGNAL_FAMILIES = tuple(f for f in VALUE_FAMILIES if f not in ("zeros", "zero_rows"))

#: The axes of ``(B, D_in, features)`` as edge names call them, with the pool field of each.
_AXES = (("B", "batch"), ("D_in", "d_in"), ("features", "features"))


def tile_edges(pool: ShapePool) -> list[tuple[str, dict[str, Any]]]:
    """For each tile size ``T`` of the pool and each axis, an edge at ``T - 1`` and one at ``T + 1``.

    One large dimension at a time: the other two axes keep the pool's small sizes
    (from 1 to 8), so the float64 oracle stays cheap. One example each, so its values
    carry signal in every row (no zeros). A chunked or tiled implementation
    that is wrong only past a boundary (rows past 128 from other parameters, the last
    partial tile of a long contraction dropped) fails here by construction.

    Only the edges at the largest size ``L`` are searched (see :func:`tile_narrowing`): every
    tile size divides ``L``, so ``L + 1`` is just past a boundary of every tile size and
    ``L - 1`` one short of a full tile of every one. The smaller sizes are the edges a
    failure there is narrowed to, for a minimal counterexample.
    """
    out = []
    small = {axis: tuple(v for v in getattr(pool, axis) if 1 <= v <= 8) or (1,) for _, axis in _AXES}
    for size in pool.tiles:
        for label, axis in _AXES:
            for n in (size - 1, size + 1):
                sizes = {**small, axis: (n,), "tiles": ()}
                pins = {"pool": replace(pool, **sizes), "families": SIGNAL_FAMILIES}
                out.append((_tile_edge_name(label, n), pins))
    return out


def _tile_edge_name(axis: str, size: int) -> str:
    return f"{TILE_EDGE}{axis} = {size}"


@reused
def tile_narrowing(pool: ShapePool | FreeShapes) -> Mapping[str, tuple[str, ...]]:
    """Searched tile edge -> the tile edges its failure is narrowed to, smallest size first.

    A search costs a compilation per new shape in every implementation, so of the tile edges
    only the two sizes around the largest tile size ``L`` are searched, on each axis: with
    every tile size dividing ``L`` (``ShapePool`` checks it), ``L + 1`` leaves a partial last
    tile of one for every tile size and ``L - 1`` a tile one short of full for every one. When
    ``tile B = 1023`` or ``tile B = 1025`` fails, the runner tries the smaller tile edges of
    that axis in turn (``B = 127``, ``129``, ``255``, ... ``513``) and reports the first that
    fails: the counterexample sits just past the boundary that is wrong.
    """
    if not isinstance(pool, ShapePool) or not pool.tiles:
        return MappingProxyType({})
    largest = max(pool.tiles)
    smaller = sorted(t + side for t in pool.tiles if t < largest for side in (-1, 1))
    out = {}
    for label, _ in _AXES:
        narrower = tuple(_tile_edge_name(label, n) for n in smaller)
        for side in (-1, 1):
            out[_tile_edge_name(label, largest + side)] = narrower
    return MappingProxyType(out)


def searched_edges(edges: Iterable[str], pool: ShapePool | FreeShapes) -> tuple[str, ...]:
    """``edges`` without those only tried to narrow a failure (:func:`tile_narrowing`)."""
    narrowers = {n for names in tile_narrowing(pool).values() for n in names}
    return tuple(e for e in edges if e not in narrowers)


@reused
def vmap_over_batch_edges(
    pool: ShapePool | FreeShapes = DEFAULT_POOL, *, x64: bool = False
) -> tuple[tuple[str, Mapping[str, Any]], ...]:
    """``(edge, keyword arguments of vmap_over_batch_args that pin it)`` for every edge.

    A runner that spends a few examples on each pinned edge reaches all of them by
    construction, not by luck, and Hypothesis still shrinks inside the edge. Built once
    per pool (the runner asks on every draw), so the keyword arguments are read-only.
    """
    edges: list[tuple[str, dict[str, Any]]] = []
    edges += [(f"seed {b}", {"seed_buckets": (b,)}) for b in SEED_BUCKETS]
    edges += [(f"dtype {d}", {"only_dtypes": (d,)}) for d in (X64_DTYPES if x64 else FLOAT_DTYPES)]
    edges += [(f"kind {k}", {"kinds": (k,)}) for k in ARRAY_KINDS]
    edges += [(f"family {f}", {"families": (f,)}) for f in VALUE_FAMILIES]
    edges += [(f"features as {s}", {"spellings": (s,)}) for s in FEATURES_SPELLINGS]
    if isinstance(pool, ShapePool):
        edges += _pool_edges(pool)
    edges.append(("square layer", {"square": True}))
    if isinstance(pool, ShapePool):
        edges += tile_edges(pool)
    return tuple((name, MappingProxyType(pins)) for name, pins in edges)


def _x(shape: tuple[int, ...], dtype: str = "float32", kind: str = "numpy") -> KindedArray:
    return KindedArray(make_values(shape, dtype, "ordinary", 1), kind, "ordinary")


def _bad_dtype_x(dtype: str) -> KindedArray:
    return KindedArray(np.ones((2, 3), dtype=dtype), "numpy", f"{dtype} values")


#: Invalid inputs, each with the argument its error must name.
INVALID_CASES: tuple[tuple[str, str, Any], ...] = (
    ("x_batch", "1-D x_batch", _x((3,))),
    ("x_batch", "3-D x_batch", _x((1, 2, 3))),
    ("x_batch", "0-D x_batch", _x(())),
    ("x_batch", "1-D jax x_batch", _x((4,), kind="jax")),
    ("x_batch", "D_in = 0", _x((2, 0))),
    ("x_batch", "bool dtype", _bad_dtype_x("bool")),
    ("x_batch", "complex dtype", _bad_dtype_x("complex64")),
    ("x_batch", "string dtype", KindedArray(np.array([["a", "b"]]), "numpy", "strings")),
    ("x_batch", "a str", "not an array"),
    ("x_batch", "None", None),
    ("features", "features = 0", 0),
    ("features", "negative features", -3),
    ("features", "features truncating to 0", 0.5),
    ("features", "NaN features", float("nan")),
    ("features", "infinite features", float("inf")),
    ("features", "None features", None),
    ("seed", "NaN seed", float("nan")),
    ("seed", "infinite seed", float("-inf")),
    ("seed", "seed above int64", 2**63),
    ("seed", "seed below int64", -(2**63) - 1),
    ("seed", "huge float seed", 1e300),
    ("seed", "None seed", None),
)


def invalid_vmap_over_batch_args() -> st.SearchStrategy[tuple[Args, str, str]]:
    """``(args, argument, what)``: one invalid argument among valid others.

    ``argument`` is the parameter an error message must name; ``what`` says what
    is wrong, for reports.
    """

    def build(case: tuple[str, str, Any], seed: int, features: int) -> tuple[Args, str, str]:
        argument, what, bad = case
        args: Args = {"seed": seed, "x_batch": _x((2, 3)), "features": features}
        args[argument] = bad
        return args, argument, what

    return st.builds(build, st.sampled_from(INVALID_CASES), st.integers(0, 9), st.integers(1, 4))


# --------------------------------------------------------------------------- ensembles


@st.composite
def vmap_over_ensemble_args(
    draw: st.DrawFn,
    *,
    pool: ShapePool | FreeShapes = DEFAULT_POOL,
    x64: bool = False,
    min_batch: int = 0,
    min_members: int = 1,
    member_spellings: tuple[str, ...] = FEATURES_SPELLINGS,
    **narrowing: Any,
) -> Args:
    """Valid ``{"seed", "x_batch", "features", "n_models"}``: a shared batch for a stack of layers.

    ``narrowing`` takes the keywords of :func:`vmap_over_batch_args`;
    ``n_models`` is drawn from the pool's ensemble sizes and spelled like ``features``.
    """
    args = draw(vmap_over_batch_args(pool=pool, x64=x64, min_batch=min_batch, **narrowing))
    members = draw(member_counts(pool, min_members=min_members))
    spelling = draw(features_spellings(member_spellings))
    return {**args, "n_models": spell_features(members, spelling)}


@reused
def vmap_over_ensemble_edges(
    pool: ShapePool | FreeShapes = DEFAULT_POOL, *, x64: bool = False
) -> tuple[tuple[str, Mapping[str, Any]], ...]:
    """The edges of :func:`vmap_over_batch_edges`, plus ensemble sizes and their spellings
    (read-only keyword arguments, built once per pool)."""
    edges: list[tuple[str, Mapping[str, Any]]] = list(vmap_over_batch_edges(pool, x64=x64))
    if isinstance(pool, ShapePool):
        for label, keep in (("n_models == 1", lambda m: m == 1), ("n_models >= 3", lambda m: m >= 3)):
            values = tuple(m for m in pool.members if keep(m))
            if values:
                edges.append((label, {"pool": replace(pool, members=values)}))
    edges += [(f"n_models as {s}", {"member_spellings": (s,)}) for s in FEATURES_SPELLINGS[1:]]
    return tuple((name, MappingProxyType(dict(pins))) for name, pins in edges)


#: Invalid ensemble sizes, each with what is wrong.
INVALID_MEMBERS: tuple[tuple[str, str, Any], ...] = (
    ("n_models", "n_models = 0", 0),
    ("n_models", "negative n_models", -2),
    ("n_models", "n_models truncating to 0", 0.9),
    ("n_models", "NaN n_models", float("nan")),
    ("n_models", "infinite n_models", float("inf")),
    ("n_models", "None n_models", None),
    ("n_models", "n_models as a str", "3"),
)


def invalid_vmap_over_ensemble_args() -> st.SearchStrategy[tuple[Args, str, str]]:
    """Like :func:`invalid_vmap_over_batch_args`, with ``n_models`` valid or the bad one."""

    def build(case: tuple[str, str, Any], seed: int, features: int, members: int) -> tuple[Args, str, str]:
        argument, what, bad = case
        args: Args = {"seed": seed, "x_batch": _x((2, 3)), "features": features, "n_models": members}
        args[argument] = bad
        return args, argument, what

    return st.builds(
        build,
        st.sampled_from(INVALID_CASES + INVALID_MEMBERS),
        st.integers(0, 9),
        st.integers(1, 4),
        st.integers(1, 3),
    )
