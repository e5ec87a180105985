"""The ``bench`` command: its parser, its handler (:func:`cmd_bench`) and :func:`main_bench`."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from conformance.reporting.json_report import write_json
from conformance.tools.bench.render import print_table, write_plot
from conformance.tools.bench.running import run_bench
from conformance.tools.bench.settings import (
    DEFAULT_BATCH,
    DEFAULT_D_IN,
    DEFAULT_FEATURES,
    DEFAULT_OUT,
    DEFAULT_REPEATS,
    QUICK_BATCH,
    QUICK_D_IN,
    QUICK_FEATURES,
    QUICK_PEAK_SIZES,
    QUICK_REPEATS,
    Settings,
    UsageError,
    _join,
    _settings,
)
from conformance.tools.bench.timing import BENCH_SUBJECTS, DEFAULT_PEAK_SIZES
from impl.registry import DEFAULT_SUBJECT

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
EXIT_OK, EXIT_USAGE = 0, 2


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
    p.add_argument("--subject", default=DEFAULT_SUBJECT, help=f"one of {', '.join(BENCH_SUBJECTS)}")
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
    doc = run_bench(settings) if settings.quiet else _run_with_progress(settings, err, total)
    json_path = os.path.join(settings.out, "bench.json")
    write_json(doc, json_path, allow_nan=False)
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


def _run_with_progress(settings: Settings, err: Any, total: int) -> dict[str, Any]:
    """:func:`run_bench` with a progress bar on ``err`` (a rich console): the peak, then each of the
    ``total`` grid points, then the peak again."""
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
    return doc


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
