"""Shapes ``(B, D_in, features)`` for a batched linear layer.

Every new shape costs a compilation (about 0.3-0.4 s on CPU), so the default
strategies draw from a *pool*: a handful of sizes per axis that still holds every
edge (``B`` = 0, 1, small, above 64; ``D_in`` = 1 to beyond 128; ``features`` = 1
to beyond 64; square layers ``D_in == features``). ``pool=None`` draws freely.
"""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from strategies._checks import check_int_range, check_pool, reused


@dataclass(frozen=True)
class ShapePool:
    """Sizes to draw from, per axis, in shrinking order (first = simplest)."""

    batch: tuple[int, ...] = (1, 2, 3, 8, 0, 65, 100)
    d_in: tuple[int, ...] = (1, 2, 3, 16, 129, 200)
    features: tuple[int, ...] = (1, 2, 3, 16, 65, 80)
    #: ensemble sizes (``n_models``), for subjects with a stack of layers
    members: tuple[int, ...] = (1, 2, 3, 5)
    #: tile sizes of fast implementations: each gets an edge just below and just above it
    #: along each axis, one large dimension at a time (see ``strategies.calls.tile_edges``);
    #: each must divide the largest, whose two edges stand for all of them in a search
    tiles: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        # Keep tuples (hashable, reusable) whatever sequence the caller passed.
        object.__setattr__(self, "batch", check_pool("batch", self.batch, 0))
        object.__setattr__(self, "d_in", check_pool("d_in", self.d_in, 1))
        object.__setattr__(self, "features", check_pool("features", self.features, 1))
        object.__setattr__(self, "members", check_pool("members", self.members, 1))
        object.__setattr__(self, "tiles", check_pool("tiles", self.tiles, 2, empty=True))
        twice = [t for t in self.tiles if self.tiles.count(t) > 1]
        if twice:
            raise InvalidArgument(f"tiles={self.tiles!r}: {twice[0]} is given twice")
        odd = [t for t in self.tiles if max(self.tiles) % t]
        if odd:
            raise InvalidArgument(
                f"tiles={self.tiles!r}: {odd[0]} does not divide the largest, {max(self.tiles)} "
                "(the sizes just past the largest must be just past a boundary of every tile size)"
            )


DEFAULT_POOL = ShapePool()

#: Common tile sizes of chunked and tiled implementations (rows, contraction, columns).
TILE_SIZES = (128, 256, 512, 1024)

#: The fewest sizes that still hold every edge (B = 0, 1, 2..8, above 64; D_in = 1, above
#: 128; features = 1, above 64; square layers): every new shape costs a compilation. Plus
#: the sizes just below and above each common tile size, which only the tile edges draw.
COMPACT_POOL = ShapePool(
    batch=(1, 3, 0, 65), d_in=(1, 3, 129), features=(1, 3, 65), members=(1, 2, 3), tiles=TILE_SIZES
)


@dataclass(frozen=True)
class FreeShapes:
    """Bounds for drawing shapes freely (long fuzzing runs)."""

    max_batch: int = 300
    max_d_in: int = 300
    max_features: int = 200
    max_members: int = 8

    def __post_init__(self) -> None:
        check_int_range("max_batch", self.max_batch, 1)
        check_int_range("max_d_in", self.max_d_in, 1)
        check_int_range("max_features", self.max_features, 1)
        check_int_range("max_members", self.max_members, 1)


def _check_pool(pool: object) -> None:
    if not isinstance(pool, (ShapePool, FreeShapes)):
        raise InvalidArgument(f"pool must be a ShapePool or FreeShapes, got {pool!r}")


def _small_first(low: int, high: int) -> st.SearchStrategy[int]:
    """Integers in [low, high], half of the draws from its first eight values."""
    return st.one_of(st.integers(low, min(low + 7, high)), st.integers(low, high))


def _sizes(
    pool: ShapePool | FreeShapes, axis: str, free_max: str, minimum: int, min_name: str, label: str
) -> st.SearchStrategy[int]:
    """Sizes ``>= minimum`` along one axis of ``pool`` (``free_max`` bounds a free draw)."""
    _check_pool(pool)
    if isinstance(pool, FreeShapes):
        top = getattr(pool, free_max)
        if minimum > top:
            raise InvalidArgument(f"{min_name}={minimum} exceeds {free_max}={top}")
        return _small_first(minimum, top)
    values = getattr(pool, axis)
    sizes = [v for v in values if v >= minimum]
    if not sizes:
        raise InvalidArgument(f"{min_name}={minimum} exceeds every {label} in the pool {values}")
    return st.sampled_from(sizes)


@reused
def batch_sizes(pool: ShapePool | FreeShapes = DEFAULT_POOL, *, min_batch: int = 0) -> st.SearchStrategy[int]:
    """Batch sizes ``B >= min_batch`` from ``pool``."""
    check_int_range("min_batch", min_batch, 0)
    return _sizes(pool, "batch", "max_batch", min_batch, "min_batch", "batch size")


@reused
def member_counts(
    pool: ShapePool | FreeShapes = DEFAULT_POOL, *, min_members: int = 1
) -> st.SearchStrategy[int]:
    """Ensemble sizes ``n_models >= min_members`` from ``pool``."""
    check_int_range("min_members", min_members, 1)
    return _sizes(pool, "members", "max_members", min_members, "min_members", "ensemble size")


@reused
def layer_shapes(
    pool: ShapePool | FreeShapes = DEFAULT_POOL, *, square: bool | None = None
) -> st.SearchStrategy[tuple[int, int]]:
    """``(D_in, features)`` pairs; about one in four is square (``D_in == features``).

    ``square=True`` draws only square layers, ``False`` only rectangular ones.
    """
    _check_pool(pool)
    if isinstance(pool, FreeShapes):
        d_in = _small_first(1, pool.max_d_in)
        feats = _small_first(1, pool.max_features)
        squares = _small_first(1, min(pool.max_d_in, pool.max_features)).map(lambda d: (d, d))
    else:
        d_in, feats = st.sampled_from(pool.d_in), st.sampled_from(pool.features)
        squares = d_in.map(lambda d: (d, d))
    rectangular = st.tuples(d_in, feats)
    if square is not None:
        return squares if square else rectangular.filter(lambda t: t[0] != t[1])
    return st.sampled_from([False, False, False, True]).flatmap(lambda sq: squares if sq else rectangular)


@reused
def shapes(
    pool: ShapePool | FreeShapes = DEFAULT_POOL, *, min_batch: int = 0, square: bool | None = None
) -> st.SearchStrategy[tuple[int, int, int]]:
    """``(B, D_in, features)`` triples."""
    return st.tuples(batch_sizes(pool, min_batch=min_batch), layer_shapes(pool, square=square)).map(
        lambda t: (t[0], *t[1])
    )
