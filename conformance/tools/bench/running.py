"""The run: the peak, every implementation at every grid point, the peak again; the JSON document."""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import numpy as np

from conformance.base.environment import environment
from conformance.tools.bench.settings import Settings
from conformance.tools.bench.timing import (
    SEED,
    Peak,
    Row,
    _best,
    _block,
    best_peak,
    fraction,
    measure_peak,
    time_point,
)

SCHEMA = "nnx-conformance/bench/1"


def run_bench(settings: Settings, progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Measure the peak, then every implementation at every grid point; returns the JSON document."""
    import jax.numpy as jnp

    start = time.perf_counter()
    peak_label = f"float32 GEMM peak ({', '.join(f'{n}x{n}' for n in settings.peak_sizes)})"
    if progress:
        progress(peak_label)
    peaks = [measure_peak(n, budget_s=settings.peak_budget_s) for n in settings.peak_sizes]
    rows: list[Row] = []
    rng = np.random.default_rng(SEED)
    for d_in in settings.d_in:
        for features in settings.features:
            for b in settings.batch:
                x = _block(jnp.asarray(rng.standard_normal((b, d_in), dtype=np.float32)))
                for name, impl in settings.impls:
                    if progress:
                        progress(f"{name}  B={b} D_in={d_in} features={features}")
                    row = time_point(
                        impl.fn, name, settings.subject, x, features, settings.repeats, None, jit=settings.jit
                    )
                    rows.append(row)
    # Measured again at the end, the best of both: a peak taken while someone else used the CPUs
    # would make every fraction look better than it is.
    if progress:
        progress(f"{peak_label}, again")
    peaks += [measure_peak(n, budget_s=settings.peak_budget_s) for n in settings.peak_sizes]
    peak = best_peak(peaks)
    for row in rows:
        row.steady_fraction_of_peak = fraction(row.steady_gflops, peak.gflops)
        row.jit_fraction_of_peak = fraction(row.jit_gflops, peak.gflops)
    return _document(settings, peak, peaks, rows, time.perf_counter() - start)


def _document(
    settings: Settings, peak: Peak, peaks: list[Peak], rows: list[Row], seconds: float
) -> dict[str, Any]:
    order = {name: i for i, (name, _) in enumerate(settings.impls)}
    rows = sorted(rows, key=lambda r: (order[r.impl], r.d_in, r.features, r.B))
    summary = []
    for name, impl in settings.impls:
        mine = [r for r in rows if r.impl == name]
        steady = _best([r.steady_gflops for r in mine])
        jitted = _best([r.jit_gflops for r in mine])
        summary.append(
            {
                "name": name,
                "spec": impl.spec,
                "best_steady_gflops": steady,
                "best_steady_fraction_of_peak": fraction(steady, peak.gflops),
                "best_jit_gflops": jitted,
                "best_jit_fraction_of_peak": fraction(jitted, peak.gflops),
                "errors": sum(r.error is not None for r in mine),
                "jit_errors": sum(r.error is None and r.jit_error is not None for r in mine),
            }
        )
    return {
        "schema": SCHEMA,
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "subject": settings.subject.name,
        "environment": environment(),  # conformance.base.environment's, as every report records it
        "grid": {
            "batch": list(settings.batch),
            "d_in": list(settings.d_in),
            "features": list(settings.features),
            "repeats": settings.repeats,
            "seed": SEED,
            "dtype": "float32",
            "jit_static_argnums": list(settings.subject.static_argnums),
        },
        "method": {
            "first": "one call after jax.clear_caches(): includes compilation",
            "steady": "median of `repeats` eager calls after one warm-up call",
            "jit": "median of `repeats` calls of jax.jit(fn, static_argnums) after the compiling call",
            "flops": "matmul only: 2 * B * D_in * features per member",
            "peak": "fastest square float32 matmul of each size, numpy a @ b and jax.jit(jnp.dot), each "
            f"at least 3 times and for about {settings.peak_budget_s:g} s, measured before and after the "
            "grid; peak = the best of all",
        },
        "peak": {**asdict(peak), "measurements": [asdict(p) for p in peaks]},
        "implementations": summary,
        "rows": [asdict(r) for r in rows],
        "wall_seconds": seconds,
    }
