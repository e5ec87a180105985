"""The comparison against a bound (``tolerance.compare`` / ``assert_close``), the headroom the
runner records from it, its place in the report, the ``plot`` command, and the probabilistic
tolerance (``--tolerance probabilistic``)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import strategies as st
from rich.console import Console

from conformance import cli, tolerance
from conformance.context import Context, PropertyFailure, SharedCache
from conformance.engine import Engine, EngineOptions, ImplResult, RunReport
from conformance.headroom import Headroom, share
from conformance.profiles import get_profile
from conformance.properties import Property
from conformance.report import print_report
from conformance.runner import CellResult, run_cell
from conformance.subjects import VMAP_OVER_BATCH
from conformance.tolerance import Closeness, Probe, assert_close, compare, probing, ratios
from conformance.verdict import Status

# --------------------------------------------------------------------------- compare, assert_close


def test_compare_finds_the_largest_ratio_and_the_first_mismatch() -> None:
    want = np.array([1.0, 2.0, 3.0, 4.0])
    allowed = np.array([0.1, 0.1, 1.0, 0.5])
    got = np.array([1.05, 2.2, 3.5, 4.25], dtype=np.float32)  # ratios 0.5, 2, 0.5, 0.5
    c = compare(got, want, allowed)
    assert c.max_ratio == pytest.approx(2.0, rel=1e-6)
    assert (c.worst, c.first_mismatch, c.mismatches, c.size) == (1, 1, 1, 4)
    assert not c.within
    ok = compare(np.array([1.05, 2.05, 3.5]), want[:3], allowed[:3])
    assert ok.within and ok.first_mismatch is None
    assert ok.max_ratio == pytest.approx(0.5)


def test_nan_and_a_zero_allowance_never_pass() -> None:
    want, allowed = np.zeros(3), np.array([0.0, 0.0, 1.0])
    r = ratios(np.array([0.0, 1e-300, np.nan]), want, allowed)
    assert r[0] == 0.0 and r[1] == np.inf and r[2] == np.inf  # 0/0 is no error; NaN is never close
    c = compare(np.array([0.0, 0.0, np.nan]), want, allowed)
    assert c.mismatches == 1 and c.first_mismatch == 2 and c.max_ratio == np.inf


def test_an_empty_output_is_within_with_no_worst_element() -> None:
    assert compare(np.zeros(0), np.zeros(0), np.zeros(0)) == Closeness(0.0, None, None, 0, 0)


def test_assert_close_raises_with_the_first_mismatch_and_returns_the_closeness() -> None:
    want, allowed = np.array([1.0, 2.0, 3.0]), np.full(3, 0.1)
    with pytest.raises(PropertyFailure) as raised:
        assert_close(np.array([1.0, 2.5, 9.0]), want, allowed, "off", lambda i: f"row {i}")
    failure = raised.value
    assert failure.message.startswith(
        "off: 2 of 3 elements differ by more than allowed; first at index 1 (row 1)"
    )
    assert "= 5 x allowed" in failure.message
    assert failure.details == {"index": 1, "got": 2.5, "expected": 2.0, "allowed": 0.1, "mismatches": 2}
    held = assert_close(np.array([1.0, 2.05, 3.0]), want, allowed, "fine")
    assert held.within and held.max_ratio == pytest.approx(0.5)


def test_a_probe_keeps_the_worst_comparison_of_its_block_and_only_recorded_ones() -> None:
    want, allowed = np.zeros(4), np.ones(4)
    with probing() as probe:
        assert_close(np.array([0.1, 0.2, 0.0, 0.0]), want, allowed, "first")
        assert_close(np.array([0.0, 0.0, 0.7, 0.0]), want, allowed, "second", lambda i: f"feature {i}")
        assert_close(np.array([0.9, 0, 0, 0]), want, allowed, "a reference", record=False)
        with pytest.raises(PropertyFailure):
            assert_close(np.array([0.0, 0.0, 0.0, 3.0]), want, allowed, "off")
    assert probe.worst is not None
    assert (probe.worst.ratio, probe.worst.what, probe.worst.location) == (3.0, "off", "index 3")
    assert (probe.comparisons, probe.elements) == (3, 12)
    with probing() as inner:
        assert_close(np.array([0.0, 0.0, 0.7, 0.0]), want, allowed, "second", lambda i: f"feature {i}")
    assert inner.worst is not None and inner.worst.location == "index 2 (feature 2)"
    # outside a probe nothing is kept, and nothing fails for it
    assert_close(np.zeros(4), want, allowed, "unobserved")
    assert tolerance._PROBE.get() is None


# --------------------------------------------------------------------------- recorded by the runner


def _ratio_property(ctx: Context, case: dict) -> None:
    """Compares an output whose error is k/100 of its allowance (the probabilistic one: half)."""
    got = np.array([0.0, case["k"] / 100.0])
    assert_close(
        got, np.zeros(2), np.ones(2), "made-up output", lambda i: f"element {i}", typical=np.full(2, 0.5)
    )


def _failing_property(ctx: Context, case: dict) -> None:
    """Fails once the error passes the allowance."""
    assert_close(np.array([case["k"] / 10.0]), np.zeros(1), np.ones(1), "made-up output")


def _no_numbers(ctx: Context, case: dict) -> None:
    """Compares nothing."""


def _cell(check, values: st.SearchStrategy[int]) -> CellResult:  # type: ignore[no-untyped-def]
    cases = st.fixed_dictionaries({"k": values})
    # a name per strategy: the runner builds each property's strategy once per name
    prop = Property(f"{check.__name__}_{id(values)}", check, lambda subject, config: cases)
    options = EngineOptions(subjects=(VMAP_OVER_BATCH,), profile=get_profile("ci"), isolation="trusted")
    with Engine(options) as engine:
        panel = engine.panel(VMAP_OVER_BATCH)
        ctx = Context(VMAP_OVER_BATCH, panel["nnx_vmap"], {}, cache=SharedCache())
        return run_cell(ctx, prop, options.profile, {"subject": "vmap_over_batch", "impl": "nnx_vmap"})


def test_the_runner_records_each_examples_largest_ratio_and_where_the_largest_was() -> None:
    cell = _cell(_ratio_property, st.sampled_from([3, 10, 40]))
    assert cell.status == Status.PASS
    h = cell.headroom
    assert h is not None and h["examples"] == cell.examples
    assert h["max"] == pytest.approx(0.40) and h["median"] in (0.03, 0.10, 0.40)
    assert h["where"]["element"] == "index 1 (element 1)"
    assert h["where"]["example"] == {"k": "40"}
    assert h["where"]["comparison"] == "made-up output"
    # the probabilistic allowance is half: 40% of the bound is 80% of it, no warning
    assert h["probabilistic"]["max"] == pytest.approx(0.80) and h["warning"] is None
    assert h["elements"] == 2 * cell.examples and h["comparisons"] == cell.examples


def test_a_pass_beyond_the_probabilistic_bound_gets_a_warning_not_a_failure() -> None:
    cell = _cell(_ratio_property, st.sampled_from([3, 90]))
    assert cell.status == Status.PASS
    h = cell.headroom
    assert h["max"] == pytest.approx(0.90) and h["probabilistic"]["max"] == pytest.approx(1.8)
    assert (
        h["warning"] and "beyond the probabilistic bound (1.8x it, 90% of the rigorous bound" in h["warning"]
    )


def test_a_failing_cell_records_the_failing_ratio_and_no_warning() -> None:
    cell = _cell(_failing_property, st.integers(0, 40))
    assert cell.status == Status.FAIL
    assert cell.headroom["max"] > 1 and cell.headroom["warning"] is None


def test_a_property_that_compares_no_numbers_has_no_headroom() -> None:
    assert _cell(_no_numbers, st.integers(0, 9)).headroom is None


def test_quantiles_and_infinite_ratios_are_written_as_json_can_read_them() -> None:
    h = Headroom()
    for r in [0.1, 0.2, 0.3, 0.4, np.inf]:
        probe = Probe()
        probe.observe(compare(np.array([r]), np.zeros(1), np.ones(1)), "x")
        h.add(probe, lambda: {"case": "c"})
    out = h.record(passed=False)
    assert out["max"] == "inf" and out["median"] == 0.3 and out["p99"] == "inf"
    assert json.loads(json.dumps(out)) == out
    assert [share(x) for x in (0.0063, 0.00001, 0.62, 3.4, "inf", None)] == [
        "0.63%",
        "<0.01%",
        "62%",
        "3.4x",
        "inf",
        "-",
    ]


# --------------------------------------------------------------------------- in the report


def _report(headroom: dict | None, tolerance: str = "rigorous") -> RunReport:
    cells = [
        CellResult("agrees_with_oracle", "claim", Status.PASS, examples=3, headroom=headroom),
        CellResult("seed_determinism", "claim", Status.PASS, examples=3),
    ]
    impl = ImplResult("mine", "mine.py:f", False, cells)
    return RunReport("vmap_over_batch", "ci", False, False, {}, 1.0, [impl], "sig", tolerance)


def _printed(report: RunReport) -> str:
    console = Console(record=True, width=200, highlight=False)
    print_report(report, console)
    return console.export_text()


def test_the_table_shows_the_largest_share_beside_pass_and_the_warning_below() -> None:
    record = {"max": 0.0063, "median": 0.001, "p99": 0.005, "examples": 3, "where": None, "warning": None}
    text = _printed(_report(record))
    assert "pass 0.63%" in text and "'!': a pass beyond the probabilistic bound" in text
    assert "warning" not in text
    warned = {**record, "max": 0.7, "warning": "passed, but beyond the probabilistic bound (3x it)"}
    warned["where"] = {"example": {"x_batch": "float32[3, 4096]"}, "element": "index 0", "comparison": "c"}
    text = _printed(_report(warned))
    assert "pass 70%!" in text
    assert "warning: mine / agrees_with_oracle: passed, but beyond the probabilistic bound (3x it)" in text
    assert "largest in the example x_batch = float32[3, 4096]" in text
    plain = _printed(_report(None))
    assert "pass 0.63%" not in plain and "beside a status" not in plain


def test_the_json_report_carries_the_headroom_and_the_tolerance() -> None:
    record = {"max": 0.5, "median": 0.1, "p99": 0.4, "examples": 3, "where": None, "warning": None}
    doc = json.loads(json.dumps(_report(record, "probabilistic").to_json()))
    assert doc["tolerance"] == {"model": "probabilistic", "lambda": tolerance.LAMBDA}
    cells = {c["property"]: c for c in doc["implementations"][0]["properties"]}
    assert cells["agrees_with_oracle"]["headroom"] == record
    assert cells["seed_determinism"]["headroom"] is None
    assert json.loads(json.dumps(_report(None).to_json()))["tolerance"] == {
        "model": "rigorous",
        "lambda": None,
    }


# --------------------------------------------------------------------------- python -m conformance plot


def _write(path: Path, doc: object) -> str:
    path.write_text(json.dumps(doc))
    return str(path)


def _doc_with(records: list[tuple[str, str, str, dict | None]]) -> dict:
    impls: dict[str, list[dict]] = {}
    for impl, prop, status, record in records:
        impls.setdefault(impl, []).append({"property": prop, "status": status, "headroom": record})
    return {
        "schema": "nnx-conformance/report/3",
        "subject": "vmap_over_batch",
        "profile": "ci",
        "tolerance": {"model": "rigorous", "lambda": None},
        "environment": {"jax": "0.10.2", "flax": "0.12.8"},
        "implementations": [{"name": n, "properties": cells} for n, cells in impls.items()],
    }


def test_plot_draws_a_png_of_every_cell_with_headroom(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    ok = {"max": 0.0063, "median": 0.0, "p99": 0.004, "examples": 30}
    bad = {"max": 350.0, "median": 12.0, "p99": 300.0, "examples": 5}
    nan = {"max": "inf", "median": "inf", "p99": "inf", "examples": 1}
    report = _write(
        tmp_path / "r.json",
        _doc_with(
            [
                ("nnx_vmap", "agrees_with_oracle", "pass", ok),
                ("nnx_vmap", "seed_determinism", "pass", None),
                ("bfloat16_matmul", "agrees_with_oracle", "fail", bad),
                ("bfloat16_matmul", "jit_agrees_with_oracle", "fail", nan),
            ]
        ),
    )
    out = tmp_path / "h.png"
    assert cli.main(["plot", report, "--out", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 10_000
    assert capsys.readouterr().out.strip() == f"wrote {out} (3 cells with headroom)"


@pytest.mark.parametrize("problem", ["missing", "not json", "not a report", "no headroom"])
def test_plot_rejects_a_bad_report_in_one_line(
    problem: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    path = str(tmp_path / "missing.json")
    if problem == "not json":
        path = _write(tmp_path / "r.json", {}).replace("r.json", "t.json")
        Path(path).write_text("{not json")
    elif problem == "not a report":
        path = _write(tmp_path / "r.json", {"schema": "something/else", "implementations": []})
    elif problem == "no headroom":
        path = _write(tmp_path / "r.json", _doc_with([("a", "seed_determinism", "pass", None)]))
    out = tmp_path / "h.png"
    assert cli.main(["plot", path, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {path}"), err
    expected = {
        "missing": "No such file",
        "not json": "not a JSON report",
        "not a report": "not a conformance JSON report",
        "no headroom": "no headroom to plot",
    }
    assert expected[problem] in err[0] and not out.exists()
