"""Running the suite on one implementation from a test, the way ``check --profile ci`` does."""

from __future__ import annotations

from conformance.profiles import get_profile
from conformance.runner import ImplResult, RunOptions, run
from conformance.subjects import VMAP_OVER_BATCH
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
) -> ImplResult:
    """Run ``properties`` (default: all) on the implementation ``spec``; returns its results."""
    options = RunOptions(
        VMAP_OVER_BATCH,
        get_profile(profile).with_examples(max_examples),
        strict=strict,
        isolation=isolation,
        timeout=timeout,
        properties=properties,
    )
    return run([(load(spec), spec)], options).implementations[0]
