"""The zoo of ``vmap_over_ensemble(seed, x_batch, features, n_models)``.

``BROKEN`` maps each deliberately broken implementation to the properties that
must catch it (every property of the subject is named at least once);
``CORRECT`` holds implementations written differently from the built-ins that
must pass every property. All are built on the built-ins of
:mod:`impl.vmap_over_ensemble` (``make_ensemble``, ``nnx_vmap``).
"""

from __future__ import annotations

import functools
import threading
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from conformance.cases.golden import default_partitionable
from impl.validation import check_vmap_over_ensemble_args
from impl.vmap_over_ensemble import make_ensemble
from impl.vmap_over_ensemble import nnx_vmap as reference
from tests.zoo.common import out_dtype


def _ensemble(seed: Any, x_batch: Any, features: Any, n_models: Any) -> tuple[nnx.Linear, jax.Array]:
    """The validated input and the reference's stacked ensemble."""
    seed, x_batch, features, n_models = check_vmap_over_ensemble_args(seed, x_batch, features, n_models)
    return make_ensemble(seed, x_batch.shape[-1], features, n_models), jnp.asarray(x_batch)


def _stacked(seed: Any, x_batch: Any, features: Any, n_models: Any) -> tuple[Any, Any, jax.Array]:
    """``(kernels (n, d_in, F), biases (n, F), x)`` as jax arrays."""
    ensemble, x = _ensemble(seed, x_batch, features, n_models)
    return ensemble.kernel[...], ensemble.bias[...], x


def _apply(kernels: Any, biases: Any, x: jax.Array) -> jax.Array:
    """Every member on the shared batch, the reference's way, flattened as (n, B, F)."""
    dtype = out_dtype(x)
    out = jnp.einsum("bd,mdf->mbf", x.astype(dtype), kernels.astype(dtype)) + biases.astype(dtype)[:, None]
    return out.reshape(-1)


def _members(n_models: Any) -> int:
    return int(n_models)


# ----------------------------------------------------------------- output contract


def not_flattened(seed: Any, x_batch: Any, features: Any, n_models: Any) -> jax.Array:
    """Returns the (n_models, B, features) stack itself."""
    return reference(seed, x_batch, features, n_models).reshape(_members(n_models), np.shape(x_batch)[0], -1)


def float64_output(seed: Any, x_batch: Any, features: Any, n_models: Any) -> np.ndarray:
    """Right numbers, wrong dtype."""
    return np.asarray(reference(seed, x_batch, features, n_models), dtype=np.float64)


def n_models_rounded(seed: Any, x_batch: Any, features: Any, n_models: Any) -> jax.Array:
    """round() instead of int(): a fractional n_models (2.7) makes 3 members, not 2."""
    checked = check_vmap_over_ensemble_args(seed, x_batch, features, n_models)
    members = round(float(n_models)) if isinstance(n_models, (float, np.floating)) else checked[3]
    return reference(seed, x_batch, features, members)


# ----------------------------------------------------------------- agreement with the oracle


def batch_major(seed: Any, x_batch: Any, features: Any, n_models: Any) -> jax.Array:
    """Flattens (B, n_models, features) instead of (n_models, B, features)."""
    out = reference(seed, x_batch, features, n_models)
    return out.reshape(_members(n_models), np.shape(x_batch)[0], -1).transpose(1, 0, 2).reshape(-1)


def float16_accumulate(seed: Any, x_batch: Any, features: Any, n_models: Any) -> jax.Array:
    """Computes every member in float16: ordinary inputs lose precision, large ones overflow."""
    kernels, biases, x = _stacked(seed, x_batch, features, n_models)
    h = jnp.float16
    out = jnp.einsum("bd,mdf->mbf", x.astype(h), kernels.astype(h)) + biases.astype(h)[:, None]
    return out.astype(out_dtype(x)).reshape(-1)


def members_reversed(seed: Any, x_batch: Any, features: Any, n_models: Any) -> jax.Array:
    """Stacks the members in reverse order: member m gets member n-1-m's parameters."""
    kernels, biases, x = _stacked(seed, x_batch, features, n_models)
    return _apply(kernels[::-1], biases[::-1], x)


# ----------------------------------------------------------------- members


def member_zero_everywhere(seed: Any, x_batch: Any, features: Any, n_models: Any) -> jax.Array:
    """Every member uses member 0's parameters."""
    kernels, biases, x = _stacked(seed, x_batch, features, n_models)
    n = kernels.shape[0]
    return _apply(
        jnp.broadcast_to(kernels[0], kernels.shape), jnp.broadcast_to(biases[0], (n, biases.shape[1])), x
    )


def no_split_rngs(seed: Any, x_batch: Any, features: Any, n_models: Any) -> jax.Array:
    """The constructor vmapped without nnx.split_rngs: every member draws from the same stream."""
    seed, x_batch, features, n_models = check_vmap_over_ensemble_args(seed, x_batch, features, n_models)
    d_in = x_batch.shape[-1]

    @nnx.vmap(in_axes=None, out_axes=0, axis_size=n_models)
    def create(rngs: nnx.Rngs) -> nnx.Linear:
        return nnx.Linear(d_in, features, rngs=rngs)

    ensemble = create(nnx.Rngs(seed))
    return _apply(ensemble.kernel[...], ensemble.bias[...], jnp.asarray(x_batch))


def members_averaged(seed: Any, x_batch: Any, features: Any, n_models: Any) -> jax.Array:
    """Every member's slice is the mean over all members (the ensemble's prediction, repeated)."""
    out = reference(seed, x_batch, features, n_models).reshape(_members(n_models), -1)
    return jnp.broadcast_to(out.mean(axis=0), out.shape).reshape(-1)


# ----------------------------------------------------------------- batch independence


def batch_mean_leaks(seed: Any, x_batch: Any, features: Any, n_models: Any) -> jax.Array:
    """Adds a share of each member's batch mean to every row (batch-norm-like mixing)."""
    out = reference(seed, x_batch, features, n_models).reshape(_members(n_models), np.shape(x_batch)[0], -1)
    if out.shape[1]:
        out = out + 0.5 * out.mean(axis=1, keepdims=True)
    return out.reshape(-1)


# ----------------------------------------------------------------- seeds


def ignores_seed(seed: Any, x_batch: Any, features: Any, n_models: Any) -> jax.Array:
    check_vmap_over_ensemble_args(seed, x_batch, features, n_models)
    return reference(0, x_batch, features, n_models)


def seed_low_16_bits(seed: Any, x_batch: Any, features: Any, n_models: Any) -> jax.Array:
    """Only for seeds beyond 16 bits: wraps the seed at 16 bits."""
    check_vmap_over_ensemble_args(seed, x_batch, features, n_models)
    return reference(int(seed) & 0xFFFF, x_batch, features, n_models)


_rngs_by_seed: dict[int, nnx.Rngs] = {}


def rngs_cached_per_seed(seed: Any, x_batch: Any, features: Any, n_models: Any) -> jax.Array:
    """A hidden cache keyed only on the seed: its nnx.Rngs is kept, so each call draws new members."""
    seed, x_batch, features, n_models = check_vmap_over_ensemble_args(seed, x_batch, features, n_models)
    rngs = _rngs_by_seed.setdefault(seed, nnx.Rngs(seed))
    d_in = x_batch.shape[-1]

    @nnx.split_rngs(splits=n_models)
    @nnx.vmap(in_axes=(0,), out_axes=0)
    def create(rngs: nnx.Rngs) -> nnx.Linear:
        return nnx.Linear(d_in, features, rngs=rngs)

    ensemble = create(rngs)
    return _apply(ensemble.kernel[...], ensemble.bias[...], jnp.asarray(x_batch))


def other_threefry(seed: Any, x_batch: Any, features: Any, n_models: Any) -> jax.Array:
    """Draws the parameters with the other jax_threefry_partitionable setting than this JAX
    line's default: the numbers of the other side of jax 0.5.0."""
    with jax.threefry_partitionable(not default_partitionable()):
        return reference(seed, x_batch, features, n_models)


# ----------------------------------------------------------------- inputs untouched


def zeroes_numpy_input(seed: Any, x_batch: Any, features: Any, n_models: Any) -> jax.Array:
    out = reference(seed, x_batch, features, n_models)
    if isinstance(x_batch, np.ndarray) and x_batch.flags.writeable and x_batch.size:
        x_batch[...] = 0
    return out


# ----------------------------------------------------------------- invalid input


def accepts_zero_members(seed: Any, x_batch: Any, features: Any, n_models: Any) -> jax.Array:
    """n_models = 0 (or anything truncating to 0 or below) gives an empty array instead of an error."""
    if isinstance(n_models, (int, float, np.integer, np.floating)) and np.isfinite(n_models):
        if int(n_models) <= 0:
            return jnp.zeros((0,), jnp.float32)
    return reference(seed, x_batch, features, n_models)


def starts_a_prefetch_thread(seed: Any, x_batch: Any, features: Any, n_models: Any) -> Any:
    """Right values, but leaves a background thread running after the call returns."""
    threading.Thread(target=time.sleep, args=(1.0,), name="prefetch", daemon=True).start()
    return reference(seed, x_batch, features, n_models)


#: name -> (function, properties that must catch it)
BROKEN: dict[str, tuple[Any, tuple[str, ...]]] = {
    "starts_a_prefetch_thread": (starts_a_prefetch_thread, ("no_side_effects",)),
    "not_flattened": (not_flattened, ("output_contract",)),
    "float64_output": (float64_output, ("output_contract",)),
    "n_models_rounded": (n_models_rounded, ("output_contract", "agrees_with_oracle")),
    "batch_major": (
        batch_major,
        ("member_independence", "agrees_with_oracle", "agrees_with_builtins", "batch_independence"),
    ),
    "float16_accumulate": (float16_accumulate, ("agrees_with_oracle", "agrees_with_builtins")),
    "members_reversed": (members_reversed, ("member_independence", "agrees_with_builtins")),
    "member_zero_everywhere": (
        member_zero_everywhere,
        ("distinct_members", "member_independence", "agrees_with_oracle"),
    ),
    "no_split_rngs": (no_split_rngs, ("distinct_members", "member_independence")),
    "members_averaged": (members_averaged, ("member_independence", "distinct_members")),
    "batch_mean_leaks": (batch_mean_leaks, ("batch_independence", "agrees_with_oracle")),
    "ignores_seed": (ignores_seed, ("seed_sensitivity", "agrees_with_builtins")),
    "seed_low_16_bits": (seed_low_16_bits, ("seed_sensitivity", "agrees_with_oracle")),
    "rngs_cached_per_seed": (rngs_cached_per_seed, ("seed_determinism",)),
    "other_threefry": (other_threefry, ("golden", "agrees_with_oracle")),
    "zeroes_numpy_input": (zeroes_numpy_input, ("inputs_untouched",)),
    "accepts_zero_members": (accepts_zero_members, ("invalid_input_rejected",)),
}


# ----------------------------------------------------------------- correct, written differently


def member_loop(seed: Any, x_batch: Any, features: Any, n_models: Any) -> jax.Array:
    """A Python loop over the members, each merged back into its own nnx.Linear and called."""
    ensemble, x = _ensemble(seed, x_batch, features, n_models)
    graphdef, state = nnx.split(ensemble)
    outs = []
    for m in range(ensemble.kernel.shape[0]):
        member = nnx.merge(graphdef, jax.tree.map(lambda a, m=m: a[m], state))
        outs.append(member(x))
    return jnp.stack(outs).reshape(-1)


@functools.lru_cache(maxsize=64)
def _float64_params(
    seed: int, d_in: int, features: int, n_models: int, x64: bool, partitionable: bool
) -> tuple[np.ndarray, np.ndarray]:
    """The members' parameters as read-only float64 arrays, cached on everything they depend on
    (the JAX flags that change the random bits included)."""
    ensemble = make_ensemble(seed, d_in, features, n_models)
    kernels = np.asarray(ensemble.kernel[...], np.float64)
    biases = np.asarray(ensemble.bias[...], np.float64)
    kernels.flags.writeable = biases.flags.writeable = False
    return kernels, biases


def float64_compute(seed: Any, x_batch: Any, features: Any, n_models: Any) -> np.ndarray:
    """Every member in float64 with numpy, rounded once to the promoted dtype; the parameters are
    cached on the whole key, which seed_determinism must not mistake for hidden state."""
    seed, x_batch, features, n_models = check_vmap_over_ensemble_args(seed, x_batch, features, n_models)
    x = jnp.asarray(x_batch)
    flags = (bool(jax.config.jax_enable_x64), bool(jax.config.jax_threefry_partitionable))
    k64, b64 = _float64_params(seed, x.shape[-1], features, n_models, *flags)
    exact = np.einsum("bd,mdf->mbf", np.asarray(x, np.float64), k64) + b64[:, None, :]
    return exact.astype(out_dtype(x)).reshape(-1)


@nnx.jit
def _jit_forward(ensemble: nnx.Linear, x: jax.Array) -> jax.Array:
    return nnx.vmap(lambda model, v: model(v), in_axes=(0, None), out_axes=0)(ensemble, x)


def jit_vmap(seed: Any, x_batch: Any, features: Any, n_models: Any) -> jax.Array:
    """The ensemble built eagerly; the nnx.vmap forward pass under nnx.jit."""
    ensemble, x = _ensemble(seed, x_batch, features, n_models)
    return _jit_forward(ensemble, x).reshape(-1)


CORRECT = {
    "member_loop": member_loop,
    "float64_compute": float64_compute,
    "jit_vmap": jit_vmap,
}
