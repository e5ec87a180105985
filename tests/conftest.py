"""Session-wide settings for the suite's own tests."""

from __future__ import annotations

import os

import pytest


def pytest_configure(config: pytest.Config) -> None:
    # The `check` runs these tests start would append their verdict tables to the project's own
    # GitHub step summary (conformance.reporting.summary writes there by default): not theirs to write.
    os.environ.pop("GITHUB_STEP_SUMMARY", None)
