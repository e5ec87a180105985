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

from strategies.kinds import KindedArray

_HERE = os.path.dirname(os.path.abspath(__file__))


@dataclass
class CallResult:
    """What one call did. ``status`` is ``ok``, ``raised``, ``timeout`` or ``crashed``."""

    status: str
    output: np.ndarray | None = None
    output_type: str = ""
    error_type: str = ""
    error_bases: tuple[str, ...] = ()
    error_message: str = ""
    error_where: str = ""
    input_changes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def describe_failure(self) -> str:
        """One line on why there is no usable output."""
        if self.status == "raised":
            where = f" (at {self.error_where})" if self.error_where else ""
            return f"raised {self.error_type}: {self.error_message}{where}"
        if self.status in ("timeout", "crashed"):
            return self.error_message
        if self.output is None:
            return f"returned {self.output_type}, not an array"
        return "returned normally"

    def raised_any(self, names: tuple[str, ...]) -> bool:
        return self.status == "raised" and any(n in self.error_bases for n in names)


def _type_name(obj: Any) -> str:
    import jax

    if isinstance(obj, jax.Array):
        return "jax.Array"
    cls = type(obj)
    return "numpy.ndarray" if cls is np.ndarray else f"{cls.__module__}.{cls.__qualname__}"


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


def materialize_args(args: dict[str, Any]) -> dict[str, Any]:
    return {k: v.materialize() if isinstance(v, KindedArray) else v for k, v in args.items()}


def observe_call(fn: Any, args: dict[str, Any]) -> CallResult:
    """Call ``fn(*args.values())`` on fresh inputs; never raises for anything the call does.

    ``args`` must be in the function's parameter order.
    """
    live = materialize_args(args)
    before = {k: _snapshot(v) for k, v in live.items()}
    start = time.perf_counter()
    try:
        out = fn(*live.values())
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
            try:
                result.output = np.array(out, copy=True)
            except Exception as e:
                result.output_type += f" that could not be read ({type(e).__name__}: {e})"
    for name, arg in live.items():
        try:
            result.input_changes += _changes(name, arg, before[name])
        except Exception as e:  # pragma: no cover
            result.input_changes.append(f"{name} could not be inspected after the call: {e}")
    return result
