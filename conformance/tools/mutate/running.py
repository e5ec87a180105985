"""Running the mutants: a copy of the original first, then every mutant, each in its own worker.

:func:`run` goes through the steps of a run, one function each:

1. :func:`_plan`: the options, the source file, the code it reaches, the mutants and the
   ones to check (``--max-mutants`` spreads them over the file);
2. :func:`_write_copies`: the original and each mutant written to a temporary folder with
   their ``register("name")`` calls renamed, so a copy never clashes with or replaces the
   real registration;
3. :func:`_check_baseline`: the original's copy, every property: which properties it
   passes (only those can kill a mutant), in which order to check them (:func:`_order`);
4. :func:`_check_mutants`: every mutant in its own worker (``--jobs`` at once), the engine's
   ``stop_at_first_failure`` on and shrinking off, each classified by :func:`_classify`;
5. :func:`_compare_survivors`: each survivor's outputs against the original's on the ``ci``
   calls (:mod:`conformance.tools.mutate.equivalence`);
6. :func:`_attach_diffs`: every survivor's unified diff.
"""

from __future__ import annotations

import ast
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

from conformance.tools.mutate.equivalence import Call, Remembered, ci_examples, outputs_differ
from conformance.tools.mutate.mutants import Mutant, make_mutants, renamed_registrations, spread
from conformance.tools.mutate.report import (
    ERROR,
    KILLED,
    LOAD_ERROR,
    SURVIVED,
    TIMED_OUT,
    MutantResult,
    MutationReport,
)
from conformance.tools.mutate.source import MutateUsageError, Source, reachable, resolve_source, with_package
from impl.registry import DEFAULT_SUBJECT

#: Properties checked first, in this order, when they apply: cheap, and they kill most mutants.
FIRST = ("output_contract", "agrees_with_oracle")


@dataclass
class _Plan:
    """What a run mutates and how it checks the mutants: settled before any worker starts."""

    spec: str
    #: the subject (a :class:`conformance.subjects.Subject`)
    subject: Any
    #: the profile's name, and the profile itself
    profile: str
    profile_obj: Any
    source: Source
    #: the functions and classes mutated (the target's reachable code), in file order
    functions: list[str]
    #: how many mutants the operators made, and those that are checked
    found: int
    chosen: list[Mutant]
    #: the properties asked for (empty: all of the subject's)
    properties: tuple[str, ...]
    strict: bool
    jobs: int
    timeout: float | None
    say: Callable[[str], None]

    def engine_kwargs(self) -> dict[str, Any]:
        """The engine options the original's check and the mutants' checks share."""
        from conformance.cases import corpus

        return {
            "subjects": (self.subject,),
            "strict": self.strict,
            "jobs": self.jobs,
            "timeout": self.timeout,
            "corpus": corpus.DEFAULT_DIR if os.path.isdir(corpus.DEFAULT_DIR) else None,
            "properties": self.properties,
        }


@dataclass(frozen=True)
class _Copies:
    """The files the workers load, as implementation specs: the original's copy and each mutant's."""

    original: str
    mutants: dict[int, str]


@dataclass(frozen=True)
class _Baseline:
    """What the check of the original's copy found."""

    seconds: float
    #: the properties the original passes, in the order the mutants are checked with them
    order: list[str]
    #: the properties it does not pass, and why (they cannot kill a mutant)
    excluded: dict[str, str]


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
        if cell.status == Status.ERROR or cell.declaration_failed:
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
    subject: str = DEFAULT_SUBJECT,
    profile: str = "ci",
    max_mutants: int | None = None,
    operators: Iterable[str] | None = None,
    properties: Iterable[str] = (),
    jobs: int = 2,
    timeout: float | None = None,
    strict: bool | None = None,
    progress: Callable[[str], None] | None = None,
) -> MutationReport:
    """Mutate ``spec``'s source and check every mutant; see :mod:`conformance.tools.mutate`.

    ``strict`` (default: on for a built-in, which ``check`` holds to ``invalid_input_rejected``,
    off for another implementation, as ``check`` does) also checks how invalid input is rejected.
    """
    say = progress or (lambda _m: None)
    start = time.perf_counter()
    plan = _plan(spec, subject, profile, max_mutants, operators, properties, jobs, timeout, strict, say)
    folder = tempfile.mkdtemp(prefix="conformance-mutants-")
    _put_on_path(plan.source)
    try:
        copies = _write_copies(plan, folder)
        baseline = _check_baseline(plan, copies)
        results = _check_mutants(plan, copies, baseline.order)
        calls_compared = _compare_survivors(plan, copies, baseline.order, results)
        _attach_diffs(plan, results)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    report = MutationReport(
        spec=spec,
        subject=plan.subject.name,
        profile=profile,
        source=plan.source.path,
        functions=plan.functions,
        properties=baseline.order,
        baseline_seconds=baseline.seconds,
        baseline_excluded=baseline.excluded,
        calls_compared=calls_compared,
        mutants_found=plan.found,
        results=[results[m.id] for m in plan.chosen],
        jobs=jobs,
        strict=plan.strict,
    )
    report.elapsed_seconds = round(time.perf_counter() - start, 1)
    return report


def _plan(
    spec: str,
    subject: str,
    profile: str,
    max_mutants: int | None,
    operators: Iterable[str] | None,
    properties: Iterable[str],
    jobs: int,
    timeout: float | None,
    strict: bool | None,
    say: Callable[[str], None],
) -> _Plan:
    """Validate the options, find the source and make the mutants (a :class:`MutateUsageError` when
    any of it fails); says how many mutants there are and how many are checked."""
    from conformance.run.profiles import get_profile
    from conformance.run.settings import EngineOptions, UsageError, is_builtin_spec

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
    return _Plan(
        spec=spec,
        subject=subj,
        profile=profile,
        profile_obj=get_profile(profile),
        source=source,
        functions=functions,
        found=len(all_mutants),
        chosen=chosen,
        properties=options.properties,
        strict=strict,
        jobs=jobs,
        timeout=timeout,
        say=say,
    )


def _put_on_path(source: Source) -> None:
    """The copies import their neighbours as the original does (the workers inherit this
    path), and their package's modules by relative imports (see :func:`with_package`)."""
    for needed in (os.path.dirname(source.path), source.root):
        if needed and needed not in sys.path:
            sys.path.append(needed)


def _write_copies(plan: _Plan, folder: str) -> _Copies:
    """The original and every chosen mutant, written to ``folder`` with their registrations renamed."""
    source = plan.source
    stem = os.path.splitext(os.path.basename(source.path))[0]

    def write(name: str, text: str) -> str:
        path = os.path.join(folder, f"{stem}_{name}.py")
        with open(path, "w", encoding="utf-8") as f:
            f.write(renamed_registrations(with_package(text, source.package)))
        return f"{name}={path}:{source.attr}"

    original = write("original", source.text)
    return _Copies(original, {m.id: write(f"m{m.id:03d}", m.text) for m in plan.chosen})


def _check_baseline(plan: _Plan, copies: _Copies) -> _Baseline:
    """Check the original's copy with every property; a :class:`MutateUsageError` when it does
    not load or passes none."""
    from conformance.base.verdict import Status
    from conformance.run.engine import Engine
    from conformance.run.settings import EngineOptions, targets

    spec, subj = plan.spec, plan.subject
    plan.say("checking the original (a copy of it, every property) ...")
    options = EngineOptions(profile=plan.profile_obj, specs=(copies.original,), **plan.engine_kwargs())
    with Engine(options) as engine:
        ((target, origin),) = targets(subj, [copies.original])
        baseline = engine.check_target(subj, target, origin, None)
    if baseline.load_error:
        raise MutateUsageError(f"{spec!r}: a copy of {plan.source.path} does not load: {baseline.load_error}")
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
    plan.say(
        f"original: {len(usable)} properties pass in {baseline.seconds:.0f} s"
        + (f"; not used, as the original does not pass them: {', '.join(excluded)}" if excluded else "")
    )
    return _Baseline(baseline.seconds, order, excluded)


def _check_mutants(plan: _Plan, copies: _Copies, order: list[str]) -> dict[int, MutantResult]:
    """Every chosen mutant, each in its own worker, the properties in ``order``; the first
    failure ends each (a mutant is killed once) and nothing is shrunk."""
    from conformance.run.engine import Engine
    from conformance.run.settings import EngineOptions, targets

    subj, chosen = plan.subject, plan.chosen
    fast = replace(plan.profile_obj, shrink_seconds=0.0)
    results: dict[int, MutantResult] = {}
    lock = threading.Lock()
    opts = EngineOptions(
        profile=fast,
        specs=tuple(copies.mutants.values()),
        stop_at_first_failure=True,
        **{**plan.engine_kwargs(), "properties": tuple(order)},
    )
    with Engine(opts) as engine:
        pairs = dict(zip(copies.mutants, targets(subj, list(copies.mutants.values())), strict=True))

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
                plan.say(
                    f"[{len(results)}/{len(chosen)}] mutant {mutant.id} (line {mutant.line}, "
                    f"{mutant.operator}: {mutant.description}): {status}"
                    f"{f' by {by}' if by else ''} ({impl.seconds:.1f} s)"
                )

        with ThreadPoolExecutor(max_workers=max(1, plan.jobs), thread_name_prefix="mutate") as pool:
            list(pool.map(one, chosen))
    return results


def _compare_survivors(
    plan: _Plan, copies: _Copies, order: list[str], results: dict[int, MutantResult]
) -> int:
    """Each survivor against the original, bit for bit, on the calls the ``ci`` profile's
    properties make; marks it likely equivalent or records the first difference. Returns the
    number of calls compared (0 when nothing survived)."""
    from conformance.boundary.executors import Target, WorkerExecutor
    from conformance.properties import PROPERTIES
    from conformance.run.profiles import get_profile
    from impl.registry import ImplementationLoadError

    subj, timeout = plan.subject, plan.timeout
    survivors = [m for m in plan.chosen if results[m.id].status == SURVIVED]
    if not survivors:
        return 0
    examples: list[Call] = ci_examples(subj, get_profile("ci"), [PROPERTIES[p] for p in order])
    plan.say(f"comparing {len(survivors)} survivors with the original on {len(examples)} ci calls ...")
    base_exec = WorkerExecutor(Target("original", copies.original, subj.name), timeout=timeout or 60.0)
    base_exec.start()
    original = Remembered(base_exec)

    def compare(mutant: Mutant) -> None:
        ex = WorkerExecutor(
            Target(f"m{mutant.id:03d}", copies.mutants[mutant.id], subj.name), timeout=timeout or 60.0
        )
        try:
            ex.start()
            why = outputs_differ(subj, original, ex, examples)
        except ImplementationLoadError as e:  # it loaded for its check; say so, do not crash
            why = f"could not be loaded again to compare: {e}"
        finally:
            ex.close()
        results[mutant.id].likely_equivalent = why is None
        results[mutant.id].difference = why

    try:
        with ThreadPoolExecutor(max_workers=max(1, plan.jobs), thread_name_prefix="mutate-eq") as pool:
            list(pool.map(compare, survivors))
    finally:
        base_exec.close()
    return len(examples)


def _attach_diffs(plan: _Plan, results: dict[int, MutantResult]) -> None:
    """Every survivor's unified diff against the original (the path shown relative when it can be)."""
    for m in plan.chosen:
        if results[m.id].status == SURVIVED:
            results[m.id].diff = m.diff(plan.source.text, _shown(plan.source.path))


def _shown(path: str) -> str:
    """``path`` relative to the current folder when it is inside it, else as it is."""
    relative = os.path.relpath(path)
    return path if relative.startswith("..") else relative
