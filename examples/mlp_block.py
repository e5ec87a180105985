"""A pre-norm MLP block written for one sequence ``(L, D)``, and two correct batched rewrites.

LayerNorm -> Linear -> GELU (tanh approximation) -> Linear, widening narrow inputs to at
least ``MIN_WIDTH`` features; the residual is added only when the output width equals the
input's (Python control flow on the sample's shape).
"""

import jax
import jax.numpy as jnp
from flax import nnx

import conformance

MIN_WIDTH = 8


class MLPBlock(nnx.Module):
    def __init__(self, d_in: int, *, rngs: nnx.Rngs):
        d_out = max(d_in, MIN_WIDTH)
        self.norm = nnx.LayerNorm(d_in, rngs=rngs)
        self.up = nnx.Linear(d_in, 4 * d_out, rngs=rngs)
        self.down = nnx.Linear(4 * d_out, d_out, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:  # x: (L, D)
        h = self.down(jax.nn.gelu(self.up(self.norm(x)), approximate=True))
        if h.shape[-1] == x.shape[-1]:
            h = h + x
        return h


mlp_block = conformance.per_sample(
    make=lambda seed, dims: MLPBlock(dims["D"], rngs=nnx.Rngs(seed)),
    call=lambda model, x: model(x),
    sample=("L", "D"),
    dims={"D": conformance.dim(min=1, max=32)},
)


def mlp_vmap(model: MLPBlock, x_batch: jax.Array) -> jax.Array:
    """The per-sample block lifted with nnx.vmap: the model shared (None), the batch mapped (0)."""
    return nnx.vmap(lambda m, x: m(x), in_axes=(None, 0))(model, x_batch)


def mlp_batched(model: MLPBlock, x_batch: jax.Array) -> jax.Array:
    """Written by hand for a (B, L, D) batch: statistics over the feature axis of each position."""
    x = x_batch.astype(jnp.result_type(x_batch.dtype, model.norm.scale.dtype))  # as LayerNorm promotes
    mean = jnp.mean(x, axis=-1, keepdims=True)
    var = jnp.var(x, axis=-1, keepdims=True)
    normed = (x - mean) / jnp.sqrt(var + model.norm.epsilon)
    normed = normed * model.norm.scale[...] + model.norm.bias[...]
    h = jnp.einsum("bld,dh->blh", normed, model.up.kernel[...]) + model.up.bias[...]
    h = jax.nn.gelu(h, approximate=True)
    h = jnp.einsum("blh,ho->blo", h, model.down.kernel[...]) + model.down.bias[...]
    if h.shape[-1] == x_batch.shape[-1]:
        h = h + x_batch
    return h
