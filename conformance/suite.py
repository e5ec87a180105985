"""The conformance suite as pytest tests: ``pytest --pyargs conformance.suite [--impl SPEC]``."""

from __future__ import annotations

from typing import Any


def test_conformance(conformance_cell: Any) -> None:
    """One implementation x property; fails with the minimal counterexample and a replay command."""
    result = conformance_cell.run()
    assert result.status == "pass"
