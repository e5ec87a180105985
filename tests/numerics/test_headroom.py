"""The comparison against a bound (``tolerance.compare`` / ``assert_close``), the headroom the
runner records from it, its place in the report, the ``plot`` command, and the probabilistic
tolerance (``--tolerance probabilistic``)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import strategies as st
from rich.console import Console

from conformance import cli
from conformance.base.failures import PropertyFailure
from conformance.base.verdict import ReplayCommand, Status
from conformance.numerics import tolerance
from conformance.numerics.headroom import Headroom, share
from conformance.numerics.tolerance import Closeness, Probe, assert_close, compare, probing, ratios
from conformance.properties import PROPERTIES, Property
from conformance.properties.context import Context, SharedCache
from conformance.reporting.report import print_report
from conformance.run.engine import Engine, EngineOptions, ImplResult, RunReport
from conformance.run.profiles import get_profile
from conformance.run.runner import CellResult, run_cell
from conformance.subjects import VMAP_OVER_BATCH

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
    assert "pass 0.63%" in text and "'!': beyond the probabilistic bound" in text
    assert "warning" not in text
    warned = {**record, "max": 0.7, "warning": "passed, but beyond the probabilistic bound (3x it)"}
    warned["where"] = {"example": {"x_batch": "float32[3, 4096]"}, "element": "index 0", "comparison": "c"}
    text = _printed(_report(warned))
    assert "pass 70%!" in text
    assert "warning: mine / agrees_with_oracle: passed, but beyond the probabilistic bound (3x it)" in text
    assert "largest in the example x_batch = float32[3, 4096]" in text
    plain = _printed(_report(None))
    assert "pass 0.63%" not in plain and "beside pass" not in plain
    failed = _report({**record, "max": 35000.0})
    failed.implementations[0].properties[0].status = Status.FAIL
    assert "FAIL 3" not in _printed(failed)  # the failure's own message says how far off it is


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


# --------------------------------------------------------------------------- the probabilistic tolerance

U32, U16 = 2.0**-24, 2.0**-11


def test_the_probabilistic_gamma_is_higham_and_marys() -> None:
    for n in (1, 100, 4097, 10**6):
        lam_sqrt_n_u = tolerance.LAMBDA * np.sqrt(n) * U32
        expected = np.expm1(lam_sqrt_n_u + n * U32 * U32 / (1 - U32))
        assert tolerance.probabilistic_gamma(n, U32) == pytest.approx(expected, rel=1e-12)
        assert tolerance.probabilistic_gamma(n, U32) == pytest.approx(lam_sqrt_n_u, rel=1e-3)
    # the chance one term breaks it: 2 exp(-lambda^2 (1-u)^2 / 2), about 3.9e-22 for lambda = 10
    assert tolerance.term_failure_probability(U32) == pytest.approx(2 * np.exp(-50 * (1 - U32) ** 2))
    assert 3.8e-22 < tolerance.term_failure_probability(U32) < 3.9e-22


def test_the_probabilistic_model_takes_the_smaller_gamma_so_it_is_never_looser() -> None:
    for n in (1, 2, 50, 99):  # lambda sqrt(n) >= n: the worst case is the smaller
        assert tolerance.accumulation_gamma(n, U32, "probabilistic") == tolerance.gamma(n, U32)
    for n, share_ in ((1024, 10 / 32), (4097, 10 / 64.0)):
        ratio = tolerance.accumulation_gamma(n, U32, "probabilistic") / tolerance.gamma(n, U32)
        assert ratio == pytest.approx(share_, rel=0.01)
    # past n u = 1 the rigorous gamma is undefined; the probabilistic one still is
    assert tolerance.accumulation_gamma(2**25, U32, "probabilistic") < 1
    with pytest.raises(ValueError, match="unknown tolerance 'loose'"):
        tolerance.accumulation_gamma(3, U32, "loose")


def test_the_probabilistic_bound_keeps_the_flush_and_underflow_terms() -> None:
    magnitude = np.array([0.0, 1.0, 1e3])
    flushable = np.array([1e-39, 0.0, 0.0])
    rigorous = tolerance.affine_bound(magnitude, flushable, 4097, "float32", "cpu")
    probable = tolerance.affine_bound(magnitude, flushable, 4097, "float32", "cpu", model="probabilistic")
    assert probable[0] == rigorous[0] == 1e-39 + 4098 * tolerance.TINY["float32"]
    assert np.all(probable[1:] < 0.2 * rigorous[1:])


def _low_precision_case(d_in: int) -> dict:
    """Four rows of float16 input (exact in float16), two non-zero entries each: the kernel's rounding
    to float16 is then a coherent error of up to 2**-11 of M, where correct float32 sums have a few u."""
    from strategies import KindedArray

    rng = np.random.default_rng(0)
    x = np.zeros((4, d_in), np.float16)
    for row in x:
        row[rng.choice(d_in, 2, replace=False)] = rng.standard_normal(2)
    return {"args": {"seed": 0, "x_batch": KindedArray(x, "numpy", "two non-zero"), "features": 16}}


def test_a_float16_matmul_passes_the_rigorous_bound_at_large_d_in_and_fails_the_probabilistic_one() -> None:
    """At D_in = 16384 the rigorous bound (about 2 * 2**-11 M) covers a float16 kernel's rounding
    (2**-11 M at most); the probabilistic one (about 10 * 128 * 2**-24 M) does not, while the
    reference float32 built-in stays far below it."""
    from impl.nnx_vmap import vmap_over_batch
    from tests.zoo.low_precision import float16_matmul

    case = _low_precision_case(16384)
    args = case["args"]
    expected = VMAP_OVER_BATCH.expected(args, False)
    x = args["x_batch"].values
    low = np.asarray(float16_matmul(0, x, 16))
    rigorous = compare(low, expected.value, expected.bound)
    probable = compare(low, expected.value, expected.probable)
    assert rigorous.within and 0.05 < rigorous.max_ratio <= 0.55, rigorous
    assert not probable.within and probable.max_ratio > 2, probable
    correct = np.asarray(vmap_over_batch(0, x, 16))
    assert compare(correct, expected.value, expected.probable).max_ratio < 0.01
    # at D_in = 4096 the rigorous bound catches it too (the README's "rejects below 8191")
    small = _low_precision_case(4096)["args"]
    small_expected = VMAP_OVER_BATCH.expected(small, False)
    low = np.asarray(float16_matmul(0, small["x_batch"].values, 16))
    assert not compare(low, small_expected.value, small_expected.bound).within


def test_correct_float32_computations_stay_far_below_the_probabilistic_bound() -> None:
    """Every correct way of computing x @ W + b in float32 (tests/test_tolerance.py), on ordinary, wide
    and large values with mixed or one-signed terms, at D_in up to 4096: measured at most 0.67 of the
    probabilistic bound (at D_in <= 3, where it is the rigorous one) and 0.17 above D_in = 128."""
    from conformance.numerics.oracle import accurate_affine
    from tests.numerics.test_tolerance import F32, correct_float32_results, make_x

    rng = np.random.default_rng(1)
    worst = {}
    for d_in in (1, 3, 129, 1024, 4096):
        for family in ("ordinary", "wide", "large"):
            for signs in ("mixed", "positive"):
                x = make_x(rng, (8, d_in), F32, family, signs)
                kernel = (rng.standard_normal((d_in, 8)) / np.sqrt(d_in)).astype(np.float32)
                kernel = np.abs(kernel) if signs == "positive" else kernel
                bias = (rng.standard_normal(8) * 0.1).astype(np.float32)
                r = accurate_affine(x, kernel, bias, tolerance.TINY["float32"])
                bound = tolerance.affine_bound(
                    r.magnitude, r.flushable, d_in + 1, "float32", "cpu", "probabilistic"
                )
                for got in correct_float32_results(x, kernel, bias).values():
                    ratio = compare(got, r.value, bound + r.error).max_ratio
                    worst[d_in] = max(worst.get(d_in, 0.0), ratio)
    assert max(worst.values()) < 0.8, worst
    assert max(worst[d] for d in (129, 1024, 4096)) < 0.25, worst


def test_the_tolerance_is_an_engine_option_the_context_applies_and_the_replay_repeats() -> None:
    assert EngineOptions.build().tolerance == "rigorous"
    assert EngineOptions.build(tolerance="probabilistic").tolerance == "probabilistic"
    args = _low_precision_case(8)["args"]
    expected = VMAP_OVER_BATCH.expected(args, False)
    rigorous = Context(VMAP_OVER_BATCH, None, {}, cache=SharedCache())  # type: ignore[arg-type]
    probabilistic = Context(VMAP_OVER_BATCH, None, {}, cache=rigorous.cache, tolerance="probabilistic")  # type: ignore[arg-type]
    assert rigorous.tolerated(expected) is expected
    assert probabilistic.tolerated(expected).bound is expected.probable
    assert np.array_equal(probabilistic.expected(args).bound, expected.probable)
    assert np.array_equal(rigorous.expected(args).bound, expected.bound)  # one cache, both bounds
    command = ReplayCommand(
        "vmap_over_batch", "x.py:f", "agrees_with_oracle", "{}", tolerance="probabilistic"
    )
    assert "--tolerance probabilistic" in str(command)
    assert ReplayCommand.parse(str(command)) == command
    assert "--tolerance" not in str(ReplayCommand("vmap_over_batch", "x.py:f", "agrees_with_oracle", "{}"))


@pytest.mark.slow
def test_a_real_run_passes_the_float16_matmul_with_a_warning_and_fails_it_under_probabilistic() -> None:
    """Through a worker process: agrees_with_oracle on the pinned D_in = 16384 case, then two more
    examples of that shape; rigorous: pass, with a headroom warning; probabilistic: fail."""
    from conformance.boundary.executors import Target
    from strategies import ShapePool

    case = _low_precision_case(16384)
    pool = ShapePool(batch=(4,), d_in=(16384,), features=(16,))
    profile = replace(get_profile("ci"), max_examples=2, edge_examples=0, pool=pool)
    spec = "tests.zoo.low_precision:float16_matmul"
    cells = {}
    for model in ("rigorous", "probabilistic"):
        options = EngineOptions(subjects=(VMAP_OVER_BATCH,), profile=profile, specs=(spec,), tolerance=model)
        with Engine(options) as engine:
            ctx = engine.context(VMAP_OVER_BATCH, Target("low", spec, "vmap_over_batch"))
            prefix = engine.replay_prefix(VMAP_OVER_BATCH, spec)
            cells[model] = run_cell(ctx, PROPERTIES["agrees_with_oracle"], profile, prefix, [case])
    passed, failed = cells["rigorous"], cells["probabilistic"]
    assert passed.status == Status.PASS, passed.message
    assert passed.headroom["max"] < 0.6 and passed.headroom["probabilistic"]["max"] > 2
    assert "beyond the probabilistic bound" in passed.headroom["warning"]
    assert failed.status == Status.FAIL and "disagrees with the float64 oracle" in failed.message
    assert "--tolerance probabilistic" in failed.replay and failed.headroom["warning"] is None


def test_a_check_run_records_its_tolerance_and_the_headroom_of_each_numeric_cell() -> None:
    from conformance.run import engine

    report = engine.check(
        ["nnx_vmap"],
        isolation="trusted",
        max_examples=2,
        properties=("agrees_with_oracle", "seed_determinism"),
        tolerance="probabilistic",
    )
    doc = json.loads(json.dumps(report.to_json()))
    assert doc["tolerance"] == {"model": "probabilistic", "lambda": 10.0}
    cells = {c["property"]: c for c in doc["implementations"][0]["properties"]}
    assert cells["agrees_with_oracle"]["status"] == "pass"
    headroom = cells["agrees_with_oracle"]["headroom"]
    assert 0 <= headroom["max"] <= 1
    # examples that compared at least one element (an empty batch compares none)
    assert 0 < headroom["examples"] < cells["agrees_with_oracle"]["examples"]
    assert headroom["probabilistic"]["max"] == headroom["max"]  # the enforced bound is the probabilistic one
    assert cells["seed_determinism"]["headroom"] is None
