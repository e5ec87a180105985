"""The tolerance of a per-sample subject: no farther from the float64 oracle than the reference is.

A user's module has no derived error bound, so the suite measures one: the float32 references
(the module's own ``call`` on the model as made: one sample at a time, and lifted with
``nnx.vmap``) are compared with the float64 oracle (the same program on the same
parameters, upcast), and a batched output may be as far from the oracle as the farthest
reference is, times ``factor``, plus ``floor`` rounding units. ``docs/per-sample.md`` derives
the rule and states its false-alarm argument.

For sample row ``b`` of the output (everything that belongs to input sample ``b``):

* ``scale_b`` = the largest ``|oracle|`` in the row, ``err_b`` = the references' largest error in it;
* ``rel`` = the largest ``err_b / scale_b`` over the batch: the references' worst relative error;
* allowed in row ``b`` = ``factor * max(err_b, rel * scale_b) + floor * eps * max(scale_b, S / 1024)``,
  with ``eps`` the output dtype's machine epsilon and ``S`` the largest ``scale_b`` of the batch.

Elements where a reference is not finite are outside the module's domain: any finite or
infinite output passes there, a NaN does not.
"""

from __future__ import annotations

import ml_dtypes
import numpy as np

#: The share of the batch's largest row scale every row's floor is at least.
ROW_FLOOR_SHARE = 2.0**-10


def epsilon(dtype: np.dtype) -> float:
    """Machine epsilon of a floating dtype (bfloat16 included); float32's for anything else."""
    if dtype.name == "bfloat16":
        return float(ml_dtypes.finfo(ml_dtypes.bfloat16).eps)
    return (
        float(np.finfo(dtype).eps) if np.issubdtype(dtype, np.floating) else float(np.finfo(np.float32).eps)
    )


def reference_bound(
    oracle: np.ndarray, references: np.ndarray, factor: float, floor: float
) -> tuple[np.ndarray, np.ndarray]:
    """``(value, allowed)``, both float64 and flat: what to compare a batched output with, and how
    far from it each element may be, under the rule of this module's docstring. ``references``
    stacks one or more float32 references on a leading axis; the farthest from the oracle counts."""
    if references.shape[1:] != oracle.shape or oracle.ndim == 0:
        raise ValueError(f"the oracle has shape {oracle.shape}, the references {references.shape}")
    rows = (oracle.shape[0], int(np.prod(oracle.shape[1:], dtype=np.int64)))
    o = np.asarray(oracle, np.float64).reshape(rows)
    r = np.asarray(references).astype(np.float64).reshape((references.shape[0], *rows))
    eps = epsilon(np.dtype(references.dtype))
    usable = np.all(np.isfinite(r), axis=0) & np.isfinite(o)
    magnitude = np.where(usable, np.abs(o), 0.0)
    error = np.where(usable, np.abs(r - o).max(axis=0, initial=0.0), 0.0)
    scale = magnitude.max(axis=1, initial=0.0)
    err = error.max(axis=1, initial=0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        relative = np.where(scale > 0, err / scale, 0.0)
    rel = float(relative.max(initial=0.0))
    largest = float(scale.max(initial=0.0))
    row = factor * np.maximum(err, rel * scale) + floor * eps * np.maximum(scale, largest * ROW_FLOOR_SHARE)
    allowed = np.broadcast_to(row[:, None], o.shape).copy()
    value = o.copy()
    value[~usable] = 0.0
    allowed[~usable] = np.inf
    return value.reshape(-1), allowed.reshape(-1)
