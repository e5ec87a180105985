"""The report faces on a user's per-sample subject, unchanged: ``check --json`` (and the replay
command it records), ``check --summary-md``, and ``expect --from`` followed by ``check --expect``.

One cheap run of ``examples/log_softmax_head.py:log_softmax_head`` (profile ``dev``, three
examples, the one property ``agrees_with_oracle``) with a correct rewrite and a broken one
(normalised over the batch axis: wrong on every batch of one sample or more) is shared by every
test.
"""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import Any

import pytest

from conformance import cli
from conformance.base.verdict import EXIT_FAILED, EXIT_OK, REPORT_SCHEMA_PREFIX
from conformance.cases.expectations import PLACEHOLDER
from tests.faces.helpers import Run, run

SUBJECT = "examples/log_softmax_head.py:log_softmax_head"
CORRECT = "examples/log_softmax_head.py:head_batched"
BROKEN = "tests/zoo/per_sample.py:head_over_batch_axis"
PROPERTY = "agrees_with_oracle"


#: Three examples of dev's and one property. The first example of a search is its simplest, a
#: batch of one sample, on which the broken rewrite already fails.
CHEAP = ["--profile", "dev", "--max-examples", "3", "--subject", SUBJECT, "--property", PROPERTY]


def check(env: dict[str, str], *args: str) -> Run:
    """A cheap check of the user subject."""
    return run([sys.executable, "-m", "conformance", "check", "--quiet", *CHEAP, *args], env)


def cell(report: dict[str, Any], impl: str) -> dict[str, Any]:
    (entry,) = [i for i in report["implementations"] if i["name"] == impl]
    (found,) = [c for c in entry["properties"] if c["property"] == PROPERTY]
    return found


@pytest.fixture(scope="module")
def checked(cli_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The shared run: its result, its JSON report and its Markdown summary."""
    out = tmp_path_factory.mktemp("user_reports")
    report, summary = out / "report.json", out / "summary.md"
    result = check(
        cli_env, "--impl", CORRECT, "--impl", BROKEN, "--json", str(report), "--summary-md", str(summary)
    )
    assert report.exists() and summary.exists(), str(result)
    return {
        "run": result,
        "report_path": report,
        "report": json.loads(report.read_text()),
        "summary": summary,
    }


def test_the_json_report_names_the_user_subject_and_its_failure(checked: dict[str, Any]) -> None:
    result, report = checked["run"], checked["report"]
    assert result.returncode == EXIT_FAILED, str(result)
    assert str(report["schema"]).startswith(REPORT_SCHEMA_PREFIX)
    assert report["subject"] == SUBJECT
    assert report["signature"].startswith("log_softmax_head(seed, x_batch: (B, D))")
    assert report["passed"] is False
    verdicts = {i["name"]: i["verdict"] for i in report["implementations"]}
    assert verdicts == {"head_batched": "conforms", "head_over_batch_axis": "does not conform"}
    assert cell(report, "head_batched")["status"] == "pass"
    failed = cell(report, "head_over_batch_axis")
    assert failed["status"] == "fail"
    assert "disagrees with the float64 oracle" in failed["message"]
    assert set(failed["counterexample"]["summary"]) == {"seed", "x_batch"}
    # the interpreter is named "python" where that is the one on PATH, else by its path
    assert f" -m conformance replay --subject {SUBJECT} --impl {BROKEN} " in failed["replay"]


def test_the_recorded_replay_command_reproduces_the_failure(
    checked: dict[str, Any], cli_env: dict[str, str]
) -> None:
    argv = shlex.split(cell(checked["report"], "head_over_batch_axis")["replay"])
    assert argv[1:4] == ["-m", "conformance", "replay"], argv
    replayed = run([sys.executable, *argv[1:]], cli_env)
    assert replayed.returncode == EXIT_FAILED, str(replayed)
    assert "FAIL: disagrees with the float64 oracle" in replayed.stdout, str(replayed)


def test_the_markdown_summary_names_the_user_subject_and_its_failure(checked: dict[str, Any]) -> None:
    text = checked["summary"].read_text()
    assert text.startswith(f"## nnx-conformance: {SUBJECT}, profile dev"), text[:200]
    assert "`log_softmax_head(seed, x_batch: (B, D)) -> (B, ...)`" in text
    assert f"| {PROPERTY} | ✅ pass | ❌ **FAIL** |" in text
    assert f"#### ❌ **FAIL**: `head_over_batch_axis` / `{PROPERTY}`" in text
    assert f"python -m conformance replay --subject {SUBJECT} --impl {BROKEN}" in text


def test_expect_turns_the_failure_into_an_expected_one(
    checked: dict[str, Any],
    cli_env: dict[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``expect --from`` writes an entry for the user subject's failure; with its reason written,
    ``check --expect`` reports the failure as ``xfail`` and exits 0."""
    expected = tmp_path / "expect.txt"
    assert cli.main(["expect", "--from", str(checked["report_path"]), "--out", str(expected)]) == EXIT_OK
    assert f"added: head_over_batch_axis  {PROPERTY}  subject={SUBJECT} " in capsys.readouterr().out
    text = expected.read_text()
    assert text.count(PLACEHOLDER) == 2  # the heading's hint and the entry's reason
    expected.write_text(text.replace(f"{PLACEHOLDER}: say why", "normalised over the batch axis; why"))
    report = tmp_path / "again.json"
    again = check(cli_env, "--impl", BROKEN, "--expect", str(expected), "--json", str(report))
    assert again.returncode == EXIT_OK, str(again)
    found = cell(json.loads(report.read_text()), "head_over_batch_axis")
    assert found["status"] == "xfail", found
    assert "normalised over the batch axis" in json.dumps(found["expected_failure"])
