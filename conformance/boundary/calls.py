"""One call of an implementation, observed: what it returned or raised, and what it did to its input.

:func:`observe_call` is the single place that calls code under test; both the
in-process executor and the worker process use it.
"""

from __future__ import annotations

import os
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from conformance.boundary import processes
from conformance.boundary.protocol import DTYPES, MAX_PAYLOAD, ProtocolViolation, array_from, encode_array
from strategies.kinds import KindedArray

#: the suite's own package: frames inside it are not where an implementation raised
_HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@dataclass
class CallResult:
    """What one call did. ``status`` is ``ok``, ``raised``, ``timeout``, ``crashed`` or ``protocol``
    (the worker sent something that is not a result: see :mod:`conformance.boundary.protocol`)."""

    status: str
    output: np.ndarray | None = None
    output_type: str = ""
    error_type: str = ""
    error_bases: tuple[str, ...] = ()
    error_message: str = ""
    error_where: str = ""
    input_changes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    #: what the call left behind: changed global JAX configuration, threads, child processes
    side_effects: list[str] = field(default_factory=list)

    def describe_failure(self) -> str:
        """One line on why there is no usable output."""
        if self.status == "raised":
            where = f" (at {self.error_where})" if self.error_where else ""
            return f"raised {self.error_type}: {self.error_message}{where}"
        if self.status in ("timeout", "crashed", "protocol"):
            return self.error_message
        if self.output is None:
            return f"returned {self.output_type}, not an array"
        return "returned normally"

    def raised_any(self, names: tuple[str, ...]) -> bool:
        return self.status == "raised" and any(n in self.error_bases for n in names)

    @property
    def dead(self) -> bool:
        """The call took its process with it: a hang, a crash or a broken protocol."""
        return self.status in ("timeout", "crashed", "protocol")

    def to_message(self, request_id: int) -> tuple[dict[str, Any], memoryview | None]:
        """The worker's side: this result as a protocol message and the output's bytes."""
        output, data = None, None
        if self.output is not None:
            output, data = encode_array(self.output)
        message = {
            "kind": "result",
            "id": request_id,
            "status": self.status,
            "output": output,
            "output_type": self.output_type,
            "error_type": self.error_type,
            "error_bases": list(self.error_bases),
            "error_message": self.error_message,
            "error_where": self.error_where,
            "input_changes": list(self.input_changes),
            "seconds": self.seconds,
            "side_effects": list(self.side_effects),
        }
        return message, data

    @classmethod
    def from_message(cls, message: dict[str, Any], data: bytes | None) -> CallResult:
        """The runner's side: a checked ``result`` message (and its bytes) back as a result."""
        output = None
        if message["output"] is not None:
            if data is None:
                raise ProtocolViolation("an output was announced but no bytes followed")
            output = array_from(message["output"], data)
        return cls(
            message["status"],
            output,
            message["output_type"],
            message["error_type"],
            tuple(message["error_bases"]),
            message["error_message"],
            message["error_where"],
            list(message["input_changes"]),
            message["seconds"],
            list(message["side_effects"]),
        )


def _type_name(obj: Any) -> str:
    import jax

    cls = type(obj)  # not obj.__class__, which an object pretending to be an array can fake
    if issubclass(cls, jax.Array):
        return "jax.Array"
    if cls is np.ndarray:
        return "numpy.ndarray"
    name = f"{cls.__module__}.{cls.__qualname__}"
    return f"{name} (a numpy.ndarray subclass)" if issubclass(cls, np.ndarray) else name


def _snapshot(arg: Any) -> Any:
    """What we compare afterwards to see whether the call changed an input."""
    if isinstance(arg, np.ndarray):
        base = arg.base if isinstance(arg.base, np.ndarray) else None
        return ("numpy", arg.copy(), None if base is None else base.copy())
    try:
        import jax

        if isinstance(arg, jax.Array):
            return ("jax", np.asarray(arg).copy(), None)
    except Exception:  # pragma: no cover - a broken jax array is reported by the call
        return None
    return None


def _changes(name: str, arg: Any, before: Any) -> list[str]:
    if before is None:
        return []
    kind, values, base = before
    if kind == "jax":
        if arg.is_deleted():
            return [f"{name} (a jax array) was deleted or donated by the call"]
        now = np.asarray(arg)
    else:
        now = arg
    out = []
    if now.tobytes() != values.tobytes():
        changed = (
            int(np.sum(now.view(np.uint8) != values.view(np.uint8))) if now.shape == values.shape else -1
        )
        out.append(f"{name} was modified in place ({changed} bytes changed)")
    elif base is not None and arg.base.tobytes() != base.tobytes():
        out.append(f"{name}: the buffer behind the view was written outside the view")
    return out


def _jax_config() -> dict[str, Any]:
    import jax

    values = getattr(jax.config, "values", None)
    return dict(values) if isinstance(values, dict) else {}


def _side_effects(
    config: dict[str, Any], threads: set[int], processes_before: set[int], contain: bool
) -> list[str]:
    """What a call left behind, against the state before it. With ``contain`` (in a worker), the
    processes it left, detached or not, are killed and reaped first (:func:`processes.end_new`)."""
    if contain:
        left = processes.end_new(processes_before)
    else:  # in the runner (built-ins): look, never kill (other threads start workers meanwhile)
        new = processes.children() - processes_before
        left = {pid: processes.command(pid) for pid in new if processes.running(pid)}
    out = []
    now = _jax_config()
    changed = sorted(k for k in set(config) | set(now) if config.get(k) != now.get(k))
    if changed:
        out.append(
            "changed JAX's global configuration: "
            + ", ".join(f"{k} {config.get(k)!r} -> {now.get(k)!r}" for k in changed[:5])
        )
    import threading

    new_threads = [t.name for t in threading.enumerate() if t.ident not in threads and t.is_alive()]
    if new_threads:
        out.append(f"left {len(new_threads)} thread(s) running: {', '.join(new_threads[:5])}")
    if left:
        out.append(_outlived(left, killed=contain))
    return out


#: How the side effect of a call that left processes running begins, and what it says.
STARTED = "started "
OUTLIVED = "that outlived the call"


def _outlived(left: dict[int, str], killed: bool) -> str:
    n = len(left)
    what = "a process" if n == 1 else f"{n} processes"
    shown = ", ".join(f"pid {pid} ({cmd})" for pid, cmd in sorted(left.items())[:5])
    return f"{STARTED}{what} {OUTLIVED}: {shown}" + ("; killed after the call" if killed else "")


def left_processes(side_effects: list[str]) -> str | None:
    """The side effect saying a call left processes running, if one does."""
    return next((e for e in side_effects if e.startswith(STARTED) and OUTLIVED in e), None)


def materialize_args(args: dict[str, Any]) -> dict[str, Any]:
    return {k: v.materialize() if isinstance(v, KindedArray) else v for k, v in args.items()}


def observe_call(
    fn: Any, args: dict[str, Any], transform: dict[str, Any] | None = None, contain: bool = False
) -> CallResult:
    """Call ``fn(*args.values())`` on fresh inputs; never raises for anything the call does.

    ``args`` must be in the function's parameter order. ``transform`` (plain data, e.g.
    ``{"kind": "jit"}``) calls it under a JAX transform instead (:mod:`conformance.boundary.transforms`);
    the output is then what that transform returns (a gradient, stacked outputs, ...).

    ``contain`` (the worker, which is a subreaper: :mod:`conformance.boundary.processes`): every
    process the call started and left running, detached or not, is killed after it, and reported
    as its side effect. Without it (the runner's own built-ins), the call's new children are only
    reported.
    """
    import threading

    live = materialize_args(args)
    before = {k: _snapshot(v) for k, v in live.items()}
    config, threads = _jax_config(), {t.ident for t in threading.enumerate()}
    procs = processes.descendants() if contain else processes.children()
    start = time.perf_counter()
    try:
        if transform is None:
            out = fn(*live.values())
        else:
            from conformance.boundary.transforms import apply

            out = apply(fn, live, transform)
        if hasattr(out, "block_until_ready"):
            out = out.block_until_ready()
    except BaseException as e:  # the code under test may raise anything, SystemExit included
        if isinstance(e, KeyboardInterrupt):
            raise
        frames = [f for f in traceback.extract_tb(e.__traceback__) if not f.filename.startswith(_HERE)]
        where = f"{frames[-1].filename}:{frames[-1].lineno}" if frames else ""
        result = CallResult(
            "raised",
            error_type=type(e).__name__,
            error_bases=tuple(c.__name__ for c in type(e).__mro__),
            error_message=str(e).strip().splitlines()[0][:500] if str(e).strip() else "",
            error_where=where,
            seconds=time.perf_counter() - start,
        )
    else:
        result = CallResult("ok", output_type=_type_name(out), seconds=time.perf_counter() - start)
        if result.output_type in ("jax.Array", "numpy.ndarray"):
            too_large = _too_large(out)
            if too_large:  # refused before it is copied: it could not be sent anyway
                result.output_type += too_large
            else:
                try:
                    result.output = np.array(out, copy=True, order="C")  # C order: sent as it is
                except Exception as e:
                    result.output_type += f" that could not be read ({type(e).__name__}: {e})"
            if result.output is not None and result.output.dtype.name not in DTYPES:
                result.output_type += f" of dtype {result.output.dtype}"
                result.output = None
    for name, arg in live.items():
        try:
            result.input_changes += _changes(name, arg, before[name])
        except Exception as e:  # pragma: no cover
            result.input_changes.append(f"{name} could not be inspected after the call: {e}")
    result.side_effects = _side_effects(config, threads, procs, contain)
    return result


def _too_large(out: Any) -> str:
    """Why an array output is too large to be sent back (protocol.MAX_PAYLOAD), or ""."""
    try:
        nbytes = int(out.nbytes)  # a real jax.Array or numpy.ndarray (by its type): size x itemsize
    except Exception:
        return ""
    if nbytes <= MAX_PAYLOAD:
        return ""
    limit = MAX_PAYLOAD / 2**30
    return f" of {nbytes / 2**30:.1f} GiB, too large to check (an output may take at most {limit:g} GiB)"
