"""Pieces the zoo builds on: the parameters Flax creates, computed the reference way."""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
from flax import nnx

from impl.validation import check_vmap_over_batch_args


def layer(seed: Any, x_batch: Any, features: Any) -> tuple[nnx.Linear, Any]:
    """The validated input and the reference's ``nnx.Linear``."""
    seed, x_batch, features = check_vmap_over_batch_args(seed, x_batch, features)
    return nnx.Linear(x_batch.shape[-1], features, rngs=nnx.Rngs(seed)), jnp.asarray(x_batch)


def params(seed: Any, x_batch: Any, features: Any) -> tuple[Any, Any, Any]:
    """``(kernel, bias, x)`` as jax arrays."""
    model, x = layer(seed, x_batch, features)
    return model.kernel[...], model.bias[...], x


def out_dtype(x: Any) -> Any:
    return jnp.result_type(x.dtype, jnp.float32)
