"""Where implementation calls run: in this process, or in a worker process with a timeout.

An implementation that hangs or kills its process must become a failed property,
not a dead run. :class:`WorkerExecutor` runs calls in a ``spawn``ed worker, waits
at most ``timeout`` seconds per call, and restarts the worker after a hang or a
crash. :class:`InProcessExecutor` is for trusted code (the built-in reference
panel) and for debugging (``--isolation none``).
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import tempfile
import time
from typing import Any

from conformance.calls import CallResult, observe_call
from impl.registry import Implementation, ImplementationLoadError

#: Seconds a new worker may take to import JAX and load the implementation.
STARTUP_TIMEOUT = 120.0


class InProcessExecutor:
    """Calls the implementation directly; cannot survive a hang or a crash."""

    isolated = False

    def __init__(self, impl: Implementation, x64: bool = False) -> None:
        self.impl = impl

    def call(self, args: dict[str, Any]) -> CallResult:
        return observe_call(self.impl.fn, args)

    def close(self) -> None:
        pass


class WorkerExecutor:
    """Calls the implementation in a worker process, ``timeout`` seconds per call."""

    isolated = True

    def __init__(self, impl: Implementation, x64: bool = False, timeout: float = 60.0) -> None:
        self.impl = impl
        self.x64 = x64
        self.timeout = timeout
        self._proc: Any = None
        self._conn: Any = None
        fd, self.log_path = tempfile.mkstemp(prefix=f"conformance-{impl.name}-", suffix=".log")
        os.close(fd)

    def _start(self) -> None:
        ctx = multiprocessing.get_context("spawn")
        parent, child = ctx.Pipe()
        from conformance.worker import serve

        proc = ctx.Process(
            target=serve,
            args=(child, self.impl.spec, self.impl.subject, self.x64, self.log_path),
            daemon=True,
            name=f"conformance-worker-{self.impl.name}",
        )
        proc.start()
        child.close()
        if not parent.poll(STARTUP_TIMEOUT):
            self._kill(proc)
            raise ImplementationLoadError(
                f"{self.impl.name}: the worker did not start within {STARTUP_TIMEOUT:.0f} s"
                f"{self._log_tail()}"
            )
        try:
            kind, detail = parent.recv()
        except EOFError:
            proc.join(5)
            raise ImplementationLoadError(
                f"{self.impl.name}: the worker died while loading {self.impl.spec} "
                f"({_exit_text(proc.exitcode)}){self._log_tail()}"
            ) from None
        if kind != "ready":
            self._kill(proc)
            raise ImplementationLoadError(detail)
        self._proc, self._conn = proc, parent

    def call(self, args: dict[str, Any]) -> CallResult:
        if self._proc is None or not self._proc.is_alive():
            self._start()
        start = time.perf_counter()
        try:
            self._conn.send(args)
            if self._conn.poll(self.timeout):
                return self._conn.recv()
        except (EOFError, BrokenPipeError, ConnectionResetError, OSError):
            self._proc.join(5)
            code = self._proc.exitcode
            self._drop()
            return CallResult(
                "crashed",
                error_message=f"the call killed its process ({_exit_text(code)}){self._log_tail()}",
                seconds=time.perf_counter() - start,
            )
        self._kill(self._proc)
        self._drop()
        return CallResult(
            "timeout",
            error_message=f"the call did not return within the {self.timeout:g} s timeout "
            "(hang or deadlock; raise it with --timeout)",
            seconds=time.perf_counter() - start,
        )

    def _drop(self) -> None:
        if self._conn is not None:
            self._conn.close()
        self._proc, self._conn = None, None

    @staticmethod
    def _kill(proc: Any) -> None:
        proc.kill()
        proc.join(5)

    def _log_tail(self, lines: int = 6) -> str:
        try:
            with open(self.log_path, errors="replace") as f:
                tail = [line.rstrip() for line in f.readlines()[-lines:] if line.strip()]
        except OSError:
            return ""
        return ("; its last output: " + " | ".join(tail)) if tail else ""

    def close(self) -> None:
        if self._proc is not None:
            try:
                self._conn.send(None)
            except OSError:
                pass
            self._proc.join(2)
            if self._proc.is_alive():
                self._kill(self._proc)
            self._drop()
        try:
            os.unlink(self.log_path)
        except OSError:
            pass


def _exit_text(code: int | None) -> str:
    if code is None:
        return "still running"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"
