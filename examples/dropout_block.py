"""Linear -> Dropout(0.5) written for one sample ``(D,)``; every sample must draw its own mask.

Under ``randomness="different"`` the batched code must give each sample its own dropout
mask. ``nnx.vmap(in_axes=(None, 0))`` does not: the model, its RNG stream included, is
broadcast, so every sample gets the *same* mask (google/flax#4195). The fix splits the
stream into one key per sample and maps the RNG state over axis 0.
"""

import jax
from flax import nnx

import conformance


class DropoutBlock(nnx.Module):
    def __init__(self, d: int, *, rngs: nnx.Rngs):
        self.linear = nnx.Linear(d, d, rngs=rngs)
        self.dropout = nnx.Dropout(0.5, rngs=rngs)  # training mode: keeps its own RNG stream

    def __call__(self, x: jax.Array) -> jax.Array:  # x: (D,)
        return self.dropout(self.linear(x))


dropout_block = conformance.per_sample(
    make=lambda seed, dims: DropoutBlock(dims["D"], rngs=nnx.Rngs(seed)),
    call=lambda model, x: model(x),
    sample=("D",),
    dims={"D": conformance.dim(min=1, max=64)},
    randomness="different",
)


def dropout_vmap(model: DropoutBlock, x_batch: jax.Array) -> jax.Array:
    """One key per sample: split the RNG stream B ways and map the RNG state over axis 0, the
    parameters shared (StateAxes is graph mode, NNX's default)."""
    state_axes = nnx.StateAxes({nnx.RngState: 0, ...: None})

    @nnx.split_rngs(splits=x_batch.shape[0])
    @nnx.vmap(in_axes=(state_axes, 0))
    def forward(model: DropoutBlock, x: jax.Array) -> jax.Array:
        return model(x)

    return forward(model, x_batch)


def dropout_broadcast(model: DropoutBlock, x_batch: jax.Array) -> jax.Array:
    """Linear and Dropout both broadcast over a leading axis: one call, one (B, D) mask drawn from
    one key, so each row has its own mask (not the masks of a per-sample loop, but the same law)."""
    return model(x_batch)
