"""Error headroom: how much of its allowed error an implementation uses, per numeric property.

Every comparison a property makes through :func:`conformance.numerics.tolerance.assert_close` is
seen by the probe the runner opens around each example (:func:`conformance.numerics.tolerance.probing`);
the example's largest elementwise ``|got - want| / allowed`` is its ratio. A cell's
:class:`Headroom` keeps the distribution of those per-example ratios (largest, median,
99th percentile) and where the largest was. A ratio of 1 is the bound itself: a cell
passes when every ratio is at most 1.

A pass that went beyond the probabilistic model's bound (Higham and Mary, ``--tolerance
probabilistic``) gets a warning, not a failure. That line is a share of the rigorous bound
that shrinks with the number of terms ``n``: ``min(1, gamma~_n(10) / gamma_n)``, about
``10 / sqrt(n)`` (all of it up to ``D_in`` = 99, 31% at 1023, 16% at 4095, for float32).
Correct arithmetic, whose rounding errors add like a random walk, stays under it except
with probability about ``n * 3.9e-22`` per element; a fixed share cannot say that, since
a correct float32 computation with ``D_in`` = 1 can use most of its bound (see
docs/tolerance.md, "Error headroom").
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from conformance.numerics.tolerance import Observation, Probe


def _number(x: float) -> float | str:
    """JSON has no infinity: a non-finite ratio (NaN output, zero allowance) is written "inf"."""
    return float(x) if math.isfinite(x) else "inf"


def ratio_value(x: float | str | None) -> float:
    """A ratio back from a report (``"inf"`` -> ``math.inf``)."""
    if x is None:
        return math.nan
    return math.inf if x == "inf" else float(x)


def share(ratio: float | str | None) -> str:
    """A ratio as a short share of the bound: ``0.63%``, ``<0.01%``, ``62%``, or ``3.4x`` past it."""
    r = ratio_value(ratio)
    if math.isnan(r):
        return "-"
    if math.isinf(r):
        return "inf"
    if r > 1:
        return f"{r:.3g}x"
    pct = 100 * r
    if pct == 0:
        return "0%"
    if pct < 0.01:
        return "<0.01%"
    return f"{pct:.0f}%" if pct >= 10 else f"{pct:.2g}%"


@dataclass
class Headroom:
    """The per-example largest ratios of one cell, and where the largest one was."""

    ratios: list[float] = field(default_factory=list)
    elements: int = 0
    comparisons: int = 0
    best: float = -1.0
    where: dict[str, Any] | None = None
    #: the largest ratio to the probabilistic model's bound, and where (comparisons that had one)
    typical: float = -1.0
    typical_where: dict[str, Any] | None = None

    def add(self, probe: Probe, describe: Callable[[], dict[str, str]]) -> None:
        """One example's probe; ``describe`` summarises the example (called only for a new largest)."""
        if probe.worst is None:
            return
        self.ratios.append(probe.worst.ratio)
        self.elements += probe.elements
        self.comparisons += probe.comparisons
        if probe.worst.ratio > self.best:
            self.best = probe.worst.ratio
            self.where = _where(probe.worst, describe)
        if probe.typical is not None and probe.typical.ratio > self.typical:
            self.typical = probe.typical.ratio
            self.typical_where = _where(probe.typical, describe)

    def record(self, passed: bool) -> dict[str, Any] | None:
        """The report's ``headroom`` object; None when the cell compared nothing."""
        if not self.ratios:
            return None
        values = np.asarray(self.ratios, dtype=np.float64)
        high = float(values.max())
        median = float(np.quantile(values, 0.5, method="inverted_cdf"))
        p99 = float(np.quantile(values, 0.99, method="inverted_cdf"))
        warning = None
        if passed and self.typical > 1:
            where = self.typical_where or {}
            warning = (
                f"passed, but beyond the probabilistic bound ({self.typical:.3g}x it, {share(high)} of the "
                f"rigorous bound at most) at {where.get('element', 'an unknown place')}: correct "
                "arithmetic stays under it except with a chance of about 4e-22 per term; --tolerance "
                "probabilistic fails this (docs/tolerance.md: Error headroom)"
            )
        return {
            "max": _number(high),
            "median": _number(median),
            "p99": _number(p99),
            "examples": len(self.ratios),
            "comparisons": self.comparisons,
            "elements": self.elements,
            "where": self.where,
            "probabilistic": None
            if self.typical < 0
            else {"max": _number(self.typical), "where": self.typical_where},
            "warning": warning,
        }


def _where(seen: Observation, describe: Callable[[], dict[str, str]]) -> dict[str, Any]:
    return {"example": describe(), "element": seen.location, "comparison": seen.what}
