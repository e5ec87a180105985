"""Running the suite on one implementation from a test, the way ``check --profile ci`` does."""

from __future__ import annotations

from typing import Any

import pytest

from conformance.run import engine
from conformance.run.results import ImplResult


def check(
    spec: str,
    properties: tuple[str, ...] = (),
    *,
    profile: str = "ci",
    strict: bool = True,
    isolation: str = "trusted",
    timeout: float | None = None,
    max_examples: int | None = None,
    subject: str = "vmap_over_batch",
) -> ImplResult:
    """Run ``properties`` (default: all) on the implementation ``spec``; returns its results.

    The zoo runs in this process by default (``trusted``: the tests vouch for it); pass
    ``isolation="process"`` for what a user's implementation gets.
    """
    report = engine.check(
        [spec],
        subject=subject,
        profile=profile,
        max_examples=max_examples,
        strict=strict,
        isolation=isolation,
        timeout=timeout,
        properties=properties,
        corpus=None,
    )
    return report.implementations[0]


def fast_sample(cases: list[tuple[str, ...]], fast: set[tuple[str, ...]]) -> list[Any]:
    """Zoo cases ``(..., name, property)`` as pytest params: all but a sample are marked slow.

    The fast tier keeps the cases in ``fast`` and, for a property none of them covers (a new
    one), its first case; ``python -m pytest -m slow`` runs the rest of the zoo.
    """
    covered = {c[:-2] + c[-1:] for c in fast}
    keep = set(fast)
    for case in cases:
        if case[:-2] + case[-1:] not in covered:
            covered.add(case[:-2] + case[-1:])
            keep.add(case)
    return [pytest.param(*c, marks=() if c in keep else pytest.mark.slow) for c in cases]
