"""The engine's slots (conformance/run/engine.py): how many implementations it checks at once
(``Engine.effective_jobs``), the thread-safe Hypothesis that needs, and a report in the usual
property order whatever order a slot went through them. Which slot checks which property is
:mod:`conformance.run.scheduling`'s, tested in ``test_scheduling.py``."""

from __future__ import annotations

import tomllib
from pathlib import Path
from types import SimpleNamespace

import hypothesis

from conformance.run.engine import Engine

ROOT = Path(__file__).resolve().parents[2]


def test_the_lowest_hypothesis_accepted_draws_safely_in_threads() -> None:
    """Implementations are checked in parallel threads: the dependency floor must be Hypothesis
    6.155.7 (shared strategies draw safely from several threads since that release), or a correct
    implementation may get a failure with no failing example."""
    with open(ROOT / "pyproject.toml", "rb") as f:
        deps = tomllib.load(f)["project"]["dependencies"]
    (floor,) = [d.split(">=")[1] for d in deps if d.startswith("hypothesis")]
    assert tuple(int(p) for p in floor.split(".")) >= (6, 155, 7)
    assert tuple(int(p) for p in hypothesis.__version__.split(".")[:3]) >= (6, 155, 7)


def test_one_at_a_time_in_process_or_when_asked() -> None:
    for isolation, jobs, n in (("none", 4, 4), ("process", 1, 4), ("process", 4, 0)):
        engine = SimpleNamespace(options=SimpleNamespace(isolation=isolation, jobs=jobs))
        assert Engine.effective_jobs(engine, n) == 1  # type: ignore[arg-type]


def test_one_implementation_gets_every_slot_its_helpers_use() -> None:
    engine = SimpleNamespace(options=SimpleNamespace(isolation="process", jobs=2))
    assert Engine.effective_jobs(engine, 1) == 2  # type: ignore[arg-type]


def test_the_report_keeps_the_usual_order_whatever_order_ran() -> None:
    from conformance.boundary.executors import Target
    from conformance.run.profiles import get_profile
    from conformance.run.settings import EngineOptions
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
