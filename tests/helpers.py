"""Running the suite on one implementation from a test, the way ``check --profile ci`` does."""

from __future__ import annotations

from conformance.profiles import get_profile
from conformance.runner import ImplResult, RunOptions, run
from conformance.subjects import get_subject
from impl.registry import load


def check(
    spec: str,
    properties: tuple[str, ...] = (),
    *,
    profile: str = "ci",
    strict: bool = True,
    isolation: str = "none",
    timeout: float | None = None,
    max_examples: int | None = None,
    subject: str = "vmap_over_batch",
) -> ImplResult:
    """Run ``properties`` (default: all) on the implementation ``spec``; returns its results."""
    options = RunOptions(
        get_subject(subject),
        get_profile(profile).with_examples(max_examples),
        strict=strict,
        isolation=isolation,
        timeout=timeout,
        properties=properties,
    )
    return run([(load(spec, subject), spec)], options).implementations[0]
