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
    assert len(reached) == 3 * 2 * len(S.TILE_SIZES)


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
