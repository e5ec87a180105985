"""Argument checks shared by the built-in implementations.

The reference code answers some bad inputs with errors from deep inside JAX
(``features=0`` gives ``ZeroDivisionError``, a 1-D ``x_batch`` an obscure
``dot_general`` TypeError). The built-ins call :func:`check_vmap_over_batch_args`
first, so every bad input is a ``ValueError`` or ``TypeError`` that names the
argument. Valid inputs keep the reference's semantics: ``int()`` truncation of
``seed`` and ``features``; JAX's dtype promotion of ``x_batch`` with the float32
parameters; ``B = 0`` allowed.
"""

from __future__ import annotations

import numbers
from typing import Any

import jax
import numpy as np

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
#: Largest ``int(features)`` accepted: XLA shapes are signed 32-bit friendly.
FEATURES_MAX = 2**31 - 1


def as_int(value: Any, name: str) -> int:
    """``int(value)`` for a finite real scalar, with errors that name ``name``."""
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a real number, got a bool ({value!r})")
    if isinstance(value, (np.ndarray, jax.Array)) and getattr(value, "ndim", None) == 0:
        if not _is_real_dtype(value.dtype) or value.dtype == np.bool_:
            raise TypeError(f"{name} must be a real number, got a 0-d array of {value.dtype}")
        value = value.item()
    if not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number (int or float), got {type(value).__name__}")
    if isinstance(value, numbers.Integral):
        result = int(value)
    else:
        as_float = float(value)
        if not np.isfinite(as_float):
            raise ValueError(f"{name} must be finite, got {as_float!r}")
        result = int(value)
    return result


def check_seed(seed: Any) -> int:
    """``int(seed)``, which must lie in the int64 range ``nnx.Rngs`` accepts."""
    value = as_int(seed, "seed")
    if not INT64_MIN <= value <= INT64_MAX:
        raise ValueError(f"seed must lie in the int64 range [-2**63, 2**63 - 1] after int(), got {value}")
    return value


def check_count(value: Any, name: str) -> int:
    """``int(value)`` for a size such as ``features`` or ``n_models``, which must be at least 1."""
    result = as_int(value, name)
    if result < 1:
        raise ValueError(f"{name} must be >= 1 after int() truncation, got {value!r} -> {result}")
    if result > FEATURES_MAX:
        raise ValueError(f"{name} must be <= 2**31 - 1, got {result}")
    return result


def check_features(features: Any) -> int:
    """``int(features)``, which must be at least 1."""
    return check_count(features, "features")


def _is_real_dtype(dtype: Any) -> bool:
    try:
        dtype = np.dtype(dtype)
    except TypeError:
        return False
    return dtype.kind in "iuf" or dtype.name in ("bfloat16",)


def check_x_batch(x_batch: Any, name: str = "x_batch") -> Any:
    """A 2-D (B, D_in) array of a real dtype with D_in >= 1; returned unchanged."""
    shape = getattr(x_batch, "shape", None)
    dtype = getattr(x_batch, "dtype", None)
    if shape is None or dtype is None or isinstance(x_batch, (str, bytes)):
        raise TypeError(
            f"{name} must be an array (numpy or jax) of shape (B, D_in), got "
            f"{type(x_batch).__name__}; convert it with np.asarray(...) first"
        )
    if not _is_real_dtype(dtype) or np.dtype(dtype) == np.bool_:
        raise TypeError(f"{name} must have a real numeric dtype (integer or floating point), got {dtype}")
    if len(shape) != 2:
        hint = (
            "; for a single sample add the batch axis with x[None, :]"
            if len(shape) == 1
            else "; flatten the extra axes or vmap over them"
        )
        raise ValueError(f"{name} must be 2-D with shape (B, D_in), got shape {tuple(shape)}{hint}")
    if shape[1] < 1:
        raise ValueError(f"{name} must have at least one input feature (D_in >= 1), got {tuple(shape)}")
    return x_batch


def check_vmap_over_batch_args(seed: Any, x_batch: Any, features: Any) -> tuple[int, Any, int]:
    """Validate and normalise ``(seed, x_batch, features)``; see the module docstring."""
    x = check_x_batch(x_batch)
    return check_seed(seed), x, check_features(features)


def check_vmap_over_ensemble_args(
    seed: Any, x_batch: Any, features: Any, n_models: Any
) -> tuple[int, Any, int, int]:
    """:func:`check_vmap_over_batch_args`, plus ``int(n_models)`` which must be at least 1."""
    seed, x, features = check_vmap_over_batch_args(seed, x_batch, features)
    return seed, x, features, check_count(n_models, "n_models")
