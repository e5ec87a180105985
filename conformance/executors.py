"""Where implementation calls run: in this process, or in a worker process with a timeout.

An implementation that hangs or kills its process must become a failed property,
not a dead run. :class:`WorkerExecutor` runs calls in a worker started as a fresh
interpreter (never forked: a process forked after JAX initialised deadlocks),
waits at most ``timeout`` seconds per call, and restarts the worker after a hang
or a crash. :class:`InProcessExecutor` is for trusted code (the built-in reference
panel) and for debugging (``--isolation none``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from typing import Any

from conformance.calls import CallResult, observe_call
from impl.registry import Implementation, ImplementationLoadError

#: Seconds a new worker may take to import JAX and load the implementation.
STARTUP_TIMEOUT = 120.0


class InProcessExecutor:
    """Calls the implementation directly; cannot survive a hang or a crash."""

    def __init__(self, impl: Implementation) -> None:
        self.impl = impl

    def start(self) -> None:
        pass

    def call(self, args: dict[str, Any]) -> CallResult:
        return observe_call(self.impl.fn, args)

    def close(self) -> None:
        pass


class Duplex:
    """send/recv/poll over two one-way pipes (both ends of the worker protocol use it)."""

    def __init__(self, read_fd: int, write_fd: int) -> None:
        self._in = Connection(read_fd, writable=False)
        self._out = Connection(write_fd, readable=False)

    def send(self, obj: object) -> None:
        self._out.send(obj)

    def recv(self) -> Any:
        return self._in.recv()

    def poll(self, timeout: float) -> bool:
        return self._in.poll(timeout)

    def close(self) -> None:
        for conn in (self._in, self._out):
            try:
                conn.close()
            except OSError:
                pass


class WorkerExecutor:
    """Calls the implementation in a worker process, ``timeout`` seconds per call."""

    def __init__(self, impl: Implementation, x64: bool = False, timeout: float = 60.0) -> None:
        self.impl = impl
        self.x64 = x64
        self.timeout = timeout
        self._proc: subprocess.Popen | None = None
        self._conn: Duplex | None = None
        fd, self.log_path = tempfile.mkstemp(prefix=f"conformance-{impl.name}-", suffix=".log")
        os.close(fd)

    def start(self) -> None:
        """Start the worker now, so that an implementation that cannot load says so at once."""
        if self._proc is None or self._proc.poll() is not None:
            self._drop()
            self._start()

    def _start(self) -> None:
        req_r, req_w = os.pipe()
        resp_r, resp_w = os.pipe()
        cmd = [
            sys.executable,
            "-m",
            "conformance.worker",
            "--read-fd",
            str(req_r),
            "--write-fd",
            str(resp_w),
            "--spec",
            self.impl.spec,
            "--subject",
            self.impl.subject,
        ]
        if self.x64:
            cmd.append("--x64")
        env = dict(os.environ)
        # The worker must import what this process imports (the project, the user's modules).
        env["PYTHONPATH"] = os.pathsep.join(p for p in [os.getcwd(), *sys.path] if p)
        with open(self.log_path, "ab") as log:
            proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                pass_fds=(req_r, resp_w),
                env=env,
                start_new_session=True,
            )
        os.close(req_r)
        os.close(resp_w)
        conn = Duplex(resp_r, req_w)
        if not conn.poll(STARTUP_TIMEOUT):
            self._kill(proc)
            conn.close()
            raise ImplementationLoadError(
                f"{self.impl.name}: the worker did not start within {STARTUP_TIMEOUT:.0f} s{self._log_tail()}"
            )
        try:
            kind, detail = conn.recv()
        except (EOFError, OSError):
            code = self._wait(proc)
            conn.close()
            raise ImplementationLoadError(
                f"{self.impl.name}: the worker died while loading {self.impl.spec} "
                f"({_exit_text(code)}){self._log_tail()}"
            ) from None
        if kind != "ready":
            self._kill(proc)
            conn.close()
            raise ImplementationLoadError(detail)
        self._proc, self._conn = proc, conn

    def call(self, args: dict[str, Any]) -> CallResult:
        self.start()
        assert self._proc is not None and self._conn is not None
        start = time.perf_counter()
        try:
            self._conn.send(args)
            if self._conn.poll(self.timeout):
                return self._conn.recv()
        except (EOFError, OSError):
            code = self._wait(self._proc)
            self._drop()
            return CallResult(
                "crashed",
                error_message=f"killed its process ({_exit_text(code)}){self._log_tail()}",
                seconds=time.perf_counter() - start,
            )
        self._kill(self._proc)
        self._drop()
        return CallResult(
            "timeout",
            error_message=f"did not return within the {self.timeout:g} s timeout "
            "(a hang or a deadlock; raise the limit with --timeout)",
            seconds=time.perf_counter() - start,
        )

    def _drop(self) -> None:
        if self._conn is not None:
            self._conn.close()
        self._proc, self._conn = None, None

    @staticmethod
    def _wait(proc: subprocess.Popen) -> int | None:
        try:
            return proc.wait(5)
        except subprocess.TimeoutExpired:
            return None

    @classmethod
    def _kill(cls, proc: subprocess.Popen) -> None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # the worker and anything it started
        except (ProcessLookupError, PermissionError):
            proc.kill()
        cls._wait(proc)

    def _log_tail(self, lines: int = 6) -> str:
        """The worker's last words: a fatal error with its innermost frames, else the last lines."""
        try:
            with open(self.log_path, errors="replace") as f:
                text = [line.rstrip() for line in f if line.strip()]
        except OSError:
            return ""
        fatal = [i for i, line in enumerate(text) if line.startswith("Fatal Python error")]
        if fatal:
            i = fatal[-1]
            frames = [line.strip() for line in text[i + 1 :] if line.strip().startswith("File ")]
            tail = [text[i], *frames[:3]]
        else:
            tail = text[-lines:]
        return ("; its last output: " + " | ".join(tail)) if tail else ""

    def close(self) -> None:
        if self._proc is not None and self._conn is not None:
            try:
                self._conn.send(None)
            except OSError:
                pass
            if self._wait(self._proc) is None:
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
