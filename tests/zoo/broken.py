"""Deliberately broken implementations. ``BROKEN`` maps each to the properties that must catch it.

Every property has at least one bug here that it must catch, and every corner
of the domain (seeds beyond 16/31 bits, batches above 64, wide inputs, many
features, square layers, one dtype, one array kind) hides at least one bug.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from conformance.cases.golden import default_partitionable
from impl.nnx_vmap import vmap_over_batch as reference
from tests.zoo.common import layer, out_dtype, params

# ----------------------------------------------------------------- output contract


def returns_list(seed: Any, x_batch: Any, features: Any) -> list:
    return np.asarray(reference(seed, x_batch, features)).tolist()


def returns_none(seed: Any, x_batch: Any, features: Any) -> None:
    reference(seed, x_batch, features)
    return None


def not_flattened(seed: Any, x_batch: Any, features: Any) -> jax.Array:
    out = reference(seed, x_batch, features)
    return out.reshape(np.shape(x_batch)[0], -1)


def float64_output(seed: Any, x_batch: Any, features: Any) -> np.ndarray:
    return np.asarray(reference(seed, x_batch, features), dtype=np.float64)


def keeps_input_dtype(seed: Any, x_batch: Any, features: Any) -> jax.Array:
    """Only for half-precision inputs: returns them in their own dtype (bf16/f16)."""
    return reference(seed, x_batch, features).astype(x_batch.dtype)


def raises_on_empty_batch(seed: Any, x_batch: Any, features: Any) -> jax.Array:
    if np.shape(x_batch)[0] == 0:
        raise RuntimeError("empty batch not supported")
    return reference(seed, x_batch, features)


def float16_accumulate(seed: Any, x_batch: Any, features: Any) -> jax.Array:
    """Computes in float16: large inputs overflow to inf; ordinary ones lose precision."""
    kernel, bias, x = params(seed, x_batch, features)
    out = x.astype(jnp.float16) @ kernel.astype(jnp.float16) + bias.astype(jnp.float16)
    return out.astype(out_dtype(x)).reshape(-1)


# ----------------------------------------------------------------- agreement with the oracle


def bfloat16_matmul(seed: Any, x_batch: Any, features: Any) -> jax.Array:
    kernel, bias, x = params(seed, x_batch, features)
    out = jnp.matmul(x.astype(jnp.bfloat16), kernel.astype(jnp.bfloat16), preferred_element_type=jnp.float32)
    return (out + bias).astype(out_dtype(x)).reshape(-1)


def feature_major(seed: Any, x_batch: Any, features: Any) -> jax.Array:
    """Flattens (features, B) instead of (B, features)."""
    out = reference(seed, x_batch, features)
    return out.reshape(np.shape(x_batch)[0], -1).T.reshape(-1)


def seed_plus_one(seed: Any, x_batch: Any, features: Any) -> jax.Array:
    return reference(int(seed) + 1, x_batch, features)


def seed_low_16_bits(seed: Any, x_batch: Any, features: Any) -> jax.Array:
    """Only for seeds beyond 16 bits."""
    return reference(int(seed) & 0xFFFF, x_batch, features)


def seed_clipped_to_int32(seed: Any, x_batch: Any, features: Any) -> jax.Array:
    """Only for seeds beyond 31 bits."""
    return reference(int(np.clip(int(seed), -(2**31), 2**31 - 1)), x_batch, features)


def seed_rounded(seed: Any, x_batch: Any, features: Any) -> jax.Array:
    """round() instead of int(): only for fractional seeds."""
    return reference(
        round(float(seed)) if isinstance(seed, (float, np.floating)) else seed, x_batch, features
    )


def transposed_square_kernel(seed: Any, x_batch: Any, features: Any) -> jax.Array:
    """Only for square layers: uses the kernel transposed."""
    kernel, bias, x = params(seed, x_batch, features)
    if kernel.shape[0] == kernel.shape[1]:
        kernel = kernel.T
    return (x @ kernel + bias).reshape(-1)


def large_batch_reuses_chunk(seed: Any, x_batch: Any, features: Any) -> jax.Array:
    """Only for batches above 64: processes 64 rows and repeats the first ones."""
    x = np.asarray(x_batch)
    if x.ndim == 2 and x.shape[0] > 64:
        idx = np.arange(x.shape[0]) % 64
        return reference(seed, x[idx], features)
    return reference(seed, x_batch, features)


def wide_input_truncated(seed: Any, x_batch: Any, features: Any) -> jax.Array:
    """Only for D_in above 128: ignores the inputs beyond 128."""
    kernel, bias, x = params(seed, x_batch, features)
    return (x[:, :128] @ kernel[:128] + bias).reshape(-1)


def many_features_zeroed(seed: Any, x_batch: Any, features: Any) -> jax.Array:
    """Only for more than 64 features: outputs beyond 64 are zero."""
    out = reference(seed, x_batch, features)
    rows = out.reshape(np.shape(x_batch)[0], -1)
    return rows.at[:, 64:].set(0).reshape(-1)


def bfloat16_input_rounds_output(seed: Any, x_batch: Any, features: Any) -> jax.Array:
    """Only for bfloat16 input: rounds the output through bfloat16."""
    out = reference(seed, x_batch, features)
    if x_batch.dtype == jnp.bfloat16:
        out = out.astype(jnp.bfloat16).astype(out.dtype)
    return out


def misreads_fortran_order(seed: Any, x_batch: Any, features: Any) -> jax.Array:
    """Only for Fortran-ordered numpy input: reads its memory as if it were C-ordered."""
    if (
        isinstance(x_batch, np.ndarray)
        and x_batch.ndim == 2
        and x_batch.flags.f_contiguous
        and not x_batch.flags.c_contiguous
    ):
        x_batch = np.frombuffer(x_batch.tobytes(order="A"), x_batch.dtype).reshape(x_batch.shape)
    return reference(seed, x_batch, features)


# ----------------------------------------------------------------- batch independence


def batch_mean_leaks(seed: Any, x_batch: Any, features: Any) -> jax.Array:
    """Adds a share of the batch mean to every row (batch-norm-like mixing)."""
    model, x = layer(seed, x_batch, features)
    out = model(x)
    if out.shape[0]:
        out = out + 0.5 * out.mean(axis=0)
    return out.reshape(-1)


def first_row_everywhere(seed: Any, x_batch: Any, features: Any) -> jax.Array:
    model, x = layer(seed, x_batch, features)
    if x.shape[0] == 0:
        return jnp.zeros((0,), out_dtype(x))
    return jnp.broadcast_to(model(x[0]), (x.shape[0], model.out_features)).reshape(-1)


# ----------------------------------------------------------------- seed determinism


_shared_rngs: dict[int, nnx.Rngs] = {}


def reuses_rngs_stream(seed: Any, x_batch: Any, features: Any) -> jax.Array:
    """Keeps one nnx.Rngs per seed across calls, so each call draws new parameters."""
    seed = int(seed)
    rngs = _shared_rngs.setdefault(seed, nnx.Rngs(seed))
    model = nnx.Linear(x_batch.shape[-1], int(features), rngs=rngs)
    return model(jnp.asarray(x_batch)).reshape(-1)


_layers: dict[tuple[int, int], nnx.Linear] = {}


def layer_cached_ignoring_seed(seed: Any, x_batch: Any, features: Any) -> jax.Array:
    """Caches the layer per (D_in, features): the first seed seen for a shape wins."""
    x = jnp.asarray(x_batch)
    key = (x.shape[1], int(features))
    if key not in _layers:
        _layers[key] = nnx.Linear(key[0], key[1], rngs=nnx.Rngs(int(seed)))
    return _layers[key](x).reshape(-1)


_calls = [0]


def global_counter_seed(seed: Any, x_batch: Any, features: Any) -> jax.Array:
    """Mixes a global call counter into the seed."""
    _calls[0] += 1
    return reference(int(seed) + _calls[0], x_batch, features)


_drift = {"seed": None, "changes": 0}


def drifts_when_the_seed_changes(seed: Any, x_batch: Any, features: Any) -> jax.Array:
    """Mixes in how often the seed changed between calls: identical calls in a row agree,
    the same call after calls with another seed does not (hidden state, not noise)."""
    if _drift["seed"] != int(seed):
        _drift["seed"], _drift["changes"] = int(seed), _drift["changes"] + 1
    return reference(int(seed) + _drift["changes"], x_batch, features)


# ----------------------------------------------------------------- seed sensitivity


def ignores_seed(seed: Any, x_batch: Any, features: Any) -> jax.Array:
    return reference(0, x_batch, features)


def abs_seed(seed: Any, x_batch: Any, features: Any) -> jax.Array:
    """Only for negative seeds: uses |seed|."""
    return reference(abs(int(seed)), x_batch, features)


# ----------------------------------------------------------------- inputs untouched


def zeroes_numpy_input(seed: Any, x_batch: Any, features: Any) -> jax.Array:
    out = reference(seed, x_batch, features)
    if isinstance(x_batch, np.ndarray) and x_batch.flags.writeable and x_batch.size:
        x_batch[...] = 0
    return out


def deletes_jax_input(seed: Any, x_batch: Any, features: Any) -> jax.Array:
    out = reference(seed, x_batch, features)
    if isinstance(x_batch, jax.Array):
        x_batch.delete()
    return out


def writes_beyond_view(seed: Any, x_batch: Any, features: Any) -> jax.Array:
    """Only for non-contiguous views: scribbles on the buffer behind the view."""
    out = reference(seed, x_batch, features)
    if (
        isinstance(x_batch, np.ndarray)
        and isinstance(x_batch.base, np.ndarray)
        and x_batch.base.flags.writeable
        and x_batch.base.size > x_batch.size
    ):
        x_batch.base[..., 1::2] = 0
    return out


# ----------------------------------------------------------------- invalid input (strict)


def seed_text_unvalidated(seed: Any, x_batch: Any, features: Any) -> jax.Array:
    """The seed's code as written: no checks at all."""
    model = nnx.Linear(x_batch.shape[-1], int(features), rngs=nnx.Rngs(int(seed)))

    @nnx.vmap(in_axes=(None, 0))
    def fwd(model: nnx.Linear, x: jax.Array) -> jax.Array:
        return model(x)

    return fwd(model, x_batch).reshape(-1)


def vague_errors(seed: Any, x_batch: Any, features: Any) -> jax.Array:
    try:
        return reference(seed, x_batch, features)
    except (ValueError, TypeError):
        raise ValueError("bad input") from None


# ----------------------------------------------------------------- hangs and crashes


def hangs_on_large_batch(seed: Any, x_batch: Any, features: Any) -> jax.Array:
    if np.shape(x_batch)[0] > 64:
        time.sleep(3600)
    return reference(seed, x_batch, features)


def segfaults_on_many_features(seed: Any, x_batch: Any, features: Any) -> jax.Array:
    if int(features) > 64:
        os.kill(os.getpid(), signal.SIGSEGV)
    return reference(seed, x_batch, features)


def exits_on_negative_seed(seed: Any, x_batch: Any, features: Any) -> jax.Array:
    if int(seed) < 0:
        os._exit(3)
    return reference(seed, x_batch, features)


# ----------------------------------------------------------------- golden


def other_threefry(seed: Any, x_batch: Any, features: Any) -> jax.Array:
    """Draws the parameters with the other jax_threefry_partitionable setting than this JAX
    line's default: the numbers of the other side of jax 0.5.0."""
    with jax.threefry_partitionable(not default_partitionable()):
        return reference(seed, x_batch, features)


def starts_a_prefetch_thread(seed: Any, x_batch: Any, features: Any) -> Any:
    """Right values, but leaves a background thread running after the call returns."""
    threading.Thread(target=time.sleep, args=(1.0,), name="prefetch", daemon=True).start()
    return reference(seed, x_batch, features)


#: name -> (function, properties that must catch it)
BROKEN: dict[str, tuple[Any, tuple[str, ...]]] = {
    "starts_a_prefetch_thread": (starts_a_prefetch_thread, ("no_side_effects",)),
    "returns_list": (returns_list, ("output_contract",)),
    "returns_none": (returns_none, ("output_contract", "agrees_with_oracle")),
    "not_flattened": (not_flattened, ("output_contract",)),
    "float64_output": (float64_output, ("output_contract",)),
    "keeps_input_dtype": (keeps_input_dtype, ("output_contract",)),
    "raises_on_empty_batch": (raises_on_empty_batch, ("output_contract", "agrees_with_oracle")),
    "float16_accumulate": (float16_accumulate, ("output_contract", "agrees_with_oracle")),
    "bfloat16_matmul": (bfloat16_matmul, ("agrees_with_oracle", "agrees_with_builtins")),
    "feature_major": (feature_major, ("agrees_with_oracle", "agrees_with_builtins")),
    "seed_plus_one": (seed_plus_one, ("agrees_with_oracle", "agrees_with_builtins")),
    "seed_low_16_bits": (seed_low_16_bits, ("agrees_with_oracle", "seed_sensitivity")),
    "seed_clipped_to_int32": (seed_clipped_to_int32, ("agrees_with_oracle", "seed_sensitivity")),
    "seed_rounded": (seed_rounded, ("agrees_with_oracle",)),
    "transposed_square_kernel": (transposed_square_kernel, ("agrees_with_oracle",)),
    "large_batch_reuses_chunk": (large_batch_reuses_chunk, ("agrees_with_oracle", "batch_independence")),
    "wide_input_truncated": (wide_input_truncated, ("agrees_with_oracle",)),
    "many_features_zeroed": (many_features_zeroed, ("agrees_with_oracle",)),
    "bfloat16_input_rounds_output": (bfloat16_input_rounds_output, ("agrees_with_oracle",)),
    "misreads_fortran_order": (misreads_fortran_order, ("agrees_with_oracle",)),
    "batch_mean_leaks": (batch_mean_leaks, ("batch_independence", "agrees_with_oracle")),
    "first_row_everywhere": (first_row_everywhere, ("batch_independence",)),
    "reuses_rngs_stream": (reuses_rngs_stream, ("seed_determinism",)),
    "global_counter_seed": (global_counter_seed, ("seed_determinism",)),
    "drifts_when_the_seed_changes": (drifts_when_the_seed_changes, ("seed_determinism",)),
    "ignores_seed": (ignores_seed, ("seed_sensitivity",)),
    "layer_cached_ignoring_seed": (layer_cached_ignoring_seed, ("seed_sensitivity", "agrees_with_oracle")),
    "abs_seed": (abs_seed, ("seed_sensitivity", "agrees_with_oracle")),
    "zeroes_numpy_input": (zeroes_numpy_input, ("inputs_untouched",)),
    "deletes_jax_input": (deletes_jax_input, ("inputs_untouched",)),
    "writes_beyond_view": (writes_beyond_view, ("inputs_untouched",)),
    "seed_text_unvalidated": (seed_text_unvalidated, ("invalid_input_rejected",)),
    "vague_errors": (vague_errors, ("invalid_input_rejected",)),
    "hangs_on_large_batch": (hangs_on_large_batch, ("agrees_with_oracle",)),
    "segfaults_on_many_features": (segfaults_on_many_features, ("agrees_with_oracle",)),
    "exits_on_negative_seed": (exits_on_negative_seed, ("agrees_with_oracle",)),
    "other_threefry": (other_threefry, ("golden", "agrees_with_oracle")),
}

#: Bugs that take their process down or never return: need process isolation.
NEEDS_ISOLATION = ("hangs_on_large_batch", "segfaults_on_many_features", "exits_on_negative_seed")
