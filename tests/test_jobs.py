"""Implementations are checked in parallel threads only on a Hypothesis that is thread-safe for them."""

from __future__ import annotations

from types import SimpleNamespace

import hypothesis
import pytest

from conformance.engine import THREAD_SAFE_HYPOTHESIS, Engine


@pytest.mark.parametrize(
    ("version", "jobs"), [("6.136.0", 1), ("6.155.6", 1), ("6.155.7", 2), ("6.170.17", 2), ("7.0.0", 2)]
)
def test_parallel_only_on_a_thread_safe_hypothesis(
    version: str, jobs: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hypothesis, "__version__", version)
    engine = SimpleNamespace(options=SimpleNamespace(isolation="process", jobs=2))
    assert Engine.effective_jobs(engine, 4) == jobs  # type: ignore[arg-type]
    assert THREAD_SAFE_HYPOTHESIS == (6, 155, 7)


def test_one_at_a_time_in_process_or_when_asked() -> None:
    for isolation, jobs, n in (("none", 4, 4), ("process", 1, 4), ("process", 4, 0)):
        engine = SimpleNamespace(options=SimpleNamespace(isolation=isolation, jobs=jobs))
        assert Engine.effective_jobs(engine, n) == 1  # type: ignore[arg-type]


def test_one_implementation_gets_every_slot_its_helpers_use() -> None:
    engine = SimpleNamespace(options=SimpleNamespace(isolation="process", jobs=2))
    assert Engine.effective_jobs(engine, 1) == 2  # type: ignore[arg-type]


def test_implementations_side_by_side_go_through_the_properties_in_different_orders() -> None:
    from conformance.scheduling import property_order

    props = list("abcdefgh")
    assert property_order(props, 0, 1) == props
    assert property_order(props, 0, 2) == props
    assert property_order(props, 1, 2) == props[::-1]  # the costly first shapes come last
    assert property_order(props, 2, 4) == list("efghabcd")
    for slot in range(4):
        assert sorted(property_order(props, slot, 4)) == props


def test_the_report_keeps_the_usual_order_whatever_order_ran() -> None:
    from conformance.engine import EngineOptions
    from conformance.executors import Target
    from conformance.profiles import get_profile
    from conformance.subjects import VMAP_OVER_BATCH

    chosen = ("output_contract", "seed_determinism", "inputs_untouched")
    options = EngineOptions(
        subjects=(VMAP_OVER_BATCH,),
        profile=get_profile("ci").with_examples(2),
        isolation="none",
        properties=chosen,
    )
    ran: list[str] = []
    with Engine(options) as engine:
        target = Target("nnx_vmap", "nnx_vmap", VMAP_OVER_BATCH.name)
        result = engine.check_target(
            VMAP_OVER_BATCH, target, "nnx_vmap", lambda name, cell: ran.append(cell.property), slot=1, slots=2
        )
    assert ran == list(chosen[::-1])
    assert [c.property for c in result.properties] == list(chosen)
