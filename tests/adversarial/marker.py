"""Processes the process-leaking implementations start: ``sleep <marker>``, counted.

The test sets :data:`MARKER_ENV` to a duration unique to it (``600.<digits>``), so the
processes it caused are found by their command line, and :data:`STARTS_ENV` to a file
that gets one line per process started, so it can tell how often the implementation
was called.
"""

from __future__ import annotations

import os
import subprocess

MARKER_ENV = "CONFORMANCE_TEST_SLEEP"
STARTS_ENV = "CONFORMANCE_TEST_STARTS"


def marker() -> str:
    return os.environ.get(MARKER_ENV, "600.123")


def counted(how: str) -> None:
    path = os.environ.get(STARTS_ENV)
    if path:
        with open(path, "a") as f:
            f.write(f"{how} {os.getpid()}\n")


def start_sleeper(detached: bool) -> subprocess.Popen:
    """``sleep <marker>``: in a session of its own (out of the worker's process group), or not."""
    counted("detached" if detached else "child")
    return subprocess.Popen(
        ["sleep", marker()],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=detached,
    )
