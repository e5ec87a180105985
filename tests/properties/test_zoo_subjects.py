"""The zoos of the new subjects: every broken implementation is caught, every correct one passes.

Like ``tests/properties/test_zoo.py``, under the ``ci`` profile, as ``python -m conformance
check --subject SUBJECT --profile ci`` would: a property that cannot catch its bug
here, or that fails a correct implementation, is a defect of the suite. Also: the
built-in ``broadcast`` of ``vmap_anchored`` is a known non-conformant reference whose
registered failures are ``xfail`` (the run stays green) and whose stale
expectations would be ``xpass`` (the run goes red).
"""

from __future__ import annotations

from types import ModuleType

import pytest

from conformance.cases import codec
from conformance.run import engine
from conformance.run.profiles import get_profile
from conformance.run.results import ImplResult
from conformance.run.runner import CellResult, apply_expectation
from conformance.subjects import FORWARD_TRANSFORM_PROPERTIES, GRADIENT_PROPERTIES, get_subject
from impl import registry
from tests.helpers import check, fast_sample
from tests.zoo import anchored, ensemble, gradients, transforms

ZOOS: dict[str, ModuleType] = {"vmap_over_ensemble": ensemble, "vmap_anchored": anchored}

CAUGHT = [
    (subject, name, prop)
    for subject, zoo in ZOOS.items()
    for name, (_, props) in zoo.BROKEN.items()
    for prop in props
]

#: The gradient properties have their own zoo (tests/zoo/gradients.py); float64_compute goes
#: through numpy and has no derivative, nor is it traceable: the forward transform properties
#: have their zoo too (tests/zoo/transforms.py).
SUBJECT_PROPERTIES = [
    (subject, prop)
    for subject in ZOOS
    for prop in get_subject(subject).properties
    if prop not in GRADIENT_PROPERTIES + FORWARD_TRANSFORM_PROPERTIES
]
SUBJECT_PROPERTY_IDS = [f"{s}-{p}" for s, p in SUBJECT_PROPERTIES]

#: The fast tier's sample, one or two bugs per property; the slow tier catches the whole zoos.
FAST = {
    ("vmap_over_ensemble", "not_flattened", "output_contract"),
    ("vmap_over_ensemble", "float16_accumulate", "agrees_with_oracle"),
    ("vmap_over_ensemble", "float16_accumulate", "agrees_with_builtins"),
    ("vmap_over_ensemble", "members_reversed", "member_independence"),
    ("vmap_over_ensemble", "no_split_rngs", "member_independence"),
    ("vmap_over_ensemble", "members_averaged", "distinct_members"),
    ("vmap_over_ensemble", "batch_mean_leaks", "batch_independence"),
    ("vmap_over_ensemble", "ignores_seed", "seed_sensitivity"),
    ("vmap_over_ensemble", "rngs_cached_per_seed", "seed_determinism"),
    ("vmap_over_ensemble", "other_threefry", "golden"),
    ("vmap_over_ensemble", "zeroes_numpy_input", "inputs_untouched"),
    ("vmap_over_ensemble", "accepts_zero_members", "invalid_input_rejected"),
    ("vmap_anchored", "not_flattened", "output_contract"),
    ("vmap_anchored", "forgets_anchor", "agrees_with_oracle"),
    ("vmap_anchored", "anchored_at_last", "agrees_with_oracle"),
    ("vmap_anchored", "forgets_anchor", "agrees_with_builtins"),
    ("vmap_anchored", "anchored_at_batch_mean", "batch_independence"),
    ("vmap_anchored", "ignores_seed", "seed_sensitivity"),
    ("vmap_anchored", "rngs_cached_per_seed", "seed_determinism"),
    ("vmap_anchored", "anchors_in_place", "inputs_untouched"),
    ("vmap_anchored", "starts_a_prefetch_thread", "no_side_effects"),
    ("vmap_anchored", "accepts_zero_features", "invalid_input_rejected"),
}
#: The fast tier runs the anchored zoo's correct implementations against the oracle (the ensemble's
#: first ci run compiles for 10-25 s; test_subjects checks one there); the slow tier every property.
FAST_CORRECT = {("vmap_anchored", "agrees_with_oracle")}


def _spec(subject: str, name: str) -> str:
    return f"{name}={ZOOS[subject].__name__}:{name}"


@pytest.mark.parametrize(
    ("subject", "name", "prop"), fast_sample(CAUGHT, FAST), ids=[f"{s}-{n}-{p}" for s, n, p in CAUGHT]
)
def test_broken_implementation_is_caught(subject: str, name: str, prop: str) -> None:
    result = check(_spec(subject, name), (prop,), subject=subject)
    (cell,) = result.properties
    assert cell.status == "fail", f"{prop} did not catch {subject} {name}: {cell.status} {cell.message}"
    assert cell.message
    assert cell.counterexample is not None and cell.counterexample["summary"]
    assert cell.replay is not None
    assert f"--subject {subject}" in cell.replay
    assert f"--property {prop}" in cell.replay
    assert not result.passed


@pytest.mark.parametrize(
    ("subject", "prop"),
    [pytest.param(*c, marks=() if c in FAST_CORRECT else pytest.mark.slow) for c in SUBJECT_PROPERTIES],
    ids=SUBJECT_PROPERTY_IDS,
)
def test_correct_implementations_pass_every_property(subject: str, prop: str) -> None:
    """One run per property with every correct implementation: the oracle's answers are computed once."""
    zoo = ZOOS[subject]
    specs = [_spec(subject, name) for name in zoo.CORRECT]
    report = engine.check(specs, subject=subject, strict=True, isolation="trusted", properties=(prop,))
    assert [i.name for i in report.implementations] == list(zoo.CORRECT)
    problems = [(i.name, c.status, c.message) for i in report.implementations for c in i.properties]
    assert [p for p in problems if p[1] != "pass"] == []
    assert all(len(i.properties) == 1 for i in report.implementations)
    assert report.passed


@pytest.mark.parametrize("subject", sorted(ZOOS))
def test_every_property_of_the_subject_has_a_bug_it_must_catch(subject: str) -> None:
    zoo = ZOOS[subject]
    named = {prop for _, props in zoo.BROKEN.values() for prop in props}
    named |= {prop for _, props in gradients.BROKEN[subject].values() for prop in props}
    named |= {prop for _, prop, _ in transforms.BROKEN[subject].values()}
    assert named == set(get_subject(subject).properties)
    assert set(zoo.BROKEN).isdisjoint(zoo.CORRECT)
    assert 2 <= len(zoo.CORRECT) <= 3


# --------------------------------------------------------------------------- known failures


def _batch_size(cell: CellResult) -> int:
    case = codec.decode(cell.counterexample["case"])
    return case["args"]["x_batch"].shape[0]


@pytest.mark.slow
def test_broadcast_anchored_fails_exactly_its_known_failures() -> None:
    known = dict(registry.get("broadcast", "vmap_anchored").known_failures)
    assert known, "broadcast is registered as a known non-conformant reference"
    result = check("broadcast", subject="vmap_anchored", isolation="process")  # 8 devices: sharding runs
    cells = {c.property: c for c in result.properties}
    assert set(cells) == set(get_subject("vmap_anchored").properties)
    statuses = {p: c.status for p, c in cells.items()}
    assert {p for p, s in statuses.items() if s == "xfail"} == set(known), statuses
    assert {p: s for p, s in statuses.items() if p not in known} == dict.fromkeys(
        set(cells) - set(known), "pass"
    )
    for prop, reason in known.items():
        cell = cells[prop]
        assert cell.expected_failure == reason
        assert cell.message
        assert cell.counterexample is not None and cell.counterexample["summary"]
        assert cell.replay is not None and f"--property {prop}" in cell.replay
    assert result.passed  # expected failures keep the run green
    # Minimal counterexamples: against the oracle one row shows the bug (row 0 becomes the
    # bias); batch independence needs a second row, so the smallest batch of the ci pool above 1.
    assert _batch_size(cells["agrees_with_oracle"]) <= 2, cells["agrees_with_oracle"].counterexample
    smallest_pair = min(b for b in get_profile("ci").pool.batch if b >= 2)
    batch = _batch_size(cells["batch_independence"])
    assert batch == smallest_pair, cells["batch_independence"].counterexample["summary"]


def test_apply_expectation_turns_outcomes_into_xfail_and_xpass() -> None:
    def cell(status: str) -> CellResult:
        return CellResult("output_contract", "claim", status, message="" if status == "pass" else "broke")

    assert apply_expectation(cell("fail"), None).status == "fail"
    assert apply_expectation(cell("pass"), None).status == "pass"
    failed = apply_expectation(cell("fail"), "known to break")
    assert (failed.status, failed.expected_failure, failed.message) == ("xfail", "known to break", "broke")
    held = apply_expectation(cell("pass"), "known to break")
    assert held.status == "xpass" and held.expected_failure == "known to break"
    assert "known to break" in held.message and "stale" in held.message
    for status in ("skip", "error"):
        assert apply_expectation(cell(status), "known to break").status == status
    assert ImplResult("a", "a", False, [failed]).passed
    assert not ImplResult("a", "a", False, [held]).passed


def test_a_known_failure_that_holds_is_xpass_and_fails_the_run() -> None:
    name = "zoo_subjects_stale_expectation"
    table = registry._REGISTRY.setdefault("vmap_anchored", {})
    assert name not in table
    registry.register(name, subject="vmap_anchored", known_failures={"output_contract": "expected to break"})(
        anchored.broadcast_aware
    )
    try:
        result = check(name, ("output_contract",), subject="vmap_anchored")
    finally:
        registry._REGISTRY["vmap_anchored"].pop(name, None)
    (cell,) = result.properties
    assert cell.status == "xpass", (cell.status, cell.message)
    assert cell.expected_failure == "expected to break"
    assert "expected to break" in cell.message
    assert not result.passed
    assert name not in registry.names("vmap_anchored")
