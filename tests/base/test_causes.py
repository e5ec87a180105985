"""Failures grouped by cause (conformance/base/causes.py): on recorded reports, on made-up cells that
each key must join or keep apart, in the terminal report and in the JSON report."""

from __future__ import annotations

import io
import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from conformance.base.causes import Cause, causes_of, describe, diagnoses, group
from conformance.base.verdict import REPORT_SCHEMA
from conformance.reporting.report import print_report
from conformance.run.results import ImplResult, RunReport
from conformance.run.runner import CellResult

ROOT = Path(__file__).resolve().parents[2]
RECORDED = json.loads((ROOT / "tests" / "fixtures" / "recorded_failures.json").read_text())

#: broadcast's nine known failures on vmap_anchored (recorded 2026-12-02 under ci)
BROADCAST_FAILS = (
    "agrees_with_oracle",
    "agrees_with_builtins",
    "batch_independence",
    "seed_sensitivity",
    "jit_agrees_with_oracle",
    "sharding_invariance",
    "nnx_modes",
    "vjp_agrees_with_oracle",
    "jvp_agrees_with_oracle",
)


def recorded(subject: str, name: str) -> dict[str, Any]:
    return next(i for i in RECORDED[subject]["implementations"] if i["name"] == name)


def cell(
    prop: str, status: str = "fail", message: str = "", args: Any = None, **extra: Any
) -> dict[str, Any]:
    """A report cell; ``args`` is the minimal counterexample's arguments (None: no counterexample)."""
    example = None
    if args is not None:
        example = {
            "summary": {k: str(v) for k, v in args.items()},
            "case": {"dict": {"args": {"dict": {k: {"int": str(v)} for k, v in args.items()}}}},
            "details": extra.pop("details", {}),
        }
    return {"property": prop, "status": status, "message": message, "counterexample": example, **extra}


def to_report(data: dict[str, Any]) -> RunReport:
    """A RunReport back from (the recorded part of) its JSON."""
    fields = set(CellResult.__dataclass_fields__)
    impls = []
    for i in data["implementations"]:
        cells = [CellResult(**{k: v for k, v in c.items() if k in fields}) for c in i["properties"]]
        impls.append(ImplResult(i["name"], i["spec"], i["builtin"], cells, i["seconds"], i["load_error"]))
    return RunReport(
        data["subject"],
        data["profile"],
        data["strict"],
        data["x64"],
        data["environment"],
        data["elapsed_seconds"],
        impls,
        data.get("signature", ""),
    )


def rendered(report: RunReport) -> str:
    out = io.StringIO()
    print_report(report, Console(file=out, width=200, highlight=False, soft_wrap=True, color_system=None))
    return out.getvalue()


# --------------------------------------------------------------------------- recorded reports


def test_broadcast_on_vmap_anchored_reads_as_one_cause() -> None:
    found = causes_of(recorded("vmap_anchored", "broadcast"))
    assert len(found) == 1, [describe(n, c) for n, c in enumerate(found, 1)]
    (only,) = found
    assert only.properties == BROADCAST_FAILS
    assert only.expected
    # most of them state the same reason; seed_sensitivity joins through its counterexample
    assert only.summary.startswith("expected: on a batch, x[0] is the first sample")
    assert "(8 of 9 properties)" in only.summary
    assert set(only.linked_by) == {"counterexample", "diagnosis"}


def test_without_the_shared_counterexample_broadcast_would_be_two_causes() -> None:
    # The join is not a blanket merge: seed_sensitivity states another reason, and only its
    # minimal counterexample (the same as agrees_with_oracle's) ties it to the rest.
    cells = [dict(c) for c in recorded("vmap_anchored", "broadcast")["properties"]]
    for c in cells:
        if c["property"] == "seed_sensitivity":
            c["counterexample"] = None
    found = group(cells)
    assert [c.properties for c in found] == [
        tuple(p for p in BROADCAST_FAILS if p != "seed_sensitivity"),
        ("seed_sensitivity",),
    ]


def test_an_untraceable_implementation_is_one_cause_named_by_its_raise_site() -> None:
    found = causes_of(recorded("vmap_over_batch", "host_round_trip"))
    assert len(found) == 1
    assert found[0].summary.startswith("raises TracerArrayConversionError at tests/zoo/transforms.py:69")
    assert "not traceable" in found[0].summary
    assert not found[0].expected


def test_an_implementation_returning_a_list_is_one_cause() -> None:
    found = causes_of(recorded("vmap_over_batch", "returns_list"))
    assert len(found) == 1
    assert "returns builtins.list, not an array" in found[0].summary
    assert len(found[0].properties) == 13


def test_a_wrong_seed_is_one_wrong_number_and_the_golden_apart() -> None:
    # seed_plus_one's numeric failures shrink to different inputs under different properties, but
    # their first wrong element is the same number; golden runs on its own fixed input.
    found = causes_of(recorded("vmap_over_batch", "seed_plus_one"))
    assert [c.properties for c in found] == [
        (
            "agrees_with_oracle",
            "agrees_with_builtins",
            "jit_agrees_with_oracle",
            "sharding_invariance",
            "nnx_modes",
            "vjp_agrees_with_oracle",
            "jvp_agrees_with_oracle",
        ),
        ("golden",),
    ]
    assert found[0].summary.startswith("the same wrong value: got 0.144508421 where 0.269107 was expected")
    assert found[1].summary.startswith("matches the golden of no group")  # one property: its own words


# --------------------------------------------------------------------------- each key, made up


def test_every_property_failing_is_one_cause() -> None:
    cells = [
        cell("output_contract", message="the call raised ValueError: no", args={"seed": 0}),
        cell("agrees_with_oracle", message="the call raised ValueError: no", args={"seed": 1}),
        cell("seed_sensitivity", message="seeds 0 and 1 give identical outputs", args={"seed": 2}),
        cell("golden", "skip", "no goldens here"),
    ]
    (only,) = group(cells)
    assert only.properties == ("output_contract", "agrees_with_oracle", "seed_sensitivity")
    assert only.linked_by == ("every property",)
    assert only.summary.startswith("every property that ran fails (3 of 3)")
    # one property that holds: no longer "every property", and the unrelated one stands apart
    split = group([*cells, cell("inputs_untouched", "pass")])
    assert [c.properties for c in split] == [("output_contract", "agrees_with_oracle"), ("seed_sensitivity",)]


def test_the_same_minimal_counterexample_joins_and_another_does_not() -> None:
    same = [cell("a", args={"seed": 0, "x": 1}), cell("b", args={"seed": 0, "x": 1}), cell("ok", "pass")]
    (joined,) = group(same)
    assert joined.properties == ("a", "b") and joined.linked_by == ("counterexample",)
    assert joined.summary == "the same minimal counterexample: seed = 0, x = 1"
    apart = [cell("a", args={"seed": 0, "x": 1}), cell("b", args={"seed": 0, "x": 2}), cell("ok", "pass")]
    assert [c.properties for c in group(apart)] == [("a",), ("b",)]


def test_extras_a_property_draws_are_not_compared() -> None:
    a = cell("a", args={"seed": 0})
    b = cell("b", args={"seed": 0})
    b["counterexample"]["case"]["dict"]["other_seed"] = {"int": "1"}
    b["counterexample"]["summary"]["other_seed"] = "1"
    assert len(group([a, b, cell("ok", "pass")])) == 1


def test_the_same_raise_site_joins_and_another_site_does_not() -> None:
    jit = "not traceable under jax.jit: TracerArrayConversionError at mine.py:12: The numpy... (the traced x)"
    vmap = "under jax.vmap, the call raised TracerArrayConversionError: The numpy... (at mine.py:12)"
    other = "the VJP raised TracerArrayConversionError: The numpy... (at mine.py:40)"
    cells = [
        cell("jit", message=jit),
        cell("vmap", message=vmap),
        cell("vjp", message=other),
        cell("ok", "pass"),
    ]
    assert [c.properties for c in group(cells)] == [("jit", "vmap"), ("vjp",)]
    assert group(cells)[0].summary == "raises TracerArrayConversionError at mine.py:12 (not traceable)"


def test_the_same_wrong_number_joins_and_another_number_does_not() -> None:
    def wrong(prop: str, got: float, want: float, x: int) -> dict[str, Any]:
        details = {"index": 0, "got": got, "expected": want, "allowed": 1e-7}
        return cell(prop, message=f"{prop} disagrees", args={"x": x}, details=details)

    same = [
        wrong("a", 0.14450842142105103, 0.2691073713479284, 1),
        wrong("b", 0.14450842142105103, 0.2691073715686798, 2),
    ]
    (joined,) = group([*same, cell("ok", "pass")])
    assert joined.summary == "the same wrong value: got 0.144508421 where 0.269107 was expected"
    apart = [wrong("a", 0.1445084, 0.2691, 1), wrong("b", 0.1445085, 0.2691, 2), cell("ok", "pass")]
    assert len(group(apart)) == 2
    infinite = [wrong("a", math.inf, math.inf, 1), wrong("b", math.inf, math.inf, 2), cell("ok", "pass")]
    assert len(group(infinite)) == 2  # inf where inf was expected names nothing


def test_hangs_and_stated_patterns_are_diagnoses() -> None:
    hang = cell("a", message="the call timed out after 60 s", args={"s": 1}, details={"call": "timeout"})
    hang2 = cell("b", message="the call timed out after 60 s", args={"s": 2}, details={"call": "timeout"})
    zero = "it is zero everywhere, as if the output did not depend on the input (stop_gradient?)"
    vjp = cell("vjp", message="... " + zero, args={"s": 3}, details={"diagnosis": zero})
    jvp = cell("jvp", message="... " + zero, args={"s": 4}, details={"diagnosis": zero})
    found = group([hang, hang2, vjp, jvp, cell("ok", "pass")])
    assert [(c.properties, c.summary) for c in found] == [
        (("a", "b"), "hangs (a call timed out)"),
        (("vjp", "jvp"), zero),
    ]


def test_the_reason_of_a_user_entry_is_compared_without_its_location() -> None:
    def xfail(prop: str, where: str, reason: str) -> dict[str, Any]:
        return cell(
            prop, "xfail", f"broke {prop}", expected_failure=f"mine {prop} jax>=0.10 ({where}): {reason}"
        )

    same = [xfail("a", "x.txt:1", "one bug"), xfail("b", "x.txt:2", "one bug"), cell("ok", "pass")]
    (only,) = group(same)
    assert only.expected and only.summary == "expected: one bug"
    other = [xfail("a", "x.txt:1", "one bug"), xfail("b", "x.txt:2", "another"), cell("ok", "pass")]
    assert len(group(other)) == 2


def test_unexpected_and_expected_failures_are_grouped_apart() -> None:
    cells = [
        cell("a", args={"seed": 0}),
        cell("b", "xfail", args={"seed": 0}, expected_failure="known"),
        cell("ok", "pass"),
    ]
    found = group(cells)
    assert [(c.properties, c.expected) for c in found] == [(("a",), False), (("b",), True)]


def test_a_load_error_is_one_cause_without_properties() -> None:
    (only,) = group([], "mine.py:f: no such file")
    assert only.properties == () and "could not be loaded" in only.summary
    assert describe(1, only) == "cause 1: could not be loaded: mine.py:f: no such file"
    assert group([cell("ok", "pass")]) == []


def test_describe_and_json() -> None:
    c = Cause(("a", "b"), "why", ("diagnosis",), False, (("why", ("a", "b")),))
    assert describe(2, c) == "cause 2 (2 properties: a, b): why"
    assert describe(1, Cause(("a",), "why")) == "cause 1 (1 property: a): why"
    assert c.to_json() == {
        "properties": ["a", "b"],
        "summary": "why",
        "linked_by": ["diagnosis"],
        "expected": False,
        "diagnoses": [{"text": "why", "properties": ["a", "b"]}],
    }


def test_diagnoses_of_a_cell_object_and_a_dict_agree() -> None:
    msg = "the call returned builtins.list, not an array"
    obj = CellResult("agrees_with_oracle", "claim", "fail", message=msg)
    assert diagnoses(obj) == diagnoses({"name": "agrees_with_oracle", "status": "fail", "message": msg})
    assert [d.text for d in diagnoses(obj)] == ["returns builtins.list, not an array"]


def test_the_module_imports_nothing_heavy() -> None:
    code = "import sys, conformance.base.causes; print(sorted(m for m in sys.modules if m.startswith(HEAVY)))"
    code = code.replace("HEAVY", repr(("jax", "hypothesis", "numpy", "rich", "conformance.")))
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    # the statuses come from conformance.base.verdict, and `import conformance` brings the per-sample
    # declaration (conformance.per_sample): both as light, the standard library only
    expected = [
        "conformance.base",
        "conformance.base.causes",
        "conformance.base.declaration",
        "conformance.base.verdict",
    ]
    assert done.stdout.strip() == repr(expected)


# --------------------------------------------------------------------------- the faces


def test_the_json_report_lists_causes_per_implementation() -> None:
    report = to_report(RECORDED["vmap_anchored"])
    data = report.to_json()
    assert data["schema"] == REPORT_SCHEMA and int(REPORT_SCHEMA.rsplit("/", 1)[1]) >= 4
    (impl,) = data["implementations"]
    assert len(impl["causes"]) == 1
    assert impl["causes"][0]["properties"] == list(BROADCAST_FAILS)
    assert impl["causes"][0]["expected"] is True


def test_the_terminal_report_opens_each_failure_section_with_its_causes() -> None:
    text = rendered(to_report(RECORDED["vmap_anchored"]))
    lines = text.splitlines()
    head = next(
        i for i, line in enumerate(lines) if line.startswith("broadcast: 9 expected failures, 1 cause")
    )
    assert lines[head + 1].startswith(
        f"  cause 1 (9 properties: {', '.join(BROADCAST_FAILS)}): expected: on a batch"
    )
    first_block = next(
        i for i, line in enumerate(lines) if line.startswith("broadcast / agrees_with_oracle:")
    )
    assert head < first_block
    assert "cause 2" not in text


def test_the_terminal_report_numbers_several_causes() -> None:
    text = rendered(to_report(RECORDED["vmap_over_batch"]))
    assert "host_round_trip: 5 failing properties, 1 cause:" in text
    assert "seed_plus_one: " in text and "  cause 2 (1 property: golden)" in text
    before = text.index("seed_plus_one: ")
    assert before < text.index("seed_plus_one / agrees_with_oracle:")


@pytest.mark.slow
def test_a_real_run_of_broadcast_on_vmap_anchored_shows_one_cause(tmp_path: Path) -> None:
    report = tmp_path / "r.json"
    env = {**os.environ, "GITHUB_STEP_SUMMARY": ""}
    done = subprocess.run(
        [sys.executable, "-m", "conformance", "check", "--subject", "vmap_anchored", "--impl", "broadcast"]
        + ["--profile", "ci", "--quiet", "--json", str(report), "--summary-md", str(tmp_path / "s.md")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    (impl,) = json.loads(report.read_text())["implementations"]
    assert [c["properties"] for c in impl["causes"]] == [list(BROADCAST_FAILS)]
    assert done.stdout.count("cause 1 (9 properties") == 1 and "cause 2" not in done.stdout
    assert "cause 1 (9 properties" in (tmp_path / "s.md").read_text()
