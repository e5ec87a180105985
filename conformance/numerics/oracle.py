"""The float64 oracle for a linear layer: the parameters Flax creates, and an accurate ``x @ W + b``.

The parameters are those of ``nnx.Linear(D_in, features, rngs=nnx.Rngs(seed))``,
built by Flax itself in this (trusted) process and cached. The product is
computed more accurately than the tolerance it enforces: every ``x_i * W_ij`` is
made exact in float64 (``x`` is split into two halves of at most 26 significant
bits, ``W`` is float32 with 24), and the ``2 D_in + 1`` exact terms are summed with
Neumaier's compensated summation (equivalent to Ogita, Rump and Oishi's Sum2),
whose error is at most ``u |y| + gamma_n**2 M`` with ``u = 2**-53`` (plus one
smallest subnormal per term for products that underflow). That error is
returned too and added to every bound.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

U64 = 2.0**-53


def _frozen(*arrays: object) -> tuple[np.ndarray, ...]:
    out = tuple(np.array(a) for a in arrays)
    for a in out:
        a.flags.writeable = False
    return out


def _draw(seed: int, d_in: int, features: int, n_models: int | None) -> tuple[np.ndarray, np.ndarray]:
    """The layer's (or the ensemble's) parameters, built eagerly as the implementations build them.

    Eagerly, not under ``jax.jit``: the same bits either way (``tests/numerics/test_oracle.py``),
    but eagerly the programs are those every eager implementation compiles for the same shape
    (the truncated normal, its scaling, the zero bias), so JAX's persistent compilation cache
    shares them between this process and the workers. A jitted constructor would be one more
    program per shape, compiled for the oracle alone in every cold run.
    """
    import jax
    from flax import nnx

    def build(rngs: nnx.Rngs) -> nnx.Linear:
        return nnx.Linear(d_in, features, rngs=rngs)

    if n_models is not None:
        build = nnx.split_rngs(splits=n_models)(nnx.vmap(build, in_axes=(0,), out_axes=0))
    layer = build(nnx.Rngs(jax.random.key(seed)))
    kernel = layer.kernel[...]
    if layer.bias is not None:
        bias = layer.bias[...]
    else:
        bias = np.zeros(kernel.shape[:-2] + kernel.shape[-1:], dtype=np.asarray(kernel).dtype)
    return _frozen(kernel, bias)  # type: ignore[return-value]


@functools.lru_cache(maxsize=1024)
def linear_params(seed: int, d_in: int, features: int) -> tuple[np.ndarray, np.ndarray]:
    """``(kernel (d_in, features), bias (features,))`` that ``nnx.Linear(d_in, features,
    rngs=nnx.Rngs(seed))`` creates, as read-only numpy arrays."""
    return _draw(seed, d_in, features, None)


@functools.lru_cache(maxsize=256)
def ensemble_params(seed: int, d_in: int, features: int, n_models: int) -> tuple[np.ndarray, np.ndarray]:
    """``(kernels (n, d_in, features), biases (n, features))`` of the Flax ensemble, as numpy arrays.

    Built as Flax's guide builds an ensemble: ``nnx.split_rngs(splits=n)`` around an
    ``nnx.vmap``-ed constructor, each member drawing from its own split of ``nnx.Rngs(seed)``.
    """
    return _draw(seed, d_in, features, n_models)


def _split(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Veltkamp split: ``x == hi + lo`` exactly, each with at most 26 significant bits.

    Values near the top of the float64 range are scaled down by 2**60 first (exact)
    so that ``(2**27 + 1) * x`` cannot overflow.
    """
    factor = 2.0**27 + 1
    scale = np.where(np.abs(x) > 2.0**996, 2.0**-60, 1.0)
    xs = x * scale
    c = factor * xs
    hi = c - (c - xs)
    lo = xs - hi
    return hi / scale, lo / scale


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
    # Neumaier's sum is Ogita-Rump-Oishi's Sum2: |value - y| <= u|y| + gamma_n**2 M.
    # Products of tiny values may underflow inexactly: one smallest subnormal each.
    gamma = n * U64 / (1 - n * U64)
    error = U64 * (1 + 2 * U64) * np.abs(value) + gamma * gamma * magnitude + n * 2.0**-1074
    return AffineResult(value, magnitude, flushable, error)
