"""The float64 oracle for a linear layer: the parameters Flax creates, and an accurate ``x @ W + b``.

The parameters are those of ``nnx.Linear(D_in, features, rngs=nnx.Rngs(seed))``,
built by Flax itself in this (trusted) process and cached. The product is
computed more accurately than the tolerance it enforces: every ``x_i * W_ij`` is
made exact in float64 (``x`` is split into two halves of at most 26 significant
bits, ``W`` is float32 with 24), and the ``2 D_in + 1`` exact terms are summed with
Neumaier's compensated summation, whose error is at most ``2 u |y| + 2 n**2 u**2 M``
with ``u = 2**-53``. That error is returned too and added to every bound.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

U64 = 2.0**-53


@functools.lru_cache(maxsize=1024)
def linear_params(seed: int, d_in: int, features: int) -> tuple[np.ndarray, np.ndarray]:
    """``(kernel (d_in, features), bias (features,))`` as Flax creates them, as numpy arrays."""
    from flax import nnx

    layer = nnx.Linear(d_in, features, rngs=nnx.Rngs(seed))
    kernel = np.asarray(layer.kernel[...])
    bias = np.asarray(layer.bias[...]) if layer.bias is not None else np.zeros(features)
    kernel.flags.writeable = False
    bias.flags.writeable = False
    return kernel, bias


def _split(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Veltkamp split: ``x == hi + lo`` exactly, each with at most 26 significant bits."""
    factor = 2.0**27 + 1
    with np.errstate(over="ignore", invalid="ignore"):
        c = factor * x
        hi = c - (c - x)
    hi = np.where(np.isfinite(hi), hi, x)
    return hi, x - hi


@dataclass(frozen=True)
class AffineResult:
    """The oracle's answer for each output element."""

    value: np.ndarray  # float64, shape (B, F)
    magnitude: np.ndarray  # sum |x_i W_ij| + |b_j|
    flushable: np.ndarray  # the part of magnitude from subnormal inputs
    error: np.ndarray  # bound on |value - exact|


def accurate_affine(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray, tiny_x: float) -> AffineResult:
    """``x @ kernel + bias`` to near float64 correct rounding, plus the magnitudes for the bound."""
    x = np.asarray(x, dtype=np.float64)
    w = np.asarray(kernel, dtype=np.float64)
    b = np.asarray(bias, dtype=np.float64)
    batch, d_in = x.shape
    hi, lo = _split(x)
    total = np.broadcast_to(b, (batch, b.shape[0])).copy()
    comp = np.zeros_like(total)
    for part in (hi, lo):
        for i in range(d_in):
            term = part[:, i : i + 1] * w[i]
            s = total + term
            big = np.abs(total) >= np.abs(term)
            comp += np.where(big, (total - s) + term, (term - s) + total)
            total = s
    value = total + comp
    abs_x = np.abs(x)
    n = 2 * d_in + 1
    # |x| @ |W| in float64 has relative error <= d_in * u; round it up by twice that.
    magnitude = (abs_x @ np.abs(w) + np.abs(b)) * (1 + 2 * n * U64)
    flushable = (np.where(abs_x < tiny_x, abs_x, 0.0) @ np.abs(w)) * (1 + 2 * n * U64)
    error = 2 * U64 * np.abs(value) + 2 * n * n * U64 * U64 * magnitude
    return AffineResult(value, magnitude, flushable, error)
