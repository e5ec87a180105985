"""Chunked and tiled implementations, as fast implementations are written: rows in chunks,
the contraction in tiles, the columns in blocks.

The correct ones must pass; each broken one is wrong only past a tile boundary, so only
the ``ci`` profile's tile edges (sizes just below and above 128, 256, 512 and 1024) reach
its bug, and the minimal counterexample sits just past the boundary.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from tests.zoo.common import out_dtype, params


def _tiled(
    kernel: Any, bias: Any, x: Any, rows: int, depth: int, cols: int, drop_partial: bool = False
) -> Any:
    """``x @ kernel + bias`` in blocks of ``rows`` x ``depth`` x ``cols``, partial sums added up."""
    x = x.astype(out_dtype(x))
    kernel, bias = kernel.astype(x.dtype), bias.astype(x.dtype)
    batch, d_in = x.shape
    out_rows = []
    for r in range(0, batch, rows):
        blocks = []
        for c in range(0, kernel.shape[1], cols):
            acc = jnp.broadcast_to(bias[c : c + cols], (min(rows, batch - r), min(cols, kernel.shape[1] - c)))
            for k in range(0, d_in, depth):
                if drop_partial and k + depth > d_in and k > 0:
                    break  # the bug: the last, partial tile of a long contraction is left out
                acc = acc + x[r : r + rows, k : k + depth] @ kernel[k : k + depth, c : c + cols]
            blocks.append(acc)
        out_rows.append(jnp.concatenate(blocks, axis=1))
    if not out_rows:
        return jnp.zeros((0,), x.dtype)
    return jnp.concatenate(out_rows, axis=0).reshape(-1)


# ------------------------------------------------------------------------------ correct


def row_chunks_128(seed: Any, x_batch: Any, features: Any) -> jax.Array:
    """Rows in chunks of 128, each chunk one matmul."""
    kernel, bias, x = params(seed, x_batch, features)
    return _tiled(kernel, bias, x, 128, max(1, x.shape[1]), max(1, kernel.shape[1]))


def contraction_tiles_256(seed: Any, x_batch: Any, features: Any) -> jax.Array:
    """The contraction in tiles of 256, partial products summed in the output dtype."""
    kernel, bias, x = params(seed, x_batch, features)
    return _tiled(kernel, bias, x, max(1, x.shape[0]), 256, max(1, kernel.shape[1]))


def blocked_512(seed: Any, x_batch: Any, features: Any) -> jax.Array:
    """Rows, contraction and columns all in blocks of 512."""
    kernel, bias, x = params(seed, x_batch, features)
    return _tiled(kernel, bias, x, 512, 512, 512)


CORRECT = ("row_chunks_128", "contraction_tiles_256", "blocked_512")


# ------------------------------------------------------------------------------ broken


def rows_past_128_other_params(seed: Any, x_batch: Any, features: Any) -> jax.Array:
    """Chunks of 128 rows; the chunks after the first build their layer from seed + 1."""
    kernel, bias, x = params(seed, x_batch, features)
    first = _tiled(kernel, bias, x[:128], 128, max(1, x.shape[1]), max(1, kernel.shape[1]))
    if x.shape[0] <= 128:
        return first
    k2, b2, _ = params(int(seed) + 1, x_batch, features)
    rest = _tiled(k2, b2, x[128:], 128, max(1, x.shape[1]), max(1, kernel.shape[1]))
    return jnp.concatenate([first, rest])


def drops_last_contraction_tile_256(seed: Any, x_batch: Any, features: Any) -> jax.Array:
    """Contraction tiles of 256; past one tile, the last partial tile is left out."""
    kernel, bias, x = params(seed, x_batch, features)
    return _tiled(kernel, bias, x, max(1, x.shape[0]), 256, max(1, kernel.shape[1]), drop_partial=True)


def columns_past_512_shifted(seed: Any, x_batch: Any, features: Any) -> jax.Array:
    """Column blocks of 512; the blocks after the first read the kernel one column too far left."""
    kernel, bias, x = params(seed, x_batch, features)
    if kernel.shape[1] > 512:
        kernel = jnp.concatenate([kernel[:, :512], kernel[:, 511:-1]], axis=1)
    return _tiled(kernel, bias, x, max(1, x.shape[0]), max(1, x.shape[1]), 512)


def rows_past_1024_doubled(seed: Any, x_batch: Any, features: Any) -> jax.Array:
    """Row chunks of 1024; the rows of the second chunk come out twice as large."""
    kernel, bias, x = params(seed, x_batch, features)
    out = _tiled(kernel, bias, x, 1024, max(1, x.shape[1]), max(1, kernel.shape[1]))
    cut = 1024 * kernel.shape[1]
    return out.at[cut:].multiply(2)


#: name -> the tile boundary past which it is wrong, and the axis of the boundary
BROKEN = {
    "rows_past_128_other_params": ("B", 128),
    "drops_last_contraction_tile_256": ("D_in", 256),
    "columns_past_512_shifted": ("features", 512),
    "rows_past_1024_doubled": ("B", 1024),
}
