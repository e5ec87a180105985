"""``python -m conformance mutate``: how much the suite's verdict is worth on an implementation's own code.

Mutation testing, with the suite as the test: small changes (*mutants*) are made to the
implementation's own source file, and each mutant is checked like any external
implementation, in the suite's own worker processes, by the :mod:`conformance.run.engine`.
A mutant that fails a property is *killed*; one that passes every property *survived*.
The score is the share of mutants killed among those that are not equivalent to the
original.

Steps of a run (:func:`run`):

1. The source: the file that defines the implementation (a registered name, a
   ``module:attr`` or a ``path/file.py:attr``; found without importing user code), and in
   it the target function and the module-level functions and classes it reaches by name
   (:func:`reachable`). Only those are mutated, never their docstrings, annotations,
   ``raise`` statements or registration decorators.
2. The mutants (:func:`make_mutants`, in :mod:`conformance.tools.mutants`): the standard
   library's :mod:`ast` finds the places, each mutant is one edit spliced into the original
   text (so the rest of the file, its
   comments included, is unchanged and a mutant's diff is one hunk), and mutants whose
   syntax tree equals the original's or an earlier mutant's are dropped. The operators are
   listed in :data:`OPERATORS`.
3. A copy of the original file runs first (the *baseline*): every property, so the run
   knows which properties the original passes (only those can kill a mutant) and what each
   costs. Each file is written to a temporary folder with its ``register("name")`` calls
   renamed (``register("_mutant_name")``), so a copy never clashes with or replaces the
   real registration, and keeps its known failures.
4. Every mutant is checked in its own worker (``--jobs`` at once), the cheap properties
   first, with the engine's ``stop_at_first_failure``: a mutant is killed once, so nothing
   after its first failed property runs; shrinking is off (the verdict, not a minimal
   counterexample, is what counts here).
5. Survivors are compared with the original on the calls the ``ci`` profile's properties make
   (the same derandomized draws: plain calls, and the gradient and transform properties'
   cases under VJP, JVP and ``jit``; :func:`ci_examples`): called in workers, outputs
   compared bit for bit (the sign of a zero aside). A survivor whose every output is identical is
   *likely equivalent* and leaves the score's denominator; any other survivor is a blind
   spot of the suite, shown as a unified diff.

Public API::

    resolve_source(spec, subject) -> Source           # UsageError when there is no source file
    make_mutants(text, attr, operators=None) -> list[Mutant]
    run(spec, subject=..., profile=..., ...) -> MutationReport
    add_parser(subparsers) / cmd_mutate(args) -> int  # `python -m conformance mutate`
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from conformance.tools.mutants import (
    OPERATORS,
    Mutant,
    MutateUsageError,
    make_mutants,
    reachable,
    renamed_registrations,
    resolve_source,
    spread,
    with_package,
)

SCHEMA = "nnx-conformance/mutation/1"
EXIT_OK, EXIT_USAGE = 0, 2
#: Statuses of a mutant.
KILLED, SURVIVED, TIMED_OUT, LOAD_ERROR, ERROR = "killed", "survived", "timed out", "load error", "error"
#: Properties checked first, in this order, when they apply: cheap, and they kill most mutants.
FIRST = ("output_contract", "agrees_with_oracle")

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


# --------------------------------------------------------------------------- equivalence


#: One call to compare: the arguments, and the transform it runs under (None: a plain call).
Call = tuple[dict[str, Any], dict[str, Any] | None]


def ci_examples(subject: Any, profile: Any, properties: Iterable[Any]) -> list[Call]:
    """The calls the properties make in ``profile``, as the comparison of survivors makes them:
    the arguments every forward property draws (the same derandomized seeds as
    :func:`conformance.run.runner._search`: the whole domain, then each edge), plain; the
    gradient properties' cases under their VJP and JVP (a survivor may change only its
    gradient); the forward transform properties' cases under ``jax.jit``. Deduplicated."""
    from hypothesis import given, seed, settings

    from conformance.run.runner import (
        SUPPRESSED_HEALTH_CHECKS,
        case_strategy,
        examples_seed,
        search_examples,
        searches,
    )
    from conformance.subjects import StrategyConfig, args_key

    config = StrategyConfig(pool=profile.pool)
    found: dict[str, Call] = {}
    done: set[str] = set()

    def add(args: dict[str, Any], transform: dict[str, Any] | None) -> None:
        key = args_key(args) + (json.dumps(transform, sort_keys=True) if transform else "")
        found.setdefault(key, (args, transform))

    def collect(prop: Any, case: dict[str, Any]) -> None:
        kind = prop.cases.__name__
        if kind == "gradient_calls":
            from conformance.cases.codec import array_to_json as encode_direction
            from conformance.properties.transforms import direction_values

            args, x = case["args"], case["args"][subject.batch_arg]
            flat = (int(np.prod(subject.output_shape(args))),)
            cotangent = direction_values(case, flat, x.dtype)
            tangent = direction_values(case, x.shape, x.dtype)
            add(args, {"kind": "vjp", "arg": subject.batch_arg, "cotangent": encode_direction(cotangent)})
            add(args, {"kind": "jvp", "arg": subject.batch_arg, "tangent": encode_direction(tangent)})
        elif kind == "transform_calls":
            add(case["args"], {"kind": "jit", "arg": subject.batch_arg})
        elif prop.group == "forward":
            for key in ("args", "other_args"):
                if isinstance(case.get(key), dict):
                    add(case[key], None)

    for prop in properties:
        if prop.external == "strict" or prop.cases.__name__ in done:
            continue
        done.add(prop.cases.__name__)
        for edge in searches(prop, subject, config, profile):
            try:
                strategy = case_strategy(prop, subject, replace(config, edge=edge))
            except Exception:  # an edge this kind of case cannot reach
                continue
            n = search_examples(prop, profile, edge)

            test = given(case=strategy)(_collector(collect, prop))
            test = settings(
                max_examples=n,
                derandomize=profile.derandomize,
                database=None,
                deadline=None,
                suppress_health_check=list(SUPPRESSED_HEALTH_CHECKS),
            )(test)
            if profile.derandomize:
                test = seed(examples_seed(subject.name, prop, edge))(test)
            try:
                test()
            except Exception:  # filtered out entirely, an unreachable edge: nothing to add
                continue
    return list(found.values())


def _collector(collect: Callable[[Any, dict[str, Any]], None], prop: Any) -> Callable[[dict[str, Any]], None]:
    def body(case: dict[str, Any]) -> None:
        collect(prop, case)

    return body


def _fingerprint(result: Any) -> tuple[Any, ...]:
    """A call's output as bytes (its dtype and shape too), or its error's type. The sign of a zero
    is not kept: ``x @ w + 0`` and ``x @ w`` differ only there, and no tolerance can see it."""
    if result.status == "ok" and result.output is not None:
        out = np.asarray(result.output)
        if out.dtype.kind in "fc" or out.dtype.name == "bfloat16":
            out = np.where(out == 0, np.zeros_like(out), out)
        return ("ok", out.dtype.str, out.shape, out.tobytes())
    return (result.status, result.error_type)


def outputs_differ(subject: Any, original: Any, mutant: Any, calls: list[Call]) -> str | None:
    """The first call on which ``mutant``'s output differs from ``original``'s (bitwise), or None."""
    from conformance.run.runner import summarize

    for args, transform in calls:
        ordered = subject.ordered(args)
        a, b = original.call(ordered, transform), mutant.call(ordered, transform)
        if _fingerprint(a) != _fingerprint(b):
            where = ", ".join(f"{k}={v}" for k, v in summarize({"args": args}).items())
            under = f" under {transform['kind']}" if transform else ""
            return f"differs{under} on {where}"
    return None


# --------------------------------------------------------------------------- the run


@dataclass
class MutantResult:
    id: int
    operator: str
    description: str
    line: int
    status: str = SURVIVED
    killed_by: str | None = None
    message: str = ""
    seconds: float = 0.0
    likely_equivalent: bool | None = None
    difference: str | None = None
    diff: str = ""


@dataclass
class MutationReport:
    spec: str
    subject: str
    profile: str
    source: str
    functions: list[str]
    properties: list[str]
    baseline_seconds: float
    baseline_excluded: dict[str, str]
    calls_compared: int
    mutants_found: int
    results: list[MutantResult]
    elapsed_seconds: float = 0.0
    jobs: int = 1
    strict: bool = False

    def count(self, status: str) -> int:
        return sum(r.status == status for r in self.results)

    @property
    def equivalent(self) -> int:
        return sum(bool(r.likely_equivalent) for r in self.results)

    @property
    def detected(self) -> int:
        return sum(r.status in (KILLED, TIMED_OUT, LOAD_ERROR) for r in self.results)

    @property
    def score(self) -> float | None:
        denominator = len(self.results) - self.equivalent
        return self.detected / denominator if denominator else None

    def to_json(self) -> dict[str, Any]:
        from conformance.base.environment import environment

        return {
            "schema": SCHEMA,
            "spec": self.spec,
            "subject": self.subject,
            "profile": self.profile,
            "source": self.source,
            "functions": self.functions,
            "properties": self.properties,
            "environment": environment(False),
            "jobs": self.jobs,
            "strict": self.strict,
            "elapsed_seconds": self.elapsed_seconds,
            "baseline_seconds": self.baseline_seconds,
            "baseline_excluded": self.baseline_excluded,
            "calls_compared": self.calls_compared,
            "mutants_found": self.mutants_found,
            "counts": {
                "mutants": len(self.results),
                "killed": self.count(KILLED),
                "timed_out": self.count(TIMED_OUT),
                "load_error": self.count(LOAD_ERROR),
                "error": self.count(ERROR),
                "survived": self.count(SURVIVED),
                "likely_equivalent": self.equivalent,
            },
            "score": self.score,
            "mutants": [asdict(r) for r in self.results],
        }


def _classify(impl: Any) -> tuple[str, str | None, str]:
    """(status, first failing property, message) of one mutant's engine result."""
    from conformance.base.verdict import Status

    if impl.load_error:
        return LOAD_ERROR, None, impl.load_error
    for cell in impl.properties:
        if cell.status in (Status.FAIL, Status.XPASS):
            details = (cell.counterexample or {}).get("details") or {}
            hung = details.get("call") == "timeout" or "did not return within" in cell.message
            return (TIMED_OUT if hung else KILLED), cell.property, cell.message.splitlines()[0][:300]
        if cell.status == Status.ERROR:
            return ERROR, cell.property, cell.message.splitlines()[0][:300]
    return SURVIVED, None, ""


def _order(properties: list[str], cells: dict[str, Any]) -> list[str]:
    """Cheap forward properties first (``output_contract``, ``agrees_with_oracle``, then by the
    baseline's seconds), transform properties last (by seconds)."""
    from conformance.properties import PROPERTIES

    def key(p: str) -> tuple[int, int, float]:
        first = FIRST.index(p) if p in FIRST else len(FIRST)
        return (PROPERTIES[p].group != "forward", first, cells[p].seconds if p in cells else 0.0)

    return sorted(properties, key=key)


def run(
    spec: str,
    *,
    subject: str = "vmap_over_batch",
    profile: str = "ci",
    max_mutants: int | None = None,
    operators: Iterable[str] | None = None,
    properties: Iterable[str] = (),
    jobs: int = 2,
    timeout: float | None = None,
    strict: bool | None = None,
    progress: Callable[[str], None] | None = None,
) -> MutationReport:
    """Mutate ``spec``'s source and check every mutant; see the module docstring.

    ``strict`` (default: on for a built-in, which ``check`` holds to ``invalid_input_rejected``,
    off for another implementation, as ``check`` does) also checks how invalid input is rejected.
    """
    from conformance.base.verdict import Status
    from conformance.boundary.executors import Target, WorkerExecutor
    from conformance.cases import corpus
    from conformance.properties import PROPERTIES
    from conformance.run.engine import Engine, EngineOptions, UsageError, is_builtin_spec, targets
    from conformance.run.profiles import get_profile
    from impl.registry import ImplementationLoadError

    say = progress or (lambda _m: None)
    start = time.perf_counter()
    try:
        options = EngineOptions.build(
            subject=subject, profile=profile, impls=[spec], properties=properties, jobs=jobs, timeout=timeout
        )
    except UsageError as e:
        raise MutateUsageError(str(e)) from None
    if options.several:
        raise MutateUsageError("mutate takes one --subject")
    subj = options.subjects[0]
    source = resolve_source(spec, subj.name)
    if strict is None:
        strict = is_builtin_spec(spec, subj.name)
    tree = ast.parse(source.text)
    functions = [s.name for s in reachable(tree, source.attr)]
    all_mutants = make_mutants(source.text, source.attr, operators)
    if not all_mutants:
        raise MutateUsageError(f"{spec!r}: no mutant can be made of {', '.join(functions) or source.attr}")
    chosen = spread(all_mutants, max_mutants)
    say(
        f"{spec}: {len(all_mutants)} mutants of {', '.join(functions)} in {source.path}"
        + (f"; checking {len(chosen)} of them" if len(chosen) < len(all_mutants) else "")
    )

    folder = tempfile.mkdtemp(prefix="conformance-mutants-")
    stem = os.path.splitext(os.path.basename(source.path))[0]
    # The copies import their neighbours as the original does (the workers inherit this
    # path), and their package's modules by relative imports (see with_package).
    for needed in (os.path.dirname(source.path), source.root):
        if needed and needed not in sys.path:
            sys.path.append(needed)
    try:

        def write(name: str, text: str) -> str:
            path = os.path.join(folder, f"{stem}_{name}.py")
            with open(path, "w", encoding="utf-8") as f:
                f.write(renamed_registrations(with_package(text, source.package)))
            return f"{name}={path}:{source.attr}"

        base_spec = write("original", source.text)
        mutant_specs = {m.id: write(f"m{m.id:03d}", m.text) for m in chosen}
        profile_obj = get_profile(profile)
        common = {
            "subjects": (subj,),
            "strict": strict,
            "jobs": jobs,
            "timeout": timeout,
            "corpus": corpus.DEFAULT_DIR if os.path.isdir(corpus.DEFAULT_DIR) else None,
            "properties": options.properties,
        }

        # 1. the baseline: the original's copy, every property
        say("checking the original (a copy of it, every property) ...")
        with Engine(EngineOptions(profile=profile_obj, specs=(base_spec,), **common)) as engine:
            ((target, origin),) = targets(subj, [base_spec])
            baseline = engine.check_target(subj, target, origin, None)
        if baseline.load_error:
            raise MutateUsageError(f"{spec!r}: a copy of {source.path} does not load: {baseline.load_error}")
        cells = {c.property: c for c in baseline.properties}
        usable = [p for p, c in cells.items() if c.status == Status.PASS]
        excluded = {
            p: f"{c.status}: {c.message.splitlines()[0][:200] if c.message else ''}".rstrip(": ")
            for p, c in cells.items()
            if c.status != Status.PASS
        }
        if not usable:
            raise MutateUsageError(f"{spec!r}: the original passes no property, so no mutant can be killed")
        order = _order(usable, cells)
        say(
            f"original: {len(usable)} properties pass in {baseline.seconds:.0f} s"
            + (f"; not used, as the original does not pass them: {', '.join(excluded)}" if excluded else "")
        )

        # 2. the mutants, each in its own worker, the first failure ends each
        fast = replace(profile_obj, shrink_seconds=0.0)
        results: dict[int, MutantResult] = {}
        lock = threading.Lock()
        opts = EngineOptions(
            profile=fast,
            specs=tuple(mutant_specs.values()),
            stop_at_first_failure=True,
            **{**common, "properties": tuple(order)},
        )
        with Engine(opts) as engine:
            pairs = dict(zip(mutant_specs, targets(subj, list(mutant_specs.values())), strict=True))

            def one(mutant: Mutant) -> None:
                target, origin = pairs[mutant.id]
                impl = engine.check_target(subj, target, origin, None)
                status, by, message = _classify(impl)
                r = MutantResult(
                    mutant.id,
                    mutant.operator,
                    mutant.description,
                    mutant.line,
                    status,
                    by,
                    message,
                    impl.seconds,
                )
                with lock:
                    results[mutant.id] = r
                    say(
                        f"[{len(results)}/{len(chosen)}] mutant {mutant.id} (line {mutant.line}, "
                        f"{mutant.operator}: {mutant.description}): {status}"
                        f"{f' by {by}' if by else ''} ({impl.seconds:.1f} s)"
                    )

            with ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="mutate") as pool:
                list(pool.map(one, chosen))

        # 3. survivors against the original, bit for bit, on the ci examples
        survivors = [m for m in chosen if results[m.id].status == SURVIVED]
        examples: list[Call] = []
        if survivors:
            examples = ci_examples(subj, get_profile("ci"), [PROPERTIES[p] for p in order])
            say(f"comparing {len(survivors)} survivors with the original on {len(examples)} ci calls ...")
            base_exec = WorkerExecutor(Target("original", base_spec, subj.name), timeout=timeout or 60.0)
            base_exec.start()
            base_lock = threading.Lock()
            base_results: dict[str, Any] = {}

            class Remembered:
                """The original's worker, each call made once for every survivor compared."""

                def call(self, args: Any, transform: dict[str, Any] | None = None) -> Any:
                    from conformance.subjects import args_key

                    key = args_key(args) + json.dumps(transform, sort_keys=True)
                    with base_lock:
                        if key not in base_results:
                            base_results[key] = base_exec.call(args, transform)
                        return base_results[key]

            def compare(mutant: Mutant) -> None:
                ex = WorkerExecutor(
                    Target(f"m{mutant.id:03d}", mutant_specs[mutant.id], subj.name), timeout=timeout or 60.0
                )
                try:
                    ex.start()
                    why = outputs_differ(subj, Remembered(), ex, examples)
                except ImplementationLoadError as e:  # it loaded for its check; say so, do not crash
                    why = f"could not be loaded again to compare: {e}"
                finally:
                    ex.close()
                results[mutant.id].likely_equivalent = why is None
                results[mutant.id].difference = why

            try:
                with ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="mutate-eq") as pool:
                    list(pool.map(compare, survivors))
            finally:
                base_exec.close()
        for m in chosen:
            if results[m.id].status == SURVIVED:
                results[m.id].diff = m.diff(source.text, _shown(source.path))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    report = MutationReport(
        spec=spec,
        subject=subj.name,
        profile=profile,
        source=source.path,
        functions=functions,
        properties=order,
        baseline_seconds=baseline.seconds,
        baseline_excluded=excluded,
        calls_compared=len(examples),
        mutants_found=len(all_mutants),
        results=[results[m.id] for m in chosen],
        jobs=jobs,
        strict=strict,
    )
    report.elapsed_seconds = round(time.perf_counter() - start, 1)
    return report


def _shown(path: str) -> str:
    """``path`` relative to the current folder when it is inside it, else as it is."""
    relative = os.path.relpath(path)
    return path if relative.startswith("..") else relative


# --------------------------------------------------------------------------- the command


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
    p.add_argument("--subject", default="vmap_over_batch", help="the function under test (see 'subjects')")
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
    from conformance.run.engine import UsageError, default_jobs, prepare_output

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


def print_report(report: MutationReport) -> None:
    n = len(report.results)
    print(
        f"mutate {report.spec} on {report.subject}, profile {report.profile}: "
        f"{n} mutants of {', '.join(report.functions)} ({report.source})"
    )
    print(f"properties, in order: {', '.join(report.properties)}")
    for status in (KILLED, TIMED_OUT, LOAD_ERROR, ERROR, SURVIVED):
        print(f"  {status:<11} {report.count(status)}")
    print(
        f"  likely equivalent (outputs bitwise identical on all {report.calls_compared} ci calls): "
        f"{report.equivalent}"
    )
    killers: dict[str, int] = {}
    for r in report.results:
        if r.killed_by:
            killers[r.killed_by] = killers.get(r.killed_by, 0) + 1
    if killers:
        print(
            "first property to fail: "
            + ", ".join(f"{p} {k}" for p, k in sorted(killers.items(), key=lambda kv: -kv[1]))
        )
    score = report.score
    denominator = n - report.equivalent
    print(
        f"score: {report.detected}/{denominator} = {score:.1%} of the non-equivalent mutants killed"
        if score is not None
        else "score: none (every mutant is likely equivalent)"
    )
    print(
        f"time: {report.elapsed_seconds:.0f} s ({report.jobs} jobs; "
        f"the original's check {report.baseline_seconds:.0f} s)"
    )
    for r in report.results:
        if r.status != SURVIVED:
            continue
        kind = "likely equivalent" if r.likely_equivalent else f"NOT equivalent: {r.difference}"
        print(f"\nsurvivor: mutant {r.id}, line {r.line}, {r.operator}: {r.description} ({kind})")
        print(r.diff.rstrip("\n"))
