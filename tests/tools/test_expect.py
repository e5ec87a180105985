"""``python -m conformance expect``: an expected-failures file written and refreshed from reports,
its placeholders refused by ``check --expect`` until the user writes the reasons."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from conformance import cli
from conformance.base.verdict import REPORT_SCHEMA
from conformance.cases.expectations import PLACEHOLDER, ExpectationFileError, parse_file, parse_text
from conformance.tools.expect import new_entry, refresh, version_range, versions_of

ROOT = Path(__file__).resolve().parents[2]
RECORDED = json.loads((ROOT / "tests" / "fixtures" / "recorded_failures.json").read_text())
ENV = {"python": "3.11.7", "jax": "0.10.2", "jaxlib": "0.10.2", "flax": "0.12.8", "numpy": "2.4.6"}


def report(cells: dict[str, str], name: str = "nnx_vmap", subject: str = "vmap_over_batch") -> dict[str, Any]:
    """A report of one implementation whose properties have these statuses."""
    props = [{"property": p, "name": p, "status": s, "message": f"{p}: {s}"} for p, s in cells.items()]
    return {
        "schema": REPORT_SCHEMA,
        "subject": subject,
        "environment": ENV,
        "implementations": [{"name": name, "load_error": None, "properties": props}],
    }


def entries(text: str) -> list[tuple[str, str, str | None]]:
    return [(e.impl, e.property, e.subject) for e in parse_text(text, placeholders=True)]


def test_version_ranges_start_at_the_running_version() -> None:
    assert version_range("jax", "0.10.2") == "jax>=0.10.2,<0.11"
    assert version_range("flax", "0.12.8") == "flax>=0.12.8,<0.13"
    assert version_range("jax", "1") == "jax>=1,<1.1"
    assert version_range("jax", "not a version") is None
    line = new_entry("vmap_over_batch", "mine", "golden", ENV)
    assert line.startswith("mine  golden  subject=vmap_over_batch jax>=0.10.2,<0.11 flax>=0.12.8,<0.13 -- ")
    (entry,) = parse_text(line, placeholders=True)
    assert entry.applies("vmap_over_batch", "mine", "golden", versions_of(ENV))  # the running versions
    assert not entry.applies("vmap_over_batch", "mine", "golden", {**ENV, "jax": "0.11.0"})
    assert not entry.applies("vmap_over_batch", "mine", "golden", {**ENV, "jax": "0.10.1"})


def test_one_entry_per_unexpected_failure_none_for_known_failures() -> None:
    reports = [RECORDED["vmap_over_batch"], RECORDED["vmap_anchored"]]
    result = refresh(reports, "", "x.txt", ["r.json"])
    failing = {
        (i["name"], c["property"], r["subject"])
        for r in reports
        for i in r["implementations"]
        for c in i["properties"]
        if c["status"] == "fail"
    }
    assert failing and set(entries(result.text)) == failing
    assert not any(e[0] == "broadcast" for e in entries(result.text))  # its failures are known (xfail)
    # one block per cause, under a comment saying what its failures share
    assert "# host_round_trip on vmap_over_batch, cause 1: raises TracerArrayConversionError" in result.text
    assert result.text.count(f"-- {PLACEHOLDER}") == len(failing) == len(result.added)


def test_check_refuses_the_file_until_each_reason_is_written(tmp_path: Path, capsys: Any) -> None:
    path = tmp_path / "expect.txt"
    path.write_text(refresh([report({"golden": "fail", "output_contract": "pass"})], "", str(path)).text)
    with pytest.raises(ExpectationFileError, match=r"expect.txt:3: the reason is still the TODO\(expect\)"):
        parse_file(path)
    code = cli.main(["check", "--expect", str(path), "--property", "golden", "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.count("\n") == 0
    assert f"{path}:3: the reason is still the {PLACEHOLDER} placeholder" in err
    path.write_text(path.read_text().replace(f"{PLACEHOLDER}: say why this failure is expected", "ours"))
    (entry,) = parse_file(path)  # filled in: accepted
    assert (entry.impl, entry.property, entry.reason) == ("nnx_vmap", "golden", "ours")


def test_refresh_drops_what_passes_and_keeps_what_still_fails_untouched() -> None:
    text = (
        "# ours\n"
        "nnx_vmap   golden            jax>=0.9   -- still broken, ticket 7\n"
        "nnx_vmap   seed_sensitivity             -- fixed since\n"
        "nnx_vmap   nnx_modes         subject=vmap_anchored -- another subject\n"
        "*          vmap_composes                -- held by every implementation now\n"
    )
    r = report({"golden": "xfail", "seed_sensitivity": "pass", "vmap_composes": "xpass", "nnx_modes": "fail"})
    result = refresh([r], text, "e.txt")
    assert [(e.line, line) for e, line in result.removed] == [
        (3, "nnx_vmap   seed_sensitivity             -- fixed since"),
        (5, "*          vmap_composes                -- held by every implementation now"),
    ]
    lines = result.text.splitlines()
    assert lines[:3] == text.splitlines()[:2] + [text.splitlines()[3]]  # kept as written, in order
    assert [e.property for e in result.kept] == ["golden"]
    assert [e.property for e in result.untouched] == ["nnx_modes"]  # the report is of another subject
    assert entries("\n".join(lines[3:])) == [("nnx_vmap", "nnx_modes", "vmap_over_batch")]


def test_refreshing_twice_changes_nothing() -> None:
    r = report({"golden": "fail", "nnx_modes": "fail", "output_contract": "pass"})
    first = refresh([r], "", "e.txt")
    assert len(first.added) == 2
    again = refresh([r], first.text, "e.txt")
    assert not again.changed and again.text == first.text and len(again.kept) == 2


def test_an_entry_outside_its_range_does_not_cover_a_failure() -> None:
    old = "nnx_vmap  golden  jax<0.10 -- broken on the old line\n"
    result = refresh([report({"golden": "fail"})], old, "e.txt")
    assert not result.removed and [e.property for e in result.untouched] == ["golden"]
    assert entries(result.text) == [("nnx_vmap", "golden", None), ("nnx_vmap", "golden", "vmap_over_batch")]


def test_the_command(tmp_path: Path, capsys: Any) -> None:
    path, out = tmp_path / "r.json", tmp_path / "e.txt"
    path.write_text(json.dumps(report({"golden": "fail", "nnx_modes": "pass"})))
    out.write_text("nnx_vmap  nnx_modes  -- fixed since\n")
    assert cli.main(["expect", "--from", str(path), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"removed {out}:1 (it now passes): nnx_vmap  nnx_modes  -- fixed since" in printed
    assert "added: nnx_vmap  golden  subject=vmap_over_batch" in printed
    assert "1 added, 1 removed, 0 still failing" in printed
    assert entries(out.read_text()) == [("nnx_vmap", "golden", "vmap_over_batch")]


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ("{", "not a JSON report"),
        ('{"schema": "other"}', "not a conformance JSON report"),
        (None, "No such file"),
    ],
)
def test_a_bad_report_is_one_line_exit_2(
    tmp_path: Path, capsys: Any, content: str | None, words: str
) -> None:
    path = tmp_path / "r.json"
    if content is not None:
        path.write_text(content)
    assert cli.main(["expect", "--from", str(path), "--out", str(tmp_path / "e.txt")]) == 2
    err = capsys.readouterr().err.strip()
    assert words in err and err.startswith("error: ") and "\n" not in err
    assert not (tmp_path / "e.txt").exists()


def test_a_bad_existing_file_is_one_line_exit_2(tmp_path: Path, capsys: Any) -> None:
    path, out = tmp_path / "r.json", tmp_path / "e.txt"
    path.write_text(json.dumps(report({"golden": "fail"})))
    out.write_text("nnx_vmap golden no reason\n")
    assert cli.main(["expect", "--from", str(path), "--out", str(out)]) == 2
    assert f"{out}:1: missing ' -- REASON'" in capsys.readouterr().err
    assert out.read_text() == "nnx_vmap golden no reason\n"
