"""The worker process: loads an implementation from its spec and serves calls over a pipe.

A worker that served one of the package's built-ins may be asked to load the next built-in
(``{"load": spec, "subject": name}``); the runner asks that of no other worker
(:class:`conformance.boundary.executors.WorkerPool`).

Started as a fresh interpreter (``python -m conformance.boundary.worker``), never forked:
a process forked after JAX initialised deadlocks, and a fresh interpreter does
not re-run the parent's ``__main__`` the way multiprocessing's ``spawn`` does.

Everything of the implementation happens here, never in the runner: importing its
module, checking its signature against the subject's, reading its registration
(name, known failures), and every call. What goes back is plain data under the
schema of :mod:`conformance.boundary.protocol`. The implementation's own stdout and stderr
go to a log file whose tail the runner shows when the worker dies.

The worker leads its own process group, and is a child subreaper
(:mod:`conformance.boundary.processes`): a process the implementation starts stays in the
worker's tree of descendants even when it detaches (``start_new_session=True``, a double
fork). After each call, what the call left running is killed and reaped, and reported as
its side effect. When the worker ends (its requests end, the runner asks, or the runner is
gone), every descendant is killed first, then the worker's group, then the worker.

A watchdog thread does that last part: it waits on the control pipe (``--control-fd``),
whose write end only the runner holds. The runner closes it to end the worker (the
watchdog runs even while the main thread hangs in a call); when the runner dies the pipe
closes with it (and the watchdog also sees its parent change).
"""

from __future__ import annotations

import argparse
import inspect
import os
import pickle
import select
import signal
import sys
import threading
import time
import traceback
from typing import Any

from conformance.boundary import processes

#: How often the watchdog looks for the runner, seconds.
WATCH_INTERVAL = 0.2


def end_everything(code: int) -> None:
    """Kill every descendant (detached or not), then this process group, then this process."""
    try:
        processes.end_all()
    finally:
        try:
            os.killpg(os.getpgrp(), signal.SIGKILL)  # what is left of the group (no subreaper elsewhere)
        finally:
            os._exit(code)


def watch(parent: int, control_fd: int | None = None) -> None:
    """End everything (:func:`end_everything`) once the runner closes ``control_fd`` or writes
    to it, or ``parent`` is no longer this process's parent."""

    def wait_for_the_end() -> None:
        fds = [] if control_fd is None else [control_fd]
        while os.getppid() == parent:
            if not fds:
                time.sleep(WATCH_INTERVAL)
                continue
            try:
                ready, _, _ = select.select(fds, [], [], WATCH_INTERVAL)
            except (OSError, ValueError):  # the descriptor was closed under us: the parent is watched
                fds = []
                continue
            if ready:
                return

    def watchdog() -> None:
        try:
            wait_for_the_end()
        finally:
            end_everything(70)

    threading.Thread(target=watchdog, name="conformance-watchdog", daemon=True).start()


class Channel:
    """The worker's end: pickled requests in (from the trusted runner), JSON and bytes out."""

    def __init__(self, read_fd: int, write_fd: int) -> None:
        self.read_fd, self.write_fd = read_fd, write_fd

    def recv(self) -> Any:
        from conformance.boundary.protocol import read_frame

        return pickle.loads(read_frame(self.read_fd, 1 << 40))

    def send(self, message: dict[str, Any], data: bytes | memoryview | None = None) -> None:
        from conformance.boundary.protocol import encode_json, write_frame

        write_frame(self.write_fd, encode_json(message))
        if data is not None:
            write_frame(self.write_fd, data)


def signature_problem(fn: Any, arg_names: tuple[str, ...]) -> str | None:
    """Why ``fn`` cannot be called with the subject's positional arguments, or None."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):  # a builtin or an object without a signature: the calls will tell
        return None
    try:
        sig.bind(*arg_names)
    except TypeError:
        params = [
            p.name
            for p in sig.parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
        ]
        n = len(params)
        takes = f"takes {n} argument{'s' * (n != 1)}" + (f" ({', '.join(params)})" if params else "")
        return f"{takes}; the subject passes {len(arg_names)}: {', '.join(arg_names)}"
    return None


def load(spec: str, subject_name: str) -> tuple[Any, dict[str, Any]]:
    """The implementation and its registration as plain data; ImplementationLoadError if it cannot serve."""
    from conformance.boundary import per_sample
    from conformance.subjects import get_subject
    from impl.registry import ImplementationLoadError, load

    if per_sample.is_declaration_spec(subject_name):  # a user's per-sample subject: its own loading
        impl = per_sample.implementation(spec, subject_name)
        problem = None
    else:
        impl = load(spec, subject_name)
        problem = signature_problem(impl.fn, get_subject(subject_name).arg_names)
    if problem:
        raise ImplementationLoadError(problem)
    return impl, {
        "name": impl.name,
        "spec": impl.spec,
        "subject": impl.subject,
        "builtin": impl.builtin,
        "known_failures": [list(p) for p in impl.known_failures],
    }


def serve(channel: Channel, spec: str, subject: str, x64: bool) -> None:
    import faulthandler

    faulthandler.enable(all_threads=False)  # the crashing thread only, not the watchdog
    import jax

    jax.config.update("jax_enable_x64", bool(x64))
    from conformance.boundary.calls import observe_call
    from impl.registry import ImplementationLoadError, one_line

    def announce(spec: str, subject: str) -> Any:
        """Load ``spec`` and say so ("ready", or "load_error": then None)."""
        try:
            impl, data = load(spec, subject)
        except ImplementationLoadError as e:
            channel.send({"kind": "load_error", "message": str(e)})
            return None
        except BaseException as e:  # anything else the import did, SystemExit included
            why = f"{spec}: loading raised {one_line(e, 300, True)}"
            channel.send({"kind": "load_error", "message": why})
            return None
        channel.send({"kind": "ready", "impl": data})
        return impl

    channel.send({"kind": "hello", "pid": os.getpid()})
    impl = announce(spec, subject)
    while impl is not None:
        try:
            request = channel.recv()
        except EOFError:
            return
        if request is None:
            return
        if "load" in request:  # the next built-in, in a worker the runner reuses (executors.WorkerPool)
            impl = announce(request["load"], request["subject"])
            continue
        result = observe_call(impl.fn, request["args"], request.get("transform"), contain=True)
        message, output = result.to_message(request["id"])
        channel.send(message, output)


def main() -> None:
    parser = argparse.ArgumentParser(description="conformance worker (started by the runner)")
    parser.add_argument("--read-fd", type=int, required=True)
    parser.add_argument("--write-fd", type=int, required=True)
    parser.add_argument("--control-fd", type=int, default=None)
    parser.add_argument("--parent", type=int, required=True)
    parser.add_argument("--spec", required=True)
    parser.add_argument("--subject", required=True)
    parser.add_argument("--x64", action="store_true")
    args = parser.parse_args()
    processes.become_subreaper()  # before anything is started: orphans come back to this process
    watch(args.parent, args.control_fd)
    sys.stdout.flush()
    code = 0
    try:
        serve(Channel(args.read_fd, args.write_fd), args.spec, args.subject, args.x64)
    except BaseException:  # the log shows it; the runner sees the pipe close
        traceback.print_exc()
        code = 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        end_everything(code)  # no interpreter shutdown: with JAX loaded it takes most of a second


if __name__ == "__main__":
    main()
