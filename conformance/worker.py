"""The worker process: loads one implementation from its spec and serves calls over a pipe.

Started as a fresh interpreter (``python -m conformance.worker``), never forked:
a process forked after JAX initialised deadlocks, and a fresh interpreter does
not re-run the parent's ``__main__`` the way multiprocessing's ``spawn`` does.
Requests and answers travel as pickles over two inherited pipe descriptors; the
implementation's own stdout and stderr go to a log file whose tail the parent
shows when the worker dies.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any


def serve(conn: Any, spec: str, subject: str, x64: bool) -> None:
    import faulthandler

    faulthandler.enable()
    import jax

    jax.config.update("jax_enable_x64", bool(x64))
    from conformance.calls import observe_call
    from impl.registry import ImplementationLoadError, load

    try:
        fn = load(spec, subject).fn
    except ImplementationLoadError as e:
        conn.send(("load_error", str(e)))
        return
    conn.send(("ready", os.getpid()))
    while True:
        try:
            request = conn.recv()
        except EOFError:
            return
        if request is None:
            return
        conn.send(observe_call(fn, request))


def main() -> None:
    parser = argparse.ArgumentParser(description="conformance worker (started by the runner)")
    parser.add_argument("--read-fd", type=int, required=True)
    parser.add_argument("--write-fd", type=int, required=True)
    parser.add_argument("--spec", required=True)
    parser.add_argument("--subject", required=True)
    parser.add_argument("--x64", action="store_true")
    args = parser.parse_args()
    # Keep the protocol descriptors away from anything the implementation prints.
    sys.stdout.flush()
    from conformance.executors import Duplex

    serve(Duplex(args.read_fd, args.write_fd), args.spec, args.subject, args.x64)


if __name__ == "__main__":
    main()
