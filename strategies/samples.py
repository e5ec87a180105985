"""Argument sets ``{"seed", "x_batch", **static}`` for a per-sample subject: a batch of samples of named dims.

A per-sample subject names the dimensions of one sample (``("L", "C")``) and the sizes each
may take, and may declare static arguments of its constructor with the values each may take.
The batch is drawn from a pool of batch sizes and each dimension from a few of its sizes (the
smallest two and the largest: size 1 and small, and the far end of the range), so that every
new shape, which costs a compilation in each implementation, is worth it. The tile edges go
past the tile sizes, one axis at a time. The values keep to magnitudes an arbitrary module
stays finite on: ``large`` is a thousand, not the ``1e30`` a linear layer takes.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from hypothesis import strategies as st

from strategies._checks import reused
from strategies.arrays import VALUE_FAMILIES, make_values
from strategies.calls import SIGNAL_FAMILIES, TILE_EDGE
from strategies.kinds import ARRAY_KINDS, KindedArray
from strategies.scalars import seed_bucket_strategy

#: Seed buckets of a per-sample subject: ``make`` receives ``int(seed)``, so only integers.
INT_SEED_BUCKETS = ("zero", "small", "above_2**16", "above_2**31", "above_2**32", "negative")

#: The magnitude of the ``large`` value family per dtype, for an arbitrary module.
LARGE = {"float16": 60.0, "bfloat16": 1.0e3, "float32": 1.0e3, "float64": 1.0e3}


def dim_pool(sizes: tuple[int, ...]) -> tuple[int, ...]:
    """The sizes of one dimension a search draws: the smallest two and the largest, smallest first."""
    picked = sorted(set(sizes[:2]) | {sizes[-1]})
    return tuple(picked)


def _values(shape: tuple[int, ...], dtype: str, family: str, seed: int) -> Any:
    values = make_values(shape, dtype, "ordinary" if family == "large" else family, seed)
    if family == "large":
        values = (values.astype("float64") * (LARGE[dtype] / 2.0)).astype(values.dtype)
    return values


@st.composite
def per_sample_args(
    draw: st.DrawFn,
    *,
    dims: Mapping[str, tuple[int, ...]],
    batch: tuple[int, ...],
    dtypes: tuple[str, ...],
    static: Mapping[str, tuple[Any, ...]] = MappingProxyType({}),
    min_batch: int = 0,
    kinds: tuple[str, ...] = ARRAY_KINDS,
    families: tuple[str, ...] = VALUE_FAMILIES,
    seed_buckets: tuple[str, ...] = INT_SEED_BUCKETS,
) -> dict[str, Any]:
    """``{"seed", "x_batch", **static}``: ``x_batch`` of shape ``(B, *sample)`` with each named
    dim drawn from its sizes (``dims``: name -> sizes, in the sample's order), ``B`` from
    ``batch``, and each static argument from its values (``static``: name -> values)."""
    sizes = [b for b in batch if b >= min_batch] or [max(min_batch, 1)]
    b = draw(st.sampled_from(sizes))
    shape = (b, *(draw(st.sampled_from(tuple(choices))) for choices in dims.values()))
    dtype = draw(st.sampled_from(dtypes))
    family = draw(st.sampled_from(families))
    value_seed = 0 if family == "zeros" else draw(st.integers(0, 2**32 - 1))
    kind = draw(st.sampled_from(kinds))
    seed = draw(st.sampled_from(seed_buckets).flatmap(seed_bucket_strategy))
    return {
        "seed": int(seed),
        "x_batch": KindedArray(_values(shape, dtype, family, value_seed), kind, family),
        **{name: draw(st.sampled_from(values)) for name, values in static.items()},
    }


#: One axis's tile sizes: ``(tile size, the sizes just below and just above it that the axis
#: allows)``, smallest tile size first.
Tiles = tuple[tuple[int, tuple[int, ...]], ...]


@reused
def per_sample_edges(
    dims: tuple[tuple[str, tuple[int, ...]], ...],
    batch: tuple[int, ...],
    dtypes: tuple[str, ...],
    static: tuple[tuple[str, tuple[Any, ...]], ...] = (),
    tiles: tuple[tuple[str, Tiles], ...] = (),
) -> tuple[tuple[str, Mapping[str, Any]], ...]:
    """``(edge, keyword arguments of per_sample_args that pin it)``: every seed bucket, dtype,
    array kind and value family, ``B`` = 0, 1 and above 64 (where the pool has them), each
    dimension at its smallest and largest size, each value of each static argument, and the
    tile edges (:func:`per_sample_tile_edges`)."""
    edges: list[tuple[str, dict[str, Any]]] = []
    edges += [(f"seed {s}", {"seed_buckets": (s,)}) for s in INT_SEED_BUCKETS]
    edges += [(f"dtype {d}", {"only_dtypes": (d,)}) for d in dtypes]
    edges += [(f"kind {k}", {"kinds": (k,)}) for k in ARRAY_KINDS]
    edges += [(f"family {f}", {"families": (f,)}) for f in VALUE_FAMILIES]
    for label, keep in (
        ("B == 0", lambda v: v == 0),
        ("B == 1", lambda v: v == 1),
        ("B > 64", lambda v: v > 64),
    ):
        chosen = tuple(v for v in batch if keep(v))
        if chosen:
            edges.append((label, {"batch": chosen}))
    for name, sizes in dims:
        edges.append((f"{name} = {sizes[0]}", {"dims": {name: (sizes[0],)}}))
        if sizes[-1] != sizes[0]:
            edges.append((f"{name} = {sizes[-1]}", {"dims": {name: (sizes[-1],)}}))
    for name, values in static:
        if len(values) > 1:
            edges += [(f"{name} = {v!r}", {"static": {name: (v,)}}) for v in values]
    edges += per_sample_tile_edges(dims, batch, tiles, static)
    return tuple((name, MappingProxyType(pins)) for name, pins in edges)


def per_sample_tile_edges(
    dims: tuple[tuple[str, tuple[int, ...]], ...],
    batch: tuple[int, ...],
    tiles: tuple[tuple[str, Tiles], ...],
    static: tuple[tuple[str, tuple[Any, ...]], ...] = (),
) -> list[tuple[str, dict[str, Any]]]:
    """For each axis (``B`` or a sample dimension) and each of its tile sizes ``T``, an edge at the
    size just below ``T`` and one just above: that axis large, the others small (``B`` from 1 to
    8, each dimension at its second size), each static argument at its last declared value (a
    tile edge runs one example, and the first a search draws takes the first value of each
    choice: a kernel size of 1 would hide a chunk boundary), values carrying signal in every
    row. A rewrite that is wrong only past a tile boundary (a chunked loop dropping its last
    partial chunk, chunks that forget the previous one's tail) fails there."""
    small_batch = tuple(b for b in batch if 1 <= b <= 8) or (1,)
    small = {name: (sizes[min(1, len(sizes) - 1)],) for name, sizes in dims}
    last = {name: (values[-1],) for name, values in static}
    out = []
    for axis, around in tiles:
        for _, sizes in around:
            for n in sizes:
                pins: dict[str, Any] = {
                    "dims": {**small},
                    "batch": small_batch,
                    "families": SIGNAL_FAMILIES,
                    "static": last,
                }
                if axis == "B":
                    pins["batch"] = (n,)
                else:
                    pins["dims"][axis] = (n,)
                out.append((per_sample_tile_edge(axis, n), pins))
    return out


def per_sample_tile_edge(axis: str, size: int) -> str:
    """The name of the tile edge of ``axis`` at ``size``: ``tile L = 1025``."""
    return f"{TILE_EDGE}{axis} = {size}"


@reused
def per_sample_tile_narrowing(tiles: tuple[tuple[str, Tiles], ...]) -> Mapping[str, tuple[str, ...]]:
    """Searched tile edge -> the tile edges its failure is narrowed to, smallest size first: only
    the sizes around an axis's largest tile size are searched, as for the built-in subjects
    (``strategies.calls.tile_narrowing``); a failure there is narrowed to the first smaller tile
    size that fails too."""
    out = {}
    for axis, around in tiles:
        if not around:
            continue
        *smaller, (_, largest) = around
        narrower = tuple(per_sample_tile_edge(axis, n) for _, sizes in smaller for n in sizes)
        for n in largest:
            out[per_sample_tile_edge(axis, n)] = narrower
    return MappingProxyType(out)
