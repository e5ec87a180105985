"""A low-precision matmul that the rigorous bound forgives at large ``D_in`` and the probabilistic
one does not (``--tolerance probabilistic``, tests/numerics/test_headroom.py).

Not in a zoo dictionary: on the ``ci`` pool (``D_in`` <= 129) the rigorous bound already catches
it, as ``tests.zoo.broken:float16_accumulate`` and ``bfloat16_matmul`` show.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from tests.zoo.common import out_dtype, params


def float16_matmul(seed: Any, x_batch: Any, features: Any) -> jax.Array:
    """Rounds both matmul inputs to float16 and accumulates in float32 (XLA's F16_F16_F32): each
    product carries up to ``2**-11`` of relative error more than float32 arithmetic, which the
    rigorous bound ``~(D_in + 1) 2**-24 M`` covers once ``D_in`` is past about 8191 (one rounded
    input, such as float16 input against a rounded kernel) or 16383 (both rounded)."""
    kernel, bias, x = params(seed, x_batch, features)
    out = jnp.matmul(x.astype(jnp.float16), kernel.astype(jnp.float16), preferred_element_type=jnp.float32)
    return (out + bias).astype(out_dtype(x)).reshape(-1)
