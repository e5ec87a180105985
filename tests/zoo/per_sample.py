"""Broken batched implementations of the per-sample examples in ``examples/``.

Each is a function ``(model, x_batch)`` taking the model the example's ``make`` built and
the batch on axis 0, as the correct rewrites in ``examples/`` do; each has a one-line comment
naming its bug and the input that shows it. ``BROKEN`` maps each name to the function and
the example (module and declaration name) it breaks; ``CORRECT`` lists the examples' own
correct rewrites, e.g. ``python -m conformance check --subject examples/causal_conv.py:causal_conv
--impl tests/zoo/per_sample.py:conv_pads_across_batch``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

try:
    import examples  # noqa: F401  (the repository root is on sys.path: pytest, or a worker started there)
except ImportError:  # loaded as a file from elsewhere
    sys.path.append(str(Path(__file__).resolve().parents[2]))
from examples import causal_attention, causal_conv, dropout_block, log_softmax_head, mlp_block

# ----------------------------------------------------------------- mlp_block: (B, L, D)


def _mlp_tail(model: mlp_block.MLPBlock, normed: jax.Array, x_batch: jax.Array, *, approximate=True):
    """Everything after the LayerNorm, done right."""
    h = model.down(jax.nn.gelu(model.up(normed), approximate=approximate))
    return h + x_batch if h.shape[-1] == x_batch.shape[-1] else h


def _layer_norm(model: mlp_block.MLPBlock, x: jax.Array, axis: Any) -> jax.Array:
    mean = jnp.mean(x, axis=axis, keepdims=True)
    var = jnp.var(x, axis=axis, keepdims=True)
    return (x - mean) / jnp.sqrt(var + model.norm.epsilon) * model.norm.scale[...] + model.norm.bias[...]


# LayerNorm statistics over the whole (B, L, D) batch, not each position's features: any input.
def mlp_norm_over_batch(model: mlp_block.MLPBlock, x_batch: jax.Array) -> jax.Array:
    return _mlp_tail(model, _layer_norm(model, x_batch, axis=None), x_batch)


# LayerNorm statistics over the batch axis 0 (BatchNorm's axis): any input; B=1 normalises to zero.
def mlp_norm_over_batch_axis(model: mlp_block.MLPBlock, x_batch: jax.Array) -> jax.Array:
    return _mlp_tail(model, _layer_norm(model, x_batch, axis=0), x_batch)


# Exact (erf) GELU where the per-sample code uses the tanh approximation: any input, ~1e-3 off.
def mlp_exact_gelu(model: mlp_block.MLPBlock, x_batch: jax.Array) -> jax.Array:
    return _mlp_tail(model, model.norm(x_batch), x_batch, approximate=False)


# The residual test reads x.shape[1], now the sequence length: D >= 8 with L != D drops the residual.
def mlp_residual_on_wrong_axis(model: mlp_block.MLPBlock, x_batch: jax.Array) -> jax.Array:
    h = model.down(jax.nn.gelu(model.up(model.norm(x_batch)), approximate=True))
    return h + x_batch if h.shape[-1] == x_batch.shape[1] else h


# ----------------------------------------------------------------- causal_conv: (B, L, C)


def _grouped_conv(x: jax.Array, kernel: jax.Array, padding: Any) -> jax.Array:
    return jax.lax.conv_general_dilated(
        x,
        kernel[:, None, :],
        window_strides=(1,),
        padding=padding,
        dimension_numbers=("NWC", "WIO", "NWC"),
        feature_group_count=kernel.shape[1],
    )


# Pads the flattened (B*L, C) sequence once, so each sample's first K-1 outputs see the previous
# sample's tail: B >= 2 with nonzero inputs.
def conv_pads_across_batch(model: causal_conv.CausalConv, x_batch: jax.Array) -> jax.Array:
    b, length, channels = x_batch.shape
    k = model.kernel.shape[0]
    flat = x_batch.reshape(1, b * length, channels)
    out = _grouped_conv(flat, model.kernel[...], [(k - 1, 0)])
    return out.reshape(b, length, channels) + model.bias[...]


# padding="SAME" (1 left, 2 right for K=4): outputs see later positions, L >= 2.
def conv_same_padding(model: causal_conv.CausalConv, x_batch: jax.Array) -> jax.Array:
    return _grouped_conv(x_batch, model.kernel[...], "SAME") + model.bias[...]


# A true convolution (flipped kernel, as jnp.convolve) where the module correlates: any input.
def conv_flipped_kernel(model: causal_conv.CausalConv, x_batch: jax.Array) -> jax.Array:
    k = model.kernel.shape[0]
    return _grouped_conv(x_batch, model.kernel[...][::-1], [(k - 1, 0)]) + model.bias[...]


# Convolves the sequence in chunks of 128 positions, each padded with zeros on its own: the first
# K-1 outputs of every chunk after the first miss the previous chunk's tail. L >= 130 with K >= 2.
def conv_chunks_without_carry(model: causal_conv.CausalConv, x_batch: jax.Array) -> jax.Array:
    k, length = model.kernel.shape[0], x_batch.shape[1]
    x = x_batch.astype(jnp.result_type(x_batch.dtype, model.kernel.dtype))
    chunks = [
        _grouped_conv(x[:, i : i + 128], model.kernel[...], [(k - 1, 0)]) for i in range(0, length, 128)
    ]
    return jnp.concatenate(chunks, axis=1) + model.bias[...]


# ----------------------------------------------------------------- causal_attention: (B, L, D)


def _attend(model: causal_attention.CausalSelfAttention, x: jax.Array, mask: jax.Array, axis: int = -1):
    """Attention on already position-encoded (B, L, D) input, with the given (L, L) mask."""
    d = x.shape[-1]
    q, k, v = model.query(x), model.key(x), model.value(x)
    scores = jnp.einsum("bte,bse->bts", q, k) / d**0.5
    weights = jax.nn.softmax(jnp.where(mask, scores, -jnp.inf), axis=axis)
    return model.out(jnp.einsum("bts,bse->bte", weights, v))


def _causal(length: int, ahead: int = 0) -> jax.Array:
    return jnp.tril(jnp.ones((length, length), dtype=bool), k=ahead)


# Positions counted across the batch (from the flattened B*L index): sample i starts at i*L, B >= 2.
def attention_positions_across_batch(model: causal_attention.CausalSelfAttention, x_batch: jax.Array):
    b, length, d = x_batch.shape
    positions = causal_attention.sinusoids(b * length, d).reshape(b, length, d)
    return _attend(model, x_batch + positions, _causal(length))


# Softmax over the query axis instead of the key axis: L >= 2.
def attention_softmax_wrong_axis(model: causal_attention.CausalSelfAttention, x_batch: jax.Array):
    _, length, d = x_batch.shape
    return _attend(model, x_batch + causal_attention.sinusoids(length, d), _causal(length), axis=-2)


# The causal mask lets each position see one step ahead (tril k=1): L >= 2.
def attention_mask_one_ahead(model: causal_attention.CausalSelfAttention, x_batch: jax.Array):
    _, length, d = x_batch.shape
    return _attend(model, x_batch + causal_attention.sinusoids(length, d), _causal(length, ahead=1))


# ----------------------------------------------------------------- dropout_block: (B, D)


# The model broadcast with nnx.vmap(in_axes=(None, 0)): one RNG key, the same mask for every
# sample (google/flax#4195): a batch of identical rows gives identical outputs.
def dropout_shared_mask(model: dropout_block.DropoutBlock, x_batch: jax.Array) -> jax.Array:
    return nnx.vmap(lambda m, x: m(x), in_axes=(None, 0))(model, x_batch)


# A hand-written mask that forgets the 1/(1 - rate) rescaling: kept units are half what they should be.
def dropout_no_rescale(model: dropout_block.DropoutBlock, x_batch: jax.Array) -> jax.Array:
    h = model.linear(x_batch)
    keep = jax.random.bernoulli(model.dropout.rngs(), 1 - model.dropout.rate, h.shape)
    return jnp.where(keep, h, 0)


# Each row its own mask, but from a fixed key: two calls on the same batch give the same masks.
def dropout_fixed_key(model: dropout_block.DropoutBlock, x_batch: jax.Array) -> jax.Array:
    h = model.linear(x_batch)
    keep = jax.random.bernoulli(jax.random.key(0), 1 - model.dropout.rate, h.shape)
    return jnp.where(keep, h / (1 - model.dropout.rate), 0)


# ----------------------------------------------------------------- log_softmax_head: (B, D)


# log(sum(exp(logits))) without subtracting the maximum: exact for ordinary logits, -inf/NaN once
# a logit passes ~88 (inputs scaled by 100).
def head_no_max_subtraction(model: log_softmax_head.LogSoftmaxHead, x_batch: jax.Array) -> jax.Array:
    logits = model.linear(x_batch)
    return logits - jnp.log(jnp.sum(jnp.exp(logits), axis=-1, keepdims=True))


# Normalises over the batch axis 0 instead of the classes: any input; B=1 gives all zeros.
def head_over_batch_axis(model: log_softmax_head.LogSoftmaxHead, x_batch: jax.Array) -> jax.Array:
    return jax.nn.log_softmax(model.linear(x_batch), axis=0)


# ----------------------------------------------------------------- registries

BROKEN: dict[str, tuple[Any, str]] = {
    "mlp_norm_over_batch": (mlp_norm_over_batch, "mlp_block"),
    "mlp_norm_over_batch_axis": (mlp_norm_over_batch_axis, "mlp_block"),
    "mlp_exact_gelu": (mlp_exact_gelu, "mlp_block"),
    "mlp_residual_on_wrong_axis": (mlp_residual_on_wrong_axis, "mlp_block"),
    "conv_pads_across_batch": (conv_pads_across_batch, "causal_conv"),
    "conv_same_padding": (conv_same_padding, "causal_conv"),
    "conv_flipped_kernel": (conv_flipped_kernel, "causal_conv"),
    "conv_chunks_without_carry": (conv_chunks_without_carry, "causal_conv"),
    "attention_positions_across_batch": (attention_positions_across_batch, "causal_attention"),
    "attention_softmax_wrong_axis": (attention_softmax_wrong_axis, "causal_attention"),
    "attention_mask_one_ahead": (attention_mask_one_ahead, "causal_attention"),
    "dropout_shared_mask": (dropout_shared_mask, "dropout_block"),
    "dropout_no_rescale": (dropout_no_rescale, "dropout_block"),
    "dropout_fixed_key": (dropout_fixed_key, "dropout_block"),
    "head_no_max_subtraction": (head_no_max_subtraction, "log_softmax_head"),
    "head_over_batch_axis": (head_over_batch_axis, "log_softmax_head"),
}

# Each example's correct rewrites, by example (module and declaration name).
CORRECT: dict[str, tuple[Any, ...]] = {
    "mlp_block": (mlp_block.mlp_vmap, mlp_block.mlp_batched),
    "causal_conv": (causal_conv.conv_vmap, causal_conv.conv_batched),
    "causal_attention": (causal_attention.attention_vmap, causal_attention.attention_batched),
    "dropout_block": (dropout_block.dropout_vmap, dropout_block.dropout_broadcast),
    "log_softmax_head": (log_softmax_head.head_batched, log_softmax_head.head_logsumexp),
}
