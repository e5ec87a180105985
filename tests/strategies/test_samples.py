"""Argument sets of a per-sample subject (strategies/samples.py): shapes from the declared dims,
every edge pinned, values an arbitrary module stays finite on."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from strategies.samples import (
    INT_SEED_BUCKETS,
    LARGE,
    dim_pool,
    per_sample_args,
    per_sample_edges,
    per_sample_tile_narrowing,
)

DIMS = (("L", (1, 2, 16)), ("C", (2, 4, 8)))
BATCH = (1, 3, 0, 65)
DTYPES = ("float32", "bfloat16", "float16")


def test_a_dimension_draws_its_smallest_two_sizes_and_its_largest() -> None:
    assert dim_pool(tuple(range(1, 17))) == (1, 2, 16)
    assert dim_pool((4,)) == (4,)
    assert dim_pool((2, 4, 6, 8)) == (2, 4, 8)


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_every_draw_has_a_declared_shape_dtype_and_int_seed(data: st.DataObject) -> None:
    args = data.draw(per_sample_args(dims=dict(DIMS), batch=BATCH, dtypes=DTYPES, min_batch=1))
    x = args["x_batch"]
    assert set(args) == {"seed", "x_batch"} and isinstance(args["seed"], int)
    assert x.shape[0] in (1, 3, 65) and x.shape[1] in (1, 2, 16) and x.shape[2] in (2, 4, 8)
    assert x.dtype.name in DTYPES
    assert np.all(np.isfinite(x.values.astype(np.float64)))
    assert np.abs(x.values.astype(np.float64)).max(initial=0) <= 10 * LARGE[x.dtype.name]


@settings(max_examples=20, deadline=None)
@given(st.data())
def test_each_edge_pins_what_it_names(data: st.DataObject) -> None:
    edges = dict(per_sample_edges(DIMS, BATCH, DTYPES))
    assert {f"seed {s}" for s in INT_SEED_BUCKETS} <= set(edges)
    assert {"B == 0", "B == 1", "B > 64", "L = 1", "L = 16", "C = 2", "C = 8", "family large"} <= set(edges)
    pins = dict(edges["C = 8"])
    args = data.draw(per_sample_args(dims={**dict(DIMS), **pins.pop("dims")}, batch=BATCH, dtypes=DTYPES))
    assert args["x_batch"].shape[2] == 8
    large = data.draw(per_sample_args(dims=dict(DIMS), batch=(3,), dtypes=("float16",), families=("large",)))
    assert np.abs(large["x_batch"].values.astype(np.float64)).max() > 1.0


STATIC = (("heads", (1, 2, 4)), ("causal", (True,)))
TILES = (("B", ((1024, (1023, 1025)),)), ("L", ((128, (127, 129)), (1024, (1023, 1025)))), ("C", ()))


@settings(max_examples=30, deadline=None)
@given(st.data())
def test_static_arguments_are_drawn_from_their_values_and_each_value_is_an_edge(data: st.DataObject) -> None:
    args = data.draw(per_sample_args(dims=dict(DIMS), batch=BATCH, dtypes=DTYPES, static=dict(STATIC)))
    assert set(args) == {"seed", "x_batch", "heads", "causal"}
    assert args["heads"] in (1, 2, 4) and args["causal"] is True
    edges = dict(per_sample_edges(DIMS, BATCH, DTYPES, STATIC))
    assert {"heads = 1", "heads = 2", "heads = 4"} <= set(edges)
    assert not any(e.startswith("causal") for e in edges)  # one value: nothing to pin
    pinned = data.draw(
        per_sample_args(dims=dict(DIMS), batch=BATCH, dtypes=DTYPES, **dict(edges["heads = 4"]))
    )
    assert pinned["heads"] == 4


@settings(max_examples=10, deadline=None)
@given(st.data())
def test_tile_edges_make_one_axis_large_and_the_rest_small(data: st.DataObject) -> None:
    edges = dict(per_sample_edges(DIMS, BATCH, DTYPES, STATIC, TILES))
    tiles = [e for e in edges if e.startswith("tile ")]
    assert tiles == [
        "tile B = 1023",
        "tile B = 1025",
        "tile L = 127",
        "tile L = 129",
        "tile L = 1023",
        "tile L = 1025",
    ]
    pins = dict(edges["tile L = 1025"])
    args = data.draw(per_sample_args(dims={**dict(DIMS), **pins.pop("dims")}, dtypes=DTYPES, **pins))
    b, length, c = args["x_batch"].shape
    assert length == 1025 and 1 <= b <= 8 and c == 4
    assert args["heads"] == 4  # the last declared value: one example must not draw a kernel size of 1
    assert args["x_batch"].label not in ("zeros", "zero_rows")
    pins = dict(edges["tile B = 1025"])
    args = data.draw(per_sample_args(dims={**dict(DIMS), **pins.pop("dims")}, dtypes=DTYPES, **pins))
    assert args["x_batch"].shape == (1025, 2, 4)


def test_only_the_largest_tile_size_is_searched_and_a_failure_there_is_narrowed() -> None:
    narrowing = per_sample_tile_narrowing(TILES)
    assert narrowing == {
        "tile B = 1023": (),
        "tile B = 1025": (),
        "tile L = 1023": ("tile L = 127", "tile L = 129"),
        "tile L = 1025": ("tile L = 127", "tile L = 129"),
    }
