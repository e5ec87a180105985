"""docs/github-workflow.yml: valid YAML, and every ``python -m conformance ...`` command in it is
accepted by the CLI's own parser (conformance.cli.build_parser), so renaming an option breaks
this test before it breaks a user's CI.

PyYAML is read with ``yaml.safe_load``: Flax requires PyYAML, so it is installed with the
suite's dependencies.
"""

from __future__ import annotations

import contextlib
import io
import re
import shlex
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from conformance.cli import build_parser

WORKFLOW = Path(__file__).resolve().parents[2] / "docs" / "github-workflow.yml"
#: tokens that end one shell command
SEPARATORS = {";", "&&", "||", "|", "&", ">", ">>", "<", "(", ")"}
_EXPR = re.compile(r"\$\{\{\s*env\.(\w+)\s*\}\}")
_VAR = re.compile(r"\$(\w+)|\$\{(\w+)\}")


def load(text: str) -> dict[str, Any]:
    data = yaml.safe_load(text)
    assert isinstance(data, dict), "the workflow is not a YAML mapping"
    return data


def expand(text: str, env: Mapping[str, str]) -> str:
    """``${{ env.X }}``, ``$X`` and ``${X}`` replaced from ``env`` (other variables are left)."""
    text = _EXPR.sub(lambda m: env.get(m.group(1), m.group(0)), text)
    return _VAR.sub(lambda m: env.get(m.group(1) or m.group(2), m.group(0)), text)


def steps(data: Mapping[str, Any]) -> Iterator[tuple[dict[str, Any], dict[str, str]]]:
    """Every step, with the environment it sees (the workflow's, the job's, its own)."""
    for job in (data.get("jobs") or {}).values():
        for step in job.get("steps") or []:
            env = {**(data.get("env") or {}), **(job.get("env") or {}), **(step.get("env") or {})}
            yield step, {k: str(v) for k, v in env.items()}


def commands(data: Mapping[str, Any]) -> list[list[str]]:
    """The arguments after ``python -m conformance`` of every such command in a ``run`` script."""
    found = []
    for step, env in steps(data):
        script = expand(str(step.get("run") or ""), env).replace("\\\n", " ")
        for line in script.splitlines():
            lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
            lexer.whitespace_split = True
            tokens = list(lexer)
            for i in range(len(tokens) - 2):
                if tokens[i].startswith("python") and tokens[i + 1 : i + 3] == ["-m", "conformance"]:
                    rest = tokens[i + 3 :]
                    end = next((j for j, t in enumerate(rest) if t in SEPARATORS), len(rest))
                    found.append(rest[:end])
    return found


def parse_errors(data: Mapping[str, Any]) -> list[str]:
    """Why each command the CLI's parser refuses is refused (empty: all are accepted)."""
    errors = []
    for argv in commands(data):
        err = io.StringIO()
        try:
            with contextlib.redirect_stderr(err):
                build_parser().parse_args(argv)
        except SystemExit:
            errors.append(f"python -m conformance {shlex.join(argv)}: {err.getvalue().strip()}")
    return errors


def option(argv: list[str], name: str) -> str | None:
    return argv[argv.index(name) + 1] if name in argv else None


DATA = load(WORKFLOW.read_text())


def test_every_conformance_command_parses_with_the_cli_parser() -> None:
    assert ("on" in DATA or True in DATA) and DATA["jobs"]  # YAML 1.1 reads the key `on` as True
    assert len(commands(DATA)) >= 2
    assert parse_errors(DATA) == []


def test_a_renamed_option_or_command_breaks_the_check() -> None:
    text = WORKFLOW.read_text()
    for old, new in (
        ('--summary-md "$SUMMARY"', '--summary-markdown "$SUMMARY"'),
        ("-m conformance pin ", "-m conformance pin-all "),
        ("--profile ci \\", "--ci \\"),
    ):
        assert text.count(old) == 1, old
        errors = parse_errors(load(text.replace(old, new)))
        assert len(errors) == 1, (old, errors)


def test_it_checks_under_ci_with_a_report_and_a_summary_and_pins_from_that_report() -> None:
    runs = commands(DATA)
    (check,) = [a for a in runs if a[0] == "check"]
    (pin,) = [a for a in runs if a[0] == "pin"]
    assert option(check, "--profile") == "ci"
    report, summary, corpus = (
        option(check, "--json"),
        option(check, "--summary-md"),
        option(check, "--corpus"),
    )
    assert report and summary and corpus
    assert pin[1] == report and option(pin, "--corpus") == corpus
    assert option(check, "--impl") and "$" not in " ".join(check)  # every variable was defined


def test_it_uploads_the_report_and_the_corpus_even_when_the_check_fails() -> None:
    check = commands(DATA)[0]
    uploaded: list[str] = []
    for step, env in steps(DATA):
        if str(step.get("uses", "")).startswith("actions/upload-artifact@"):
            assert step.get("if") == "always()", step
            uploaded += [p.strip().rstrip("/") for p in expand(step["with"]["path"], env).split()]
    assert option(check, "--json") in uploaded
    assert option(check, "--corpus") in uploaded
    assert option(check, "--summary-md") in uploaded
    (step,) = [s for s, _ in steps(DATA) if s.get("id") == "check"]
    assert step.get("continue-on-error") is True
    last, _ = list(steps(DATA))[-1]
    assert last.get("if") == "steps.check.outcome == 'failure'" and "exit 1" in last["run"]


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        (
            'python -m conformance check --impl "$IMPL" --json r.json',
            [["check", "--impl", "a=b.py:f", "--json", "r.json"]],
        ),
        ("echo 'python -m conformance check --nonsense' && python -m conformance list", [["list"]]),
        ("python3 -m conformance pin r.json --corpus c || true", [["pin", "r.json", "--corpus", "c"]]),
        ("python -m conformance check \\\n  --profile ci", [["check", "--profile", "ci"]]),
    ],
)
def test_commands_are_found_as_the_shell_would_run_them(script: str, expected: list[list[str]]) -> None:
    data = {"env": {"IMPL": "a=b.py:f"}, "jobs": {"j": {"steps": [{"run": script}]}}}
    assert commands(data) == expected
