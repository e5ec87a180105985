"""``python -m conformance``: check, replay, list, subjects, bench, pin.

Exit codes: 0 every property held; 1 some property failed; 2 usage error or an
implementation that could not be loaded; 3 an internal error of the suite.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

from rich.console import Console

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m conformance",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--subject",
            default="vmap_over_batch",
            help="the function under test (see 'subjects'); check also takes A,B or 'all'",
        )
        p.add_argument("--x64", action="store_true", help="enable jax_enable_x64 (adds float64 inputs)")
        p.add_argument(
            "--strict",
            action="store_true",
            help="also require external implementations to reject invalid input clearly",
        )
        p.add_argument(
            "--timeout",
            type=float,
            default=None,
            metavar="S",
            help="seconds one call may take before it counts as a hang (default 60)",
        )
        p.add_argument(
            "--compile-cache",
            default=None,
            metavar="DIR",
            help="JAX's persistent compilation cache, shared with the workers "
            "(default $CONFORMANCE_COMPILE_CACHE or ~/.cache/nnx-conformance/jax; 'off' disables it)",
        )
        p.add_argument(
            "--isolation",
            choices=("process", "none"),
            default="process",
            help="run implementations in a worker process (default) or in this one",
        )

    check = sub.add_parser("check", help="check implementations against every property")
    check.add_argument(
        "--impl",
        action="append",
        default=[],
        metavar="SPEC",
        help="name, module:attr, path/file.py:attr, or NAME=SPEC (repeatable); "
        "default: every registered implementation",
    )
    check.add_argument("--profile", default=None, help="dev (default), ci or fuzz")
    check.add_argument("--json", metavar="PATH", help="write a JSON report here")
    check.add_argument("--max-examples", type=int, default=None, metavar="N")
    check.add_argument(
        "--property", action="append", default=[], metavar="NAME", help="only these properties (repeatable)"
    )
    check.add_argument("--quiet", action="store_true", help="no progress output")
    check.add_argument(
        "--expect",
        metavar="FILE",
        help="your expected failures: IMPL PROPERTY [jax>=A,<B] [flax...] -- reason, one per line",
    )
    check.add_argument(
        "--corpus",
        default=None,
        metavar="DIR",
        help="regression corpus whose pinned cases run first (default: ./conformance-corpus if present)",
    )
    check.add_argument(
        "--jobs",
        type=int,
        default=None,
        metavar="N",
        help="implementations checked at once, each in its own worker (default: the CPU count, at most 4)",
    )
    common(check)

    replay = sub.add_parser("replay", help="re-run one property on one recorded case")
    replay.add_argument("--impl", required=True, metavar="SPEC")
    replay.add_argument("--property", required=True)
    replay.add_argument("--case", required=True, help="the case as JSON, or @path/to/case.json")
    common(replay)

    sub.add_parser("list", help="list implementations and properties")
    sub.add_parser("subjects", help="list the subjects: signature, properties, built-in implementations")
    from conformance import bench, corpus

    bench.add_parser(sub)
    corpus.add_parser(sub)
    return parser


def _message(e: Exception) -> str:
    """A KeyError's str() is its repr; every other error's str() is its message."""
    return str(e.args[0]) if isinstance(e, KeyError) and e.args else str(e)


def _prepare_output(path: str) -> None:
    """Make sure the report can be written before spending minutes on the run."""
    folder = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as e:
        raise ValueError(f"--json {path}: cannot create {folder}: {e.strerror}") from None
    if os.path.isdir(path) or not os.access(folder, os.W_OK):
        raise ValueError(f"--json {path}: not a writable file path")


def _usage_error(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return EXIT_USAGE


def _load_impls(specs: list[str], subject: str) -> list[tuple[Any, str]]:
    from impl.registry import discover, get, load, names

    if not specs:
        discover()
        return [(get(n, subject), n) for n in names(subject)]
    return [(load(s, subject), s) for s in specs]


def _subjects(spec: str) -> list[Any]:
    """``NAME``, ``A,B`` or ``all`` -> the subjects."""
    from conformance.subjects import SUBJECTS, get_subject

    if spec.strip() == "all":
        return list(SUBJECTS.values())
    return [get_subject(n.strip()) for n in spec.split(",") if n.strip()] or [get_subject(spec)]


def _json_path(path: str, subject: str, several: bool) -> str:
    """One report per subject: ``out.json`` becomes ``out.SUBJECT.json`` when there are several."""
    if not several:
        return path
    stem, ext = os.path.splitext(path)
    return f"{stem}.{subject}{ext or '.json'}"


def _expectations(path: str | None, loaded: set[str]) -> tuple[Any, ...]:
    """The user's expected-failure file, with names checked against what exists."""
    if not path:
        return ()
    from conformance.expectations import parse_file, unknown_names
    from conformance.properties import PROPERTIES
    from conformance.subjects import SUBJECTS
    from impl.registry import discover, names

    if not os.path.isfile(path):
        raise ValueError(f"--expect {path}: no such file")
    entries = parse_file(path)
    discover()
    impls = loaded | {n for s in SUBJECTS for n in names(s)}
    problems = unknown_names(entries, impls, set(PROPERTIES), set(SUBJECTS))
    if problems:
        raise ValueError("; ".join(problems))
    return tuple(entries)


def cmd_check(args: argparse.Namespace) -> int:
    from conformance import corpus
    from conformance.expectations import ExpectationFileError
    from conformance.profiles import get_profile
    from conformance.report import print_report
    from conformance.runner import (
        RunOptions,
        configure_jax,
        default_jobs,
        run,
        selected_properties,
        subject_properties,
    )
    from impl.registry import ImplementationLoadError

    try:
        subjects = _subjects(args.subject)
        profile = get_profile(args.profile).with_examples(args.max_examples)
        if profile.use_database and not profile.derandomize:
            from conformance.database import open_database_cached

            open_database_cached(profile.database_path)  # a bad location is a usage error, now
        if args.max_examples is not None and args.max_examples < 1:
            raise ValueError("--max-examples must be at least 1")
        if args.timeout is not None and args.timeout <= 0:
            raise ValueError("--timeout must be positive")
        if args.jobs is not None and args.jobs < 1:
            raise ValueError("--jobs must be at least 1")
        if args.json:
            _prepare_output(args.json)
        configure_jax(args.x64, args.compile_cache)
        loaded = {s.name: _load_impls(args.impl, s.name) for s in subjects}
        expectations = _expectations(args.expect, {i.name for pairs in loaded.values() for i, _ in pairs})
        corpus_dir = args.corpus or corpus.DEFAULT_DIR
        if args.corpus and not os.path.isdir(args.corpus):
            raise ValueError(f"--corpus {args.corpus}: no such folder")
        plans = []
        for subject in subjects:
            impls = loaded[subject.name]
            for prop in subject_properties(subject, args.property):
                corpus.load_pinned(corpus_dir, subject.name, prop, args.x64)  # a corrupt file: usage error
            options = RunOptions(
                subject,
                profile,
                args.strict,
                args.x64,
                args.timeout,
                args.isolation,
                tuple(args.property),
                args.compile_cache,
                args.jobs or default_jobs(),
                corpus_dir,
                expectations,
            )
            plans.append((subject, impls, options, selected_properties(options)))
    except (ValueError, KeyError, ImplementationLoadError, ExpectationFileError) as e:
        return _usage_error(_message(e))
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    total = sum(len(impls) * len(props) for _, impls, _, props in plans)
    done = [0]
    start = time.perf_counter()

    def progress(impl: str, cell: Any) -> None:
        done[0] += 1
        if not args.quiet:
            err.print(
                f"[{done[0]}/{total}] {impl} / {cell.property}: {cell.status} "
                f"({cell.examples} examples, {cell.seconds:.1f} s, total {time.perf_counter() - start:.0f} s)"
            )

    codes = []
    for subject, impls, options, _ in plans:
        if not args.quiet:
            err.print(
                f"checking {', '.join(i.name for i, _ in impls)} on {subject.name}, profile "
                f"{profile.name} ({profile.max_examples} examples per property)"
            )
        report = run(impls, options, progress)
        if args.json:
            report.write_json(_json_path(args.json, subject.name, len(plans) > 1))
        print_report(report)
        codes.append(report.exit_code())
    # The most serious outcome wins: a load error, then an internal error, then a failure.
    return next((c for c in (EXIT_USAGE, EXIT_INTERNAL, EXIT_FAILED) if c in codes), EXIT_OK)


def cmd_replay(args: argparse.Namespace) -> int:
    from conformance import codec
    from conformance.context import PropertyFailure, SharedCache
    from conformance.profiles import get_profile
    from conformance.properties import PROPERTIES
    from conformance.runner import (
        RunOptions,
        configure_jax,
        make_context,
        reference_panel,
        subject_properties,
        summarize,
    )
    from conformance.subjects import get_subject
    from impl.registry import ImplementationLoadError, load

    try:
        subject = get_subject(args.subject)
        subject_properties(subject, (args.property,))
        text = args.case
        if text.startswith("@"):
            with open(text[1:]) as f:
                text = f.read()
        try:
            case = codec.loads(text)
        except (ValueError, json.JSONDecodeError) as e:
            raise ValueError(f"--case is not a recorded case: {e}") from None
        impl = load(args.impl, subject.name)
    except (ValueError, KeyError, OSError, ImplementationLoadError) as e:
        return _usage_error(_message(e))
    options = RunOptions(
        subject,
        get_profile("dev"),
        args.strict,
        args.x64,
        args.timeout,
        args.isolation,
        compile_cache=args.compile_cache,
    )
    try:
        configure_jax(args.x64, args.compile_cache)
    except ValueError as e:
        return _usage_error(str(e))
    prop = PROPERTIES[args.property]
    ctx = make_context(impl, options, reference_panel(subject), SharedCache())
    print(f"{impl.name} / {prop.name}: {prop.claim}")
    for key, value in summarize(case).items():
        print(f"  {key} = {value}")
    try:
        ctx.executor.start()
        prop.check(ctx, case)
    except ImplementationLoadError as e:
        return _usage_error(str(e))
    except PropertyFailure as failure:
        print(f"FAIL: {failure.message}")
        return EXIT_FAILED
    finally:
        ctx.executor.close()
    print("PASS: the property holds on this case")
    return EXIT_OK


def cmd_subjects(args: argparse.Namespace) -> int:
    from conformance.subjects import SUBJECTS
    from impl.registry import get, names

    for subject in SUBJECTS.values():
        print(f"{subject.name}")
        print(f"  {subject.signature}")
        print(f"  {subject.summary}")
        print(f"  output axes: {', '.join(subject.output_axes)}")
        print(f"  properties: {', '.join(subject.properties)}")
        for n in names(subject.name, builtin_only=True):
            known = get(n, subject.name).known_failures
            note = f"  (known non-conformant: {', '.join(p for p, _ in known)})" if known else ""
            print(f"  built-in {n}{note}")
    return EXIT_OK


def cmd_list(args: argparse.Namespace) -> int:
    from conformance.properties import PROPERTIES
    from conformance.subjects import SUBJECTS
    from impl.registry import ImplementationLoadError, discover, get, names

    try:
        discover()
    except ImplementationLoadError as e:
        return _usage_error(str(e))
    for subject in SUBJECTS.values():
        print(f"subject {subject.name}: {subject.signature}")
        for n in names(subject.name):
            impl = get(n, subject.name)
            print(f"  implementation {n:<14} {'built-in' if impl.builtin else 'external'}  {impl.spec}")
        print(f"  properties: {', '.join(subject.properties)}")
    for p in PROPERTIES.values():
        print(f"property {p.name:<24} {p.claim}")
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from conformance import bench, corpus

    handler = {
        "check": cmd_check,
        "replay": cmd_replay,
        "list": cmd_list,
        "subjects": cmd_subjects,
        "bench": bench.cmd_bench,
        "pin": corpus.cmd_pin,
    }[args.command]
    return handler(args)
