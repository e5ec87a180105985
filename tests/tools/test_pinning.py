"""Version pinning end to end, through the CLI: golden numbers, the regression corpus, expected failures.

Each test runs ``python -m conformance`` in a subprocess, the way a maintainer would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import jax
import pytest

ROOT = Path(__file__).resolve().parents[2]
BROKEN = "seed_plus_one=tests.zoo.broken:seed_plus_one"
FAST = ("--profile", "dev", "--quiet", "--compile-cache", "off")


def conformance(tmp: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("CONFORMANCE_", "JAX_"))}
    environ.update(COLUMNS="200", CONFORMANCE_CASE_DIR=str(tmp / "cases"), **env)
    return subprocess.run(
        [sys.executable, "-m", "conformance", *args],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=600,
    )


def report(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def cell(data: dict[str, Any], impl: str, prop: str) -> dict[str, Any]:
    found = [c for i in data["implementations"] if i["name"] == impl for c in i["properties"]]
    return next(c for c in found if c["name"] == prop)


@pytest.mark.slow
def test_golden_fails_with_the_cause_when_the_threefry_flag_is_flipped_by_hand(tmp_path: Path) -> None:
    args = ("check", "--impl", "nnx_vmap", "--property", "golden", *FAST)
    assert conformance(tmp_path, *args).returncode == 0
    flipped = "0" if jax.config.jax_threefry_partitionable else "1"
    result = conformance(tmp_path, *args, JAX_THREEFRY_PARTITIONABLE=flipped)
    assert result.returncode == 1, result.stdout + result.stderr
    text = " ".join(result.stdout.split())
    assert "matches the golden of group threefry_" in text
    assert "jax_threefry_partitionable changed (False before jax 0.5.0, True since)" in text
    assert "set by hand" in text


@pytest.mark.slow
def test_a_pinned_counterexample_replays_first(tmp_path: Path) -> None:
    first = tmp_path / "first.json"
    args = ("check", "--impl", BROKEN, "--property", "agrees_with_oracle", *FAST)
    result = conformance(tmp_path, *args, "--json", str(first))
    assert result.returncode == 1, result.stderr
    corpus = tmp_path / "corpus"
    pinned = conformance(tmp_path, "pin", str(first), "--corpus", str(corpus))
    assert pinned.returncode == 0, pinned.stderr
    files = list(corpus.rglob("*.json"))
    assert len(files) == 1 and files[0].parent.name == "agrees_with_oracle"
    again = tmp_path / "again.json"
    result = conformance(tmp_path, *args, "--corpus", str(corpus), "--json", str(again))
    assert result.returncode == 1
    replayed = cell(report(again), "seed_plus_one", "agrees_with_oracle")
    assert replayed["first_failure_example"] == 1  # the pinned case, before any generated example
    assert (
        replayed["counterexample"]["case"]
        == cell(report(first), "seed_plus_one", "agrees_with_oracle")["counterexample"]["case"]
    )


@pytest.mark.slow
def test_pinned_cases_also_run_for_a_correct_implementation(tmp_path: Path) -> None:
    first = tmp_path / "first.json"
    conformance(
        tmp_path, "check", "--impl", BROKEN, "--property", "agrees_with_oracle", *FAST, "--json", str(first)
    )
    corpus = tmp_path / "corpus"
    conformance(tmp_path, "pin", str(first), "--corpus", str(corpus))
    result = conformance(
        tmp_path,
        "check",
        "--impl",
        "nnx_vmap",
        "--property",
        "agrees_with_oracle",
        *FAST,
        "--corpus",
        str(corpus),
    )
    assert result.returncode == 0, result.stdout


def versions_around_this_jax() -> tuple[str, str]:
    """A range that holds the running jax, and one that does not."""
    return f"jax>={jax.__version__}", f"jax<{jax.__version__}"


@pytest.mark.slow
@pytest.mark.parametrize("inside", [True, False], ids=["inside-range", "outside-range"])
def test_an_expected_failure_holds_only_inside_its_version_range(tmp_path: Path, inside: bool) -> None:
    here, elsewhere = versions_around_this_jax()
    expect = tmp_path / "expected.txt"
    expect.write_text(
        "# known bugs of our fork\n"
        f"seed_plus_one agrees_with_oracle {here if inside else elsewhere} -- off by one seed, ours to fix\n"
    )
    out = tmp_path / "report.json"
    result = conformance(
        tmp_path,
        "check",
        "--impl",
        BROKEN,
        "--property",
        "agrees_with_oracle",
        *FAST,
        "--expect",
        str(expect),
        "--json",
        str(out),
    )
    status = cell(report(out), "seed_plus_one", "agrees_with_oracle")["status"]
    if inside:
        assert (result.returncode, status) == (0, "xfail"), result.stdout
        assert "off by one seed, ours to fix" in result.stdout
    else:
        assert (result.returncode, status) == (1, "fail"), result.stdout


@pytest.mark.slow
def test_a_stale_expected_failure_is_an_unexpected_pass(tmp_path: Path) -> None:
    expect = tmp_path / "expected.txt"
    expect.write_text("nnx_vmap agrees_with_oracle -- was broken once\n")
    out = tmp_path / "report.json"
    args = ("check", "--impl", "nnx_vmap", "--property", "agrees_with_oracle", *FAST)
    result = conformance(tmp_path, *args, "--expect", str(expect), "--json", str(out))
    assert result.returncode == 1
    assert cell(report(out), "nnx_vmap", "agrees_with_oracle")["status"] == "xpass"
    assert "XPASS" in result.stdout and "stale" in result.stdout


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("nnx_vmap agrees_with_oracle", "reason"),
        pytest.param("nnx_vmap agrees_with_oracle jax>>0.5 -- why", "jax>>0.5", marks=pytest.mark.slow),
        pytest.param("nnx_vmap no_such_property -- why", "no_such_property", marks=pytest.mark.slow),
    ],
)
def test_a_bad_expectation_line_is_a_usage_error_with_its_line_number(
    tmp_path: Path, line: str, problem: str
) -> None:
    expect = tmp_path / "expected.txt"
    expect.write_text(f"# header\n\n{line}\n")
    result = conformance(tmp_path, "check", "--impl", "nnx_vmap", *FAST, "--expect", str(expect))
    assert result.returncode == 2
    assert f"{expect}:3:" in result.stderr and problem in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
