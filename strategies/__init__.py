"""Hypothesis strategies for batched Flax NNX calls. They know nothing of implementations.

Small, composable, validated (a bad argument is an ``InvalidArgument`` naming it):

* :mod:`strategies.scalars` -- seeds and ``features`` in every spelling
* :mod:`strategies.shapes`  -- ``(B, D_in, features)`` from a compile-friendly pool
* :mod:`strategies.arrays`  -- dtypes and value families of ``x_batch``
* :mod:`strategies.kinds`   -- jax / numpy / read-only / Fortran / non-contiguous arrays
* :mod:`strategies.calls`   -- whole argument sets, valid and invalid
"""

from strategies._checks import reused
from strategies.arrays import (
    FLOAT_DTYPES,
    VALUE_FAMILIES,
    X64_DTYPES,
    array_kinds,
    dtypes,
    make_values,
    np_dtype,
    value_families,
    x_batches,
)
from strategies.calls import (
    INVALID_CASES,
    INVALID_MEMBERS,
    TILE_EDGE,
    invalid_vmap_over_batch_args,
    invalid_vmap_over_ensemble_args,
    searched_edges,
    tile_narrowing,
    vmap_over_batch_args,
    vmap_over_batch_edges,
    vmap_over_ensemble_args,
    vmap_over_ensemble_edges,
)
from strategies.kinds import ARRAY_KINDS, KindedArray, materialize
from strategies.scalars import (
    FEATURES_SPELLINGS,
    SEED_BUCKETS,
    features_spellings,
    related_seeds,
    seed_bucket,
    seed_bucket_strategy,
    seed_identity,
    seeds,
    spell_features,
)
from strategies.shapes import (
    COMPACT_POOL,
    DEFAULT_POOL,
    TILE_SIZES,
    FreeShapes,
    ShapePool,
    batch_sizes,
    layer_shapes,
    member_counts,
    shapes,
)

__all__ = [
    "ARRAY_KINDS",
    "COMPACT_POOL",
    "DEFAULT_POOL",
    "FEATURES_SPELLINGS",
    "FLOAT_DTYPES",
    "INVALID_CASES",
    "INVALID_MEMBERS",
    "SEED_BUCKETS",
    "VALUE_FAMILIES",
    "X64_DTYPES",
    "FreeShapes",
    "KindedArray",
    "ShapePool",
    "array_kinds",
    "batch_sizes",
    "dtypes",
    "features_spellings",
    "invalid_vmap_over_batch_args",
    "invalid_vmap_over_ensemble_args",
    "layer_shapes",
    "make_values",
    "member_counts",
    "materialize",
    "np_dtype",
    "related_seeds",
    "seed_bucket",
    "seed_bucket_strategy",
    "TILE_EDGE",
    "TILE_SIZES",
    "searched_edges",
    "tile_narrowing",
    "seed_identity",
    "seeds",
    "shapes",
    "spell_features",
    "value_families",
    "vmap_over_batch_args",
    "vmap_over_batch_edges",
    "vmap_over_ensemble_args",
    "vmap_over_ensemble_edges",
    "reused",
    "x_batches",
]
