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

The worker leads its own process group. A watchdog thread ends the whole group
(the worker and anything the implementation started) as soon as the runner is gone.
"""

from __future__ import annotations

import argparse
import inspect
import os
import pickle
import signal
import sys
import threading
import time
from typing import Any

#: How often the watchdog looks for the runner, seconds.
WATCH_INTERVAL = 0.2


def watch_parent(parent: int) -> None:
    """End this process group once ``parent`` is no longer this process's parent."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(WATCH_INTERVAL)
        try:
            os.killpg(os.getpgrp(), signal.SIGKILL)
        finally:
            os._exit(70)

    threading.Thread(target=watch, name="conformance-watchdog", daemon=True).start()


class Channel:
    """The worker's end: pickled requests in (from the trusted runner), JSON and bytes out."""

    def __init__(self, read_fd: int, write_fd: int) -> None:
        self.read_fd, self.write_fd = read_fd, write_fd

    def recv(self) -> Any:
        from conformance.boundary.protocol import read_frame

        return pickle.loads(read_frame(self.read_fd, 1 << 40))

    def send(self, message: dict[str, Any], data: bytes | None = None) -> None:
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
    from conformance.subjects import get_subject
    from impl.registry import ImplementationLoadError, load

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
        result = observe_call(impl.fn, request["args"], request.get("transform"))
        message, output = result.to_message(request["id"])
        channel.send(message, output)


def main() -> None:
    parser = argparse.ArgumentParser(description="conformance worker (started by the runner)")
    parser.add_argument("--read-fd", type=int, required=True)
    parser.add_argument("--write-fd", type=int, required=True)
    parser.add_argument("--parent", type=int, required=True)
    parser.add_argument("--spec", required=True)
    parser.add_argument("--subject", required=True)
    parser.add_argument("--x64", action="store_true")
    args = parser.parse_args()
    watch_parent(args.parent)
    sys.stdout.flush()
    serve(Channel(args.read_fd, args.write_fd), args.spec, args.subject, args.x64)


if __name__ == "__main__":
    main()
