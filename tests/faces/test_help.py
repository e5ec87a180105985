"""The command line's help: plain text under either name the program is started by."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conformance.cli import build_parser

#: Markup of docstrings (reStructuredText, Sphinx roles) that must not reach a terminal.
MARKUP = re.compile(r"``|:(?:mod|func|class|meth|data|attr):`")
COMMANDS = ("check", "replay", "list", "subjects", "bench", "pin", "expect", "plot", "mutate")


def _help(*argv: str) -> None:
    parser = build_parser(prog="nnx-conformance")
    with pytest.raises(SystemExit) as done:
        parser.parse_args([*argv, "--help"])
    assert done.value.code == 0


@pytest.mark.parametrize("command", ("", *COMMANDS))
def test_every_help_is_plain_text(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    _help(*([command] if command else []))
    text = capsys.readouterr().out
    assert text.startswith("usage: nnx-conformance"), text[:80]
    assert not MARKUP.search(text), MARKUP.search(text)


def _script() -> str:
    """The console script installed beside this interpreter."""
    script = Path(sys.executable).with_name("nnx-conformance")
    if not script.exists():
        pytest.fail(f"the console script is not installed beside {sys.executable}: pip install -e .")
    return str(script)


@pytest.mark.parametrize("how", ["module", "script"])
def test_the_help_names_the_program_as_it_was_started(how: str) -> None:
    argv = [sys.executable, "-m", "conformance"] if how == "module" else [_script()]
    done = subprocess.run([*argv, "--help"], capture_output=True, text=True, env={**os.environ}, check=True)
    name = "python -m conformance" if how == "module" else "nnx-conformance"
    assert done.stdout.startswith(f"usage: {name} "), done.stdout[:80]
    assert "exit codes: 0 every property held" in done.stdout
