"""agrees_with_builtins runs the reference panel only for an output off the oracle's bound."""

from __future__ import annotations

import numpy as np
import pytest

from conformance.base.failures import PropertyFailure
from conformance.boundary.calls import CallResult
from conformance.properties import PROPERTIES
from conformance.properties.context import Context, SharedCache
from conformance.properties.forward import IMPLIED_BY_ORACLE
from conformance.run.engine import Engine
from conformance.run.profiles import get_profile
from conformance.run.settings import EngineOptions
from conformance.subjects import VMAP_OVER_BATCH
from impl.registry import load
from strategies import KindedArray


class Spy:
    """A panel member that records its calls and answers as the built-in it wraps."""

    def __init__(self, inner: object) -> None:
        self.inner, self.calls = inner, 0

    def call(self, args: dict, transform: dict | None = None) -> CallResult:
        self.calls += 1
        return self.inner.call(args)  # type: ignore[attr-defined]


def _run(spec: str) -> tuple[Spy, Exception | None]:
    options = EngineOptions(subjects=(VMAP_OVER_BATCH,), profile=get_profile("ci"), isolation="trusted")
    x = np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4)
    case = {"args": {"seed": 7, "x_batch": KindedArray(x, "numpy", "ordinary"), "features": 5}}
    with Engine(options) as engine:
        panel = engine.panel(VMAP_OVER_BATCH)
        spy = Spy(panel["nnx_vmap"])
        from conformance.boundary.executors import InProcessExecutor

        target = InProcessExecutor(load(spec, VMAP_OVER_BATCH.name), trusted=True)
        ctx = Context(VMAP_OVER_BATCH, target, {"nnx_vmap": spy}, cache=SharedCache())  # type: ignore[dict-item]
        try:
            PROPERTIES["agrees_with_builtins"].check(ctx, case)
        except PropertyFailure as e:
            return spy, e
    return spy, None


def test_an_output_within_the_oracles_bound_needs_no_built_in() -> None:
    spy, failure = _run("manual_lift")
    assert failure is None and spy.calls == 0


def test_an_output_off_the_oracle_is_compared_with_each_built_in() -> None:
    spy, failure = _run("tests.zoo.broken:feature_major")
    assert spy.calls == 1
    assert failure is not None and "disagrees with built-in 'nnx_vmap'" in str(failure)


def test_the_shortcut_keeps_far_from_float64_rounding() -> None:
    # |out - witness| <= (r + 1) B (1 + 2**-51) must stay below the 2 B the claim allows
    assert (IMPLIED_BY_ORACLE + 1) * (1 + 2.0**-51) < 2
    assert IMPLIED_BY_ORACLE == pytest.approx(1.0, abs=1e-5)
