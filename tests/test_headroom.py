"""The comparison against a bound (``tolerance.compare`` / ``assert_close``), the headroom the
runner records from it, its place in the report, the ``plot`` command, and the probabilistic
tolerance (``--tolerance probabilistic``)."""

from __future__ import annotations

import numpy as np
import pytest

from conformance import tolerance
from conformance.context import PropertyFailure
from conformance.tolerance import Closeness, assert_close, compare, probing, ratios

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
