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
    for isolation, jobs, n in (("none", 4, 4), ("process", 1, 4), ("process", 4, 1)):
        engine = SimpleNamespace(options=SimpleNamespace(isolation=isolation, jobs=jobs))
        assert Engine.effective_jobs(engine, n) == 1  # type: ignore[arg-type]
