"""An implementation that hangs, crashes or exits is a failed property, and the run goes on."""

from __future__ import annotations

import pytest

from conformance.cases import codec
from conformance.run import engine
from conformance.run.results import RunReport


def _run(specs: list[str], prop: str, timeout: float = 5.0) -> RunReport:
    return engine.check(specs, timeout=timeout, properties=(prop,), corpus=None)


@pytest.mark.slow
def test_segfault_fails_the_property_and_the_next_implementation_still_runs() -> None:
    report = _run(["bad=tests.zoo.broken:segfaults_on_many_features", "nnx_vmap"], "agrees_with_oracle")
    bad, good = report.implementations
    (cell,) = bad.properties
    assert cell.status == "fail"
    assert "killed its process (killed by SIGSEGV)" in cell.message
    assert "segfaults_on_many_features" in cell.message  # the worker's fatal-error frames
    case = codec.decode(cell.counterexample["case"])
    assert int(case["args"]["features"]) > 64  # however the minimal example spells it
    assert good.passed and good.properties[0].status == "pass"
    assert report.exit_code() == 1


@pytest.mark.slow
def test_os_exit_fails_the_property_with_the_exit_code() -> None:
    report = _run(["bad=tests.zoo.broken:exits_on_negative_seed"], "seed_determinism")
    (cell,) = report.implementations[0].properties
    assert cell.status == "fail"
    assert "exit code 3" in cell.message


@pytest.mark.slow
def test_hang_is_a_timeout_with_the_input_that_hung() -> None:
    report = _run(["bad=tests.zoo.broken:hangs_on_large_batch"], "output_contract", timeout=3)
    (cell,) = report.implementations[0].properties
    assert cell.status == "fail"
    assert "did not return within" in cell.message
    assert (
        "[65," in cell.counterexample["summary"]["x_batch"]
        or "[100," in cell.counterexample["summary"]["x_batch"]
    )


def test_worker_that_cannot_load_is_a_load_error_and_the_others_still_run() -> None:
    report = _run(["bad=tests.zoo.broken:no_such_function", "nnx_vmap"], "output_contract")
    bad, good = report.implementations
    assert bad.load_error and "no_such_function" in bad.load_error
    assert bad.properties == []
    assert good.passed
    assert report.exit_code() == 2
