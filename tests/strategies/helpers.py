"""Helpers of the strategy tests: the edges of the domain, and which of them one argument set
touches (``test_strategies.py`` checks the strategies reach them all, ``test_coverage.py`` that
a ``ci`` run hands them all to the implementation)."""

from __future__ import annotations

from typing import Any

import numpy as np

import strategies as S


def features_spelling(features: Any) -> str:
    if isinstance(features, np.generic):
        return "numpy scalar"
    if isinstance(features, bool):
        return "bool"
    if isinstance(features, int):
        return "int"
    if isinstance(features, float):
        return "float" if features.is_integer() else "fractional float"
    return type(features).__name__


def edges(args: dict[str, Any]) -> set[str]:
    """The edges of the domain one argument set touches."""
    x = args["x_batch"]
    batch, d_in = x.shape
    features = int(args["features"])
    out = {
        f"seed {S.seed_bucket(args['seed'])}",
        f"dtype {x.dtype.name}",
        f"kind {x.kind}",
        f"family {x.label}",
        f"features as {features_spelling(args['features'])}",
    }
    if batch == 0:
        out.add("B == 0")
    if batch == 1:
        out.add("B == 1")
    if 2 <= batch <= 8:
        out.add("B in 2..8")
    if batch > 64:
        out.add("B > 64")
    if d_in == 1:
        out.add("D_in == 1")
    if d_in > 128:
        out.add("D_in > 128")
    if features == 1:
        out.add("features == 1")
    if features > 64:
        out.add("features > 64")
    if d_in == features:
        out.add("square layer")
    return out


def all_edges(x64: bool) -> set[str]:
    return (
        {f"seed {b}" for b in S.SEED_BUCKETS}
        | {f"dtype {d}" for d in (S.X64_DTYPES if x64 else S.FLOAT_DTYPES)}
        | {f"kind {k}" for k in S.ARRAY_KINDS}
        | {f"family {f}" for f in S.VALUE_FAMILIES}
        | {f"features as {s}" for s in ("int", "float", "fractional float", "numpy scalar")}
        | {"B == 0", "B == 1", "B in 2..8", "B > 64", "D_in == 1", "D_in > 128"}
        | {"features == 1", "features > 64", "square layer"}
    )
