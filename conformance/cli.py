"""The command line: check, replay, list, subjects, bench, pin, expect, plot, mutate.

Started as ``python -m conformance`` or as ``nnx-conformance``; the help names the program
the way it was started.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from functools import partial
from typing import TYPE_CHECKING, Any

from rich.console import Console

from conformance.base.verdict import EXIT_FAILED, EXIT_INTERNAL, EXIT_OK, EXIT_USAGE, Status, worst_exit
from conformance.run.options import CHECK, RUN, add_options, build_kwargs

if TYPE_CHECKING:
    from conformance.run.user_subjects import Declared

__all__ = ["EXIT_FAILED", "EXIT_INTERNAL", "EXIT_OK", "EXIT_USAGE", "build_parser", "main"]


#: What the top-level help says, as plain text.
DESCRIPTION = """\
Check batched Flax NNX implementations against the per-sample reference: every property,
with a minimal counterexample and a replay command for each failure.

exit codes: 0 every property held; 1 some property failed; 2 usage error, an
implementation that could not be loaded, or a per-sample declaration that failed on a
drawn input (no verdict); 3 an internal error of the suite."""


def program_name() -> str:
    """How the program was started: ``nnx-conformance`` (the console script) or ``python -m conformance``."""
    name = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    return name if name and not name.endswith(".py") and name != "-c" else "python -m conformance"


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog or program_name(),
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)

    check = sub.add_parser("check", help="check implementations against every property")
    add_options(check.add_argument, CHECK)
    check.add_argument("--quiet", action="store_true", help="no progress output")
    add_options(check.add_argument, RUN)

    replay = sub.add_parser("replay", help="re-run one property on one recorded case")
    replay.add_argument(
        "--impl",
        required=True,
        metavar="SPEC",
        help="the implementation: name, module:attr, file.py:attr or NAME=SPEC",
    )
    replay.add_argument(
        "--property", required=True, metavar="NAME", help="the property to check (see 'list')"
    )
    replay.add_argument(
        "--group", action="append", default=[], metavar="NAME", help="the groups it must be in (repeatable)"
    )
    replay.add_argument("--case", required=True, help="the case as JSON, or @path/to/case.json")
    add_options(replay.add_argument, RUN)

    sub.add_parser("list", help="list implementations and properties")
    subjects = sub.add_parser(
        "subjects",
        help="list the subjects: signature, properties, built-in implementations",
        description="List the built-in subjects and the per-sample subjects installed packages "
        "advertise (entry-point group nnx_conformance.subjects; their code is not loaded to list them). "
        "With --subject, describe the subjects named: a declaration is loaded in its oracle worker and "
        "its sample dims, dtypes, randomness, tolerance, free references and properties are shown.",
    )
    subjects.add_argument(
        "--subject",
        metavar="SUBJECT",
        help="describe these subjects: a name, A,B, all, or a declaration's file.py:NAME or module:NAME",
    )
    from conformance.tools import bench, expect, mutate, pin, plot

    bench.add_parser(sub)
    pin.add_parser(sub)
    expect.add_parser(sub)
    plot.add_parser(sub)
    mutate.add_parser(sub)
    return parser


def _usage_error(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return EXIT_USAGE


def cmd_check(args: argparse.Namespace) -> int:
    from conformance.reporting.json_report import json_path, write_json
    from conformance.reporting.report import print_report
    from conformance.run.engine import Engine
    from conformance.run.settings import EngineOptions, UsageError
    from conformance.subjects import StrategyConfig
    from strategies import TILE_EDGE

    try:
        options = EngineOptions.build(**build_kwargs(partial(getattr, args), RUN + CHECK))
        engine = Engine(options)
    except (UsageError, ValueError) as e:
        return _usage_error(str(e))
    summary_md = _summary_path(args.summary_md)
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    total = sum(len(engine.targets(s)) * len(engine.properties(s)) for s in options.subjects)
    done = [0]
    start = time.perf_counter()

    def progress(impl: str, cell: Any) -> None:
        done[0] += 1
        if not args.quiet:
            elapsed = time.perf_counter() - start
            err.print(
                f"[{done[0]}/{total}] {impl} / {cell.property}: {cell.status} "
                f"({cell.examples} examples, {cell.seconds:.1f} s, total {elapsed:.0f} s)",
                markup=False,
            )

    def header(subject: Any) -> str:
        names = ", ".join(t.name for t, _ in engine.targets(subject))
        profile = options.profile
        edge_names = subject.edges(StrategyConfig(pool=profile.pool, x64=options.x64))
        tiles = sum(1 for e in edge_names if e.startswith(TILE_EDGE))
        edges = (
            f", then {profile.edge_examples} inside each of {len(edge_names) - tiles} edges"
            + (f" and 1 at each of {tiles} tile edges for the value claims" if tiles else "")
            if profile.edge_examples
            else ""
        )
        return (
            f"subject {subject.name}: checking {names}; profile {profile.name} "
            f"({profile.max_examples} examples per property over the whole domain{edges})"
        )

    codes = []
    with engine:
        for subject in options.subjects:
            # Workers load as their implementations' turns come (a load error is part of the
            # report); the header waits for the first cell, so a run in which nothing loads
            # shows the load errors alone, one line each.
            shown = [args.quiet]

            def on_cell(impl: str, cell: Any, subject: Any = subject, shown: list[bool] = shown) -> None:
                if not shown[0]:
                    shown[0] = True
                    err.print(header(subject), markup=False)
                progress(impl, cell)

            report = engine.check_subject(subject, on_cell)
            failed = [r for r in report.implementations if r.load_error]
            if args.json:
                write_json(report.to_json(), json_path(args.json, subject.name, options.several))
            _write_summary(report, summary_md)
            if len(failed) == len(report.implementations):  # nothing checked: the load errors alone
                for r in failed:
                    print(f"error: {r.name} ({r.spec}): {r.load_error}", file=sys.stderr)
                codes.append(EXIT_USAGE)
                continue
            print_report(report)
            codes.append(report.exit_code())
    return worst_exit(codes)


def _summary_path(path: str | None) -> str | None:
    """Where the Markdown summary goes: --summary-md (emptied now: each subject is appended),
    else GitHub's step summary when set (appended to, as GitHub expects), else nowhere."""
    if path:
        open(path, "w").close()
        return path
    return os.environ.get("GITHUB_STEP_SUMMARY") or None


def _write_summary(report: Any, path: str | None) -> None:
    if path:
        from conformance.reporting import summary

        summary.write(report.to_json(), path, append=True)


def cmd_replay(args: argparse.Namespace) -> int:
    from conformance.cases import codec
    from conformance.properties import PROPERTIES
    from conformance.run.engine import Engine
    from conformance.run.runner import summarize
    from conformance.run.settings import EngineOptions, UsageError
    from impl.registry import ImplementationLoadError

    try:
        options = EngineOptions.build(
            **build_kwargs(partial(getattr, args), RUN),
            impls=[args.impl],
            properties=[args.property],
            groups=args.group,
            corpus_dir=None,
        )
        if len(options.subjects) != 1:
            raise UsageError("replay takes one --subject")
        text = args.case
        if text.startswith("@"):
            try:
                with open(text[1:]) as f:
                    text = f.read()
            except OSError as e:
                raise UsageError(f"--case {args.case}: {e.strerror}") from None
        try:
            case = codec.loads(text)
        except (ValueError, TypeError) as e:
            raise UsageError(f"--case is not a recorded case: {e}") from None
        engine = Engine(options)
    except (UsageError, ValueError) as e:
        return _usage_error(str(e))
    prop = PROPERTIES[args.property]
    with engine:
        print(f"{args.impl} / {prop.name}: {prop.claim}")
        for key, value in summarize(case).items():
            print(f"  {key} = {value}")
        try:
            status, message = engine.replay(args.impl, prop.name, case)
        except ImplementationLoadError as e:
            return _usage_error(str(e))
    if status == Status.FAIL:
        print(f"FAIL: {message}")
        return EXIT_FAILED
    if status == Status.SKIP:
        print(f"SKIP: {message}")
        return EXIT_OK
    print("PASS: the property holds on this case")
    return EXIT_OK


def cmd_subjects(args: argparse.Namespace) -> int:
    from conformance.run import user_subjects
    from conformance.run.settings import UsageError, subjects_option
    from conformance.subjects import SUBJECTS

    if args.subject is None:
        for subject in SUBJECTS.values():
            _print_builtin_subject(subject)
        for name, spec in user_subjects.advertised().items():
            print(name)
            print(f"  a per-sample subject advertised by an installed package: {spec}")
            print(f"  not loaded to list it; '{program_name()} subjects --subject {name}' describes it")
        return EXIT_OK
    try:
        try:
            chosen = subjects_option(args.subject)
        except UsageError as e:
            return _usage_error(str(e))
        for subject in chosen:
            if subject.name in SUBJECTS:
                _print_builtin_subject(subject)
            else:
                _print_declared(user_subjects.declared(subject))
    finally:
        user_subjects.close_all()
    return EXIT_OK


def _print_builtin_subject(subject: Any) -> None:
    from impl.registry import get, names

    print(f"{subject.name}")
    print(f"  {subject.signature}")
    print(f"  {subject.summary}")
    print(f"  output axes: {', '.join(subject.output_axes)}")
    print(f"  properties: {', '.join(subject.properties)}")
    for n in names(subject.name, builtin_only=True):
        known = get(n, subject.name).known_failures
        note = f"  (known non-conformant: {', '.join(p for p, _ in known)})" if known else ""
        print(f"  built-in {n}{note}")


def _print_declared(d: Declared) -> None:
    """What a per-sample declaration declares and gets, as plain text."""
    print(d.spec + (f"  (advertised as {d.advertised_as})" if d.advertised_as else ""))
    print(f"  {d.signature}")
    print(f"  {d.summary}")
    print(f"  sample: ({', '.join(x.name for x in d.dims)}{',' * (len(d.dims) == 1)})")
    for x in d.dims:
        sizes = f"{x.min}..{x.max}" if x.max is not None else f"{x.min} and up"
        step = f", multiples of {x.multiple_of}" if x.multiple_of > 1 else ""
        print(f"    {x.name}: {sizes}{step}; drawn: {', '.join(map(str, x.drawn))}")
    for name, values in d.static:
        print(f"  static {name}: {', '.join(map(repr, values))}")
    x64 = " (float64 only under --x64)" if "float64" in d.dtypes else ""
    print(f"  dtypes: {', '.join(d.dtypes)}{x64}")
    randomness = {
        None: "none (the module draws no random numbers)",
        "different": "different (each sample its own draws)",
        "same": "same (every sample the same draws)",
    }.get(d.randomness, str(d.randomness))
    print(f"  randomness: {randomness}")
    factor, floor = f"{d.tolerance_factor:g}", f"{d.tolerance_floor:g}"
    print(
        f"  tolerance: factor {factor}, floor {floor} (an output may lie {factor} times as far from the "
        f"float64 oracle as the float32 per-sample reference does, and {floor} rounding units in any case)"
    )
    print(f"  oracle: {'its own, in float64' if d.own_oracle else 'the per-sample call, in float64'}")
    print(f"  free references: {', '.join(d.references)}")
    print(f"  properties: {', '.join(d.properties)}")


def cmd_list(args: argparse.Namespace) -> int:
    from conformance.properties import PROPERTIES
    from conformance.run.settings import targets
    from conformance.subjects import SUBJECTS

    for subject in SUBJECTS.values():
        print(f"subject {subject.name}: {subject.signature}")
        for target, _ in targets(subject, ()):
            kind = "built-in" if ":" not in target.spec and "=" not in target.spec else "external"
            print(f"  implementation {target.name:<14} {kind}  {target.spec}")
        print(f"  properties: {', '.join(subject.properties)}")
    for p in PROPERTIES.values():
        print(f"property {p.name:<24} {p.group:<9} {p.claim}")
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from conformance.tools import bench, expect, mutate, pin, plot

    handler = {
        "check": cmd_check,
        "replay": cmd_replay,
        "list": cmd_list,
        "subjects": cmd_subjects,
        "bench": bench.cmd_bench,
        "pin": pin.cmd_pin,
        "expect": expect.cmd_expect,
        "plot": plot.cmd_plot,
        "mutate": mutate.cmd_mutate,
    }[args.command]
    return handler(args)
