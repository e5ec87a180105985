"""The engine: one object that puts a run together, behind every face.

:class:`EngineOptions` is built, and validated, in one place (:meth:`EngineOptions.build`),
so the CLI and the pytest plugin reject the same bad options with the same words.
:class:`Engine` owns what a run shares: the reference panels, the oracle cache, one
context (and worker) per implementation (built-ins pass their workers on to the next
built-in), and the signal handling that ends every worker when the run is stopped.
It offers :meth:`Engine.check` (every cell, as reports), :meth:`Engine.cell` (one cell,
for pytest) and :meth:`Engine.replay` (one property on one recorded case). The CLI, the
pytest plugin and the tooling are thin faces on it; nothing here imports them.

Nothing of an implementation under test runs in this process: its spec is loaded, its
signature checked and its registration read in its worker (:mod:`conformance.boundary.worker`),
and what comes back is plain data. Only the package's built-ins run here (the
reference panel, and ``isolation="none"`` from the Python API).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from conformance.base import causes, verdict
from conformance.base.environment import environment
from conformance.base.failures import PropertyFailure, PropertySkip
from conformance.base.verdict import Status
from conformance.boundary.executors import (
    LOAD_TIMEOUT,
    STOPPING,
    InProcessExecutor,
    Target,
    WorkerExecutor,
    WorkerPool,
    kill_all_workers,
)
from conformance.cases import corpus
from conformance.cases.expectations import (
    Expectation,
    ExpectationFileError,
    installed_versions,
    match,
    parse_file,
)
from conformance.numerics.tolerance import LAMBDA, TOLERANCES
from conformance.properties import GROUPS, PROPERTIES, Case, Property
from conformance.properties.context import Context, SharedCache
from conformance.run.compile_cache import enable as enable_compile_cache
from conformance.run.profiles import Profile, get_profile
from conformance.run.runner import CellResult, apply_expectation, replay_command, run_cell, summarize
from conformance.run.scheduling import Spread
from conformance.subjects import SUBJECTS, Subject, get_subject
from impl.registry import (
    ImplementationLoadError,
    check_spec,
    entry_point_specs,
    get,
    load,
    names,
    spec_name,
)

#: Statuses after which ``stop_at_first_failure`` checks nothing more of an implementation.
FAILING = frozenset({Status.FAIL, Status.ERROR, Status.XPASS})


class UsageError(ValueError):
    """An option or an input file is wrong: one line, exit 2, the same words on every face."""


# --------------------------------------------------------------------------- options


@dataclass(frozen=True, kw_only=True)
class EngineOptions:
    """Everything a run needs to know, validated by :meth:`build`."""

    subjects: tuple[Subject, ...]
    profile: Profile
    #: implementation specs as the user typed them (empty: every registered implementation)
    specs: tuple[str, ...] = ()
    #: only these properties (empty: all that apply to each subject)
    properties: tuple[str, ...] = ()
    #: only the properties of these groups (empty: every group), e.g. ("forward",) for an
    #: implementation accepted as forward-only
    groups: tuple[str, ...] = ()
    strict: bool = False
    x64: bool = False
    #: seconds one call may take (default: the profile's)
    timeout: float | None = None
    #: seconds an implementation's module may take to load in its worker
    load_timeout: float = LOAD_TIMEOUT
    #: "process" (a worker per implementation), "none" (this process: built-ins only), or, from the
    #: Python API alone, "trusted" (this process, any code: the suite's own tests vouch for their zoo)
    isolation: str = "process"
    compile_cache: str | None = None
    jobs: int = 1
    corpus: str | None = None
    expectations: tuple[Expectation, ...] = ()
    #: the error model the numeric properties enforce (conformance.numerics.tolerance.TOLERANCES)
    tolerance: str = "rigorous"
    #: stop checking an implementation at its first failed property (the mutate tool: a mutant is
    #: killed once; the properties after it are not run and not reported)
    stop_at_first_failure: bool = False

    @classmethod
    def build(
        cls,
        *,
        subject: str = "vmap_over_batch",
        profile: str | None = None,
        max_examples: int | None = None,
        impls: Iterable[str] = (),
        properties: Iterable[str] = (),
        groups: Iterable[str] = (),
        strict: bool = False,
        x64: bool = False,
        timeout: float | None = None,
        load_timeout: float | None = None,
        isolation: str = "process",
        compile_cache: str | None = None,
        jobs: int | None = None,
        corpus_dir: str | None = None,
        expect: str | None = None,
        json_path: str | None = None,
        summary_md: str | None = None,
        tolerance: str | None = None,
        spell: Callable[[str], str] = str,
    ) -> EngineOptions:
        """Options from what a user typed; :class:`UsageError` naming the first problem.

        ``spell`` maps the CLI's option names to the face's own (the pytest plugin's
        ``--conformance-...``), so both faces say the same words about the same mistake.
        """
        try:
            subjects = tuple(parse_subjects(subject))
            if max_examples is not None and max_examples < 1:
                raise UsageError(f"{spell('--max-examples')} must be at least 1")
            chosen = get_profile(profile).with_examples(max_examples)
            if chosen.use_database and not chosen.derandomize:
                from conformance.run.database import open_database_cached

                open_database_cached(chosen.database_path)  # a bad location is a usage error, now
            for option, value in (("--timeout", timeout), ("--load-timeout", load_timeout)):
                if value is not None and not value > 0:
                    raise UsageError(f"{spell(option)} must be positive")
            if jobs is not None and jobs < 1:
                raise UsageError(f"{spell('--jobs')} must be at least 1")
            if isolation not in ("process", "none"):
                raise UsageError(f"{spell('--isolation')} must be process or none, got {isolation!r}")
            tolerance = tolerance or TOLERANCES[0]
            if tolerance not in TOLERANCES:
                raise UsageError(
                    f"{spell('--tolerance')} must be {' or '.join(TOLERANCES)}, got {tolerance!r}"
                )
            specs = tuple(s.strip() for s in impls)
            if any(not s for s in specs):
                raise UsageError(
                    f"{spell('--impl')} needs a spec: a name, module:attr, path/file.py:attr or NAME=SPEC"
                )
            for s in specs:  # what can be checked without importing the implementation's code
                for subj in subjects:
                    check_spec(s, subj.name)
            if isolation == "none":
                for s in specs:
                    _builtin_or_usage_error(s, subjects, spell)
            props, chosen_groups = tuple(properties), tuple(dict.fromkeys(groups))
            for g in chosen_groups:
                if g not in GROUPS:
                    raise UsageError(
                        f"unknown group {g!r} for {spell('--group')}; known: {', '.join(GROUPS)}"
                    )
            for s in subjects:
                applicable_properties(s, props, among=subjects, groups=chosen_groups)
            if corpus_dir and not os.path.isdir(corpus_dir):
                raise UsageError(f"{spell('--corpus')} {corpus_dir}: no such folder")
            corpus_dir = corpus_dir or corpus.DEFAULT_DIR
            for s in subjects:
                for p in applicable_properties(s, props, among=subjects, groups=chosen_groups):
                    corpus.load_pinned(corpus_dir, s.name, p, x64)  # a corrupt file is a usage error
            options = cls(
                subjects=subjects,
                profile=chosen,
                specs=specs,
                properties=props,
                groups=chosen_groups,
                strict=strict,
                x64=x64,
                timeout=timeout,
                load_timeout=load_timeout or LOAD_TIMEOUT,
                isolation=isolation,
                compile_cache=compile_cache,
                jobs=jobs or default_jobs(),
                corpus=corpus_dir,
                tolerance=tolerance,
            )
            options = replace(options, expectations=_expectations(expect, options, spell))
            if json_path:
                prepare_output(json_path, spell)
            if summary_md:
                prepare_output(summary_md, spell, "--summary-md")
            return options
        except UsageError:
            raise
        except (ValueError, KeyError, OSError, ExpectationFileError, ImplementationLoadError) as e:
            raise UsageError(_message(e)) from None

    @property
    def several(self) -> bool:
        return len(self.subjects) > 1


def _message(e: BaseException) -> str:
    """A KeyError's str() is its repr; every other error's str() is its message."""
    if isinstance(e, KeyError) and e.args:
        return str(e.args[0])
    if isinstance(e, OSError) and e.filename:
        return f"{e.filename}: {e.strerror}"
    return str(e)


def parse_subjects(spec: str) -> list[Subject]:
    """``NAME``, ``A,B`` or ``all`` -> the subjects (KeyError naming an unknown one)."""
    if spec.strip() == "all":
        return list(SUBJECTS.values())
    return [get_subject(n.strip()) for n in spec.split(",") if n.strip()] or [get_subject(spec)]


def applicable_properties(
    subject: Subject,
    chosen: Iterable[str] = (),
    among: Iterable[Subject] = (),
    groups: Iterable[str] = (),
) -> list[str]:
    """``chosen`` (default: all of the subject's properties) that apply to ``subject``, in
    ``groups`` (default: every group).

    A chosen property must exist, and apply to ``subject`` or to one of ``among``
    (a run over several subjects checks each where it applies), and be in ``groups``.
    """
    chosen, groups = tuple(chosen), tuple(groups)
    if groups:
        for p in chosen:
            if p in PROPERTIES and PROPERTIES[p].group not in groups:
                raise UsageError(
                    f"property {p!r} is in the group {PROPERTIES[p].group!r}, not in the chosen "
                    f"group{'s' * (len(groups) > 1)} {', '.join(groups)}"
                )
        return [p for p in applicable_properties(subject, chosen, among) if PROPERTIES[p].group in groups]
    if not chosen:
        return list(subject.properties)
    others = [s for s in among if s is not subject]
    for p in chosen:
        if p not in PROPERTIES:
            raise UsageError(f"unknown property {p!r}; known: {', '.join(PROPERTIES)}")
        if p not in subject.properties and not any(p in s.properties for s in others):
            raise UsageError(
                f"property {p!r} does not apply to {subject.name}; its properties: "
                f"{', '.join(subject.properties)}"
            )
    return [p for p in chosen if p in subject.properties]


def _builtin_or_usage_error(spec: str, subjects: Iterable[Subject], spell: Callable[[str], str]) -> None:
    for s in subjects:
        try:
            if load(spec, s.name).builtin:
                continue
        except ImplementationLoadError:
            pass
        raise UsageError(
            f"{spell('--isolation')} none runs code in this process, which only the built-ins may do; "
            f"{spec!r} is not a built-in (use {spell('--isolation')} process)"
        )


def _expectations(
    path: str | None, options: EngineOptions, spell: Callable[[str], str]
) -> tuple[Expectation, ...]:
    """The user's expected-failure file, its names checked against what exists."""
    if not path:
        return ()
    from conformance.cases.expectations import unknown_names

    if not os.path.isfile(path):
        raise UsageError(f"{spell('--expect')} {path}: no such file")
    entries = parse_file(path)
    impls = {t.name for s in SUBJECTS.values() for t, _ in targets(s, options.specs)}
    impls |= {t.name for s in SUBJECTS.values() for t, _ in targets(s, ())}
    problems = unknown_names(entries, impls, set(PROPERTIES), set(SUBJECTS))
    if problems:
        raise UsageError("; ".join(problems))
    return tuple(entries)


def prepare_output(path: str, spell: Callable[[str], str] = str, option: str = "--json") -> None:
    """Make sure a report can be written before spending minutes on the run."""
    folder = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as e:
        raise UsageError(f"{spell(option)} {path}: cannot create {folder}: {e.strerror}") from None
    if os.path.isdir(path) or not os.access(folder, os.W_OK):
        raise UsageError(f"{spell(option)} {path}: not a writable file path")


def default_jobs() -> int:
    return max(1, min(4, os.cpu_count() or 1))


def targets(subject: Subject | str, specs: Iterable[str]) -> list[tuple[Target, str]]:
    """``(target, origin)`` for each spec (default: the built-ins and the advertised ones).

    Names come from the specs alone; a name already taken gets a suffix (``name_2``), so
    every column, test id and report entry is unique.
    """
    subject_name = subject if isinstance(subject, str) else subject.name
    specs = list(specs)
    if not specs:
        specs = names(subject_name, builtin_only=True)
        specs += [s for s in entry_point_specs() if spec_name(s) not in specs]
    out: list[tuple[Target, str]] = []
    taken: set[str] = set()
    for spec in specs:
        base = spec_name(spec)
        name, n = base, 1
        while name in taken:
            n += 1
            name = f"{base}_{n}"
        taken.add(name)
        out.append(
            (Target(name, spec if name == base else f"{name}={_target_part(spec)}", subject_name), spec)
        )
    return out


def _target_part(spec: str) -> str:
    label, eq, rest = spec.partition("=")
    return rest.strip() if eq and label.strip().isidentifier() else spec


def is_builtin_spec(spec: str, subject: str) -> bool:
    """Does ``spec`` (``NAME`` or ``LABEL=NAME``) name one of ``subject``'s built-ins? By this
    process's registry, without loading anything."""
    return _target_part(spec) in names(subject, builtin_only=True)


def configure_jax(x64: bool, compile_cache: str | None = None) -> str | None:
    """x64 on or off, and the persistent compilation cache (see :mod:`conformance.run.compile_cache`)."""
    import jax

    jax.config.update("jax_enable_x64", bool(x64))
    return enable_compile_cache(compile_cache)


# --------------------------------------------------------------------------- results


@dataclass
class ImplResult:
    name: str
    spec: str
    builtin: bool
    properties: list[CellResult] = field(default_factory=list)
    seconds: float = 0.0
    load_error: str | None = None

    @property
    def passed(self) -> bool:
        return verdict.passed([c.status for c in self.properties], self.load_error)

    @property
    def verdict(self) -> verdict.Verdict:
        return verdict.verdict([c.status for c in self.properties], self.load_error)


@dataclass
class RunReport:
    subject: str
    profile: str
    strict: bool
    x64: bool
    environment: dict[str, Any]
    elapsed_seconds: float
    implementations: list[ImplResult]
    signature: str = ""
    #: the error model the numeric properties enforced
    tolerance: str = "rigorous"

    @property
    def passed(self) -> bool:
        return all(i.passed for i in self.implementations)

    def exit_code(self) -> int:
        return verdict.exit_code(
            ([c.status for c in i.properties], i.load_error) for i in self.implementations
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": verdict.REPORT_SCHEMA,
            "subject": self.subject,
            "signature": self.signature,
            "profile": self.profile,
            "strict": self.strict,
            "x64": self.x64,
            "environment": self.environment,
            "elapsed_seconds": self.elapsed_seconds,
            "tolerance": {
                "model": self.tolerance,
                "lambda": LAMBDA if self.tolerance == "probabilistic" else None,
            },
            "passed": self.passed,
            "implementations": [
                {
                    **{k: v for k, v in asdict(i).items() if k != "properties"},
                    "passed": i.passed,
                    "verdict": str(i.verdict),
                    "causes": [c.to_json() for c in causes.causes_of(i)],
                    "properties": [
                        {**asdict(c), "status": str(c.status), "name": c.property} for c in i.properties
                    ],
                }
                for i in self.implementations
            ],
        }

    def write_json(self, path: str) -> None:
        with open(path, "w") as f:
            json.dump(self.to_json(), f, indent=2, default=str)


def json_path(path: str, subject: str, several: bool) -> str:
    """One report per subject: ``out.json`` becomes ``out.SUBJECT.json`` when there are several."""
    if not several:
        return path
    stem, ext = os.path.splitext(path)
    return f"{stem}.{subject}{ext or '.json'}"


# --------------------------------------------------------------------------- the engine

OnCell = Callable[[str, CellResult], None]


class Engine:
    """Check implementations against properties; see the module docstring."""

    def __init__(self, options: EngineOptions) -> None:
        self.options = options
        configure_jax(options.x64, options.compile_cache)
        self.cache = SharedCache()
        self._panels: dict[str, dict[str, InProcessExecutor]] = {}
        self._contexts: dict[tuple[str, str], Context] = {}
        self._load_errors: dict[tuple[str, str], str] = {}
        self._lock = threading.Lock()
        self._helpers: list[Context] = []
        self._old_handlers: dict[int, Any] = {}
        #: idle workers of the package's built-ins, for the next built-in (executors.WorkerPool)
        self._pool = WorkerPool()

    # ------------------------------------------------------------------- lifetime

    def __enter__(self) -> Engine:
        self.install_signal_handlers()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def install_signal_handlers(self) -> None:
        """SIGTERM, SIGINT and SIGHUP end every worker first (main thread only)."""
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            self._old_handlers[sig] = signal.signal(sig, self._on_signal)

    def _on_signal(self, signum: int, frame: Any) -> None:
        kill_all_workers()
        self.restore_signal_handlers()
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        sys.exit(128 + signum)

    def restore_signal_handlers(self) -> None:
        for sig, old in self._old_handlers.items():
            signal.signal(sig, old)
        self._old_handlers.clear()

    def close(self) -> None:
        for ctx in [*self._contexts.values(), *self._helpers]:
            ctx.executor.close()
        self._contexts.clear()
        self._helpers.clear()
        self._pool.close()
        self.restore_signal_handlers()

    # ------------------------------------------------------------------- pieces

    def timeout(self) -> float:
        return self.options.timeout or self.options.profile.timeout

    def targets(self, subject: Subject) -> list[tuple[Target, str]]:
        return targets(subject, self.options.specs)

    def properties(self, subject: Subject) -> list[Property]:
        names_ = applicable_properties(
            subject, self.options.properties, self.options.subjects, self.options.groups
        )
        return [PROPERTIES[p] for p in names_]

    def panel(self, subject: Subject) -> dict[str, InProcessExecutor]:
        """The subject's conforming built-ins, run in this process: trusted code, shared by every cell.

        A built-in registered with known failures (a non-conformant reference) is no witness.
        """
        with self._lock:
            if subject.name not in self._panels:
                impls = [get(n, subject.name) for n in names(subject.name, builtin_only=True)]
                self._panels[subject.name] = {
                    i.name: InProcessExecutor(i) for i in impls if not i.known_failures
                }
            return self._panels[subject.name]

    def context(self, subject: Subject, target: Target) -> Context:
        """The started context of ``target``; ImplementationLoadError (remembered) if it cannot load."""
        key = (subject.name, target.name)
        if key in self._load_errors:
            raise ImplementationLoadError(self._load_errors[key])
        if key not in self._contexts:
            try:
                self._contexts[key] = self._new_context(subject, target)
            except ImplementationLoadError as e:
                self._load_errors[key] = str(e)
                raise
        return self._contexts[key]

    def _new_context(self, subject: Subject, target: Target) -> Context:
        """A context of ``target`` with an executor of its own, started."""
        if self.options.isolation in ("none", "trusted"):
            impl = load(target.spec, subject.name)
            trusted = self.options.isolation == "trusted"
            executor: Any = InProcessExecutor(replace(impl, name=target.name), trusted)
        else:
            # Only the package's own built-ins (by this process's registry) share workers.
            executor = WorkerExecutor(
                target,
                self.options.x64,
                self.timeout(),
                self.options.load_timeout,
                self._pool if is_builtin_spec(target.spec, subject.name) else None,
            )
        try:
            executor.start()
        except ImplementationLoadError:
            executor.close()
            raise
        builtin = executor.impl.builtin
        own = {n: e for n, e in self.panel(subject).items() if not (builtin and n == target.name)}
        return Context(
            subject,
            executor,
            own,
            self.options.x64,
            self.options.strict,
            self.cache,
            self.options.tolerance,
        )

    def helper_context(self, subject: Subject, target: Target) -> Context:
        """A second context of ``target`` (its own worker), for a slot that helps; see
        :mod:`conformance.run.scheduling`. Closed by :meth:`release_helper` or :meth:`close`."""
        ctx = self._new_context(subject, target)
        with self._lock:
            self._helpers.append(ctx)
        return ctx

    def release_helper(self, ctx: Context) -> None:
        with self._lock:
            if ctx in self._helpers:
                self._helpers.remove(ctx)
        ctx.executor.close()

    def release(self, subject: Subject, target: Target) -> None:
        ctx = self._contexts.pop((subject.name, target.name), None)
        if ctx is not None:
            ctx.executor.close()

    def pinned(self, subject: Subject, prop: Property) -> list[Case]:
        """The cases ``prop`` checks first: the regression corpus's, then the property's own fixed ones."""
        cases: list[Case] = []
        if self.options.corpus:
            cases += corpus.load_pinned(self.options.corpus, subject.name, prop.name, self.options.x64)
        if prop.fixed is not None:
            cases += prop.fixed(subject, self.options.x64)
        return cases

    def replay_prefix(self, subject: Subject, origin: str) -> dict[str, Any]:
        return {
            "subject": subject.name,
            "impl": origin,
            "x64": self.options.x64,
            "strict": self.options.strict,
            "tolerance": self.options.tolerance,
        }

    def expected_failure(self, ctx: Context, prop: str) -> str | None:
        """Why the implementation is expected to break ``prop`` here: registered as a known failure,
        or the user's expectation file for these versions; None when it is expected to hold."""
        known = dict(ctx.impl.known_failures).get(prop)
        if known:
            return known
        entry = match(self.options.expectations, ctx.subject.name, ctx.impl.name, prop, installed_versions())
        return entry.describe() if entry else None

    # ------------------------------------------------------------------- running

    def cell(self, subject: Subject, target: Target, origin: str, prop: Property) -> CellResult:
        """One implementation x property (the context must load; ImplementationLoadError otherwise)."""
        return self.cell_in(self.context(subject, target), origin, prop)

    def cell_in(self, ctx: Context, origin: str, prop: Property) -> CellResult:
        """One property in ``ctx`` (the implementation's own context, or a helper's)."""
        if ctx.executor.given_up:
            cell = CellResult(
                prop.name,
                prop.claim,
                Status.FAIL,
                message=f"not checked: {ctx.executor.evidence}",
            )
        else:
            cell = run_cell(
                ctx,
                prop,
                self.options.profile,
                self.replay_prefix(ctx.subject, origin),
                self.pinned(ctx.subject, prop),
            )
        return apply_expectation(cell, self.expected_failure(ctx, prop.name))

    def check_target(
        self,
        subject: Subject,
        target: Target,
        origin: str,
        on_cell: OnCell | None,
        slot: int = 0,
        slots: int = 1,
    ) -> ImplResult:
        """Every property of ``target``, in one slot, in the order of :func:`property_order` for
        the ``slot``-th of ``slots`` implementations checked side by side (the report keeps the
        usual order)."""
        return self._spread(subject, [(target, origin)], on_cell, 1, (slot, slots))[0]

    def _spread(
        self,
        subject: Subject,
        pairs: list[tuple[Target, str]],
        on_cell: OnCell | None,
        slots: int,
        as_slot: tuple[int, int] | None = None,
    ) -> list[ImplResult]:
        """The implementations' results, checked over ``slots`` slots (:class:`Spread`)."""
        props = self.properties(subject)
        order = {p.name: i for i, p in enumerate(props)}

        def close(pair: tuple[Target, str], ctx: Context, helper: bool) -> None:
            if helper:
                self.release_helper(ctx)
            else:
                self.release(subject, pair[0])

        spread: Spread[tuple[Target, str], Property, Context, CellResult] = Spread(
            open=lambda pair, helper: (self.helper_context if helper else self.context)(subject, pair[0]),
            close=close,
            check=lambda pair, ctx, prop: self.cell_in(ctx, pair[1], prop),
            healthy=lambda ctx: ctx.executor.healthy,
            halts=lambda cell: self.options.stop_at_first_failure and cell.status in FAILING,
            stopping=STOPPING,
            on_cell=(lambda pair, cell: on_cell(pair[0].name, cell)) if on_cell else None,
        )
        results = []
        for lane in spread.run(pairs, props, slots, as_slot=as_slot):
            target, loaded = lane.target[0], lane.context
            results.append(
                ImplResult(
                    target.name,
                    loaded.impl.spec if loaded else target.spec,
                    loaded.impl.builtin if loaded else False,
                    sorted(lane.cells, key=lambda cell: order[cell.property]),
                    lane.seconds,
                    lane.load_error,
                )
            )
        return results

    def check_subject(self, subject: Subject, on_cell: OnCell | None = None) -> RunReport:
        """Every implementation's properties, spread over ``jobs`` slots (:mod:`conformance.run.scheduling`).

        Implementations checked side by side go through the properties in different orders
        (:func:`property_order`). Every worker compiles the same programs for the same shapes
        (the built-ins share nearly all of them), and JAX's persistent cache lets a worker load
        what another compiled, but only once it is written: two workers that go through the
        properties in step compile everything twice, at the same moment. A slot with no
        implementation left to start helps one that is still running, with a second worker.
        """
        start = time.perf_counter()
        pairs = self.targets(subject)
        results = self._spread(subject, pairs, on_cell, self.effective_jobs(len(pairs)))
        return RunReport(
            subject.name,
            self.options.profile.name,
            self.options.strict,
            self.options.x64,
            environment(self.options.x64),
            round(time.perf_counter() - start, 3),
            results,
            subject.signature,
            self.options.tolerance,
        )

    def check(self, on_cell: OnCell | None = None) -> list[RunReport]:
        return [self.check_subject(s, on_cell) for s in self.options.subjects]

    def effective_jobs(self, n_impls: int) -> int:
        """How many slots check at once (an implementation each, or a helper's second worker of
        one; :mod:`conformance.run.scheduling`): each needs its own worker process (isolation none
        runs them one by one), and its own thread here. Several threads drawing from one
        strategy (as the suite's shared strategies are) are safe since Hypothesis 6.155.7 (its
        issue #4475), the lowest this package accepts: 6.136.0 once reported a failure with no
        failing example on a correct built-in (2026-12-02)."""
        if self.options.isolation != "process" or n_impls < 1 or self.options.jobs <= 1:
            return 1
        return self.options.jobs

    def replay(self, spec: str, prop_name: str, case: Case) -> tuple[Status, str]:
        """One property on one case of the first subject: ``(PASS, "")``, ``(FAIL, why)`` or
        ``(SKIP, why)``. ImplementationLoadError if the implementation cannot load."""
        subject = self.options.subjects[0]
        (target, _), *_ = targets(subject, [spec])
        ctx = self.context(subject, target)
        try:
            PROPERTIES[prop_name].check(ctx, case)
        except PropertyFailure as failure:
            return Status.FAIL, failure.message
        except PropertySkip as skip:
            return Status.SKIP, skip.message
        return Status.PASS, ""


def check(specs: Iterable[str], **options: Any) -> RunReport:
    """Check ``specs`` on one subject from Python: ``EngineOptions`` fields as keywords, plus
    ``subject=`` (a name) and ``profile=`` (a name); returns the subject's report."""
    subject = get_subject(options.pop("subject", "vmap_over_batch"))
    profile = get_profile(options.pop("profile", "ci")).with_examples(options.pop("max_examples", None))
    opts = EngineOptions(subjects=(subject,), profile=profile, specs=tuple(specs), **options)
    with Engine(opts) as engine:
        return engine.check_subject(subject)


__all__ = [
    "Engine",
    "EngineOptions",
    "ImplResult",
    "RunReport",
    "UsageError",
    "check",
    "json_path",
    "replay_command",
    "summarize",
]
