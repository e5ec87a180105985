"""The canonical implementation: ``@nnx.vmap(in_axes=(None, 0))``, as the seed text writes it.

Also its tree-mode form, ``nnx.vmap(..., graph=False)``, registered where the installed Flax's
``nnx.vmap`` takes ``graph`` (Flax 0.12.5 and later).
"""

from __future__ import annotations

import inspect
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


#: Whether the installed Flax offers NNX's tree mode to ``nnx.vmap`` (its ``graph`` argument).
TREE_MODE = "graph" in inspect.signature(nnx.vmap).parameters


def nnx_vmap_tree(seed: Any, x_batch: Any, features: Any) -> jax.Array:
    """The canonical form in tree mode: ``nnx.vmap(in_axes=(None, 0), graph=False)``."""
    seed, x_batch, features = check_vmap_over_batch_args(seed, x_batch, features)
    model = nnx.Linear(x_batch.shape[-1], features, rngs=nnx.Rngs(seed))

    def fwd(model: nnx.Linear, x: jax.Array) -> jax.Array:
        return model(x)

    return nnx.vmap(fwd, in_axes=(None, 0), graph=False)(model, x_batch).reshape(-1)


if TREE_MODE:
    register("nnx_vmap_tree")(nnx_vmap_tree)
