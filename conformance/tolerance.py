"""The tolerance model: how far a correct ``x @ W + b`` may lie from the exact value.

For one output element ``y = sum_i x_i W_i + b`` (``n = D_in + 1`` terms, the bias
counted as ``1 * b``) computed in floating point with unit roundoff ``u`` in *any*
summation order, blocked or not, with or without FMA (Higham, *Accuracy and
Stability of Numerical Algorithms*, 2nd ed., eq. 3.5 and Lemma 3.1):

    |fl(y) - y| <= gamma_n * M,   gamma_n = n u / (1 - n u),   M = sum_i |x_i W_i| + |b|

If the platform rounds the matmul *inputs* to a shorter format first (TF32 on
NVIDIA GPUs, one bfloat16 pass on TPUs) with unit roundoff ``v``, each product
carries a further relative error of at most ``(1 + v)**2 - 1``, so

    bound = ((1 + v)**2 (1 + gamma_n) - 1) * M  +  S  +  (n + 1) * tiny

``S`` is the part of ``M`` that comes from inputs too small for a normal number of
their dtype (flush-to-zero may drop them whole) and ``(n + 1) * tiny`` covers
products and the result underflowing to zero (``tiny`` = smallest normal of the
compute dtype). The compute dtype is the output dtype. A computation in higher
precision rounded once at the end stays inside the bound (``u |y| <= gamma_n M``);
a matmul in float16 (``u = 2**-11``) or bfloat16 (``2**-8``) on CPU does not.
Two correct results differ by at most the sum of their bounds.
"""

from __future__ import annotations

import jax
import ml_dtypes
import numpy as np

#: Unit roundoff ``u = 2**-p`` (p = significand bits incl. the implicit one), per dtype.
UNIT_ROUNDOFF: dict[str, float] = {
    "float64": 2.0**-53,
    "float32": 2.0**-24,
    "tensorfloat32": 2.0**-11,
    "float16": 2.0**-11,
    "bfloat16": 2.0**-8,
}

#: Smallest positive normal number, per dtype.
TINY: dict[str, float] = {
    "float64": float(np.finfo(np.float64).tiny),
    "float32": float(np.finfo(np.float32).tiny),
    "float16": float(np.finfo(np.float16).tiny),
    "bfloat16": float(ml_dtypes.finfo(ml_dtypes.bfloat16).tiny),
}

#: How the platform's *default* float32 matmul precision rounds the inputs:
#: None = not at all (full float32).
DEFAULT_FLOAT32_MATMUL_INPUTS: dict[str, str | None] = {
    "cpu": None,
    "gpu": "tensorfloat32",
    "cuda": "tensorfloat32",
    "rocm": "tensorfloat32",
    "tpu": "bfloat16",
}

#: ``jax_default_matmul_precision`` values (legacy names and dot-algorithm presets,
#: lower-cased), and how they round float32 matmul inputs. "default" defers to the
#: platform table above. Presets that also *accumulate* in a low precision
#: (``bf16_bf16_bf16``, ``f16_f16_f16``, ``any_f8_*``) are outside this model: the
#: bound then assumes bfloat16 inputs, the coarsest rounding it expresses, which
#: does not cover low-precision accumulation; run such settings with care.
MATMUL_PRECISION_INPUTS: dict[str, str | None] = {
    "highest": None,
    "float32": None,
    "f32_f32_f32": None,
    "f64_f64_f64": None,
    "bf16_bf16_f32_x6": None,
    "bf16_bf16_f32_x9": None,
    "tf32_tf32_f32_x3": None,
    "high": "tensorfloat32",  # bf16_3x or TF32: both within TF32's rounding
    "tensorfloat32": "tensorfloat32",
    "bfloat16_3x": "tensorfloat32",
    "bf16_bf16_f32_x3": "tensorfloat32",
    "tf32_tf32_f32": "tensorfloat32",
    "f16_f16_f32": "float16",
    "bfloat16": "bfloat16",
    "fastest": "bfloat16",
    "bf16_bf16_f32": "bfloat16",
}

#: The coarsest input rounding the model expresses: assumed for unknown settings.
WORST_INPUTS = "bfloat16"


def matmul_input_rounding(compute_dtype: str, backend: str | None = None) -> str | None:
    """The format the platform rounds float32 matmul inputs to, or None when it does not."""
    if compute_dtype != "float32":
        return None
    setting = jax.config.jax_default_matmul_precision
    if setting is not None:
        key = str(setting).lower().rsplit(".", 1)[-1]
        if key != "default":
            return MATMUL_PRECISION_INPUTS.get(key, WORST_INPUTS)
    backend = backend or jax.default_backend()
    return DEFAULT_FLOAT32_MATMUL_INPUTS.get(backend, WORST_INPUTS)


def gamma(n: int, u: float) -> float:
    if n * u >= 1:
        raise ValueError(f"gamma_{n} undefined for u={u}: the dot product is too long")
    return n * u / (1 - n * u)


def affine_bound(
    magnitude: np.ndarray,
    flushable: np.ndarray,
    n_terms: int,
    compute_dtype: str,
    backend: str | None = None,
) -> np.ndarray:
    """Elementwise bound for an affine map with ``n_terms`` terms per output (see module doc).

    ``magnitude`` is ``M = |x| @ |W| + |b|`` and ``flushable`` the part of it from
    subnormal inputs, both in float64.
    """
    u = UNIT_ROUNDOFF[compute_dtype]
    rounding = matmul_input_rounding(compute_dtype, backend)
    v = UNIT_ROUNDOFF[rounding] if rounding else 0.0
    relative = (1 + v) ** 2 * (1 + gamma(n_terms, u)) - 1
    # 4 ulps of float64 for computing M itself and the comparison.
    relative *= 1 + 4 * UNIT_ROUNDOFF["float64"]
    return relative * magnitude + flushable + (n_terms + 1) * TINY[compute_dtype]
