"""The zoo of ``vmap_anchored(seed, x_batch, features)``: ``Linear(x - x[0])`` per sample.

``BROKEN`` maps each deliberately broken implementation to the properties that
must catch it (every property of the subject is named at least once);
``CORRECT`` holds implementations written differently from the built-ins that
must pass every property. All are built on :mod:`impl.vmap_anchored`.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from impl.validation import check_vmap_over_batch_args
from impl.vmap_anchored import AnchoredLinear
from impl.vmap_anchored import nnx_vmap as reference
from tests.zoo.common import out_dtype


def _model(seed: Any, x_batch: Any, features: Any) -> tuple[AnchoredLinear, jax.Array]:
    """The validated input and the reference's per-sample module."""
    seed, x_batch, features = check_vmap_over_batch_args(seed, x_batch, features)
    return AnchoredLinear(x_batch.shape[-1], features, rngs=nnx.Rngs(seed)), jnp.asarray(x_batch)


def _linear_on(model: AnchoredLinear, anchored: jax.Array) -> jax.Array:
    """The module's Linear applied to already anchored rows, flattened."""
    return model.linear(anchored).reshape(-1)


# ----------------------------------------------------------------- output contract


def not_flattened(seed: Any, x_batch: Any, features: Any) -> jax.Array:
    """Returns the (B, features) rows themselves."""
    return reference(seed, x_batch, features).reshape(np.shape(x_batch)[0], -1)


# ----------------------------------------------------------------- agreement with the oracle


def anchored_at_last(seed: Any, x_batch: Any, features: Any) -> jax.Array:
    """Measures each sample from its own *last* coordinate, x - x[-1]."""
    model, x = _model(seed, x_batch, features)
    return _linear_on(model, x - x[:, -1:])


def forgets_anchor(seed: Any, x_batch: Any, features: Any) -> jax.Array:
    """Applies the Linear to the raw sample: no x - x[0] at all."""
    model, x = _model(seed, x_batch, features)
    return _linear_on(model, x)


# ----------------------------------------------------------------- batch independence


def batch_anchor_when_batched(seed: Any, x_batch: Any, features: Any) -> jax.Array:
    """Per sample for one row; for B > 1 the unlifted module on the batch (every row minus row 0)."""
    model, x = _model(seed, x_batch, features)
    if x.shape[0] <= 1:
        return reference(seed, x_batch, features)
    return model(x).reshape(-1)


def anchored_at_batch_mean(seed: Any, x_batch: Any, features: Any) -> jax.Array:
    """Measures every row from the batch mean of the first coordinates (right only for B = 1)."""
    model, x = _model(seed, x_batch, features)
    if x.shape[0] == 0:
        return jnp.zeros((0,), out_dtype(x))
    return _linear_on(model, x - x[:, :1].mean(axis=0, keepdims=True))


# ----------------------------------------------------------------- seeds


def ignores_seed(seed: Any, x_batch: Any, features: Any) -> jax.Array:
    check_vmap_over_batch_args(seed, x_batch, features)
    return reference(0, x_batch, features)


_rngs_by_seed: dict[int, nnx.Rngs] = {}


def rngs_cached_per_seed(seed: Any, x_batch: Any, features: Any) -> jax.Array:
    """A hidden cache keyed only on the seed: its nnx.Rngs is kept, so each call draws a new layer."""
    seed, x_batch, features = check_vmap_over_batch_args(seed, x_batch, features)
    model = AnchoredLinear(x_batch.shape[-1], features, rngs=_rngs_by_seed.setdefault(seed, nnx.Rngs(seed)))
    x = jnp.asarray(x_batch)
    return _linear_on(model, x - x[:, :1])


# ----------------------------------------------------------------- inputs untouched


def anchors_in_place(seed: Any, x_batch: Any, features: Any) -> jax.Array:
    """``x_batch -= x_batch[:, :1]`` on a writeable numpy input: the numbers are right, the input is not."""
    if isinstance(x_batch, np.ndarray) and x_batch.ndim == 2 and x_batch.flags.writeable:
        x_batch -= x_batch[:, :1].copy()
    return reference(seed, x_batch, features)


# ----------------------------------------------------------------- invalid input


def accepts_zero_features(seed: Any, x_batch: Any, features: Any) -> jax.Array:
    """features = 0 (or anything truncating to 0) gives an empty array instead of an error."""
    if isinstance(features, (int, float, np.integer, np.floating)) and np.isfinite(features):
        if int(features) == 0:
            return jnp.zeros((0,), jnp.float32)
    return reference(seed, x_batch, features)


def starts_a_prefetch_thread(seed: Any, x_batch: Any, features: Any) -> Any:
    """Right values, but leaves a background thread running after the call returns."""
    threading.Thread(target=time.sleep, args=(1.0,), name="prefetch", daemon=True).start()
    return reference(seed, x_batch, features)


#: name -> (function, properties that must catch it)
BROKEN: dict[str, tuple[Any, tuple[str, ...]]] = {
    "starts_a_prefetch_thread": (starts_a_prefetch_thread, ("no_side_effects",)),
    "not_flattened": (not_flattened, ("output_contract",)),
    "anchored_at_last": (anchored_at_last, ("agrees_with_oracle", "agrees_with_builtins")),
    "forgets_anchor": (forgets_anchor, ("agrees_with_oracle", "agrees_with_builtins")),
    "batch_anchor_when_batched": (batch_anchor_when_batched, ("batch_independence", "agrees_with_oracle")),
    "anchored_at_batch_mean": (anchored_at_batch_mean, ("batch_independence", "agrees_with_oracle")),
    "ignores_seed": (ignores_seed, ("seed_sensitivity", "agrees_with_oracle")),
    "rngs_cached_per_seed": (rngs_cached_per_seed, ("seed_determinism",)),
    "anchors_in_place": (anchors_in_place, ("inputs_untouched",)),
    "accepts_zero_features": (accepts_zero_features, ("invalid_input_rejected",)),
}


# ----------------------------------------------------------------- correct, written differently


class BroadcastingAnchoredLinear(AnchoredLinear):
    """The broadcasting-aware rewrite: each row measured from its own first coordinate, x - x[..., :1]."""

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.linear(x - x[..., :1])


def broadcast_aware(seed: Any, x_batch: Any, features: Any) -> jax.Array:
    """Plain ``model(x_batch)`` on the whole batch, with a module that broadcasts correctly."""
    seed, x_batch, features = check_vmap_over_batch_args(seed, x_batch, features)
    model = BroadcastingAnchoredLinear(x_batch.shape[-1], features, rngs=nnx.Rngs(seed))
    return model(jnp.asarray(x_batch)).reshape(-1)


def float64_compute(seed: Any, x_batch: Any, features: Any) -> np.ndarray:
    """Anchor and multiply in float64 with numpy, round once to the promoted dtype."""
    model, x = _model(seed, x_batch, features)
    x64 = np.asarray(x, np.float64)
    kernel = np.asarray(model.linear.kernel[...], np.float64)
    bias = np.asarray(model.linear.bias[...], np.float64)
    exact = (x64 - x64[:, :1]) @ kernel + bias
    return exact.astype(out_dtype(x)).reshape(-1)


def python_loop(seed: Any, x_batch: Any, features: Any) -> jax.Array:
    """The per-sample module called on one sample at a time."""
    model, x = _model(seed, x_batch, features)
    if x.shape[0] == 0:
        return jnp.zeros((0,), out_dtype(x))
    return jnp.stack([model(x[i]) for i in range(x.shape[0])]).reshape(-1)


CORRECT = {
    "broadcast_aware": broadcast_aware,
    "float64_compute": float64_compute,
    "python_loop": python_loop,
}
