"""Built-ins for ``vmap_anchored(seed, x_batch, features)``: a per-sample module that does not broadcast.

:class:`AnchoredLinear` is written for *one* sample ``x`` of shape ``(D_in,)``: it
measures the sample from its own first coordinate, ``x - x[0]``, then applies an
``nnx.Linear``. Lifted with ``nnx.vmap(in_axes=(None, 0))`` (or by hand) it is
correct. Called on the whole batch, ``x[0]`` is the first *sample*, so every row
is measured from row 0: the ``broadcast`` built-in is registered as a known
non-conformant reference, kept to show that failure with a minimal counterexample.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from impl.registry import register
from impl.validation import check_vmap_over_batch_args

SUBJECT = "vmap_anchored"


class AnchoredLinear(nnx.Module):
    """``Linear(x - x[0])`` for one sample ``x`` of shape ``(D_in,)``."""

    def __init__(self, d_in: int, features: int, *, rngs: nnx.Rngs) -> None:
        self.linear = nnx.Linear(d_in, features, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.linear(x - x[0])


def _model(seed: Any, x_batch: Any, features: Any) -> tuple[AnchoredLinear, Any]:
    seed, x_batch, features = check_vmap_over_batch_args(seed, x_batch, features)
    return AnchoredLinear(x_batch.shape[-1], features, rngs=nnx.Rngs(seed)), x_batch


@register("nnx_vmap", subject=SUBJECT)
def nnx_vmap(seed: Any, x_batch: Any, features: Any) -> jax.Array:
    """The canonical lift: ``nnx.vmap(in_axes=(None, 0))``."""
    model, x_batch = _model(seed, x_batch, features)

    @nnx.vmap(in_axes=(None, 0))
    def forward(model: AnchoredLinear, x: jax.Array) -> jax.Array:
        return model(x)

    return forward(model, x_batch).reshape(-1)


@register("manual_lift", subject=SUBJECT)
def manual_lift(seed: Any, x_batch: Any, features: Any) -> jax.Array:
    """``nnx.split`` + ``jax.vmap(in_axes=(None, 0))`` over the state + ``nnx.merge``."""
    model, x_batch = _model(seed, x_batch, features)
    graphdef, state = nnx.split(model)

    def per_sample(state: Any, x: jax.Array) -> jax.Array:
        return nnx.merge(graphdef, state)(x)

    return jax.vmap(per_sample, in_axes=(None, 0))(state, x_batch).reshape(-1)


BROADCAST_BREAKS = (
    "on a batch, x[0] is the first sample, not each sample's first coordinate: every row is "
    "measured from row 0, so rows depend on row 0 and row 0 itself becomes the bias"
)


@register(
    "broadcast",
    subject=SUBJECT,
    known_failures={
        "agrees_with_oracle": BROADCAST_BREAKS,
        "agrees_with_builtins": BROADCAST_BREAKS,
        "batch_independence": BROADCAST_BREAKS,
        "vjp_agrees_with_oracle": BROADCAST_BREAKS,
        "jvp_agrees_with_oracle": BROADCAST_BREAKS,
        "jit_agrees_with_oracle": BROADCAST_BREAKS,
        "sharding_invariance": BROADCAST_BREAKS,
        "nnx_modes": BROADCAST_BREAKS,
        "seed_sensitivity": "with one sample, x - x[0] on the batch is all zeros: the output is the "
        "bias (zeros at initialisation) whatever the seed",
    },
)
def broadcast(seed: Any, x_batch: Any, features: Any) -> jax.Array:
    """Plain ``model(x_batch)``: wrong here, on purpose (a known non-conformant reference)."""
    model, x_batch = _model(seed, x_batch, features)
    if x_batch.shape[0] == 0:  # x_batch[0] would be an IndexError; the interesting bug is the other one
        return jnp.zeros((0,), jnp.result_type(x_batch.dtype, jnp.float32))
    return model(x_batch).reshape(-1)
