"""Profiles: choice by name or environment, the fuzz database replaying failures first, the README example."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conformance.run.profiles import PROFILES, get_profile
from tests.helpers import check

README = Path(__file__).resolve().parents[2] / "README.md"


def test_profile_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONFORMANCE_PROFILE", "ci")
    assert get_profile().name == "ci"
    assert get_profile("fuzz").name == "fuzz"
    monkeypatch.delenv("CONFORMANCE_PROFILE")
    assert get_profile().name == "dev"
    with pytest.raises(ValueError, match="unknown profile 'nope'"):
        get_profile("nope")


def test_ci_is_derandomized_and_fuzz_keeps_a_database() -> None:
    assert PROFILES["ci"].derandomize and not PROFILES["ci"].use_database
    assert PROFILES["fuzz"].use_database and not PROFILES["fuzz"].derandomize
    assert PROFILES["fuzz"].max_examples > PROFILES["ci"].max_examples > PROFILES["dev"].max_examples


def test_ci_profile_finds_the_same_minimal_counterexample_every_run() -> None:
    spec = "bad=tests.zoo.broken:seed_low_16_bits"
    first = check(spec, ("agrees_with_oracle",)).properties[0]
    second = check(spec, ("agrees_with_oracle",)).properties[0]
    assert first.status == second.status == "fail"
    assert first.counterexample["case"] == second.counterexample["case"]
    assert first.first_failure_example == second.first_failure_example


@pytest.mark.slow
def test_fuzz_database_replays_a_found_failure_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONFORMANCE_DATABASE", str(tmp_path / "db"))
    spec = "bad=tests.zoo.broken:seed_clipped_to_int32"
    first = check(spec, ("agrees_with_oracle",), profile="fuzz", max_examples=300).properties[0]
    assert first.status == "fail"
    assert any((tmp_path / "db").rglob("*")), "the failure was not saved"
    again = check(spec, ("agrees_with_oracle",), profile="fuzz", max_examples=300).properties[0]
    assert again.status == "fail"
    assert again.first_failure_example == 1, "the saved failure did not replay first"


@pytest.mark.slow
def test_the_readme_example_implementation_conforms(tmp_path: Path) -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    example = next(b for b in blocks if "def vmap_over_batch" in b)
    path = tmp_path / "my_impl.py"
    path.write_text(example)
    result = check(
        f"{path}:vmap_over_batch", profile="dev", max_examples=8, strict=False, isolation="process"
    )
    bad = {c.property: (c.status, c.message) for c in result.properties if c.status not in ("pass", "skip")}
    assert bad == {}
    skipped = [c.property for c in result.properties if c.status == "skip"]
    assert skipped == ["invalid_input_rejected"]  # external code: only with --strict (the README says so)
