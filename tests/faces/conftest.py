"""Fixtures of the face tests."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="module")
def cli_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The environment of every subprocess: no profile or database from outside, cases in a temp dir."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONFORMANCE_")}
    env["CONFORMANCE_CASE_DIR"] = str(tmp_path_factory.mktemp("cases"))
    env["COLUMNS"] = "200"  # rich: no truncated table cells, whatever the terminal
    env.pop("PYTEST_ADDOPTS", None)
    return env
