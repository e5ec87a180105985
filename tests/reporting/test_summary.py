"""The Markdown summary (conformance/reporting/summary.py; ``check --summary-md``, ``$GITHUB_STEP_SUMMARY``,
``--conformance-summary-md``): rendered from recorded reports, and written by both faces."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conformance import cli
from conformance.pytest_plugin import spell
from conformance.reporting import summary
from conformance.run.settings import EngineOptions, UsageError

ROOT = Path(__file__).resolve().parents[2]
RECORDED = json.loads((ROOT / "tests" / "fixtures" / "recorded_failures.json").read_text())


def table_rows(text: str) -> list[list[str]]:
    return [
        [c.strip() for c in line.strip("|").split(" | ")]
        for line in text.splitlines()
        if line.startswith("| ")
    ]


def test_the_table_has_one_column_per_implementation_grouped_forward_then_transform() -> None:
    report = RECORDED["vmap_over_batch"]
    rows = table_rows(summary.render(report))
    assert rows[0] == ["property", "`host_round_trip`", "`returns_list`", "`seed_plus_one`"]
    labels = [r[0] for r in rows[1:]]
    assert labels.index("**forward**") < labels.index("agrees_with_oracle") < labels.index("**transform**")
    assert (
        labels.index("**transform**") < labels.index("jit_agrees_with_oracle") < labels.index("**verdict**")
    )
    for impl_index, impl in enumerate(report["implementations"], start=1):
        for cell in impl["properties"]:
            row = next(r for r in rows if r[0] == cell["property"])
            assert row[impl_index] == summary.MARKS[cell["status"]]
    assert rows[-1] == ["**verdict**"] + ["❌ **does not conform**"] * 3


def test_each_failure_has_its_minimal_counterexample_and_replay_command() -> None:
    report = RECORDED["vmap_over_batch"]
    text = summary.render(report)
    failures = text[text.index("### Failures") :]
    for impl in report["implementations"]:
        for cell in impl["properties"]:
            heading = f"`{impl['name']}` / `{cell['property']}`"
            if cell["status"] != "fail":
                assert heading not in failures
                continue
            block = failures[failures.index(heading) :]
            block = block[: block.find("\n#### ") if "\n#### " in block else None]
            assert f"```bash\n{cell['replay']}\n```" in block
            for key, value in cell["counterexample"]["summary"].items():
                assert f"{key} = {value}" in block


def test_the_causes_come_before_the_failures_and_read_as_in_the_terminal() -> None:
    text = summary.render(RECORDED["vmap_anchored"])
    causes = text[text.index("### Causes") :].splitlines()[2:3]
    assert causes[0].startswith("- `broadcast`: cause 1 (9 properties: agrees_with_oracle, ")
    assert causes[0].endswith("*(expected)*")
    assert "cause 2" not in text
    # known failures only: no failure section, the evidence folded away, the run green
    assert "### Failures" not in text
    assert text.index("### Causes") < text.index("<details><summary>Expected failures")
    assert text.count("#### ⚠️ xfail: `broadcast` / ") == 9
    assert " · passed" in text


def test_a_fence_inside_a_message_does_not_close_the_block() -> None:
    cell = {"property": "golden", "status": "fail", "message": "look: ```x```", "claim": "c"}
    report = {"subject": "s", "implementations": [{"name": "m", "properties": [cell]}]}
    assert "````\nlook: ```x```\n````" in summary.render(report)


def test_a_section_too_large_for_github_keeps_its_table_and_causes() -> None:
    report = json.loads(json.dumps(RECORDED["vmap_over_batch"]))
    for cell in report["implementations"][0]["properties"]:
        if cell["status"] == "fail":
            cell["message"] = "x" * summary.LIMIT  # one huge message
    text = summary.render(report)
    assert len(text.encode()) < summary.LIMIT
    assert "### Causes" in text and "| **verdict** |" in text
    assert "### Failures" not in text and "evidence is left out" in text
    assert "### Failures" in summary.render(RECORDED["vmap_over_batch"])  # below the limit: all of it


def test_write_appends_or_replaces(tmp_path: Path) -> None:
    path = tmp_path / "s.md"
    path.write_text("earlier step\n")
    summary.write(RECORDED["vmap_anchored"], str(path), append=True)
    summary.write(RECORDED["vmap_over_batch"], str(path), append=True)
    text = path.read_text()
    assert text.startswith("earlier step\n\n## nnx-conformance: vmap_anchored, profile ci")
    assert text.index("vmap_anchored, profile ci") < text.index("## nnx-conformance: vmap_over_batch")
    summary.write(RECORDED["vmap_anchored"], str(path))
    assert path.read_text() == summary.render(RECORDED["vmap_anchored"])


def check(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "conformance", "check", "--quiet", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_check_appends_to_githubs_step_summary_unless_told_a_path(tmp_path: Path) -> None:
    github = tmp_path / "step_summary.md"
    github.write_text("earlier step\n")
    env = {**os.environ, "GITHUB_STEP_SUMMARY": str(github), "PYTHONPATH": str(ROOT)}
    quick = ["--impl", "nnx_vmap", "--property", "output_contract", "--max-examples", "1"]
    done = check(env, *quick, "--isolation", "none", "--corpus", str(tmp_path))
    assert done.returncode == 0, done.stderr
    text = github.read_text()
    assert text.startswith("earlier step\n\n## nnx-conformance: vmap_over_batch, profile dev")
    assert "| output_contract | ✅ pass |" in text
    # an explicit path wins, GitHub's file is left alone; the load-error path writes it too
    mine = tmp_path / "mine.md"
    mine.write_text("stale\n")
    done = check(env, "--impl", "tests.fixtures.raises_on_import:f", "--summary-md", str(mine))
    assert done.returncode == 2
    assert github.read_text() == text
    written = mine.read_text()
    assert written.startswith("## nnx-conformance") and "#### ❌ `f` could not be loaded" in written


def test_a_bad_summary_path_is_the_same_one_line_error_on_both_faces(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["check", "--summary-md", str(tmp_path)]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line == f"error: --summary-md {tmp_path}: not a writable file path"
    with pytest.raises(UsageError) as raised:
        EngineOptions.build(summary_md=str(tmp_path), spell=spell)
    assert str(raised.value) == f"--conformance-summary-md {tmp_path}: not a writable file path"


@pytest.mark.slow
def test_the_pytest_plugin_writes_the_same_summary(tmp_path: Path) -> None:
    path = tmp_path / "s.md"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "GITHUB_STEP_SUMMARY": ""}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--pyargs", "conformance.suite", "-p", "no:cacheprovider", "-q"]
        + ["--impl", "nnx_vmap", "--conformance-property", "output_contract", "--conformance-isolation"]
        + ["none", "--conformance-max-examples", "1", "--conformance-summary-md", str(path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    rows = table_rows(path.read_text())
    assert rows[0] == ["property", "`nnx_vmap`"]
    assert ["output_contract", "✅ pass"] in rows and rows[-1] == ["**verdict**", "✅ conforms"]
