"""Single-head causal self-attention written for one sequence ``(L, D)``, and two correct batched rewrites.

Sinusoidal position encodings (``D`` even: ``D/2`` sines, then ``D/2`` cosines) are added to
the input; position ``t`` attends to positions ``0..t`` of its own sequence.
"""

import jax
import jax.numpy as jnp
from flax import nnx

import conformance


def sinusoids(length: int, d: int) -> jax.Array:
    """(length, d) position encodings for positions 0..length-1."""
    angles = jnp.arange(length)[:, None] / 10_000 ** (jnp.arange(d // 2)[None, :] * 2 / d)
    return jnp.concatenate([jnp.sin(angles), jnp.cos(angles)], axis=-1)


class CausalSelfAttention(nnx.Module):
    def __init__(self, d: int, *, rngs: nnx.Rngs):
        self.query, self.key, self.value, self.out = (
            nnx.Linear(d, d, use_bias=False, rngs=rngs) for _ in range(4)
        )

    def __call__(self, x: jax.Array) -> jax.Array:  # x: (L, D)
        length, d = x.shape
        x = x + sinusoids(length, d)
        q, k, v = self.query(x), self.key(x), self.value(x)
        scores = q @ k.T / d**0.5  # (L, L): query t, key s
        causal = jnp.tril(jnp.ones((length, length), dtype=bool))
        weights = jax.nn.softmax(jnp.where(causal, scores, -jnp.inf), axis=-1)
        return self.out(weights @ v)


causal_attention = conformance.per_sample(
    make=lambda seed, dims: CausalSelfAttention(dims["D"], rngs=nnx.Rngs(seed)),
    call=lambda model, x: model(x),
    sample=("L", "D"),
    dims={"D": conformance.dim(min=2, max=32, multiple_of=2)},
)


def attention_vmap(model: CausalSelfAttention, x_batch: jax.Array) -> jax.Array:
    """The per-sample attention lifted with nnx.vmap: the model shared, the batch mapped."""
    return nnx.vmap(lambda m, x: m(x), in_axes=(None, 0))(model, x_batch)


def attention_batched(model: CausalSelfAttention, x_batch: jax.Array) -> jax.Array:
    """Einsums over an explicit batch axis; positions and the mask count within each sequence."""
    _, length, d = x_batch.shape
    x = x_batch + sinusoids(length, d)[None]
    q, k, v = (jnp.einsum("bld,de->ble", x, m.kernel[...]) for m in (model.query, model.key, model.value))
    scores = jnp.einsum("bte,bse->bts", q, k) / d**0.5
    causal = jnp.arange(length)[None, :] <= jnp.arange(length)[:, None]  # key s <= query t
    weights = jax.nn.softmax(jnp.where(causal[None], scores, -jnp.inf), axis=-1)
    return jnp.einsum("bte,ef->btf", jnp.einsum("bts,bse->bte", weights, v), model.out.kernel[...])
