"""Plain broadcasting: a Linear layer already handles a leading batch axis, so ``model(x_batch)``."""

from __future__ import annotations

from typing import Any

import jax
from flax import nnx

from impl.registry import register
from impl.validation import check_vmap_over_batch_args


@register("broadcast")
def vmap_over_batch(seed: Any, x_batch: Any, features: Any) -> jax.Array:
    seed, x_batch, features = check_vmap_over_batch_args(seed, x_batch, features)
    model = nnx.Linear(x_batch.shape[-1], features, rngs=nnx.Rngs(seed))
    return model(x_batch).reshape(-1)
