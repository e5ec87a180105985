"""What the boundary tests share: the environment a ``python -m conformance`` subprocess runs in,
and the processes that are running now."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from conformance.boundary import processes

ROOT = Path(__file__).resolve().parents[2]


def env(**extra: str) -> dict[str, str]:
    """This process's environment, with the repository on ``PYTHONPATH`` and ``extra`` set."""
    out = dict(os.environ)
    out["PYTHONPATH"] = os.pathsep.join([str(ROOT), out.get("PYTHONPATH", "")])
    out.update(extra)
    return out


def command_lines() -> Iterator[tuple[int, bytes]]:
    """``(pid, its command line as /proc has it)`` for every process running now (no zombies)."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmd = f.read()
        except OSError:
            continue
        if processes.running(int(entry)):
            yield int(entry), cmd


def workers_of(runner: int) -> set[int]:
    """Running workers started by the runner ``runner`` (their command line names it)."""
    return {
        pid
        for pid, cmd in command_lines()
        if b"conformance.boundary.worker" in cmd.split(b"\0") and str(runner).encode() in cmd.split(b"\0")
    }
