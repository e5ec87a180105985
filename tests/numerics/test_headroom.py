"""Error headroom (conformance/numerics/headroom.py): the headroom the runner records from each
comparison against a bound, its place in the report, and the probabilistic tolerance
(``--tolerance probabilistic``) it warns with: a float16 matmul beyond it, correct float32
computations far below it, as an engine option and in real runs.

The comparison itself (``tolerance.compare`` / ``assert_close``) and the probabilistic model's
formulas are tested in ``test_tolerance.py``; the ``plot`` command in ``tests/tools/test_plot.py``."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import strategies as st
from rich.console import Console

from conformance.base.verdict import ReplayCommand, Status
from conformance.numerics import tolerance
from conformance.numerics.headroom import Headroom, share
from conformance.numerics.tolerance import Probe, assert_close, compare
from conformance.properties import PROPERTIES, Property
from conformance.properties.context import Context, SharedCache
from conformance.reporting.report import print_report
from conformance.run.engine import Engine
from conformance.run.profiles import get_profile
from conformance.run.results import ImplResult, RunReport
from conformance.run.runner import CellResult, run_cell
from conformance.run.settings import EngineOptions
from conformance.subjects import VMAP_OVER_BATCH

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


# --------------------------------------------------------------------------- the probabilistic tolerance


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
    # at D_in = 4096 the rigorous bound catches it too (docs/tolerance.md: "rejects below 8191")
    small = _low_precision_case(4096)["args"]
    small_expected = VMAP_OVER_BATCH.expected(small, False)
    low = np.asarray(float16_matmul(0, small["x_batch"].values, 16))
    assert not compare(low, small_expected.value, small_expected.bound).within


def test_correct_float32_computations_stay_far_below_the_probabilistic_bound() -> None:
    """Every correct way of computing x @ W + b in float32 (tests/numerics/helpers.py), on ordinary, wide
    and large values with mixed or one-signed terms, at D_in up to 4096: measured at most 0.67 of the
    probabilistic bound (at D_in <= 3, where it is the rigorous one) and 0.17 above D_in = 128."""
    from conformance.numerics.oracle import accurate_affine
    from tests.numerics.helpers import F32, correct_float32_results, make_x

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
