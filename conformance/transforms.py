"""Calling an implementation under a JAX transform, in its worker.

:func:`apply` runs ``fn`` on the argument dict ``args`` (in the subject's order) the
way ``transform`` (plain data from the runner) says, and returns what that transform
produces. The runner never calls this: it runs where the implementation runs.
"""

from __future__ import annotations

from typing import Any

#: transform kind -> function(fn, args, transform) -> output
KINDS: dict[str, Any] = {}


def kind(name: str) -> Any:
    def register(f: Any) -> Any:
        KINDS[name] = f
        return f

    return register


def apply(fn: Any, args: dict[str, Any], transform: dict[str, Any]) -> Any:
    """``fn`` on ``args`` under ``transform``; ValueError for a kind this suite does not know."""
    import conformance.gradients  # noqa: F401  (registers vjp and jvp)

    name = transform.get("kind")
    if name not in KINDS:
        raise ValueError(f"unknown transform {name!r}; known: {', '.join(sorted(KINDS))}")
    return KINDS[name](fn, args, transform)


@kind("eager")
def eager(fn: Any, args: dict[str, Any], transform: dict[str, Any]) -> Any:
    return fn(*args.values())
