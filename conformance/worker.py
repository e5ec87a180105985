"""The worker process: loads one implementation from its spec and serves calls over a pipe.

Started with the ``spawn`` method (a process forked after JAX initialised
deadlocks). Its stdout and stderr go to a log file whose tail the parent shows
when the worker dies.
"""

from __future__ import annotations

import os
import sys
from typing import Any


def serve(conn: Any, spec: str, subject: str, x64: bool, log_path: str) -> None:
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    sys.stdout = os.fdopen(1, "w", buffering=1, closefd=False)
    sys.stderr = os.fdopen(2, "w", buffering=1, closefd=False)
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
