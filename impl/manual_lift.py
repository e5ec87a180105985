"""The manual lift: ``nnx.split`` + ``jax.vmap(in_axes=(None, 0))`` over the state + ``nnx.merge``."""

from __future__ import annotations

from typing import Any

import jax
from flax import nnx

from impl.registry import register
from impl.validation import check_vmap_over_batch_args


@register("manual_lift")
def vmap_over_batch(seed: Any, x_batch: Any, features: Any) -> jax.Array:
    seed, x_batch, features = check_vmap_over_batch_args(seed, x_batch, features)
    model = nnx.Linear(x_batch.shape[-1], features, rngs=nnx.Rngs(seed))
    graphdef, state = nnx.split(model)

    def per_sample(state: Any, x: jax.Array) -> jax.Array:
        return nnx.merge(graphdef, state)(x)

    return jax.vmap(per_sample, in_axes=(None, 0))(state, x_batch).reshape(-1)
