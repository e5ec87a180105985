"""An implementation that hangs, crashes or exits is a failed property, and the run goes on."""

from __future__ import annotations

from conformance.profiles import get_profile
from conformance.runner import RunOptions, run
from conformance.subjects import VMAP_OVER_BATCH
from impl.registry import load


def _run(specs: list[str], prop: str, timeout: float = 5.0):  # noqa: ANN202
    options = RunOptions(VMAP_OVER_BATCH, get_profile("ci"), timeout=timeout, properties=(prop,))
    return run([(load(s), s) for s in specs], options)


def test_segfault_fails_the_property_and_the_next_implementation_still_runs() -> None:
    report = _run(["bad=tests.zoo.broken:segfaults_on_many_features", "nnx_vmap"], "agrees_with_oracle")
    bad, good = report.implementations
    (cell,) = bad.properties
    assert cell.status == "fail"
    assert "killed its process (killed by SIGSEGV)" in cell.message
    assert "segfaults_on_many_features" in cell.message  # the worker's fatal-error frames
    assert int(cell.counterexample["case"]["dict"]["args"]["dict"]["features"]["int"]) > 64
    assert good.passed and good.properties[0].status == "pass"
    assert report.exit_code() == 1


def test_os_exit_fails_the_property_with_the_exit_code() -> None:
    report = _run(["bad=tests.zoo.broken:exits_on_negative_seed"], "seed_determinism")
    (cell,) = report.implementations[0].properties
    assert cell.status == "fail"
    assert "exit code 3" in cell.message


def test_hang_is_a_timeout_with_the_input_that_hung() -> None:
    report = _run(["bad=tests.zoo.broken:hangs_on_large_batch"], "output_contract", timeout=3)
    (cell,) = report.implementations[0].properties
    assert cell.status == "fail"
    assert "did not return within the 3 s timeout" in cell.message
    assert (
        "[65," in cell.counterexample["summary"]["x_batch"]
        or "[100," in cell.counterexample["summary"]["x_batch"]
    )


def test_worker_that_cannot_load_is_a_load_error() -> None:
    report = _run(["bad=tests.zoo.broken:returns_list"], "output_contract")
    assert report.exit_code() == 1  # loads fine, fails the property
    impl = load("bad=tests.zoo.broken:returns_list")
    object.__setattr__(impl, "spec", "tests.zoo.broken:no_such_function")
    options = RunOptions(VMAP_OVER_BATCH, get_profile("ci"), properties=("output_contract",))
    report = run([(impl, "bad")], options)
    assert report.implementations[0].load_error
    assert "no_such_function" in report.implementations[0].load_error
    assert report.exit_code() == 2
