"""The ``mutate`` command: its parser, its handler, and its usage errors (one line, exit 2)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from conformance.tools.mutate.operators import OPERATORS
from conformance.tools.mutate.report import print_report
from conformance.tools.mutate.running import run
from conformance.tools.mutate.source import MutateUsageError
from impl.registry import DEFAULT_SUBJECT

EXIT_OK, EXIT_USAGE = 0, 2

DESCRIPTION = """\
Mutate an implementation's own source file and check every mutant with the suite, each
in its own worker. Reports each mutant as killed (with the first property that failed),
survived (with "likely equivalent" when its outputs are bitwise identical to the
original's on every call the ci properties make: plain, and under VJP, JVP and jit),
timed out or load error; the score is
killed / (mutants - likely equivalent), where killed counts timeouts and load errors
(check fails on them too); and every survivor as a unified diff.

Exit codes: 0 the run completed (whatever the score); 2 usage error (an unknown
implementation, a spec with no source file, bad numbers, an original that does not load
or passes no property), as one "error: ..." line on stderr.
"""


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Add ``mutate`` to the subparsers ``sub`` of ``python -m conformance``; returns the parser."""
    p = sub.add_parser(
        "mutate",
        help="mutation testing: how many small changes to an implementation's own source the suite catches",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--impl", required=True, metavar="SPEC", help="name, module:attr, path/file.py:attr or NAME=SPEC"
    )
    p.add_argument("--subject", default=DEFAULT_SUBJECT, help="the function under test (see 'subjects')")
    p.add_argument("--profile", default="ci", help="the profile the mutants are checked with (default ci)")
    p.add_argument("--json", metavar="PATH", help="write every mutant's result here")
    p.add_argument(
        "--max-mutants",
        type=int,
        default=None,
        metavar="N",
        help="check at most N mutants, spread over the file",
    )
    p.add_argument(
        "--operator",
        action="append",
        default=[],
        metavar="NAME",
        help=f"only these mutation operators (repeatable): {', '.join(OPERATORS)}",
    )
    p.add_argument(
        "--property", action="append", default=[], metavar="NAME", help="only these properties (repeatable)"
    )
    p.add_argument(
        "--jobs",
        type=int,
        default=None,
        metavar="N",
        help="mutants checked at once, each in its own worker (default: the CPU count, at most 4)",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=None,
        metavar="S",
        help="seconds one call may take before it counts as a hang (default: the profile's)",
    )
    p.add_argument(
        "--strict",
        action="store_true",
        help="also check how invalid input is rejected (default: on for a built-in, as check does)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress output")
    return p


def cmd_mutate(args: argparse.Namespace) -> int:
    from conformance.run.settings import UsageError, default_jobs, prepare_output

    try:
        if args.max_mutants is not None and args.max_mutants < 1:
            raise MutateUsageError("--max-mutants must be at least 1")
        if args.jobs is not None and args.jobs < 1:
            raise MutateUsageError("--jobs must be at least 1")
        if args.timeout is not None and not args.timeout > 0:
            raise MutateUsageError("--timeout must be positive")
        unknown = [o for o in args.operator if o not in OPERATORS]
        if unknown:
            raise MutateUsageError(
                f"unknown operator {unknown[0]!r} for --operator; known: {', '.join(OPERATORS)}"
            )
        if args.json:
            prepare_output(args.json)
        report = run(
            args.impl,
            subject=args.subject,
            profile=args.profile,
            max_mutants=args.max_mutants,
            operators=args.operator or None,
            properties=args.property,
            jobs=args.jobs or default_jobs(),
            timeout=args.timeout,
            strict=True if args.strict else None,
            progress=None if args.quiet else (lambda m: print(m, file=sys.stderr, flush=True)),
        )
    except (MutateUsageError, UsageError) as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USAGE
    print_report(report)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report.to_json(), f, indent=2)
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    """Run ``mutate`` with ``argv`` (the arguments after ``mutate``); returns the exit code."""
    parser = argparse.ArgumentParser(prog="python -m conformance")
    sub = parser.add_subparsers(dest="command", required=True)
    add_parser(sub)
    try:
        args = parser.parse_args(["mutate", *(sys.argv[1:] if argv is None else argv)])
    except SystemExit as e:  # argparse has printed its message (or --help)
        return e.code if isinstance(e.code, int) else EXIT_USAGE
    return cmd_mutate(args)
