"""Helpers of the face tests that run the suite in subprocesses: a command and what it printed."""

from __future__ import annotations

import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: Validates like the built-ins, but adds one to every output.
BROKEN = "tests/fixtures/off_by_one.py:vmap_over_batch"
TIMEOUT = 600


@dataclass
class Run:
    args: list[str]
    returncode: int
    stdout: str
    stderr: str

    def __str__(self) -> str:
        return f"$ {shlex.join(self.args)}\n-> {self.returncode}\n{self.stdout}\n{self.stderr[-3000:]}"


def run(argv: list[str], env: dict[str, str]) -> Run:
    """``argv`` in the project's root with ``env``."""
    proc = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=TIMEOUT)
    return Run(argv, proc.returncode, proc.stdout, proc.stderr)
