"""When shrinking runs out of time, the report is still a real, deterministic failure.

Past the budget only cases that already failed may fail again. Hypothesis's best
case is one of those, but not always the last one recorded: letting only the last
one fail made its final replay of the best case pass, and a deterministic bug was
reported as "nondeterministic" with a case that was not the smallest found.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from conformance.base.failures import PropertyFailure
from conformance.cases import codec
from conformance.properties import PROPERTIES
from conformance.run.engine import Engine
from conformance.run.profiles import get_profile
from conformance.run.runner import ShrinkTracker
from conformance.run.settings import EngineOptions, targets
from conformance.subjects import get_subject

CELLS = [
    ("vmap_over_ensemble", "tests.zoo.ensemble:batch_major", "member_independence"),
    ("vmap_over_batch", "tests.zoo.broken:batch_mean_leaks", "batch_independence"),
]


@pytest.mark.parametrize("budget", [0.0, 0.05, 0.3])
@pytest.mark.parametrize(("subject", "spec", "prop"), CELLS, ids=[c[2] for c in CELLS])
def test_an_exhausted_shrink_budget_reports_a_failure_that_replays(
    subject: str, spec: str, prop: str, budget: float
) -> None:
    the_subject = get_subject(subject)
    options = EngineOptions(
        subjects=(the_subject,),
        profile=replace(get_profile("ci"), shrink_seconds=budget),
        specs=(spec,),
        isolation="trusted",
        properties=(prop,),
        compile_cache="off",
    )
    with Engine(options) as engine:
        (cell,) = engine.check_subject(the_subject).implementations[0].properties
        assert cell.status == "fail"
        assert "nondeterministic" not in cell.message, cell.message
        # The reported case fails again when replayed on its own.
        (target, _), *_ = targets(the_subject, [spec])
        ctx = engine.context(the_subject, target)
        with pytest.raises(PropertyFailure):
            PROPERTIES[prop].check(ctx, codec.decode(cell.counterexample["case"]))


def test_out_of_budget_every_case_that_failed_still_fails() -> None:
    tracker = ShrinkTracker(budget=0.0)
    bigger, smaller, new = ({"args": {"n": n}} for n in (100, 8, 3))
    tracker.record(smaller, PropertyFailure("fails"))
    tracker.record(bigger, PropertyFailure("fails"))  # tried during shrinking, after the best one
    tracker.first_failure -= 1.0  # the budget is spent
    assert tracker.over_budget()
    assert not tracker.passes_unchecked(smaller)  # Hypothesis's best: its final replay must fail again
    assert not tracker.passes_unchecked(bigger)
    assert tracker.passes_unchecked(new)


def test_within_budget_every_case_is_checked() -> None:
    tracker = ShrinkTracker(budget=60.0)
    tracker.record({"args": {"n": 1}}, PropertyFailure("fails"))
    assert not tracker.passes_unchecked({"args": {"n": 2}})
