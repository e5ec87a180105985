"""Arrays handed to an implementation in its worker."""

from __future__ import annotations

from typing import Any


def as_jax_array(value: Any) -> Any:
    """``value`` as a jax array: itself if it is one, else transferred with ``jax.device_put``.

    The same array ``jnp.asarray`` makes (dtype, shape, bits, uncommitted), without its
    compiled program: JAX 0.10's ``jnp.asarray`` of a numpy array lifts it with
    ``lax.stage``, one more program per shape and dtype for every worker to lower and
    compile.
    """
    import jax
    import numpy as np

    return value if isinstance(value, jax.Array) else jax.device_put(np.asarray(value))
