"""The runner: the one place that joins implementations, strategies and properties.

For each implementation and property (a *cell*) it runs a Hypothesis search over
the property's cases, bounds the time spent shrinking, and turns the outcome into
a :class:`CellResult` with the minimal counterexample and a replay command.
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import shutil
import sys
import time
import traceback
import zlib
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from hypothesis import HealthCheck, Phase, Verbosity, example, given, seed, settings
from hypothesis.errors import Flaky, InvalidArgument, Unsatisfiable

from conformance import codec, corpus
from conformance.compile_cache import enable as enable_compile_cache
from conformance.context import Context, PropertyFailure, SharedCache
from conformance.database import open_database_cached
from conformance.executors import InProcessExecutor, WorkerExecutor
from conformance.expectations import Expectation, installed_versions, match
from conformance.profiles import Profile
from conformance.properties import PROPERTIES, Case, Property
from conformance.subjects import StrategyConfig, Subject
from impl.registry import Implementation, ImplementationLoadError, names
from impl.registry import get as get_impl

#: Cell statuses that do not fail a run.
PASSING = ("pass", "skip", "xfail")
REPORT_SCHEMA = "nnx-conformance/report/2"

#: Longest inline ``--case`` in a replay command; longer cases go to a file.
INLINE_CASE_LIMIT = 1500
CASE_DIR_ENV = "CONFORMANCE_CASE_DIR"


@dataclass
class CellResult:
    property: str
    claim: str
    status: str  # pass | fail | skip | error | xfail (an expected failure) | xpass (it was expected to fail)
    examples: int = 0
    calls: int = 0
    seconds: float = 0.0
    message: str = ""
    counterexample: dict[str, Any] | None = None
    replay: str | None = None
    #: seconds from the first failure to the reported minimal example
    shrink_seconds: float | None = None
    #: seconds from the cell's start to its first failure
    first_failure_seconds: float | None = None
    #: how many examples ran up to and including the first failure
    first_failure_example: int | None = None
    #: why this cell was expected to fail (a known non-conformant reference, or the user's file)
    expected_failure: str | None = None


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
        return self.load_error is None and all(c.status in PASSING for c in self.properties)


@dataclass
class RunOptions:
    subject: Subject
    profile: Profile
    strict: bool = False
    x64: bool = False
    timeout: float | None = None
    isolation: str = "process"  # process | none
    properties: tuple[str, ...] = ()
    #: the persistent compilation cache folder, or "off" (default: conformance.compile_cache)
    compile_cache: str | None = None
    #: implementations checked at the same time (each in its own worker process)
    jobs: int = 1
    #: the regression corpus: pinned cases run first, in every profile (None: none)
    corpus: str | None = None
    #: the user's expected failures (conformance.expectations)
    expectations: tuple[Expectation, ...] = ()


class ShrinkTracker:
    """Remembers the failures (Hypothesis re-runs its minimal one last) and the shrink budget."""

    def __init__(self, budget: float) -> None:
        self.budget = budget
        self.start = time.perf_counter()
        self.examples = 0
        self.first_failure: float | None = None
        self.first_failure_example: int | None = None
        self.last: tuple[Case, PropertyFailure] | None = None
        #: every case that failed so far: Hypothesis's best is one of them, not always the last
        self.failed: set[str] = set()

    def over_budget(self) -> bool:
        return self.first_failure is not None and time.perf_counter() - self.first_failure > self.budget

    def passes_unchecked(self, case: Case) -> bool:
        """Out of shrinking time, a case that never failed passes without being run: Hypothesis
        stops improving and reports its best case, which is one that failed (not always the last)."""
        return self.over_budget() and _case_key(case) not in self.failed

    def record(self, case: Case, failure: PropertyFailure) -> None:
        if self.first_failure is None:
            self.first_failure = time.perf_counter()
            self.first_failure_example = self.examples
        self.last = (case, failure)
        self.failed.add(_case_key(case))


def _case_key(case: Case) -> str:
    return codec.dumps(case)


def hypothesis_settings(profile: Profile, max_examples: int | None = None) -> settings:
    database = None
    if profile.use_database and not profile.derandomize:
        database = open_database_cached(profile.database_path)
    return settings(
        max_examples=profile.max_examples if max_examples is None else max_examples,
        derandomize=profile.derandomize,
        database=database,
        deadline=None,  # compilation makes first calls slow; hangs are caught by the per-call timeout
        suppress_health_check=list(HealthCheck),
        report_multiple_bugs=False,
        verbosity=Verbosity.quiet,
        phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
        print_blob=False,
    )


def run_cell(
    ctx: Context,
    prop: Property,
    profile: Profile,
    replay_prefix: list[str],
    pinned: list[Case] | tuple[Case, ...] = (),
) -> CellResult:
    """Search for a counterexample to ``prop`` on ``ctx``'s implementation.

    ``pinned`` cases (the regression corpus, the property's fixed cases) run first.
    Then one search over the whole domain, then (in profiles with ``edge_examples``)
    a short search inside each edge of the domain, so every edge is reached by
    construction; the first failure ends the cell and is shrunk inside its search.
    """
    if prop.external == "strict" and not ctx.impl.builtin and not ctx.strict:
        return CellResult(
            prop.name, prop.claim, "skip", message="external implementations: only with --strict"
        )
    tracker = ShrinkTracker(profile.shrink_seconds)
    calls_before = ctx.calls
    config = StrategyConfig(pool=profile.pool, x64=ctx.x64)
    strata: list[str | None] = [None]
    if profile.edge_examples and prop.edges:
        strata += list(ctx.subject.edges(config))
    status, message, edge = "pass", "", None
    try:
        for edge in strata:
            explicit = pinned if edge is None else ()
            status, message = _search(ctx, prop, profile, replace(config, edge=edge), tracker, explicit)
            if status != "pass":
                break
    except Exception as e:  # the suite's own fault, never the implementation's
        tb = traceback.format_exc(limit=-3)
        return CellResult(
            prop.name,
            prop.claim,
            "error",
            tracker.examples,
            ctx.calls - calls_before,
            time.perf_counter() - tracker.start,
            message=f"internal error in the suite: {type(e).__name__}: {e}\n{tb}",
        )
    end = time.perf_counter()
    result = CellResult(
        prop.name, prop.claim, status, tracker.examples, ctx.calls - calls_before, end - tracker.start
    )
    if status == "fail" and tracker.last is not None:
        case, failure = tracker.last
        result.message = message + failure.message
        result.counterexample = {
            "summary": summarize(case),
            "details": failure.details,
            "case": codec.encode(case),
            "edge": edge,
        }
        result.replay = replay_command(replay_prefix, prop.name, case)
        result.first_failure_seconds = round(tracker.first_failure - tracker.start, 3)
        result.first_failure_example = tracker.first_failure_example
        result.shrink_seconds = round(end - tracker.first_failure, 3)
    return result


_STRATEGIES: dict[tuple[str, str, StrategyConfig], Any] = {}


def case_strategy(prop: Property, subject: Subject, config: StrategyConfig) -> Any:
    """``prop``'s case strategy, built once per subject and config: Hypothesis validates a
    strategy object the first time it draws from it, and that is not free."""
    key = (prop.name, subject.name, config)
    if key not in _STRATEGIES:
        _STRATEGIES[key] = prop.cases(subject, config)
    return _STRATEGIES[key]


def _search(
    ctx: Context,
    prop: Property,
    profile: Profile,
    config: StrategyConfig,
    tracker: ShrinkTracker,
    explicit: list[Case] | tuple[Case, ...] = (),
) -> tuple[str, str]:
    """One Hypothesis search over ``prop``'s cases under ``config``: ``(status, message prefix)``."""
    strategy = case_strategy(prop, ctx.subject, config)

    def body(case: Case) -> None:
        tracker.examples += 1
        if tracker.passes_unchecked(case):
            return
        try:
            prop.check(ctx, case)
        except PropertyFailure as failure:
            tracker.record(case, failure)
            raise

    edge = f"/{config.edge}" if config.edge else ""
    where = f"{ctx.subject.name}/{prop.name}{edge}"
    db_key = f"nnx-conformance/{ctx.impl.name}/{where}"
    # Properties with the same kind of case draw the same examples (in derandomized
    # profiles), so one call of the implementation serves all of them (Context.memo)
    # and one oracle answer and panel output serve every implementation.
    examples_key = f"{ctx.subject.name}/{prop.cases.__name__}{edge}"
    examples = profile.max_examples if config.edge is None else profile.edge_examples
    test = given(case=strategy)(body)
    for case in reversed(explicit):  # explicit examples run first, in order
        test = example(case=case)(test)
    test = hypothesis_settings(profile, examples)(test)
    test._hypothesis_internal_database_key = db_key.encode()  # one database entry per search
    if profile.derandomize:
        # Same examples for every implementation: the oracle and panel caches are shared.
        test = seed(zlib.crc32(examples_key.encode()))(test)
    try:
        test()
    except PropertyFailure:
        return "fail", ""
    except Flaky:
        return "fail", "failed, then passed when re-run on the same input (nondeterministic): "
    except Unsatisfiable:
        return "pass", ""  # every case of this edge was filtered out (zero input for seed pairs)
    except InvalidArgument:
        if config.edge is None:
            raise
        return "pass", ""  # an edge this property cannot reach (B = 0 for batch edits)
    return "pass", ""


def summarize(case: Case) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in case.items():
        if isinstance(value, dict):
            for name, arg in value.items():
                out[name if key == "args" else f"{key}.{name}"] = codec.describe(arg)
        else:
            out[key] = codec.describe(value)
    return out


def replay_command(prefix: list[str], prop: str, case: Case) -> str:
    text = codec.dumps(case)
    if len(text) > INLINE_CASE_LIMIT:
        folder = os.environ.get(CASE_DIR_ENV, ".conformance/cases")
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, f"{prop}-{zlib.crc32(text.encode()):08x}.json")
        with open(path, "w") as f:
            f.write(text)
        arg = "@" + path
    else:
        arg = text
    return " ".join(shlex.quote(p) for p in [*prefix, "--property", prop, "--case", arg])


def _python() -> str:
    """``python`` when that is this interpreter on PATH, else this interpreter's path."""
    found = shutil.which("python")
    if found and os.path.abspath(found) == os.path.abspath(sys.executable):
        return "python"
    return sys.executable


def replay_prefix(impl: Implementation, options: RunOptions, origin: str) -> list[str]:
    prefix = [_python(), "-m", "conformance", "replay", "--subject", options.subject.name, "--impl", origin]
    if options.x64:
        prefix.append("--x64")
    if options.strict:
        prefix.append("--strict")
    return prefix


def make_executor(impl: Implementation, options: RunOptions) -> Any:
    if options.isolation == "none":
        return InProcessExecutor(impl)
    return WorkerExecutor(impl, options.x64, options.timeout or options.profile.timeout)


def make_context(
    impl: Implementation, options: RunOptions, panel: dict[str, InProcessExecutor], cache: SharedCache
) -> Context:
    """What the properties see for ``impl``: its executor (not started yet) and the panel minus itself."""
    own = {n: e for n, e in panel.items() if not (impl.builtin and n == impl.name)}
    return Context(options.subject, make_executor(impl, options), own, options.x64, options.strict, cache)


def reference_panel(subject: Subject) -> dict[str, InProcessExecutor]:
    """The subject's conforming built-ins, run in this process: trusted code, shared by every cell.

    A built-in registered with known failures (a non-conformant reference) is no witness.
    """
    impls = [get_impl(n, subject.name) for n in names(subject.name, builtin_only=True)]
    return {i.name: InProcessExecutor(i) for i in impls if not i.known_failures}


def selected_properties(options: RunOptions) -> list[Property]:
    return [PROPERTIES[p] for p in subject_properties(options.subject, options.properties)]


def subject_properties(subject: Subject, chosen: Iterable[str] = ()) -> list[str]:
    """``chosen`` (default: all of the subject's properties), checked against what applies."""
    chosen = tuple(chosen) or subject.properties
    for p in chosen:
        if p not in PROPERTIES:
            raise ValueError(f"unknown property {p!r}; known: {', '.join(PROPERTIES)}")
        if p not in subject.properties:
            raise ValueError(
                f"property {p!r} does not apply to {subject.name}; its properties: "
                f"{', '.join(subject.properties)}"
            )
    return list(chosen)


def pinned_cases(options: RunOptions, prop: Property) -> list[Case]:
    """The cases ``prop`` checks first: the regression corpus's, then the property's own fixed ones."""
    cases: list[Case] = []
    if options.corpus:
        cases += corpus.load_pinned(options.corpus, options.subject.name, prop.name, options.x64)
    if prop.fixed is not None:
        cases += prop.fixed(options.subject, options.x64)
    return cases


def expected_failure(impl: Implementation, prop: str, options: RunOptions) -> str | None:
    """Why ``impl`` is expected to break ``prop`` here: registered as a known failure, or the
    user's expectation file for these versions; None when it is expected to hold."""
    known = dict(impl.known_failures).get(prop)
    if known:
        return known
    entry = match(options.expectations, options.subject.name, impl.name, prop, installed_versions())
    return entry.describe() if entry else None


def apply_expectation(cell: CellResult, reason: str | None) -> CellResult:
    """A failure that was expected becomes ``xfail`` (evidence kept); a pass becomes ``xpass``."""
    if reason is None:
        return cell
    cell.expected_failure = reason
    if cell.status == "fail":
        cell.status = "xfail"
    elif cell.status == "pass":
        cell.status = "xpass"
        cell.message = f"expected to fail ({reason}), but held on every example: a stale expectation"
    return cell


def effective_jobs(options: RunOptions, n_impls: int) -> int:
    """How many implementations to check at once: each needs its own worker process
    (``--isolation none`` runs them one by one), and Hypothesis runs tests from several
    threads only since 6.136."""
    if options.isolation != "process" or n_impls < 2 or options.jobs <= 1:
        return 1
    import hypothesis

    if tuple(int(p) for p in hypothesis.__version__.split(".")[:2]) < (6, 136):
        return 1
    return min(options.jobs, n_impls)


def default_jobs() -> int:
    return max(1, min(4, os.cpu_count() or 1))


def configure_jax(x64: bool, compile_cache: str | None = None) -> str | None:
    """x64 on or off, and the persistent compilation cache (see :mod:`conformance.compile_cache`)."""
    import jax

    jax.config.update("jax_enable_x64", bool(x64))
    return enable_compile_cache(compile_cache)


def check_implementation(
    impl: Implementation,
    origin: str,
    options: RunOptions,
    panel: dict[str, InProcessExecutor],
    cache: SharedCache,
    on_cell: Callable[[str, CellResult], None] | None = None,
) -> ImplResult:
    """All selected properties on one implementation."""
    start = time.perf_counter()
    result = ImplResult(impl.name, impl.spec, impl.builtin)
    ctx = make_context(impl, options, panel, cache)
    executor = ctx.executor
    prefix = replay_prefix(impl, options, origin)
    try:
        executor.start()
        for prop in selected_properties(options):
            cell = run_cell(ctx, prop, options.profile, prefix, pinned_cases(options, prop))
            cell = apply_expectation(cell, expected_failure(impl, prop.name, options))
            result.properties.append(cell)
            if on_cell:
                on_cell(impl.name, cell)
    except ImplementationLoadError as e:
        result.load_error = str(e)
    finally:
        executor.close()
    result.seconds = round(time.perf_counter() - start, 3)
    return result


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

    @property
    def passed(self) -> bool:
        return all(i.passed for i in self.implementations)

    def exit_code(self) -> int:
        if any(i.load_error for i in self.implementations):
            return 2
        if any(c.status == "error" for i in self.implementations for c in i.properties):
            return 3
        return 0 if self.passed else 1

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": REPORT_SCHEMA,
            "subject": self.subject,
            "signature": self.signature,
            "profile": self.profile,
            "strict": self.strict,
            "x64": self.x64,
            "environment": self.environment,
            "elapsed_seconds": self.elapsed_seconds,
            "passed": self.passed,
            "implementations": [
                {
                    **{k: v for k, v in asdict(i).items() if k != "properties"},
                    "passed": i.passed,
                    "properties": [{**asdict(c), "name": c.property} for c in i.properties],
                }
                for i in self.implementations
            ],
        }

    def write_json(self, path: str) -> None:
        with open(path, "w") as f:
            json.dump(self.to_json(), f, indent=2, default=str)


def environment(x64: bool) -> dict[str, Any]:
    import flax
    import hypothesis
    import jax
    import numpy

    return {
        "python": platform.python_version(),
        "jax": jax.__version__,
        "flax": flax.__version__,
        "numpy": numpy.__version__,
        "hypothesis": hypothesis.__version__,
        "backend": jax.default_backend(),
        "devices": [str(d) for d in jax.devices()],
        "x64": bool(x64),
        "machine": platform.machine(),
        "system": platform.system(),
        "cpu_count": os.cpu_count(),
        "executable": sys.executable,
    }


def run(
    impls: Iterable[tuple[Implementation, str]],
    options: RunOptions,
    on_cell: Callable[[str, CellResult], None] | None = None,
) -> RunReport:
    """Check every ``(implementation, origin spec)`` pair; ``origin`` is what the user typed."""
    configure_jax(options.x64, options.compile_cache)
    start = time.perf_counter()
    panel = reference_panel(options.subject)
    cache = SharedCache()
    impls = list(impls)
    jobs = effective_jobs(options, len(impls))

    def one(pair: tuple[Implementation, str]) -> ImplResult:
        return check_implementation(pair[0], pair[1], options, panel, cache, on_cell)

    if jobs == 1:
        results = [one(pair) for pair in impls]
    else:
        with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="conformance") as pool:
            results = list(pool.map(one, impls))
    return RunReport(
        options.subject.name,
        options.profile.name,
        options.strict,
        options.x64,
        environment(options.x64),
        round(time.perf_counter() - start, 3),
        results,
        options.subject.signature,
    )
