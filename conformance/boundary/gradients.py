"""Gradients of an implementation (VJP, JVP with respect to ``x_batch``), in its worker.

The transform kinds ``vjp`` and ``jvp`` of :mod:`conformance.boundary.transforms`.
A request names the direction as plain data (:func:`conformance.cases.codec.array_to_json`:
dtype, shape and bytes, so that the request's memo key is exact); every other argument
(the seed, the sizes) stays a static Python value closed over, and only ``x_batch``
is traced:

* ``{"kind": "vjp", "arg": "x_batch", "cotangent": ...}`` returns the pullback of the
  cotangent (shaped like the output) through ``x_batch -> fn(...)``: shape ``(B, D_in)``;
* ``{"kind": "jvp", "arg": "x_batch", "tangent": ...}`` returns the tangent output of
  ``jax.jvp`` for the tangent (shaped like ``x_batch``): flat like the forward output.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from conformance.boundary.arrays import as_jax_array
from conformance.cases.codec import array_from_json


def _traced(fn: Any, args: dict[str, Any], name: str) -> tuple[Any, Any]:
    """``(f, x)``: ``f(x)`` calls ``fn`` with ``x`` in place of argument ``name``, the others static."""
    if name not in args:
        raise ValueError(f"cannot differentiate with respect to {name!r}: no such argument")

    def f(x: Any) -> Any:
        return fn(*(x if k == name else v for k, v in args.items()))

    return f, as_jax_array(args[name])


def vjp(fn: Any, args: dict[str, Any], transform: dict[str, Any]) -> Any:
    """``jax.vjp`` with respect to ``transform["arg"]``, pulled back along the cotangent."""
    import jax
    import jax.numpy as jnp

    f, x = _traced(fn, args, transform.get("arg", "x_batch"))
    cotangent = array_from_json(transform["cotangent"])
    out, pullback = jax.vjp(f, x)
    if np.size(out) != cotangent.size:
        raise ValueError(
            f"the output has shape {tuple(np.shape(out))}, the cotangent {cotangent.shape}: "
            f"cannot pull back (see output_contract)"
        )
    # The output's own dtype and shape: a wrong one is output_contract's finding, not this one's.
    (grad,) = pullback(jnp.asarray(cotangent).reshape(np.shape(out)).astype(out.dtype))
    return grad


def jvp(fn: Any, args: dict[str, Any], transform: dict[str, Any]) -> Any:
    """``jax.jvp`` with respect to ``transform["arg"]`` along the tangent: the tangent output."""
    import jax
    import jax.numpy as jnp

    f, x = _traced(fn, args, transform.get("arg", "x_batch"))
    tangent = array_from_json(transform["tangent"])
    if tangent.shape != x.shape:
        raise ValueError(f"the tangent has shape {tangent.shape}, the input {x.shape}")
    _, out_tangent = jax.jvp(f, (x,), (jnp.asarray(tangent).astype(x.dtype),))
    return out_tangent
