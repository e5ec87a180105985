"""Which statuses fail (conformance/base/verdict.py): named once, read by every layer."""

from __future__ import annotations

from conformance.base import causes, verdict
from conformance.base.verdict import FAILING, PASSING, UNEXPECTED, Status, Verdict


def test_every_status_either_passes_a_run_or_is_unexpected() -> None:
    assert PASSING | UNEXPECTED == set(Status) and not PASSING & UNEXPECTED
    assert UNEXPECTED == {Status.FAIL, Status.ERROR, Status.XPASS, Status.INCOMPLETE}


def test_a_failing_status_is_unexpected_but_a_cell_that_ran_nothing_shows_no_failure() -> None:
    assert FAILING == UNEXPECTED - {Status.INCOMPLETE}
    for status in FAILING:
        assert verdict.verdict([Status.PASS, status]) == Verdict.DOES_NOT_CONFORM
    assert verdict.verdict([Status.PASS, Status.INCOMPLETE]) == Verdict.INCOMPLETE


def test_the_sets_hold_the_statuses_as_a_json_report_spells_them() -> None:
    spelled = ("fail", "error", "xpass", "incomplete", "pass", "skip", "xfail")
    assert {s for s in spelled if s in UNEXPECTED} == {"fail", "error", "xpass", "incomplete"}
    assert {s for s in spelled if s in FAILING} == {"fail", "error", "xpass"}


def test_the_cause_grouping_reads_the_same_set() -> None:
    assert causes.UNEXPECTED is UNEXPECTED


def test_a_replay_command_without_a_subject_names_the_default_subject() -> None:
    from impl.registry import DEFAULT_SUBJECT

    command = verdict.ReplayCommand.parse("python -m conformance replay --impl a --property p --case '{}'")
    assert command.subject == DEFAULT_SUBJECT
