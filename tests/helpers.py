"""Running the suite on one implementation from a test, the way ``check --profile ci`` does."""

from __future__ import annotations

from conformance import engine
from conformance.engine import ImplResult


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
