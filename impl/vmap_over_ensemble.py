"""Built-ins for ``vmap_over_ensemble(seed, x_batch, features, n_models)``.

The ensemble is created the way Flax's own guide does it: ``nnx.split_rngs(splits=n)``
around an ``nnx.vmap``-ed constructor, so each member draws its parameters from its
own split of ``nnx.Rngs(seed)``; every member is then applied to the same input
(``in_axes=(0, None)``: state batched, input shared). The output is the
``(n_models, B, features)`` stack, flattened.
"""

from __future__ import annotations

import inspect
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from impl.registry import register
from impl.validation import check_vmap_over_ensemble_args

SUBJECT = "vmap_over_ensemble"


def make_ensemble(seed: int, d_in: int, features: int, n_models: int, tree: bool = False) -> nnx.Linear:
    """``n_models`` stacked ``nnx.Linear(d_in, features)`` layers, each from its own rng split
    (made in NNX's tree mode, ``nnx.vmap(..., graph=False)``, if ``tree``)."""

    def create(rngs: nnx.Rngs) -> nnx.Linear:
        return nnx.Linear(d_in, features, rngs=rngs)

    lifted = nnx.vmap(create, in_axes=(0,), out_axes=0, **({"graph": False} if tree else {}))
    return nnx.split_rngs(splits=n_models)(lifted)(nnx.Rngs(seed))


@register("nnx_vmap", subject=SUBJECT)
def nnx_vmap(seed: Any, x_batch: Any, features: Any, n_models: Any) -> jax.Array:
    """The canonical form: ``nnx.vmap(in_axes=(0, None))`` over the stacked module."""
    seed, x_batch, features, n_models = check_vmap_over_ensemble_args(seed, x_batch, features, n_models)
    ensemble = make_ensemble(seed, x_batch.shape[-1], features, n_models)

    @nnx.vmap(in_axes=(0, None), out_axes=0)
    def forward(model: nnx.Linear, x: jax.Array) -> jax.Array:
        return model(x)

    return forward(ensemble, x_batch).reshape(-1)


@register("manual_lift", subject=SUBJECT)
def manual_lift(seed: Any, x_batch: Any, features: Any, n_models: Any) -> jax.Array:
    """``nnx.split`` + ``jax.vmap(in_axes=(0, None))`` over the stacked state + ``nnx.merge``."""
    seed, x_batch, features, n_models = check_vmap_over_ensemble_args(seed, x_batch, features, n_models)
    graphdef, state = nnx.split(make_ensemble(seed, x_batch.shape[-1], features, n_models))

    def member(state: Any, x: jax.Array) -> jax.Array:
        return nnx.merge(graphdef, state)(x)

    return jax.vmap(member, in_axes=(0, None))(state, x_batch).reshape(-1)


#: Whether the installed Flax offers NNX's tree mode to ``nnx.vmap`` (its ``graph`` argument).
TREE_MODE = "graph" in inspect.signature(nnx.vmap).parameters


def nnx_vmap_tree(seed: Any, x_batch: Any, features: Any, n_models: Any) -> jax.Array:
    """The canonical form in tree mode: members made and applied with ``nnx.vmap(..., graph=False)``."""
    seed, x_batch, features, n_models = check_vmap_over_ensemble_args(seed, x_batch, features, n_models)
    ensemble = make_ensemble(seed, x_batch.shape[-1], features, n_models, tree=True)

    def forward(model: nnx.Linear, x: jax.Array) -> jax.Array:
        return model(x)

    return nnx.vmap(forward, in_axes=(0, None), out_axes=0, graph=False)(ensemble, x_batch).reshape(-1)


if TREE_MODE:
    register("nnx_vmap_tree", subject=SUBJECT)(nnx_vmap_tree)


@register("einsum", subject=SUBJECT)
def einsum(seed: Any, x_batch: Any, features: Any, n_models: Any) -> jax.Array:
    """No lifted transform at all: one einsum over the stacked kernels, plus the stacked biases."""
    seed, x_batch, features, n_models = check_vmap_over_ensemble_args(seed, x_batch, features, n_models)
    ensemble = make_ensemble(seed, x_batch.shape[-1], features, n_models)
    kernel, bias = ensemble.kernel[...], ensemble.bias[...]
    x = jnp.asarray(x_batch)
    dtype = jnp.result_type(x.dtype, kernel.dtype)
    out = jnp.einsum("bd,mdf->mbf", x.astype(dtype), kernel.astype(dtype)) + bias.astype(dtype)[:, None, :]
    return out.reshape(-1)
