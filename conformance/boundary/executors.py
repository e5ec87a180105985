"""Where implementation calls run: in a worker process (the rule), or in this one (built-ins only).

An implementation that hangs or kills its process must become a failed property,
not a dead run. :class:`WorkerExecutor` loads the implementation in a worker started
as a fresh interpreter (never forked: a process forked after JAX initialised
deadlocks), reads back only plain data (:mod:`conformance.boundary.protocol`), waits a bounded
time per call, and restarts the worker after a hang or a crash.

A worker that has only ever loaded the package's own built-ins, and never hung, crashed or
broke the protocol, goes back to a :class:`WorkerPool` when its implementation is done, and
the next built-in of the run loads into it: no interpreter start, no second import of JAX
and Flax, and the programs JAX traced, lowered and compiled for one built-in (the eager
operations of ``nnx.Linear``, the oracle's shapes) are already there for the next. An
implementation from outside the package always gets a worker of its own, which ends with it.

Hangs cost minutes, not hours: the first hang waits the full timeout; after it, a call
may take at most ``HANG_FACTOR`` times the slowest call that returned (never less than
``HANG_FLOOR`` seconds); and after ``GIVE_UP_AFTER`` dead calls in a row (hangs, crashes,
protocol violations, with no good call between them) the executor gives up: the engine
fails the implementation's remaining cells at once, with the evidence. An implementation
that answered before gets ``GIVE_UP_AFTER_ANSWERING`` dead calls in a row instead: it may
crash on some inputs only, and its other properties still deserve a verdict.

A call that leaves a process running (detached or not) makes the executor give up at once:
the worker killed that process (:mod:`conformance.boundary.processes`), but an implementation
that starts one at every call would start hundreds in a run. Its remaining cells fail with
the evidence ("started a process that outlived the call: ..."), and its worker ends.

Nothing a worker started outlives it (:mod:`conformance.boundary.lifecycle`).

:class:`InProcessExecutor` is for trusted code only: the package's own built-ins (the
reference panel, and ``--isolation none`` for debugging a built-in).
"""

from __future__ import annotations

import os
import pickle
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from typing import Any

from conformance.boundary import processes, protocol
from conformance.boundary.calls import CallResult, left_processes, observe_call
from conformance.boundary.lifecycle import (
    LIVE,
    LIVE_LOCK,
    STOPPING,
    Handle,
    close_fd,
    end,
)
from impl.registry import Implementation, ImplementationLoadError

#: CPU devices a worker has (XLA_FLAGS, set before JAX starts), so sharding can be checked
#: without accelerators; a user's own --xla_force_host_platform_device_count wins.
HOST_DEVICES = 8

#: Seconds a new worker may take to start the interpreter and import JAX.
STARTUP_TIMEOUT = 120.0
#: Seconds the implementation's module may take to load, by default.
LOAD_TIMEOUT = 60.0
#: After a hang, a call may take this many times the slowest good call ...
HANG_FACTOR = 10.0
#: ... and never less than this many seconds.
HANG_FLOOR = 5.0
#: Dead calls in a row after which the executor gives up on an implementation that never answered ...
GIVE_UP_AFTER = 3
#: ... and on one that did answer before (it may only crash on some inputs: keep its evidence).
GIVE_UP_AFTER_ANSWERING = 10


@dataclass(frozen=True)
class Target:
    """What to load in a worker: the name it is shown under, its spec, its subject."""

    name: str
    spec: str
    subject: str


class InProcessExecutor:
    """Calls a built-in directly; cannot survive a hang or a crash."""

    given_up = False
    evidence = ""
    #: never helped by a second executor (conformance.run.scheduling): in-process runs go one at a time
    healthy = False

    def __init__(self, impl: Implementation, trusted: bool = False) -> None:
        if not (impl.builtin or trusted):
            raise ImplementationLoadError(
                f"{impl.name}: only the package's built-ins may run in the runner's process "
                "(--isolation none); check it with --isolation process"
            )
        self.impl = impl

    def start(self) -> Implementation:
        return self.impl

    def call(self, args: dict[str, Any], transform: dict[str, Any] | None = None) -> CallResult:
        return observe_call(self.impl.fn, args, transform)

    def close(self) -> None:
        pass


@dataclass
class _Idle:
    """A live worker between two built-ins: its process, its pipe ends, its log file."""

    proc: subprocess.Popen
    fds: tuple[int, int]
    log_path: str

    def end(self) -> None:
        end(self.proc, self.fds)
        _unlink(self.log_path)


class WorkerPool:
    """Idle workers that have loaded only the package's built-ins, by how they were started.

    Only :class:`WorkerExecutor` of a built-in target gives workers here and takes them back
    (the engine decides which targets are built-ins, from its own registry, not from what a
    worker says). The key is everything the worker was started with (x64, the environment),
    so a worker is never reused under another configuration. :meth:`close` ends them all.
    """

    def __init__(self) -> None:
        self._idle: dict[tuple[Any, ...], list[_Idle]] = {}
        self._lock = threading.Lock()

    def take(self, key: tuple[Any, ...]) -> _Idle | None:
        with self._lock:
            while self._idle.get(key):
                idle = self._idle[key].pop()
                if idle.proc.poll() is None:
                    return idle
                idle.end()
        return None

    def give(self, key: tuple[Any, ...], idle: _Idle) -> None:
        with self._lock:
            if not STOPPING.is_set() and idle.proc.poll() is None:
                self._idle.setdefault(key, []).append(idle)
                return
        idle.end()

    def close(self) -> None:
        with self._lock:
            idle = [i for group in self._idle.values() for i in group]
            self._idle.clear()
        for i in idle:
            i.end()


class WorkerExecutor:
    """Loads and calls the implementation in a worker process, a bounded time per call.

    With a ``pool`` (the engine gives one to the package's built-ins only), it first takes an
    idle worker from the pool and loads the implementation into it, and :meth:`close` gives a
    healthy worker back instead of ending it.
    """

    def __init__(
        self,
        target: Target,
        x64: bool = False,
        timeout: float = 60.0,
        load_timeout: float = LOAD_TIMEOUT,
        pool: WorkerPool | None = None,
    ) -> None:
        self.target = target
        self.pool = pool
        #: how its worker was started (x64, environment): the pool's key
        self._key: tuple[Any, ...] = ()
        #: what the worker reported at load time (name and subject as the runner asked)
        self.impl = Implementation(target.name, None, target.spec, target.subject)  # type: ignore[arg-type]
        self.x64 = x64
        self.timeout = timeout
        self.load_timeout = load_timeout
        self._proc: subprocess.Popen | None = None
        self._fds: tuple[int, int] | None = None  # (read answers, write requests)
        self._next_id = 0
        self.slowest_ok = 0.0
        self.hangs = 0
        self.answered = 0
        self.dead_in_a_row = 0
        #: the first dead call's description, shown when the executor gives up
        self.evidence = ""
        #: a call left a process running (killed by the worker): given up at once, whatever
        #: the implementation computes (``evidence`` says which process)
        self.leaked = False
        self.log_path = _new_log(target.name)

    @property
    def given_up(self) -> bool:
        return self.leaked or self.dead_in_a_row >= (
            GIVE_UP_AFTER_ANSWERING if self.answered else GIVE_UP_AFTER
        )

    @property
    def healthy(self) -> bool:
        """A call has come back, and none has hung, crashed the worker or broken the protocol: a
        second worker may help (conformance.run.scheduling). One that hangs, maybe on its very first
        call, gets no second worker to hang in."""
        return self.answered > 0 and not self.evidence and self.hangs == 0

    def limit(self) -> float:
        """Seconds the next call may take."""
        if not self.hangs:
            return self.timeout
        return min(self.timeout, max(HANG_FLOOR, HANG_FACTOR * self.slowest_ok))

    # ----------------------------------------------------------------------- start and load

    def start(self) -> Implementation:
        """Start the worker and load the implementation now; ImplementationLoadError if it cannot."""
        if self._proc is None or self._proc.poll() is not None:
            self._kill()  # a worker that died between calls: what it left in its group goes too
            self._start()
        return self.impl

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        # The worker must import what this process imports (the project, the user's modules).
        env["PYTHONPATH"] = os.pathsep.join(p for p in [os.getcwd(), *sys.path] if p)
        flags = env.get("XLA_FLAGS", "")
        if "xla_force_host_platform_device_count" not in flags:
            env["XLA_FLAGS"] = f"{flags} --xla_force_host_platform_device_count={HOST_DEVICES}".strip()
        return env

    def _start(self) -> None:
        if STOPPING.is_set():
            raise ImplementationLoadError("the run was stopped")
        env = self._env()
        self._key = (self.x64, tuple(sorted(env.items())))
        idle = self.pool.take(self._key) if self.pool is not None else None
        if idle is not None:
            _unlink(self.log_path)
            self._proc, self._fds, self.log_path = idle.proc, idle.fds, idle.log_path
            try:
                protocol.write_frame(
                    self._fds[1],
                    pickle.dumps({"load": self.target.spec, "subject": self.target.subject}),
                    _deadline(self.load_timeout),
                )
                self._ready()
                return
            except (ImplementationLoadError, OSError, protocol.Timeout):
                # it loaded in a fresh worker before, or it is not a built-in: start one
                self._kill()
                self.log_path = _new_log(self.target.name)
        req_r, req_w = os.pipe()
        resp_r, resp_w = os.pipe()
        ctl_r, ctl_w = os.pipe()
        cmd = [
            sys.executable,
            "-m",
            "conformance.boundary.worker",
            "--read-fd",
            str(req_r),
            "--write-fd",
            str(resp_w),
            "--control-fd",
            str(ctl_r),
            "--parent",
            str(os.getpid()),
            "--spec",
            self.target.spec,
            "--subject",
            self.target.subject,
        ]
        if self.x64:
            cmd.append("--x64")
        token = secrets.token_hex(16)  # inherited by everything the worker starts
        try:
            with open(self.log_path, "ab") as log:
                proc = subprocess.Popen(
                    cmd,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=log,
                    pass_fds=(req_r, resp_w, ctl_r),
                    env={**env, processes.TOKEN_ENV: token},
                    start_new_session=True,  # its own group: killpg ends what the implementation started
                )
        except BaseException:
            for fd in (req_r, req_w, resp_r, resp_w, ctl_r, ctl_w):
                close_fd(fd)
            raise
        with LIVE_LOCK:
            LIVE[proc.pid] = Handle(proc, ctl_w, token)
        for fd in (req_r, resp_w, ctl_r):
            os.close(fd)
        self._proc, self._fds = proc, (resp_r, req_w)
        try:
            self._expect("hello", STARTUP_TIMEOUT, f"the worker did not start within {STARTUP_TIMEOUT:g} s")
        except ImplementationLoadError:
            self._kill()
            raise
        self._ready()

    def _ready(self) -> None:
        """Wait for the worker's answer to loading the target, and take its registration."""
        try:
            ready = self._expect("ready", self.load_timeout, f"did not load within {self.load_timeout:g} s")
        except ImplementationLoadError:
            self._kill()
            raise
        impl = ready["impl"]
        if impl["subject"] != self.target.subject:
            self._kill()
            raise ImplementationLoadError(f"the worker loaded it for {impl['subject']}")
        self.impl = Implementation(
            self.target.name,
            None,
            impl["spec"],
            impl["subject"],
            impl["builtin"],
            tuple(impl["known_failures"]),  # type: ignore[arg-type]
        )

    def _expect(self, kind: str, seconds: float, late: str) -> dict[str, Any]:
        """The next message, which must be ``kind`` (a load error says why it is not)."""
        assert self._fds is not None
        try:
            message = protocol.parse(
                protocol.read_frame(self._fds[0], protocol.MAX_HEADER, _deadline(seconds))
            )
        except protocol.Timeout:
            raise ImplementationLoadError(f"{late}{self._log_tail()}") from None
        except (EOFError, OSError):
            code = self._wait()
            raise ImplementationLoadError(
                f"ended its process while loading ({_exit_text(code)}){self._log_tail()}"
            ) from None
        except protocol.ProtocolViolation as e:
            raise ImplementationLoadError(f"protocol violation while loading: {e}") from None
        if message["kind"] == "load_error":
            raise ImplementationLoadError(message["message"])
        if message["kind"] != kind:
            raise ImplementationLoadError(f"protocol violation while loading: a {message['kind']} message")
        return message

    # ----------------------------------------------------------------------- calls

    def call(self, args: dict[str, Any], transform: dict[str, Any] | None = None) -> CallResult:
        if self.given_up:
            return CallResult("timeout", error_message=f"was not called: {self.evidence}")
        start = time.perf_counter()
        try:
            self.start()
        except ImplementationLoadError as e:
            return self._dead("crashed", f"could not be restarted: {e}", start)
        limit = self.limit()
        deadline = _deadline(limit)
        self._next_id += 1
        assert self._fds is not None
        read_fd, write_fd = self._fds
        try:
            protocol.write_frame(
                write_fd, pickle.dumps({"id": self._next_id, "args": args, "transform": transform}), deadline
            )
            message = protocol.parse(protocol.read_frame(read_fd, protocol.MAX_HEADER, deadline))
            if message["kind"] != "result" or message["id"] != self._next_id:
                raise protocol.ProtocolViolation(
                    f"a {message['kind']} message where the answer to call {self._next_id} was due"
                )
            data = None
            if message["output"] is not None:
                data = protocol.read_frame(read_fd, protocol.MAX_PAYLOAD, deadline)
            result = CallResult.from_message(message, data)
        except protocol.Timeout:
            self.hangs += 1
            return self._dead(
                "timeout",
                f"did not return within {limit:g} s (a hang or a deadlock"
                + (
                    "; after an earlier hang the limit is 10x its slowest good call, at least 5 s"
                    if self.hangs > 1
                    else ""
                )
                + "; raise the limit with --timeout)",
                start,
            )
        except (EOFError, OSError):
            code = self._wait()
            return self._dead("crashed", f"killed its process ({_exit_text(code)}){self._log_tail()}", start)
        except protocol.ProtocolViolation as e:
            return self._dead("protocol", f"protocol violation: the worker sent {e}", start)
        self.dead_in_a_row = 0
        self.answered += 1
        self.slowest_ok = max(self.slowest_ok, result.seconds)
        left = left_processes(result.side_effects)
        if left and not self.leaked:
            # a process at every call would pile up (the worker killed this one): no more calls
            self.leaked = True
            self.evidence = f"{self.target.name} {left}; checking stopped"
            self._kill()
        return result

    def _dead(self, status: str, message: str, start: float) -> CallResult:
        """A call that took the worker with it: end the worker, count it, keep the evidence."""
        self._kill()
        self.dead_in_a_row += 1
        if not self.evidence:
            self.evidence = f"{self.target.name} {message}"
        if self.given_up:
            self.evidence = f"{self.evidence} ({self.dead_in_a_row} dead calls in a row; checking stopped)"
        return CallResult(status, error_message=message, seconds=time.perf_counter() - start)

    # ----------------------------------------------------------------------- the process

    def _wait(self, seconds: float = 5.0) -> int | None:
        if self._proc is None:
            return None
        try:
            return self._proc.wait(seconds)
        except subprocess.TimeoutExpired:
            return None

    def _kill(self) -> None:
        end(self._proc, self._fds)
        self._proc, self._fds = None, None

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
        """End the worker and everything in its process group, at once.

        The worker keeps nothing worth a clean exit (its log is deleted below), and an orderly
        interpreter shutdown with JAX loaded takes most of a second, on the path to the next
        implementation of the run.
        """
        if self.pool is not None and self._reusable():
            assert self._proc is not None and self._fds is not None
            self.pool.give(self._key, _Idle(self._proc, self._fds, self.log_path))
            self._proc, self._fds = None, None
            return
        self._kill()
        _unlink(self.log_path)

    def _reusable(self) -> bool:
        """A live built-in worker that never hung, crashed or broke the protocol (each of which
        leaves its evidence)."""
        alive = self._proc is not None and self._proc.poll() is None
        return alive and self.impl.builtin and not self.evidence


def _new_log(name: str) -> str:
    """A new empty log file for a worker of ``name`` (its stdout and stderr)."""
    fd, path = tempfile.mkstemp(prefix=f"conformance-{name}-", suffix=".log")
    os.close(fd)
    return path


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _deadline(seconds: float) -> float:
    return time.monotonic() + seconds


def _exit_text(code: int | None) -> str:
    if code is None:
        return "still running"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"
