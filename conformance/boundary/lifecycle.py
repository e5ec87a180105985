"""Live workers, runner side: ending a worker and everything it started, and all of them at once.

Nothing a worker started outlives it. The runner ends a worker by closing its control pipe (the
worker's watchdog kills its descendants, detached ones included, then itself), then kills its
process group, then whatever still carries the worker's token in its environment (a worker
killed before it could clean up: a crash, SIGKILL). :func:`kill_all_workers` does the same to
every live worker, for a run being stopped.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass

from conformance.boundary import processes

#: Seconds a worker asked to end has to end what it started (it takes milliseconds) before its
#: group is killed.
END_GRACE = 2.0


@dataclass
class Handle:
    """How to end a live worker and everything it started, whoever holds it (an executor, the pool).

    ``control`` is the write end of its control pipe: closing it makes the worker's watchdog kill
    the worker's descendants, detached ones included (the worker is their subreaper), then the
    worker. ``token`` marks the environment of everything it started: what is still running
    after the worker died (killed before it could clean up) is found by it
    (:func:`conformance.boundary.processes.end_marked`).
    """

    proc: subprocess.Popen
    control: int
    token: str

    def ask_to_end(self) -> None:
        """Close the control pipe, once (an executor and a signal handler may both get here)."""
        with LIVE_LOCK:
            if self.control >= 0:
                close_fd(self.control)
                self.control = -1


#: live workers of this process by pid (the leaders of their process groups)
LIVE: dict[int, Handle] = {}
#: reentrant: a signal handler (:func:`kill_all_workers`) may run while the main thread holds it
LIVE_LOCK = threading.RLock()
#: Set once the run is being stopped: no new worker starts after it.
STOPPING = threading.Event()


def kill_all_workers() -> None:
    """End every worker of this process and everything they started, and start no new one
    (the run is being stopped: signal handlers).

    Each worker is asked first (it alone knows its descendants once they left its group), then
    its group is killed, then whatever still carries the token of one of them.
    """
    STOPPING.set()
    with LIVE_LOCK:
        handles = list(LIVE.values())
        LIVE.clear()
    for h in handles:
        h.ask_to_end()
    deadline = time.monotonic() + END_GRACE
    while time.monotonic() < deadline and any(processes.running(h.proc.pid) for h in handles):
        time.sleep(0.01)
    for h in handles:
        try:
            os.killpg(h.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    processes.end_marked(h.token for h in handles)


def close_fd(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass


def end(proc: subprocess.Popen | None, fds: tuple[int, int] | None, wait: float = 5.0) -> None:
    """End a worker and everything it started, reap it, close its pipe ends, forget it.

    The worker is asked first (its control pipe closes): it kills its descendants, detached ones
    included, and itself. Then its group is killed, whatever it did; and once it is gone,
    anything still carrying its token (it was killed before it could clean up: a crash, a
    SIGKILL, a hang that held the interpreter).
    """
    if proc is not None:
        with LIVE_LOCK:
            handle = LIVE.get(proc.pid)
        if handle is not None:
            handle.ask_to_end()
            try:
                proc.wait(END_GRACE)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # the worker and anything left in its group
        except (ProcessLookupError, PermissionError):
            proc.kill()
        try:
            proc.wait(wait)
        except subprocess.TimeoutExpired:
            pass
        if handle is not None:
            processes.end_marked([handle.token])
        with LIVE_LOCK:  # only now: until here, a signal handler still finds it (kill_all_workers)
            LIVE.pop(proc.pid, None)
    for fd in fds or ():
        close_fd(fd)
