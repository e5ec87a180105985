"""The cell runner: one implementation x one property, as a bounded Hypothesis search.

For each cell it runs a Hypothesis search over the property's cases (then one inside
each edge of the domain), bounds the time spent shrinking, counts the examples each
search ran, and turns the outcome into a :class:`CellResult` with the minimal
counterexample and a replay command. Putting a run together (implementations,
workers, panels, reports) is the engine's job (:mod:`conformance.run.engine`).
"""

from __future__ import annotations

import os
import shutil
import sys
import time
import traceback
import zlib
from dataclasses import dataclass, field, replace
from typing import Any

from hypothesis import HealthCheck, Phase, Verbosity, example, given, seed, settings
from hypothesis.errors import FailedHealthCheck, Flaky, InvalidArgument, Unsatisfiable

from conformance.base.failures import OracleError, PropertyFailure, PropertySkip
from conformance.base.verdict import ReplayCommand, Status
from conformance.cases import codec
from conformance.numerics import tolerance
from conformance.numerics.headroom import Headroom
from conformance.properties import Case, Property
from conformance.properties.context import Context
from conformance.run.database import open_database_cached
from conformance.run.profiles import Profile
from conformance.subjects import StrategyConfig, Subject
from strategies import TILE_EDGE

#: Longest inline ``--case`` in a replay command; longer cases go to a file.
INLINE_CASE_LIMIT = 1500
CASE_DIR_ENV = "CONFORMANCE_CASE_DIR"
#: The name of the search over the whole domain in ``CellResult.edges``.
DOMAIN = "domain"

#: Health checks kept off, each with its reason; the others are on.
SUPPRESSED_HEALTH_CHECKS = {
    # The first call of each new shape compiles (0.3-0.5 s): slow examples are JAX, not the strategy.
    HealthCheck.too_slow: "first calls compile",
    # Each search builds its test function anew (one per edge): the same body, not a mixed-up executor.
    HealthCheck.differing_executors: "a test function per search",
}


@dataclass
class CellResult:
    property: str
    claim: str
    status: Status
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
    #: examples run by each search: the whole domain, then each edge
    edges: dict[str, int] = field(default_factory=dict)
    #: edges this property cannot reach, and why (no example there is not a gap)
    unreachable: dict[str, str] = field(default_factory=dict)
    #: numeric properties: the largest error-to-allowed ratios over the examples
    #: (:meth:`conformance.numerics.headroom.Headroom.record`); None when the cell compared no numbers
    headroom: dict[str, Any] | None = None
    #: no verdict: the per-sample subject's declaration failed on a drawn input (an ``incomplete``
    #: cell; the verdict rule and the exit code read this, :mod:`conformance.base.verdict`)
    declaration_failed: bool = False


class ShrinkTracker:
    """Remembers the failures (Hypothesis re-runs its minimal one last) and the shrink budget."""

    def __init__(self, budget: float) -> None:
        self.budget = budget
        self.start = time.perf_counter()
        self.examples = 0
        self.first_failure: float | None = None
        self.first_failure_example: int | None = None
        self.last: tuple[Case, PropertyFailure] | None = None
        #: every case that failed so far, with its failure: Hypothesis's best is one of them,
        #: not always the last
        self.failed: dict[str, PropertyFailure] = {}
        #: why the property cannot be checked in this run (:class:`PropertySkip`), once it said so
        self.skipped: str | None = None
        #: what the passing examples said they checked (a property may return a one-line note)
        self.notes: list[str] = []
        #: each example's largest error-to-allowed ratio (what assert_close compared)
        self.headroom = Headroom()
        #: the subject's oracle could not answer on an example before any failure: the cell has no
        #: verdict, and the search runs nothing more
        self.oracle_error: OracleError | None = None

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
        self.failed.setdefault(_case_key(case), failure)

    def replay_known(self, case: Case) -> None:
        """Once the implementation stopped answering, nothing can be run: a case that failed
        fails again with its own evidence, and any other passes unchecked."""
        failure = self.failed.get(_case_key(case))
        if failure is not None:
            self.last = (case, failure)
            raise failure


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
        suppress_health_check=list(SUPPRESSED_HEALTH_CHECKS),
        report_multiple_bugs=False,
        verbosity=Verbosity.quiet,
        phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
        print_blob=False,
    )


def searches(prop: Property, subject: Subject, config: StrategyConfig, profile: Profile) -> list[str | None]:
    """The searches a cell runs: the whole domain (None), then the edges that apply to ``prop``
    (tile edges only for a property that opts in)."""
    strata: list[str | None] = [None]
    if profile.edge_examples and prop.edges:
        strata += [
            e
            for e in subject.edges(config)
            if ((prop.tiles or not e.startswith(TILE_EDGE)) if prop.edges is True else e in prop.edges)
        ]
    return strata


def search_examples(prop: Property, profile: Profile, edge: str | None) -> int:
    """Examples for one search of ``prop``: the profile's, its share for a costly property, one
    at a tile edge (a new large shape each, pinned to carry signal)."""
    if edge is None:
        # a costly property runs its share of them
        return profile.max_examples if prop.share == 1.0 else max(1, round(profile.max_examples * prop.share))
    return min(profile.edge_examples, 1) if edge.startswith(TILE_EDGE) else profile.edge_examples


def run_cell(
    ctx: Context,
    prop: Property,
    profile: Profile,
    replay_prefix: dict[str, Any],
    pinned: list[Case] | tuple[Case, ...] = (),
) -> CellResult:
    """Search for a counterexample to ``prop`` on ``ctx``'s implementation.

    ``pinned`` cases (the regression corpus, the property's fixed cases) run first.
    Then one search over the whole domain, then (in profiles with ``edge_examples``)
    a short search inside each edge of the domain, so every edge is reached by
    construction; the first failure ends the cell and is shrunk inside its search (a failure
    in an edge with narrower ones, as ``tile B = 1025``, is then narrowed: :func:`_narrow`).
    A search that ran no example makes the cell ``incomplete``, never ``pass``; so does the
    subject's oracle failing on an example before any failure (the user's per-sample declaration
    raised, hung, died or answered garbage), which ends the cell at once, marked
    ``declaration_failed``: no verdict, never the implementation's fault.
    """
    if prop.external == "strict" and not ctx.impl.builtin and not ctx.strict:
        return CellResult(
            prop.name,
            prop.claim,
            Status.SKIP,
            message="runs on external implementations only with --strict (it checks how invalid "
            "input is rejected, which the contract leaves open)",
        )
    if prop.name in ctx.subject.not_applicable:
        return CellResult(prop.name, prop.claim, Status.SKIP, message=ctx.subject.not_applicable[prop.name])
    tracker = ShrinkTracker(profile.shrink_seconds)
    calls_before = ctx.calls
    config = StrategyConfig(pool=profile.pool, x64=ctx.x64)
    strata = searches(prop, ctx.subject, config, profile)
    status, message, edge = Status.PASS, "", None
    edges: dict[str, int] = {}
    unreachable: dict[str, str] = {}
    try:
        for edge in strata:
            if prop.needs_signal and edge in ctx.subject.silent_edges:
                unreachable[edge] = "no input of this edge has signal, which this claim needs"
                continue
            explicit = pinned if edge is None else ()
            before = tracker.examples
            status, message = _search(ctx, prop, profile, replace(config, edge=edge), tracker, explicit)
            edges[edge or DOMAIN] = tracker.examples - before
            if tracker.oracle_error is not None:  # no verdict: the subject's declaration failed
                break
            if tracker.skipped is not None and status == Status.PASS:
                status, message = Status.SKIP, tracker.skipped
                break
            if status == Status.SKIP:  # an edge this property cannot reach
                unreachable[edge or DOMAIN] = message
                status, message = Status.PASS, ""
                continue
            if status != Status.PASS:
                if status == Status.FAIL and edge is not None:
                    edge, message = _narrow(
                        ctx, prop, profile, replace(config, edge=edge), tracker, edges, message
                    )
                break
            if edges[edge or DOMAIN] == 0:
                status = Status.INCOMPLETE
                message = (
                    f"ran no example {'in the whole domain' if edge is None else f'inside the edge {edge!r}'}"
                )
                break
    except OracleError as e:  # raised outside an example: no verdict all the same
        tracker.oracle_error = e
    except Exception as e:  # the suite's own fault, never the implementation's
        return CellResult(
            prop.name,
            prop.claim,
            Status.ERROR,
            tracker.examples,
            ctx.calls - calls_before,
            time.perf_counter() - tracker.start,
            message=f"internal error in the suite: {type(e).__name__}: {e}\n{traceback.format_exc(limit=-3)}",
            edges=edges,
        )
    if tracker.oracle_error is not None:
        return CellResult(
            prop.name,
            prop.claim,
            Status.INCOMPLETE,
            tracker.examples,
            ctx.calls - calls_before,
            time.perf_counter() - tracker.start,
            message=no_verdict_message(tracker.oracle_error),
            edges=edges,
            declaration_failed=True,
        )
    end = time.perf_counter()
    result = CellResult(
        prop.name, prop.claim, status, tracker.examples, ctx.calls - calls_before, end - tracker.start
    )
    result.edges, result.unreachable = edges, unreachable
    result.headroom = tracker.headroom.record(passed=status == Status.PASS and not ctx.executor.given_up)
    if status in (Status.INCOMPLETE, Status.SKIP):
        result.message = message
    if status == Status.PASS and tracker.notes:
        result.message = "; ".join(tracker.notes)
    if status == Status.PASS and ctx.executor.given_up:
        # the implementation stopped answering during this cell: what passed was not checked
        result.status, result.message = Status.FAIL, f"not checked: {ctx.executor.evidence}"
    if status == Status.FAIL and tracker.last is not None:
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


def no_verdict_message(error: OracleError) -> str:
    """What a cell with no verdict says: what the declaration's code did, and how to fix it."""
    return (
        f"no verdict: {error} (the per-sample declaration's own code fails on a drawn input, not the "
        "implementation under test: fix make or call, or narrow the subject with dims= or dtypes=)"
    )


def _narrow(
    ctx: Context,
    prop: Property,
    profile: Profile,
    config: StrategyConfig,
    tracker: ShrinkTracker,
    edges: dict[str, int],
    message: str,
) -> tuple[str, str]:
    """After a failure in the edge ``config.edge``: the first of its narrower edges (the subject's
    ``narrowing``, e.g. ``tile B = 129`` for ``tile B = 1025``) that fails too, with its message
    prefix, else the edge itself. The tracker then holds that edge's counterexample."""
    assert config.edge is not None
    for narrower in ctx.subject.narrowing(config).get(config.edge, ()):
        before = tracker.examples
        status, prefix = _search(ctx, prop, profile, replace(config, edge=narrower), tracker)
        edges[narrower] = tracker.examples - before
        if status == Status.FAIL:
            return narrower, prefix
    return config.edge, message


def examples_seed(subject: str, prop: Property, edge: str | None) -> int:
    """The seed of ``prop``'s derandomized search at ``edge``: one per kind of case, so
    properties with the same kind draw the same examples; a kind whose first draw is another
    kind's arguments (``same_args_as``) takes that kind's seed, and so its arguments too."""
    kind = getattr(prop.cases, "same_args_as", prop.cases).__name__
    return zlib.crc32(f"{subject}/{kind}{'/' + edge if edge else ''}".encode())


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
) -> tuple[Status, str]:
    """One Hypothesis search over ``prop``'s cases under ``config``: ``(status, message prefix)``.

    ``SKIP`` means the edge cannot be reached by this property (the message says why).
    """
    strategy = case_strategy(prop, ctx.subject, config)

    def body(case: Case) -> None:
        if tracker.oracle_error is not None:  # no verdict: nothing more is run
            return
        tracker.examples += 1
        if tracker.passes_unchecked(case):
            return
        if ctx.executor.given_up:
            tracker.replay_known(case)  # only cases that really failed may fail, with their evidence
            return
        if tracker.skipped is not None:
            return
        note: str | None = None
        oracle_failed = False
        with tolerance.probing() as probe:
            try:
                note = prop.check(ctx, case)
            except PropertyFailure as failure:
                tracker.record(case, failure)
                raise
            except PropertySkip as skip:
                tracker.skipped = skip.message
                return
            except OracleError as e:
                # The subject's own code failed here. Before any failure, the cell has no verdict
                # and the search ends (Hypothesis would shrink an exception, one oracle call, maybe
                # one hang, at a time). After one, the failure stands: see below.
                if not tracker.failed:
                    tracker.oracle_error = e
                    return
                oracle_failed = True
            finally:
                tracker.headroom.add(probe, lambda: summarize(case))
        if oracle_failed:
            # A case that failed fails again with its own evidence, any other passes unchecked;
            # raised outside the handler, so that Hypothesis sees the failure as it was first raised.
            tracker.replay_known(case)
            return
        if isinstance(note, str) and note not in tracker.notes:
            tracker.notes.append(note)

    edge = f"/{config.edge}" if config.edge else ""
    where = f"{ctx.subject.name}/{prop.name}{edge}"
    db_key = f"nnx-conformance/{ctx.impl.name}/{where}"
    # Properties with the same kind of case draw the same examples (in derandomized
    # profiles), so one call of the implementation serves all of them (Context.memo)
    # and one oracle answer and panel output serve every implementation.
    examples = search_examples(prop, profile, config.edge)
    test = given(case=strategy)(body)
    for case in reversed(explicit):  # explicit examples run first, in order
        test = example(case=case)(test)
    test = hypothesis_settings(profile, examples)(test)
    test._hypothesis_internal_database_key = db_key.encode()  # one database entry per search
    if profile.derandomize:
        # Same examples for every implementation: the oracle and panel caches are shared.
        test = seed(examples_seed(ctx.subject.name, prop, config.edge))(test)
    try:
        test()
    except PropertyFailure:
        if not tracker.failed:  # never the implementation's fault: no example of it failed
            raise RuntimeError(
                "Hypothesis reported a failure, but no example of this search failed"
            ) from None
        return Status.FAIL, ""
    except Flaky:
        return Status.FAIL, "failed, then passed when re-run on the same input (nondeterministic): "
    except (Unsatisfiable, FailedHealthCheck) as e:
        where = "the whole domain" if config.edge is None else f"the edge {config.edge!r}"
        why = "every case was filtered out"
        if isinstance(e, FailedHealthCheck):
            why = f"Hypothesis's health check failed ({' '.join(str(e).split())[:160]})"
        return Status.INCOMPLETE, f"ran no example in {where}: {why}"
    except InvalidArgument as e:
        if config.edge is None:
            raise
        return Status.SKIP, f"cannot be reached by this property ({' '.join(str(e).split())[:200]})"
    return Status.PASS, ""


def summarize(case: Case) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in case.items():
        if isinstance(value, dict):
            for name, arg in value.items():
                out[name if key == "args" else f"{key}.{name}"] = codec.describe(arg)
        else:
            out[key] = codec.describe(value)
    return out


def replay_command(prefix: dict[str, Any], prop: str, case: Case) -> str:
    """The command that replays ``case``; a case too long for a command line goes to a file."""
    text = codec.dumps(case)
    if len(text) > INLINE_CASE_LIMIT:
        folder = os.environ.get(CASE_DIR_ENV, ".conformance/cases")
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, f"{prop}-{zlib.crc32(text.encode()):08x}.json")
        with open(path, "w") as f:
            f.write(text)
        text = "@" + path
    return str(ReplayCommand(property=prop, case=text, python=_python(), **prefix))


def _python() -> str:
    """``python`` when that is this interpreter on PATH, else this interpreter's path."""
    found = shutil.which("python")
    if found and os.path.abspath(found) == os.path.abspath(sys.executable):
        return "python"
    return sys.executable


def apply_expectation(cell: CellResult, reason: str | None) -> CellResult:
    """A failure that was expected becomes ``xfail`` (evidence kept); a pass becomes ``xpass``."""
    if reason is None:
        return cell
    cell.expected_failure = reason
    if cell.status == Status.FAIL:
        cell.status = Status.XFAIL
    elif cell.status == Status.PASS:
        cell.status = Status.XPASS
        cell.message = f"expected to fail ({reason}), but held on every example: a stale expectation"
    return cell
