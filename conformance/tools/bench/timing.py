"""Timing: the float32 GEMM peak of this machine, and one implementation at one grid point.

:data:`BENCH_SUBJECTS` says how to call each subject's implementations and how many FLOPs
one call does; :func:`measure_peak` (and :func:`best_peak` over several measurements) gives
the rate to compare with; :func:`time_point` gives one :class:`Row`: the first, steady and
jit times, and the rates they mean.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from impl.registry import one_line

#: Longest error text kept for a grid point (its type and message, on one line).
ERROR_LIMIT = 300
#: sides of the square float32 GEMMs that measure the peak: a long one, and a shorter one that
#: still gets a clean measurement when other processes share the CPUs
DEFAULT_PEAK_SIZES = (1024, 2048)
SEED = 0


@dataclass(frozen=True)
class BenchSubject:
    """How to call a subject's implementations and how many FLOPs one call does."""

    name: str
    #: ``(seed, x_batch, features) -> positional arguments``
    build_args: Callable[[int, Any, int], tuple[Any, ...]]
    #: ``(B, D_in, features) -> floating-point operations of the matmul(s) of one call``
    flops: Callable[[int, int, int], int]
    #: the positions of the arguments ``jax.jit`` must treat as static
    static_argnums: tuple[int, ...]


ENSEMBLE_MEMBERS = 4


def _single_args(seed: int, x: Any, features: int) -> tuple[Any, ...]:
    return (seed, x, features)


def _single_flops(b: int, d_in: int, features: int) -> int:
    return 2 * b * d_in * features


#: One entry per subject the bench can time; add a subject by adding an entry.
BENCH_SUBJECTS: dict[str, BenchSubject] = {
    s.name: s
    for s in (
        BenchSubject("vmap_over_batch", _single_args, _single_flops, (0, 2)),
        BenchSubject("vmap_anchored", _single_args, _single_flops, (0, 2)),
        BenchSubject(
            "vmap_over_ensemble",
            lambda seed, x, f: (seed, x, f, ENSEMBLE_MEMBERS),
            lambda b, d, f: 2 * ENSEMBLE_MEMBERS * b * d * f,
            (0, 2, 3),
        ),
    )
}


def gflops(flops: float, seconds: float | None) -> float | None:
    """``flops / seconds`` in GFLOP/s; ``None`` when there is no (positive) time to divide by."""
    if seconds is None or not seconds > 0 or not np.isfinite(seconds):
        return None
    return flops / seconds / 1e9


def fraction(value: float | None, peak: float | None) -> float | None:
    """``value / peak``, or ``None`` when either is missing or the peak is not positive."""
    if value is None or peak is None or not peak > 0:
        return None
    return value / peak


def _block(out: Any) -> Any:
    """Wait for ``out`` (any pytree of jax or numpy arrays) to be computed."""
    import jax

    return jax.block_until_ready(out)


def _timed(fn: Callable[..., Any], args: tuple[Any, ...]) -> float:
    start = time.perf_counter()
    _block(fn(*args))
    return time.perf_counter() - start


def _median_time(fn: Callable[..., Any], args: tuple[Any, ...], repeats: int) -> float:
    return statistics.median(_timed(fn, args) for _ in range(repeats))


@dataclass(frozen=True)
class Peak:
    """This machine's float32 GEMM rate: numpy's, XLA's (jitted ``jnp.dot``), and the better one."""

    size: int
    numpy_gflops: float | None
    xla_gflops: float | None
    gflops: float | None
    source: str | None
    numpy_error: str | None = None
    xla_error: str | None = None


def _best_time(fn: Callable[..., Any], args: tuple[Any, ...], min_runs: int, budget_s: float) -> float:
    """The fastest of at least ``min_runs`` calls, more while ``budget_s`` lasts (at most 50)."""
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < min_runs or (len(times) < 50 and time.perf_counter() - start < budget_s):
        times.append(_timed(fn, args))
    return min(times)


def measure_peak(size: int = DEFAULT_PEAK_SIZES[-1], runs: int = 3, budget_s: float = 1.0) -> Peak:
    """The fastest ``size x size`` float32 matmul with numpy and with jitted ``jnp.dot``.

    At least ``runs`` of each, more while ``budget_s`` seconds per library last: with other
    processes on the CPUs, the fastest of many is the best estimate of what the machine can do.
    """
    import jax
    import jax.numpy as jnp

    flops = 2 * size**3
    rng = np.random.default_rng(SEED)
    a = rng.standard_normal((size, size), dtype=np.float32)
    b = rng.standard_normal((size, size), dtype=np.float32)
    rates: dict[str, float | None] = {}
    errors: dict[str, str | None] = {"numpy": None, "xla": None}
    try:
        a @ b  # warm-up: BLAS threads
        rates["numpy"] = gflops(flops, _best_time(lambda: a @ b, (), runs, budget_s))
    except Exception as e:  # a broken BLAS should not stop the bench
        rates["numpy"], errors["numpy"] = None, one_line(e, limit=ERROR_LIMIT, with_type=True)
    try:
        ja, jb = jax.device_put(a), jax.device_put(b)
        dot = jax.jit(jnp.dot)
        _block(dot(ja, jb))  # compile
        rates["xla"] = gflops(flops, _best_time(dot, (ja, jb), runs, budget_s))
    except Exception as e:
        rates["xla"], errors["xla"] = None, one_line(e, limit=ERROR_LIMIT, with_type=True)
    source, best = _fastest(rates)
    return Peak(size, rates["numpy"], rates["xla"], best, source, errors["numpy"], errors["xla"])


def _fastest(rates: dict[str, float | None]) -> tuple[str | None, float | None]:
    """The library with the highest measured rate, and that rate (None, None if none measured)."""
    known = {k: v for k, v in rates.items() if v is not None}
    if not known:
        return None, None
    source = max(known, key=lambda k: known[k])
    return source, known[source]


def best_peak(peaks: Sequence[Peak]) -> Peak:
    """The best rate per library over several measurements (sizes, times: other processes share the
    CPUs); ``size`` is the side of the GEMM that gave the best rate of all."""

    def best(key: str) -> float | None:
        return _best([getattr(p, key) for p in peaks])

    rates = {"numpy": best("numpy_gflops"), "xla": best("xla_gflops")}
    source, fastest = _fastest(rates)
    size = peaks[0].size
    if source is not None:
        size = next(p.size for p in peaks if getattr(p, f"{source}_gflops") == fastest)
    first_error = {
        k: next((getattr(p, k) for p in peaks if getattr(p, k)), None) for k in ("numpy_error", "xla_error")
    }
    return Peak(
        size,
        rates["numpy"],
        rates["xla"],
        fastest,
        source,
        first_error["numpy_error"] if rates["numpy"] is None else None,
        first_error["xla_error"] if rates["xla"] is None else None,
    )


def _best(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return max(known) if known else None


@dataclass
class Row:
    """One implementation at one grid point. Times in seconds; ``None`` where not measured."""

    impl: str
    B: int
    d_in: int
    features: int
    flops: int
    first_s: float | None = None
    steady_s: float | None = None
    jit_first_s: float | None = None
    jit_s: float | None = None
    steady_gflops: float | None = None
    jit_gflops: float | None = None
    steady_fraction_of_peak: float | None = None
    jit_fraction_of_peak: float | None = None
    #: the eager call raised (then nothing else is measured at this point)
    error: str | None = None
    #: ``jax.jit`` of the implementation failed at this point
    jit_error: str | None = None


def time_point(
    fn: Callable[..., Any],
    name: str,
    subject: BenchSubject,
    x: Any,
    features: int,
    repeats: int,
    peak: float | None,
    *,
    jit: bool = True,
) -> Row:
    """Time ``fn`` on ``x`` (shape ``(B, D_in)``) with ``features``: first, steady and jit calls.

    Never raises for an implementation's exception (KeyboardInterrupt aside): an eager
    failure is recorded in ``error``, a jit failure in ``jit_error``.
    """
    import jax

    b, d_in = (int(n) for n in x.shape)
    row = Row(name, b, d_in, int(features), int(subject.flops(b, d_in, int(features))))
    args = subject.build_args(SEED, x, int(features))
    try:
        jax.clear_caches()  # the first call pays for every compilation, whatever ran before
        row.first_s = _timed(fn, args)
        _block(fn(*args))  # warm-up
        row.steady_s = _median_time(fn, args, repeats)
    except (Exception, SystemExit) as e:
        row.error = one_line(e, limit=ERROR_LIMIT, with_type=True)
        return row
    row.steady_gflops = gflops(row.flops, row.steady_s)
    row.steady_fraction_of_peak = fraction(row.steady_gflops, peak)
    if not jit:
        row.jit_error = "not measured (--no-jit)"
        return row
    try:
        jitted = jax.jit(fn, static_argnums=subject.static_argnums)
        row.jit_first_s = _timed(jitted, args)
        row.jit_s = _median_time(jitted, args, repeats)
    except (Exception, SystemExit) as e:
        row.jit_first_s = row.jit_s = None
        row.jit_error = one_line(e, limit=ERROR_LIMIT, with_type=True)
        return row
    row.jit_gflops = gflops(row.flops, row.jit_s)
    row.jit_fraction_of_peak = fraction(row.jit_gflops, peak)
    return row
