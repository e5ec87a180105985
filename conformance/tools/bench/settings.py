"""The settings of a bench: the grid, the repeats, the peak's GEMMs, the implementations.

:func:`_settings` validates the command line (a :class:`UsageError` for anything wrong,
before any time is spent) and loads the implementations into this process.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from conformance.tools.bench.timing import BENCH_SUBJECTS, DEFAULT_PEAK_SIZES, BenchSubject

DEFAULT_BATCH = (1, 8, 64, 512, 4096)
DEFAULT_D_IN = (64, 512)
DEFAULT_FEATURES = (16, 256)
DEFAULT_REPEATS = 5
DEFAULT_OUT = os.path.join(".conformance", "bench")
DEFAULT_PEAK_BUDGET_S, QUICK_PEAK_BUDGET_S = 1.0, 0.1
#: ``--quick``: a tiny grid for smoke tests (and a smaller GEMM for the peak).
QUICK_BATCH, QUICK_D_IN, QUICK_FEATURES, QUICK_REPEATS, QUICK_PEAK_SIZES = (1, 16), (8,), (4,), 2, (512,)


class UsageError(ValueError):
    """A bad command line: reported as one ``error: ...`` line, exit code 2."""


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
    from conformance.run.settings import targets
    from impl.registry import ImplementationLoadError, load

    try:
        pairs = targets(subject, specs)
        impls = [(target.name, load(target.spec, subject)) for target, _ in pairs]
    except (ImplementationLoadError, KeyError) as e:
        raise UsageError(str(e.args[0]) if e.args else str(e)) from None
    if not impls:
        raise UsageError(f"no implementations registered for {subject}: name some with --impl SPEC")
    return impls
