"""A classification head written for one sample ``(D,)``: Linear -> log-softmax over the classes.

The per-sample code subtracts the largest logit before exponentiating, so it stays finite
for any finite input; the batched rewrites must too.
"""

import jax
import jax.numpy as jnp
from flax import nnx

import conformance

N_CLASSES = 10


class LogSoftmaxHead(nnx.Module):
    def __init__(self, d: int, n_classes: int = N_CLASSES, *, rngs: nnx.Rngs):
        self.linear = nnx.Linear(d, n_classes, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:  # x: (D,) -> (n_classes,)
        logits = self.linear(x)
        shifted = logits - jnp.max(logits)
        return shifted - jnp.log(jnp.sum(jnp.exp(shifted)))


log_softmax_head = conformance.per_sample(
    make=lambda seed, dims: LogSoftmaxHead(dims["D"], rngs=nnx.Rngs(seed)),
    call=lambda model, x: model(x),
    sample=("D",),
    dims={"D": conformance.dim(min=1, max=64)},
)


def head_batched(model: LogSoftmaxHead, x_batch: jax.Array) -> jax.Array:
    """The Linear broadcasts over the (B, D) batch; jax.nn.log_softmax over the class axis."""
    return jax.nn.log_softmax(model.linear(x_batch), axis=-1)


def head_logsumexp(model: LogSoftmaxHead, x_batch: jax.Array) -> jax.Array:
    """An explicit matmul and logsumexp over the last (class) axis of each row."""
    logits = x_batch @ model.linear.kernel[...] + model.linear.bias[...]
    return logits - jax.nn.logsumexp(logits, axis=-1, keepdims=True)
