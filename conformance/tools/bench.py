"""``python -m conformance bench``: how fast each implementation is, and how far from this machine's limit.

This module holds the benchmark command: its argument parser (:func:`add_parser`),
its handler (:func:`cmd_bench`, and :func:`main_bench` to run it from an argument
list), the per-subject calling conventions (:data:`BENCH_SUBJECTS`), the float32
GEMM peak measurement (:func:`measure_peak`), the timing of one implementation at
one grid point (:func:`time_point`), and the outputs: a rich table, a JSON file
(schema :data:`SCHEMA`) and a PNG plot.

What it measures, and its exit codes, are in :data:`DESCRIPTION` (plain text: it is
what ``bench --help`` prints).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from conformance.base.environment import environment
from impl.registry import one_line

SCHEMA = "nnx-conformance/bench/1"

#: ``bench --help``'s description: plain text, as a terminal shows it.
DESCRIPTION = """\
Time each implementation over a grid of batch sizes B, input sizes D_in and output
sizes (features), and compare it with this machine's float32 GEMM peak.

For every implementation and every (B, D_in, features) of the grid it records

  first   the first call at that shape, after jax.clear_caches(), so it includes
          every compilation the call triggers (what a user's first call costs);
  steady  the median of --repeats eager calls after one warm-up call;
  jit     the median of --repeats calls of jax.jit(fn, static_argnums=...) (seed,
          features and other sizes static) after the compiling call, or null with
          the one-line reason when the implementation cannot be jitted.

GFLOP/s count the matmul only (2 * B * D_in * features per call for
vmap_over_batch), so the steady eager figure also pays for creating the parameters
on every call. The peak is the best float32 GEMM rate of numpy and of jitted
jnp.dot on square matrices (--peak-size), measured before and after the grid, so a
busy moment does not set it. Implementations run in this process, without a
timeout: the bench is for implementations that already pass check. An
implementation that raises at a grid point gets an error entry there; the run goes
on.

It prints a table and writes bench.json and bench.png (unless --no-plot) into --out.

Exit codes: 0 the bench ran (even if some implementation raised at some point);
2 usage error (a bad list, an unknown subject or implementation, an unwritable
--out), reported as one "error: ..." line on stderr.
"""
#: Longest error text kept for a grid point (its type and message, on one line).
ERROR_LIMIT = 300
EXIT_OK, EXIT_USAGE = 0, 2

DEFAULT_BATCH = (1, 8, 64, 512, 4096)
DEFAULT_D_IN = (64, 512)
DEFAULT_FEATURES = (16, 256)
DEFAULT_REPEATS = 5
DEFAULT_OUT = os.path.join(".conformance", "bench")
#: sides of the square float32 GEMMs that measure the peak: a long one, and a shorter one that
#: still gets a clean measurement when other processes share the CPUs
DEFAULT_PEAK_SIZES = (1024, 2048)
DEFAULT_PEAK_BUDGET_S, QUICK_PEAK_BUDGET_S = 1.0, 0.1
#: ``--quick``: a tiny grid for smoke tests (and a smaller GEMM for the peak).
QUICK_BATCH, QUICK_D_IN, QUICK_FEATURES, QUICK_REPEATS, QUICK_PEAK_SIZES = (1, 16), (8,), (4,), 2, (512,)
SEED = 0
#: the ``(D_in, features)`` panels the plot shows at most (the largest ones, by D_in * features)
MAX_PLOT_PANELS = 6


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


class UsageError(ValueError):
    """A bad command line: reported as one ``error: ...`` line, exit code 2."""


# --------------------------------------------------------------------------- arithmetic


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


def parse_int_list(text: str, option: str) -> tuple[int, ...]:
    """``"1,8,64"`` -> ``(1, 8, 64)``: positive integers, comma-separated; a :class:`UsageError` naming
    ``option`` otherwise."""
    parts = [p.strip() for p in str(text).split(",")]
    values = []
    for part in parts:
        try:
            value = int(part)
        except ValueError:
            raise UsageError(f"{option} {text!r}: expected comma-separated positive integers") from None
        if value < 1:
            raise UsageError(f"{option} {text!r}: every value must be at least 1, got {value}")
        values.append(value)
    return tuple(dict.fromkeys(values))  # in the given order, without repeats


# --------------------------------------------------------------------------- timing


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


# --------------------------------------------------------------------------- command line


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the ``bench`` subcommand on ``sub`` (the subparsers of ``python -m conformance``)."""
    p = sub.add_parser(
        "bench",
        help="time implementations over a grid of B, D_in, features; table, JSON and PNG",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--impl",
        action="append",
        default=[],
        metavar="SPEC",
        help="name, module:attr, path/file.py:attr, or NAME=SPEC (repeatable); "
        "default: the subject's built-in implementations",
    )
    p.add_argument("--subject", default="vmap_over_batch", help=f"one of {', '.join(BENCH_SUBJECTS)}")
    p.add_argument(
        "--batch", default=None, metavar="LIST", help=f"batch sizes B (default {_join(DEFAULT_BATCH)})"
    )
    p.add_argument(
        "--d-in", default=None, metavar="LIST", help=f"input sizes D_in (default {_join(DEFAULT_D_IN)})"
    )
    p.add_argument(
        "--features",
        default=None,
        metavar="LIST",
        help=f"output sizes (default {_join(DEFAULT_FEATURES)})",
    )
    p.add_argument(
        "--repeats",
        default=None,
        metavar="N",
        help=f"timed steady (and jit) calls per point; the median is reported (default {DEFAULT_REPEATS})",
    )
    p.add_argument(
        "--peak-size",
        default=None,
        metavar="LIST",
        help="sides of the square float32 GEMMs that measure the peak; the best counts "
        f"(default {_join(DEFAULT_PEAK_SIZES)})",
    )
    p.add_argument(
        "--out",
        default=DEFAULT_OUT,
        metavar="DIR",
        help=f"folder for bench.json and bench.png (default {DEFAULT_OUT})",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help=f"a tiny grid (B {_join(QUICK_BATCH)}, D_in {_join(QUICK_D_IN)}, features "
        f"{_join(QUICK_FEATURES)}, {QUICK_REPEATS} repeats, {_join(QUICK_PEAK_SIZES)}^2 peak GEMM); "
        "explicit lists still win",
    )
    p.add_argument("--no-plot", action="store_true", help="do not write bench.png")
    p.add_argument("--no-jit", action="store_true", help="time eager calls only")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _join(values: Sequence[int]) -> str:
    return ",".join(str(v) for v in values)


@dataclass
class Settings:
    subject: BenchSubject
    specs: list[str]
    batch: tuple[int, ...]
    d_in: tuple[int, ...]
    features: tuple[int, ...]
    repeats: int
    peak_sizes: tuple[int, ...]
    out: str
    plot: bool
    jit: bool
    quiet: bool
    #: seconds each library's GEMM is repeated for, per peak measurement
    peak_budget_s: float = 1.0
    impls: list[Any] = field(default_factory=list)


def _settings(args: argparse.Namespace) -> Settings:
    """Validate the command line (raises :class:`UsageError`) and load the implementations."""
    if args.subject not in BENCH_SUBJECTS:
        raise UsageError(
            f"--subject {args.subject!r}: the bench knows no such subject "
            f"(known: {', '.join(BENCH_SUBJECTS)})"
        )
    quick = bool(args.quick)

    def ints(value: str | None, option: str, default: tuple[int, ...], quick_default: tuple[int, ...]):
        return parse_int_list(value, option) if value is not None else (quick_default if quick else default)

    batch = ints(args.batch, "--batch", DEFAULT_BATCH, QUICK_BATCH)
    d_in = ints(args.d_in, "--d-in", DEFAULT_D_IN, QUICK_D_IN)
    features = ints(args.features, "--features", DEFAULT_FEATURES, QUICK_FEATURES)
    repeats = ints(args.repeats, "--repeats", (DEFAULT_REPEATS,), (QUICK_REPEATS,))
    peak_sizes = ints(args.peak_size, "--peak-size", DEFAULT_PEAK_SIZES, QUICK_PEAK_SIZES)
    if len(repeats) != 1:
        raise UsageError(f"--repeats takes one positive integer, got {_join(repeats)}")
    settings = Settings(
        BENCH_SUBJECTS[args.subject],
        list(args.impl),
        batch,
        d_in,
        features,
        repeats[0],
        peak_sizes,
        args.out,
        not args.no_plot,
        not args.no_jit,
        bool(args.quiet),
        QUICK_PEAK_BUDGET_S if quick else DEFAULT_PEAK_BUDGET_S,
    )
    _prepare_out(settings.out)
    settings.impls = _load_impls(settings.specs, settings.subject.name)
    return settings


def _prepare_out(folder: str) -> None:
    """Make sure the results can be written before spending minutes on the run."""
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as e:
        raise UsageError(f"--out {folder}: cannot create it: {e.strerror or e}") from None
    if not os.access(folder, os.W_OK):
        raise UsageError(f"--out {folder}: not a writable folder")


def _load_impls(specs: list[str], subject: str) -> list[Any]:
    """``(name, implementation)`` pairs, named and made unique by the engine's rule (the same
    names as a check's report). Timing needs the code in this process: bench loads it here."""
    from conformance.run.engine import targets
    from impl.registry import ImplementationLoadError, load

    try:
        pairs = targets(subject, specs)
        impls = [(target.name, load(target.spec, subject)) for target, _ in pairs]
    except (ImplementationLoadError, KeyError) as e:
        raise UsageError(str(e.args[0]) if e.args else str(e)) from None
    if not impls:
        raise UsageError(f"no implementations registered for {subject}: name some with --impl SPEC")
    return impls


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


def _best(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return max(known) if known else None


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


def write_json(doc: dict[str, Any], path: str) -> None:
    """Write ``doc`` to ``path`` atomically (a ``.tmp`` file, then a rename)."""
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump(doc, f, indent=2, allow_nan=False)
        f.write("\n")
    os.replace(tmp, path)


# --------------------------------------------------------------------------- table and plot


def _ms(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    ms = seconds * 1e3
    return f"{ms:.0f}" if ms >= 100 else f"{ms:.3g}" if ms >= 1 else f"{ms:.3f}"


def _num(value: float | None, fmt: str | None = None) -> str:
    """A rate: three significant digits, no exponent down to 0.001."""
    if value is None:
        return "-"
    if fmt is not None:
        return format(value, fmt)
    return f"{value:.0f}" if value >= 100 else f"{value:.3g}" if value >= 0.001 else f"{value:.1e}"


def _pct(value: float | None) -> str:
    """A fraction of the peak, in percent."""
    if value is None:
        return "-"
    pct = value * 100
    return f"{pct:.0f}" if pct >= 10 else f"{pct:.2g}" if pct >= 0.01 else "<0.01"


def print_table(doc: dict[str, Any], console: Any) -> None:
    """The rows, the peak, and each implementation's best steady and jit rate as % of the peak."""
    from rich.table import Table

    peak = doc["peak"]
    table = Table(
        title=f"bench {doc['subject']}: ms per call (steady, jit: median of {doc['grid']['repeats']}), "
        "GFLOP/s of the matmul, % of the float32 GEMM peak"
    )
    headers = ("impl", "B", "D_in", "features", "first\nms", "steady\nms", "jit\nms")
    headers += ("steady\nGFLOP/s", "jit\nGFLOP/s", "steady\n% peak", "jit\n% peak")
    for header in headers:
        table.add_column(header, justify="left" if header == "impl" else "right")
    for r in doc["rows"]:
        if r["error"]:
            cells = ["error"] + ["-"] * 6
        else:
            cells = [
                _ms(r["first_s"]),
                _ms(r["steady_s"]),
                _ms(r["jit_s"]) if r["jit_error"] is None else "fails",
                _num(r["steady_gflops"]),
                _num(r["jit_gflops"]),
                _pct(r["steady_fraction_of_peak"]),
                _pct(r["jit_fraction_of_peak"]),
            ]
        table.add_row(r["impl"], str(r["B"]), str(r["d_in"]), str(r["features"]), *cells)
    console.print(table)
    sources = ", ".join(
        f"{k} {_num(peak[f'{k}_gflops'], '.1f')}" for k in ("numpy", "xla") if peak[f"{k}_gflops"] is not None
    )
    sizes = ", ".join(dict.fromkeys(f"{m['size']}x{m['size']}" for m in peak["measurements"]))
    console.print(
        f"float32 GEMM peak: {_num(peak['gflops'], '.1f')} GFLOP/s, {peak['source'] or 'none'} at "
        f"{peak['size']}x{peak['size']} (best of {sizes}: {sources or 'not measured'})"
    )
    for s in doc["implementations"]:
        console.print(
            f"  {s['name']}: best steady {_num(s['best_steady_gflops'])} GFLOP/s "
            f"({_pct(s['best_steady_fraction_of_peak'])}% of peak), best jit {_num(s['best_jit_gflops'])} "
            f"GFLOP/s ({_pct(s['best_jit_fraction_of_peak'])}% of peak)"
        )
    fractions = [r[k] for r in doc["rows"] for k in ("steady_fraction_of_peak", "jit_fraction_of_peak")]
    if any(f is not None and f > 1 for f in fractions):
        console.print(
            "  note: some rates exceed the measured peak: the CPUs were busier while the peak was measured "
            "than during those calls, or the square GEMM is not this library's best shape; rerun on an idle "
            "machine, or with other --peak-size values"
        )
    for r in doc["rows"]:
        if r["error"] or (r["jit_error"] and r["jit_error"] != "not measured (--no-jit)"):
            what = f"raised {r['error']}" if r["error"] else f"jit failed: {r['jit_error']}"
            console.print(
                f"  {r['impl']} at B={r['B']} D_in={r['d_in']} features={r['features']}: {what}",
                markup=False,
            )


MODES = (("first", "first_s", ":"), ("steady", "steady_s", "-"), ("jit", "jit_s", "--"))


def write_plot(doc: dict[str, Any], path: str) -> None:
    """Two rows of panels, one column per ``(D_in, features)``: time per call and GFLOP/s against B.

    Raises ImportError when matplotlib is not installed.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows = doc["rows"]
    pairs = sorted({(r["d_in"], r["features"]) for r in rows})
    if len(pairs) > MAX_PLOT_PANELS:
        pairs = sorted(sorted(pairs, key=lambda p: p[0] * p[1])[-MAX_PLOT_PANELS:])
    names = list(dict.fromkeys(r["impl"] for r in rows))
    colors = {n: f"C{i % 10}" for i, n in enumerate(names)}
    peak = doc["peak"]["gflops"]
    fig = Figure(figsize=(4.2 * len(pairs) + 1.5, 7.5), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(2, len(pairs), squeeze=False)
    for col, (d_in, features) in enumerate(pairs):
        t_ax, g_ax = axes[0][col], axes[1][col]
        for name in names:
            here = [r for r in rows if r["impl"] == name and (r["d_in"], r["features"]) == (d_in, features)]
            mine = sorted(here, key=lambda r: r["B"])
            for mode, key, style in MODES:
                points = [(r["B"], r[key]) for r in mine if r[key] is not None]
                if points:
                    bs, ts = zip(*points, strict=True)
                    t_ax.plot(bs, [t * 1e3 for t in ts], style, marker="o", ms=3, color=colors[name],
                              label=f"{name} {mode}")  # fmt: skip
                    if mode != "first":
                        g_ax.plot(bs, [gflops(r["flops"], r[key]) for r in mine if r[key] is not None], style,
                                  marker="o", ms=3, color=colors[name], label=f"{name} {mode}")  # fmt: skip
        if peak:
            g_ax.axhline(peak, color="black", lw=1, label=f"float32 GEMM peak {peak:.0f}")
        t_ax.set(xscale="log", yscale="log", title=f"D_in={d_in}, features={features}", ylabel="ms per call")
        g_ax.set(xscale="log", yscale="log", xlabel="batch size B", ylabel="GFLOP/s (matmul)")
        for ax in (t_ax, g_ax):
            ax.grid(True, which="major", alpha=0.3)
    axes[0][0].legend(fontsize="x-small")
    axes[1][0].legend(fontsize="x-small")
    env = doc["environment"]
    cpus = env["cpus_usable"] or env["cpu_count"]
    fig.suptitle(
        f"{doc['subject']}: jax {env['jax']}, flax {env['flax']}, {cpus} CPUs ({env['machine']})",
        fontsize="medium",
    )
    fig.savefig(path, dpi=110)


# --------------------------------------------------------------------------- entry points


def cmd_bench(args: argparse.Namespace) -> int:
    """The ``bench`` subcommand: 0 when it ran, 2 on a usage error (one ``error:`` line on stderr)."""
    from rich.console import Console

    try:
        settings = _settings(args)
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USAGE
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    out = Console(highlight=False, soft_wrap=True)
    if not out.is_terminal and "COLUMNS" not in os.environ:
        out.width = max(out.width, 132)  # a file or a pipe: no wrapped table cells
    total = len(settings.batch) * len(settings.d_in) * len(settings.features) * len(settings.impls)
    if not settings.quiet:
        err.print(
            f"bench {settings.subject.name}: {', '.join(n for n, _ in settings.impls)} on {total} "
            f"(implementation, B, D_in, features) points, {settings.repeats} repeats",
            markup=False,
        )
    if settings.quiet:
        doc = run_bench(settings)
    else:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=err, transient=True) as bar:
            task = bar.add_task("peak", total=total + 2)
            started = [False]

            def progress(message: str) -> None:
                if started[0]:
                    bar.advance(task)
                started[0] = True
                bar.update(task, description=message)

            doc = run_bench(settings, progress)
            bar.advance(task)
    json_path = os.path.join(settings.out, "bench.json")
    write_json(doc, json_path)
    print_table(doc, out)
    written = [json_path]
    if settings.plot:
        png_path = os.path.join(settings.out, "bench.png")
        try:
            write_plot(doc, png_path)
            written.append(png_path)
        except ImportError:
            out.print("note: no plot: bench.png needs matplotlib (pip install matplotlib)")
    out.print(f"wrote {', '.join(written)} ({doc['wall_seconds']:.0f} s)", markup=False)
    return EXIT_OK


def main_bench(argv: list[str] | None = None) -> int:
    """Run ``bench`` with ``argv`` (the arguments after ``bench``); returns the exit code."""
    parser = argparse.ArgumentParser(prog="python -m conformance")
    sub = parser.add_subparsers(dest="command", required=True)
    add_parser(sub)
    try:
        args = parser.parse_args(["bench", *(sys.argv[1:] if argv is None else argv)])
    except SystemExit as e:  # argparse has printed its message (or --help)
        return e.code if isinstance(e.code, int) else EXIT_USAGE
    return cmd_bench(args)


if __name__ == "__main__":
    sys.exit(main_bench())
