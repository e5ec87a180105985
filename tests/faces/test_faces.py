"""The faces of the engine agree: the CLI and the pytest plugin reject the same mistakes with the
same words, the plugin offers what the CLI does, and no search that ran nothing reads as a pass."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import strategies as st

from conformance import cli
from conformance.base.verdict import Status, Verdict, verdict
from conformance.properties import Property
from conformance.properties.context import Context, SharedCache
from conformance.pytest_plugin import DEST, spell
from conformance.run.engine import Engine
from conformance.run.options import CHECK, RUN, add_options, build_kwargs
from conformance.run.profiles import get_profile
from conformance.run.runner import run_cell
from conformance.run.settings import EngineOptions, UsageError
from conformance.subjects import VMAP_OVER_BATCH

ROOT = Path(__file__).resolve().parents[2]

#: (CLI arguments, pytest plugin arguments): the same mistake on both faces.
MISTAKES = {
    "max-examples": (["--max-examples", "0"], ["--conformance-max-examples", "0"]),
    "timeout": (["--timeout", "-1"], ["--conformance-timeout", "-1"]),
    "load-timeout": (["--load-timeout", "0"], ["--conformance-load-timeout", "0"]),
    "jobs": (["--jobs", "0"], ["--conformance-jobs", "0"]),
    "profile": (["--profile", "nightly"], ["--conformance-profile", "nightly"]),
    "subject": (["--subject", "vmap_over_nothing"], ["--subject", "vmap_over_nothing"]),
    "property": (["--property", "no_such_claim"], ["--conformance-property", "no_such_claim"]),
    "group": (["--group", "gradients"], ["--conformance-group", "gradients"]),
    "tolerance": (["--tolerance", "loose"], ["--conformance-tolerance", "loose"]),
    "corpus": (["--corpus", "/no/such/folder"], ["--conformance-corpus", "/no/such/folder"]),
    "expect": (["--expect", "/no/such/file"], ["--conformance-expect", "/no/such/file"]),
    "isolation": (
        ["--isolation", "none", "--impl", "tests.zoo.correct:jitted"],
        ["--conformance-isolation", "none", "--impl", "tests.zoo.correct:jitted"],
    ),
}


def _cli_error(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert cli.main(["check", *args]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("error: ")
    return line.removeprefix("error: ")


def _as_plugin_words(message: str) -> str:
    """The CLI's words with its option names spelled as the plugin spells them."""
    for option in (
        "--max-examples",
        "--load-timeout",
        "--timeout",
        "--jobs",
        "--corpus",
        "--expect",
        "--isolation",
        "--group",
        "--tolerance",
    ):
        message = message.replace(option, spell(option))
    return message


@pytest.mark.parametrize("mistake", list(MISTAKES))
def test_the_engine_rejects_a_mistake_once_for_both_faces(
    mistake: str, capsys: pytest.CaptureFixture
) -> None:
    cli_args, plugin_args = MISTAKES[mistake]
    words = _cli_error(cli_args, capsys)
    kwargs = _plugin_kwargs(plugin_args)
    with pytest.raises(UsageError) as raised:
        EngineOptions.build(spell=spell, **kwargs)
    assert str(raised.value) == _as_plugin_words(words)


def _plugin_parser() -> argparse.ArgumentParser:
    """The plugin's options, declared as pytest_addoption declares them (the shared table)."""
    parser = argparse.ArgumentParser()
    add_options(parser.add_argument, CHECK + RUN, spell, DEST)
    return parser


def _plugin_kwargs(args: list[str]) -> dict:
    """What the plugin passes to EngineOptions.build for these arguments."""
    parsed = _plugin_parser().parse_args(args)
    return build_kwargs(lambda dest: getattr(parsed, dest), CHECK + RUN, DEST)


def test_the_plugin_offers_every_option_of_check() -> None:
    check = cli.build_parser()._subparsers._group_actions[0].choices["check"]  # type: ignore[union-attr]
    cli_flags = {s for a in check._actions for s in a.option_strings if s.startswith("--")}
    plugin_flags = {s for a in _plugin_parser()._actions for s in a.option_strings if s.startswith("--")}
    missing = {f for f in cli_flags - {"--help", "--quiet"} if spell(f) not in plugin_flags}
    assert not missing, missing
    assert spell("--json") == "--conformance-json" and spell("--impl") == "--impl"


def _plugin(*args: str) -> subprocess.CompletedProcess[str]:
    """``pytest --pyargs conformance.suite ARGS`` in a fresh interpreter, as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "pytest", "--pyargs", "conformance.suite", "-p", "no:cacheprovider", *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.slow
def test_the_plugin_writes_the_json_report(tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    done = _plugin(
        "-q", "--impl", "manual_lift", "--conformance-property", "output_contract",
        "--conformance-max-examples", "2", "--conformance-json", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(out.read_text())
    (impl,) = report["implementations"]
    assert impl["name"] == "manual_lift" and report["subject"] == "vmap_over_batch"
    assert [p["name"] for p in impl["properties"]] == ["output_contract"]
    assert impl["properties"][0]["status"] == "pass"


@pytest.mark.slow
@pytest.mark.parametrize("mistake", ["max-examples", "subject", "corpus"])
def test_a_plugin_usage_error_is_one_line(mistake: str) -> None:
    """Through pytest itself: ``ERROR: <the engine's words>``, no traceback."""
    _, plugin_args = MISTAKES[mistake]
    done = _plugin(*plugin_args)
    assert done.returncode == 4, done.stdout + done.stderr
    err = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(err) == 1 and err[0].startswith("ERROR: "), done.stderr
    assert "Traceback" not in done.stdout + done.stderr


@pytest.mark.slow
def test_the_plugin_takes_every_subject() -> None:
    done = _plugin("--collect-only", "-q", "--subject", "all")
    assert done.returncode == 0, done.stdout + done.stderr
    ids = [line for line in done.stdout.splitlines() if "::test_conformance[" in line]
    for subject in ("vmap_over_batch", "vmap_over_ensemble", "vmap_anchored"):
        assert any(f"[{subject}-" in i for i in ids), subject
    assert all(not i.startswith("::") for i in ids)
    assert len(ids) == len(set(ids))


def _filtered_out(subject: object, config: object) -> st.SearchStrategy:
    return st.integers().filter(lambda _: False)


def _never_fails(ctx: Context, case: object) -> None:
    """Holds on anything."""


def test_a_search_whose_every_case_is_filtered_out_is_incomplete_not_pass() -> None:
    prop = Property("never_runs", _never_fails, _filtered_out)
    options = EngineOptions(subjects=(VMAP_OVER_BATCH,), profile=get_profile("ci"), isolation="trusted")
    with Engine(options) as engine:
        panel = engine.panel(VMAP_OVER_BATCH)
        ctx = Context(VMAP_OVER_BATCH, panel["nnx_vmap"], {}, cache=SharedCache())
        cell = run_cell(ctx, prop, options.profile, {"subject": "vmap_over_batch", "impl": "nnx_vmap"})
    assert cell.status == Status.INCOMPLETE, (cell.status, cell.message)
    assert "ran no example in the whole domain" in cell.message
    assert verdict([cell.status]) == Verdict.INCOMPLETE


def test_only_built_ins_may_run_in_the_runner() -> None:
    with pytest.raises(UsageError, match="only the built-ins may"):
        EngineOptions.build(isolation="none", impls=["tests.zoo.correct:jitted"])
    assert EngineOptions.build(isolation="none", impls=["nnx_vmap"]).isolation == "none"


def test_no_property_passes_on_calls_that_raised() -> None:
    """An implementation that raises on every call fails every claim except the one about raising."""
    from conformance.run import engine
    from conformance.subjects import COMMON_PROPERTIES

    props = tuple(p for p in COMMON_PROPERTIES if p != "invalid_input_rejected")
    report = engine.check(
        ["tests.adversarial.pretends:always_raises"], isolation="trusted", max_examples=3, properties=props
    )
    statuses = {c.property: c.status for c in report.implementations[0].properties}
    assert statuses == dict.fromkeys(props, Status.FAIL), statuses
