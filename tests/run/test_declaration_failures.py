"""A per-sample declaration that fails on a drawn input: no verdict, never the implementation's fault.

The rule (conformance/base/verdict.py): a cell whose subject's oracle could not answer is
``incomplete`` and marked ``declaration_failed``; the implementation's verdict is ``no verdict:
declaration failed`` (unless some other property really failed) and the run exits 2, as for an
input that cannot be loaded. End to end: declarations of ``tests/zoo/bad_declarations.py`` pass
the oracle worker's probe, then hang, exit or answer garbage on the samples the probe does not
use (``D = 3``); the run goes on, the other property gets its verdict, and nothing is left running.
"""

from __future__ import annotations

import functools
import io
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from conformance.base import verdict
from conformance.base.failures import OracleError, PropertyFailure
from conformance.base.verdict import (
    EXIT_FAILED,
    EXIT_INTERNAL,
    EXIT_OK,
    EXIT_USAGE,
    REPORT_SCHEMA,
    Status,
    Verdict,
)
from conformance.cases import codec
from conformance.reporting import summary
from conformance.reporting.report import print_report
from conformance.run.results import ImplResult, RunReport
from conformance.run.runner import CellResult
from tests.boundary.helpers import workers_of

ROOT = Path(__file__).resolve().parents[2]
ZOO = "tests/zoo/bad_declarations.py"
#: Seconds each oracle call may take: a hang costs this, and a new worker.
TIMEOUT = "2"
#: Seconds a run of two properties may take, hangs and restarts included (it takes 5 to 10).
BOUND = 120.0
#: Seconds the cell with no verdict may take: its examples up to the first failure of the oracle.
CELL_BOUND = 15.0

NO_VERDICT = "no verdict: the float64 oracle of"
FIX = "fix make or call, or narrow the subject with dims= or dtypes="


# --------------------------------------------------------------------------- the rule


def _cell(name: str, status: Status, declaration_failed: bool = False) -> CellResult:
    return CellResult(name, "claim", status, message="why", declaration_failed=declaration_failed)


def test_a_cell_with_no_verdict_blames_neither_the_implementation_nor_the_suite() -> None:
    found = [Status.PASS, Status.INCOMPLETE]
    assert verdict.verdict(found, None, declaration_failed=True) == Verdict.DECLARATION_FAILED
    assert verdict.verdict(found) == Verdict.INCOMPLETE  # a cell that ran nothing, unmarked
    # a real failure elsewhere stands, and a load error comes first
    assert verdict.verdict([Status.FAIL, *found], None, True) == Verdict.DOES_NOT_CONFORM
    assert verdict.verdict(found, "boom", True) == Verdict.LOAD_ERROR
    assert verdict.exit_code([(found, None, True)]) == EXIT_USAGE
    assert verdict.exit_code([(found, None, False)]) == EXIT_FAILED
    # the user's input is at fault first: before a failure or an internal error of another implementation
    assert verdict.exit_code([([Status.ERROR], None, False), (found, None, True)]) == EXIT_USAGE
    assert verdict.exit_code([([Status.FAIL], None, False), (found, None, True)]) == EXIT_USAGE
    assert verdict.exit_code([([Status.ERROR], None, False)]) == EXIT_INTERNAL
    assert verdict.exit_code([([Status.PASS], None, False)]) == EXIT_OK


def _report() -> RunReport:
    cells = [
        _cell("agrees_with_oracle", Status.INCOMPLETE, declaration_failed=True),
        _cell("inputs_untouched", Status.PASS),
    ]
    impl = ImplResult("mine", "mine.py:batched", False, cells)
    return RunReport("mine.py:decl", "ci", False, False, {}, 1.0, [impl])


def test_the_reports_say_no_verdict_and_the_run_exits_2() -> None:
    report = _report()
    (impl,) = report.implementations
    assert impl.declaration_failed and impl.verdict == Verdict.DECLARATION_FAILED
    assert not report.passed and report.exit_code() == EXIT_USAGE
    data = json.loads(json.dumps(report.to_json()))
    assert data["schema"] == REPORT_SCHEMA == "nnx-conformance/report/6"
    (entry,) = data["implementations"]
    assert entry["verdict"] == "no verdict: declaration failed"
    assert [(c["status"], c["declaration_failed"]) for c in entry["properties"]] == [
        ("incomplete", True),
        ("pass", False),
    ]
    markdown = summary.render(data)
    assert "| agrees_with_oracle | ❔ **NO VERDICT** |" in markdown
    assert "| **verdict** | ❔ **no verdict: declaration failed** |" in markdown
    out = io.StringIO()
    print_report(report, Console(file=out, width=200, color_system=None))
    text = out.getvalue()
    assert "NO VERDICT" in text and "no verdict: declaration failed" in text
    assert "does not conform" not in text
    assert "1 passed, 0 failed, 0 skipped, 1 without a verdict (the subject's declaration failed" in text


# --------------------------------------------------------------------------- the cell runner


def _cell_of(spec: str, check: Callable[[Any, Any], Any]) -> CellResult:
    """``agrees_with_oracle`` of the built-in subject ``vmap_over_batch`` on ``spec``, in this process,
    with ``check`` in place of the property's check (it receives the real one first)."""
    from conformance.boundary.executors import Target
    from conformance.properties import PROPERTIES
    from conformance.run.engine import Engine
    from conformance.run.profiles import get_profile
    from conformance.run.runner import run_cell
    from conformance.run.settings import EngineOptions
    from conformance.subjects import VMAP_OVER_BATCH

    real = PROPERTIES["agrees_with_oracle"]
    prop = replace(real, check=functools.wraps(real.check)(functools.partial(check, real.check)))
    profile = replace(get_profile("ci"), max_examples=8, edge_examples=0)
    options = EngineOptions(
        subjects=(VMAP_OVER_BATCH,), profile=profile, specs=(spec,), isolation="trusted", compile_cache="off"
    )
    with Engine(options) as engine:
        ctx = engine.context(VMAP_OVER_BATCH, Target(spec, spec, VMAP_OVER_BATCH.name))
        return run_cell(ctx, prop, profile, engine.replay_prefix(VMAP_OVER_BATCH, spec))


def test_the_first_oracle_failure_ends_the_cell_with_no_verdict() -> None:
    """No example runs after it: Hypothesis shrinking the exception would ask again, hang again."""
    calls: list[Any] = []

    def check(real: Callable[[Any, Any], Any], ctx: Any, case: Any) -> Any:
        calls.append(case)
        if len(calls) == 2:
            raise OracleError("the float64 oracle of mine.py:decl raised ValueError: boom")
        return real(ctx, case)

    cell = _cell_of("nnx_vmap", check)
    assert (cell.status, cell.declaration_failed, len(calls), cell.examples) == (
        Status.INCOMPLETE,
        True,
        2,
        2,
    )
    assert (
        cell.message.startswith(f"{NO_VERDICT} mine.py:decl raised ValueError: boom") and FIX in cell.message
    )
    assert cell.counterexample is None and cell.replay is None


def test_after_a_real_failure_the_oracle_failing_while_shrinking_leaves_the_failure_standing() -> None:
    """A case the oracle cannot answer shows nothing: it passes unchecked, and the case that failed
    fails again with its own evidence (not "nondeterministic"), whatever the oracle does then."""
    failed: list[Any] = []

    def check(real: Callable[[Any, Any], Any], ctx: Any, case: Any) -> Any:
        if failed:
            raise OracleError("the float64 oracle of mine.py:decl did not return within 2 s")
        try:
            return real(ctx, case)
        except PropertyFailure:
            failed.append(case)
            raise

    cell = _cell_of("tests.zoo.broken:seed_plus_one", check)
    assert (cell.status, cell.declaration_failed) == (Status.FAIL, False), cell.message
    assert "nondeterministic" not in cell.message and "no verdict" not in cell.message
    assert cell.counterexample is not None and cell.replay
    assert cell.counterexample["case"] == codec.encode(failed[0])  # nothing smaller could be checked


# --------------------------------------------------------------------------- end to end


def _check(
    tmp_path: Path, declaration: str, impl: str = "batched"
) -> tuple[subprocess.CompletedProcess, dict[str, Any], float, int]:
    """``check`` of the correct ``batched`` on ``declaration``: two properties, the first asks the
    oracle, the second does not. (the finished run, its JSON report, seconds, the runner's pid)"""
    report = tmp_path / "report.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONFORMANCE_")}
    env["CONFORMANCE_CASE_DIR"] = str(tmp_path / "cases")
    env["COLUMNS"] = "200"
    argv = [
        *(sys.executable, "-m", "conformance", "check", "--subject", f"{ZOO}:{declaration}"),
        *("--impl", f"{ZOO}:{impl}", "--profile", "ci", "--max-examples", "3", "--timeout", TIMEOUT),
        *("--property", "agrees_with_oracle", "--property", "inputs_untouched", "--quiet"),
        *("--json", str(report)),
    ]
    start = time.perf_counter()
    proc = subprocess.Popen(
        argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        stdout, stderr = proc.communicate(timeout=BOUND)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail(f"the run of {declaration} did not end within {BOUND:.0f} s")
    seconds = time.perf_counter() - start
    done = subprocess.CompletedProcess(argv, proc.returncode, stdout, stderr)
    data = json.loads(report.read_text()) if report.exists() else {}
    return done, data, seconds, proc.pid


def _left_behind(runner: int, wait: float = 10.0) -> set[int]:
    """The runner's workers still running ``wait`` seconds after it ended (each ends when it sees
    its runner gone)."""
    deadline = time.monotonic() + wait
    while (left := workers_of(runner)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


@pytest.mark.parametrize(
    ("declaration", "words"),
    [
        ("hangs", "hangs did not return within 2 s"),
        ("exits", "exits killed its process (exit code 7)"),
        ("returns_a_string", "returns_a_string raised TypeError"),
        pytest.param(
            *("ragged", "ragged raised ValueError: all input arrays must have the same shape"),
            marks=pytest.mark.slow,
        ),
    ],
)
def test_a_declaration_that_fails_mid_run_gives_no_verdict_and_the_run_goes_on(
    tmp_path: Path, declaration: str, words: str
) -> None:
    done, data, seconds, runner = _check(tmp_path, declaration)
    output = done.stdout + done.stderr
    assert done.returncode == EXIT_USAGE, output[-3000:]
    assert seconds < BOUND
    (impl,) = data["implementations"]
    cells = {c["name"]: c for c in impl["properties"]}
    failed = cells["agrees_with_oracle"]
    assert (failed["status"], failed["declaration_failed"]) == ("incomplete", True), failed
    assert failed["message"].startswith(NO_VERDICT) and words in failed["message"], failed["message"]
    assert FIX in failed["message"]
    # the first failure of the oracle ends the cell: Hypothesis does not shrink it, one oracle
    # call (maybe a hang) at a time
    assert failed["seconds"] < CELL_BOUND, failed["seconds"]
    assert failed["counterexample"] is None and failed["replay"] is None  # nothing to replay against
    # the property that does not ask the oracle gets its verdict, over every edge
    untouched = cells["inputs_untouched"]
    assert (untouched["status"], untouched["declaration_failed"]) == ("pass", False), untouched
    assert untouched["edges"]["D = 3"] > 0
    assert impl["verdict"] == "no verdict: declaration failed" and not data["passed"]
    # the terminal says so: the message in the affected cell, nothing blamed on the implementation
    assert words in done.stdout and FIX in done.stdout
    assert "does not conform" not in done.stdout and "Traceback" not in output
    assert _left_behind(runner) == set()


def test_a_make_that_fails_in_the_implementations_worker_gives_no_verdict_either(tmp_path: Path) -> None:
    """make builds the model handed to a (model, x_batch) implementation in its own worker: when it
    fails there, the implementation never ran. The oracle worker's make is asked, fails too, and
    inputs_untouched (which never asks the oracle) has no verdict rather than a failure."""
    done, data, _, runner = _check(tmp_path, "make_fails")
    assert done.returncode == EXIT_USAGE, (done.stdout + done.stderr)[-3000:]
    (impl,) = data["implementations"]
    for cell in impl["properties"]:
        assert (cell["status"], cell["declaration_failed"]) == ("incomplete", True), cell
        assert "D = 3 is not supported" in cell["message"], cell["message"]
    assert "make(seed, dims), building the model" in impl["properties"][1]["message"]
    assert impl["verdict"] == "no verdict: declaration failed"
    assert _left_behind(runner) == set()


@pytest.mark.slow
def test_an_implementation_claiming_make_failed_when_it_did_not_still_fails(tmp_path: Path) -> None:
    """The worker's word that make failed is checked against the oracle worker's make."""
    done, data, _, _ = _check(tmp_path, "good", impl="claims_make_failed")
    assert done.returncode == EXIT_FAILED, (done.stdout + done.stderr)[-3000:]
    (impl,) = data["implementations"]
    cells = {c["name"]: c for c in impl["properties"]}
    assert (
        cells["inputs_untouched"]["status"] == "fail" and not cells["inputs_untouched"]["declaration_failed"]
    )
    assert impl["verdict"] == "does not conform"


@pytest.mark.slow
def test_the_same_module_well_declared_conforms(tmp_path: Path) -> None:
    """The zoo's declarations misbehave only where they say: declared well, the same run passes."""
    done, data, _, runner = _check(tmp_path, "good")
    assert done.returncode == EXIT_OK, (done.stdout + done.stderr)[-3000:]
    (impl,) = data["implementations"]
    assert impl["verdict"] == "conforms"
    assert all(not c["declaration_failed"] for c in impl["properties"])
    assert impl["properties"][0]["edges"]["D = 3"] > 0
    assert _left_behind(runner) == set()
