"""The ``ci`` profile reaches bugs that show only past a tile boundary, and passes correct tiling.

Each broken implementation of ``tests/zoo/tiles.py`` is right on every shape of the compact
pool (B <= 65, D_in <= 129, features <= 65): only the tile edges reach its bug.
"""

from __future__ import annotations

import pytest

import strategies as S
from tests.helpers import check
from tests.zoo import tiles

FORWARD = ("agrees_with_oracle", "batch_independence", "output_contract")


@pytest.mark.parametrize("name", sorted(tiles.BROKEN))
def test_bug_past_a_tile_boundary_is_caught_just_past_it(name: str) -> None:
    axis, size = tiles.BROKEN[name]
    result = check(f"{name}=tests.zoo.tiles:{name}", ("agrees_with_oracle",))
    (cell,) = result.properties
    assert cell.status == "fail", cell.message
    assert cell.counterexample["edge"] == f"{S.TILE_EDGE}{axis} = {size + 1}"
    assert result.verdict == "does not conform"


@pytest.mark.parametrize("name", sorted(tiles.BROKEN))
def test_the_pool_without_tile_edges_would_miss_it(name: str) -> None:
    """Without the tile edges these bugs pass ``ci``: the edges are what catches them."""
    import numpy as np

    from impl.nnx_vmap import vmap_over_batch as reference

    broken = getattr(tiles, name)
    pool = S.COMPACT_POOL
    for batch in pool.batch:
        for d_in in pool.d_in:
            for features in pool.features:
                x = np.linspace(-1, 1, batch * d_in, dtype=np.float32).reshape(batch, d_in)
                np.testing.assert_allclose(
                    broken(3, x, features), reference(3, x, features), rtol=1e-5, atol=1e-6
                )


@pytest.mark.parametrize("name", tiles.CORRECT)
def test_correct_tiling_passes_on_the_tile_edges(name: str) -> None:
    result = check(f"{name}=tests.zoo.tiles:{name}", ("agrees_with_oracle",))
    (cell,) = result.properties
    assert cell.status == "pass", cell.message
    reached = {e for e, n in cell.edges.items() if e.startswith(S.TILE_EDGE) and n > 0}
    # one example on each side of the largest tile size, on each axis (nothing failed to narrow)
    assert reached == set(S.tile_narrowing(S.COMPACT_POOL))
    assert len(reached) == 3 * 2


@pytest.mark.slow
@pytest.mark.parametrize("name", tiles.CORRECT)
def test_correct_tiling_passes_the_forward_claims(name: str) -> None:
    result = check(f"{name}=tests.zoo.tiles:{name}", FORWARD)
    assert [(c.property, c.status) for c in result.properties] == [(p, "pass") for p in FORWARD]


def test_tile_edges_are_one_large_dimension_at_a_time() -> None:
    edges = dict(S.vmap_over_batch_edges(S.COMPACT_POOL))
    tile = {name: pins["pool"] for name, pins in edges.items() if name.startswith(S.TILE_EDGE)}
    assert len(tile) == 24
    for name, pool in tile.items():
        sizes = [pool.batch, pool.d_in, pool.features]
        large = [s for s in sizes if max(s) > 8]
        assert len(large) == 1 and len(large[0]) == 1, (name, pool)
        (n,) = large[0]
        assert name.endswith(f"= {n}") and (n - 1 in S.TILE_SIZES or n + 1 in S.TILE_SIZES)
    assert not any(n.startswith(S.TILE_EDGE) for n, _ in S.vmap_over_batch_edges(S.DEFAULT_POOL))


def test_only_the_largest_tile_size_is_searched_and_a_failure_there_narrows_to_the_smaller() -> None:
    narrowing = S.tile_narrowing(S.COMPACT_POOL)
    smaller = (127, 129, 255, 257, 511, 513)
    assert narrowing["tile B = 1025"] == tuple(f"tile B = {n}" for n in smaller)
    assert narrowing["tile features = 1023"] == tuple(f"tile features = {n}" for n in smaller)
    assert len(narrowing) == 6
    every = [n for n, _ in S.vmap_over_batch_edges(S.COMPACT_POOL) if n.startswith(S.TILE_EDGE)]
    searched = S.searched_edges(every, S.COMPACT_POOL)
    assert sorted(searched) == sorted(narrowing)
    # the narrower edges are still edges that pin a shape (replay and narrowing resolve them)
    assert set(every) == set(narrowing) | {n for names in narrowing.values() for n in names}
    # 1025 is just past a boundary of each tile size, 1023 one short of a full tile of each
    assert all(1025 % t == 1 and 1023 % t == t - 1 for t in S.TILE_SIZES)


def test_tile_sizes_must_divide_the_largest_and_differ() -> None:
    from hypothesis.errors import InvalidArgument

    with pytest.raises(InvalidArgument, match="96 does not divide the largest, 128"):
        S.ShapePool(tiles=(96, 128))
    with pytest.raises(InvalidArgument, match="128 is given twice"):
        S.ShapePool(tiles=(128, 128, 256))
    assert S.ShapePool(tiles=(64, 128)).tiles == (64, 128)
