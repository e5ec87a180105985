"""Correct implementations written differently from the built-ins. Each must pass every property.

They differ in summation order, precision, grouping of rows, jit, Python loops
and einsum: everything the tolerance model must accept.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from impl.nnx_vmap import vmap_over_batch as reference
from tests.zoo.common import layer, out_dtype, params


def reversed_sum(seed: Any, x_batch: Any, features: Any) -> jax.Array:
    """Sum the products in reverse order, one term at a time, in float32."""
    kernel, bias, x = params(seed, x_batch, features)
    x = x.astype(out_dtype(x))
    acc = jnp.broadcast_to(bias, (x.shape[0], kernel.shape[1]))
    for i in reversed(range(kernel.shape[0])):
        acc = acc + x[:, i : i + 1] * kernel[i]
    return acc.reshape(-1)


def float64_compute(seed: Any, x_batch: Any, features: Any) -> np.ndarray:
    """Compute in float64 with numpy, round once to the promoted dtype."""
    kernel, bias, x = params(seed, x_batch, features)
    exact = np.asarray(x, np.float64) @ np.asarray(kernel, np.float64) + np.asarray(bias, np.float64)
    return exact.astype(out_dtype(x)).reshape(-1)


def chunked(seed: Any, x_batch: Any, features: Any) -> jax.Array:
    """Apply the reference's layer to chunks of 7 rows and concatenate.

    The layer is built once: building it again for each chunk (the same parameters) cost
    about 150 initialisations per call at the 1025-row tile edge.
    """
    if np.ndim(x_batch) != 2 or np.shape(x_batch)[0] <= 7:
        return reference(seed, x_batch, features)
    model, x = layer(seed, x_batch, features)
    return jnp.concatenate([model(x[i : i + 7]).reshape(-1) for i in range(0, x.shape[0], 7)])


@jax.jit
def _forward(kernel: jax.Array, bias: jax.Array, x: jax.Array) -> jax.Array:
    return (x @ kernel + bias).reshape(-1)


def jitted(seed: Any, x_batch: Any, features: Any) -> jax.Array:
    """Parameters built eagerly, the forward pass under jax.jit."""
    kernel, bias, x = params(seed, x_batch, features)
    return _forward(kernel, bias, x)


def python_loop(seed: Any, x_batch: Any, features: Any) -> jax.Array:
    """Apply the layer to one sample at a time."""
    model, x = layer(seed, x_batch, features)
    if x.shape[0] == 0:
        return jnp.zeros((0,), out_dtype(x))
    return jnp.stack([model(x[i]) for i in range(x.shape[0])]).reshape(-1)


def einsum(seed: Any, x_batch: Any, features: Any) -> jax.Array:
    """``einsum('bd,df->bf')`` over the layer's parameters."""
    kernel, bias, x = params(seed, x_batch, features)
    return (jnp.einsum("bd,df->bf", x, kernel) + bias).reshape(-1)


@nnx.jit
def _jit_vmap(model: nnx.Linear, x: jax.Array) -> jax.Array:
    return nnx.vmap(lambda m, v: m(v), in_axes=(None, 0))(model, x)


def nnx_jit_vmap(seed: Any, x_batch: Any, features: Any) -> jax.Array:
    """nnx.vmap inside nnx.jit."""
    model, x = layer(seed, x_batch, features)
    return _jit_vmap(model, x).reshape(-1)


CORRECT = {
    "reversed_sum": reversed_sum,
    "float64_compute": float64_compute,
    "chunked": chunked,
    "jitted": jitted,
    "python_loop": python_loop,
    "einsum": einsum,
    "nnx_jit_vmap": nnx_jit_vmap,
}
