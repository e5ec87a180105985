"""The canonical implementation: ``@nnx.vmap(in_axes=(None, 0))``, as the seed text writes it."""

from __future__ import annotations

from typing import Any

import jax
from flax import nnx

from impl.registry import register
from impl.validation import check_vmap_over_batch_args


@register("nnx_vmap")
def vmap_over_batch(seed: Any, x_batch: Any, features: Any) -> jax.Array:
    seed, x_batch, features = check_vmap_over_batch_args(seed, x_batch, features)
    model = nnx.Linear(x_batch.shape[-1], features, rngs=nnx.Rngs(seed))

    @nnx.vmap(in_axes=(None, 0))
    def fwd(model: nnx.Linear, x: jax.Array) -> jax.Array:
        return model(x)

    return fwd(model, x_batch).reshape(-1)
