"""The engine: one object that puts a run together, behind every face.

:class:`Engine` takes :class:`~conformance.run.settings.EngineOptions` (validated once, in
:mod:`conformance.run.settings`) and owns what a run shares: the reference panels, the
oracle cache, one context (and worker) per implementation (built-ins pass their workers
on to the next built-in), and the signal handling that ends every worker when the run is
stopped. It offers :meth:`Engine.check` (every cell, as :mod:`conformance.run.results`
reports), :meth:`Engine.cell` (one cell, for pytest) and :meth:`Engine.replay` (one
property on one recorded case); :func:`check` is the same from Python in one call. The
CLI, the pytest plugin and the tooling are thin faces on it; nothing here imports them.

Nothing of an implementation under test runs in this process: its spec is loaded, its
signature checked and its registration read in its worker (:mod:`conformance.boundary.worker`),
and what comes back is plain data. Only the package's built-ins run here (the
reference panel, and ``isolation="none"`` from the Python API).
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

from conformance.base.environment import environment
from conformance.base.failures import PropertyFailure, PropertySkip
from conformance.base.verdict import FAILING, Status
from conformance.boundary.executors import InProcessExecutor, Target, WorkerExecutor, WorkerPool
from conformance.boundary.lifecycle import STOPPING, kill_all_workers
from conformance.cases import corpus
from conformance.cases.expectations import installed_versions, match
from conformance.properties import PROPERTIES, Case, Property
from conformance.properties.context import Context, SharedCache
from conformance.run import user_subjects
from conformance.run.compile_cache import enable as enable_compile_cache
from conformance.run.profiles import get_profile
from conformance.run.results import ImplResult, RunReport
from conformance.run.runner import CellResult, apply_expectation, run_cell
from conformance.run.scheduling import Spread
from conformance.run.settings import (
    EngineOptions,
    applicable_properties,
    is_builtin_spec,
    parse_subjects,
    targets,
)
from conformance.subjects import Subject
from impl.registry import DEFAULT_SUBJECT, ImplementationLoadError, get, load, names


def configure_jax(x64: bool, compile_cache: str | None = None) -> str | None:
    """x64 on or off, and the persistent compilation cache (see :mod:`conformance.run.compile_cache`)."""
    import jax

    jax.config.update("jax_enable_x64", bool(x64))
    return enable_compile_cache(compile_cache)


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
        user_subjects.close_all()
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
            if subject.name not in self._panels and subject.builtins is not None:
                self._panels[subject.name] = user_subjects.panel(subject)  # served by its oracle worker
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
        runs them one by one), and its own thread here. Several threads may draw from one
        strategy (as the suite's shared strategies are) because the Hypothesis this package
        requires (6.155.7 or later) supports it; older ones could report a failure with no
        failing example."""
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
    ``subject=`` (a name, or a per-sample declaration's ``file.py:attr``) and ``profile=`` (a
    name); returns the subject's report."""
    profile = get_profile(options.pop("profile", "ci")).with_examples(options.pop("max_examples", None))
    timeout = options.get("timeout") or profile.timeout
    (subject,) = parse_subjects(options.pop("subject", DEFAULT_SUBJECT), options.get("x64", False), timeout)
    opts = EngineOptions(subjects=(subject,), profile=profile, specs=tuple(specs), **options)
    with Engine(opts) as engine:
        return engine.check_subject(subject)


__all__ = ["Engine", "check", "configure_jax"]
