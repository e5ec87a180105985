"""The pytest plugin (conformance/pytest_plugin.py) end to end: ``pytest --pyargs conformance.suite``
in a subprocess makes a test of every property, passes on a built-in, and fails on a broken
implementation with its minimal counterexample and replay command, in the terminal and in JUnit XML."""

from __future__ import annotations

import re
import sys
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from conformance.subjects import VMAP_OVER_BATCH
from tests.faces.helpers import BROKEN, Run, run


def pytest_suite(env: dict[str, str], junit: Path, *args: str) -> Run:
    argv = [
        sys.executable,
        "-m",
        "pytest",
        "--pyargs",
        "conformance.suite",
        "--conformance-max-examples",
        "2",
        "-q",
        "-p",
        "no:cacheprovider",
        f"--junitxml={junit}",
        *args,
    ]
    return run(argv, env)


@pytest.fixture(scope="module")
def plugin_runs(cli_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("junit")
    # "x-agrees_with_oracle", not "agrees_with_oracle", which jit_agrees_with_oracle contains too
    selection = "nnx_vmap-agrees_with_oracle or invalid_input_rejected"
    jobs = {
        "builtin": (out / "pass.xml", "--impl", "nnx_vmap", "-k", selection),
        "broken": (out / "fail.xml", "--impl", BROKEN, "-k", "batch-agrees_with_oracle"),
    }
    with ThreadPoolExecutor(2) as pool:
        futures = {k: pool.submit(pytest_suite, cli_env, *a) for k, a in jobs.items()}
        return {k: (f.result(), jobs[k][0]) for k, f in futures.items()}


def junit_cases(path: Path) -> dict[str, ET.Element]:
    return {case.get("name"): case for case in ET.parse(path).getroot().iter("testcase")}


@pytest.mark.slow
def test_plugin_passes_on_a_builtin(plugin_runs: dict[str, Any]) -> None:
    result, junit = plugin_runs["builtin"]
    assert result.returncode == 0, str(result)
    cases = junit_cases(junit)
    selected = ["agrees_with_oracle", "invalid_input_rejected"]
    assert sorted(cases) == sorted(f"test_conformance[nnx_vmap-{p}]" for p in selected)
    for case in cases.values():
        assert case.find("failure") is None and case.find("error") is None and case.find("skipped") is None
    # Every property became a test; the ones not selected were deselected, not missing.
    match = re.search(r"(\d+) passed, (\d+) deselected", result.stdout)
    assert match, result.stdout
    assert (int(match.group(1)), int(match.group(1)) + int(match.group(2))) == (
        len(selected),
        len(VMAP_OVER_BATCH.properties),
    )


@pytest.mark.slow
def test_plugin_fails_on_a_broken_impl(plugin_runs: dict[str, Any]) -> None:
    result, junit = plugin_runs["broken"]
    assert result.returncode == 1, str(result)
    assert "minimal counterexample" in result.stdout
    assert "replay" in result.stdout
    assert "python -m conformance replay" in result.stdout
    cases = junit_cases(junit)
    assert list(cases) == ["test_conformance[vmap_over_batch-agrees_with_oracle]"]
    failure = cases["test_conformance[vmap_over_batch-agrees_with_oracle]"].find("failure")
    assert failure is not None
    text = (failure.get("message") or "") + (failure.text or "")
    assert "minimal counterexample" in text and "replay" in text
