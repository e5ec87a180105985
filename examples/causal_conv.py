"""A causal depthwise convolution written for one sequence ``(L, C)``, and two correct batched rewrites.

``y[t, c] = bias[c] + sum_k kernel[k, c] * x[t - K + 1 + k, c]``, with zeros before the
start of the sequence (left padding of ``K - 1``): each channel has its own ``K`` weights,
and no output sees a later position. The kernel size ``K`` is a static argument of the
declaration: every example draws 1, 2 or 4.
"""

import jax
import jax.numpy as jnp
from flax import nnx

import conformance

KERNEL_SIZE = 4


class CausalConv(nnx.Module):
    def __init__(self, channels: int, kernel_size: int = KERNEL_SIZE, *, rngs: nnx.Rngs):
        init = jax.random.normal(rngs.params(), (kernel_size, channels)) / kernel_size**0.5
        self.kernel = nnx.Param(init)  # (K, C): one filter per channel
        self.bias = nnx.Param(0.1 * jax.random.normal(rngs.params(), (channels,)))

    def __call__(self, x: jax.Array) -> jax.Array:  # x: (L, C)
        k, length = self.kernel.shape[0], x.shape[0]
        padded = jnp.pad(x, ((k - 1, 0), (0, 0)))
        out = sum(padded[i : i + length] * self.kernel[i] for i in range(k))
        return out + self.bias[...]


causal_conv = conformance.per_sample(
    make=lambda seed, dims, kernel_size: CausalConv(dims["C"], kernel_size, rngs=nnx.Rngs(seed)),
    call=lambda model, x: model(x),
    sample=("L", "C"),
    dims={"C": conformance.dim(min=1, max=64)},
    static={"kernel_size": (1, 2, KERNEL_SIZE)},  # drawn for every example, passed to make
)


def conv_vmap(model: CausalConv, x_batch: jax.Array) -> jax.Array:
    """The per-sample convolution lifted with nnx.vmap: the model shared, the batch mapped."""
    return nnx.vmap(lambda m, x: m(x), in_axes=(None, 0))(model, x_batch)


def conv_batched(model: CausalConv, x_batch: jax.Array) -> jax.Array:
    """One grouped convolution over the (B, L, C) batch: a group per channel, K - 1 zeros on the left
    of every sequence (XLA pads each batch element separately)."""
    kernel = model.kernel[...]
    k, channels = kernel.shape
    x = x_batch.astype(jnp.result_type(x_batch.dtype, kernel.dtype))  # the convolution wants one dtype
    out = jax.lax.conv_general_dilated(
        x,
        kernel[:, None, :],  # (K, 1, C): width, in-features per group, out-features
        window_strides=(1,),
        padding=[(k - 1, 0)],
        dimension_numbers=("NWC", "WIO", "NWC"),
        feature_group_count=channels,
    )
    return out + model.bias[...]
