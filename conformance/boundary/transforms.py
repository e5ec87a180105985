"""Calling an implementation under a JAX transform, in its worker.

:func:`apply` runs ``fn`` on the argument dict ``args`` (in the subject's order) the
way ``transform`` (plain data from the runner) says, and returns what that transform
produces. The runner never calls this: it runs where the implementation runs.
"""

from __future__ import annotations

from typing import Any

from conformance.boundary import gradients
from conformance.boundary.arrays import as_jax_array

#: transform kind -> function(fn, args, transform) -> output
KINDS: dict[str, Any] = {}


def kind(name: str) -> Any:
    def register(f: Any) -> Any:
        KINDS[name] = f
        return f

    return register


def apply(fn: Any, args: dict[str, Any], transform: dict[str, Any]) -> Any:
    """``fn`` on ``args`` under ``transform``; ValueError for a kind this suite does not know."""
    name = transform.get("kind")
    if name not in KINDS:
        raise ValueError(f"unknown transform {name!r}; known: {', '.join(sorted(KINDS))}")
    return KINDS[name](fn, args, transform)


@kind("eager")
def eager(fn: Any, args: dict[str, Any], transform: dict[str, Any]) -> Any:
    return fn(*args.values())


# --------------------------------------------------------------------------- forward transforms
# Each closes over every argument but the batch (``transform["arg"]``): seeds and sizes
# stay static Python values, as a caller of the function under jit or vmap would keep them.


def _with(args: dict[str, Any], name: str, value: Any) -> tuple[Any, ...]:
    """The positional arguments with ``args[name]`` replaced by ``value``."""
    return tuple(value if k == name else v for k, v in args.items())


@kind("jit")
def jit(fn: Any, args: dict[str, Any], transform: dict[str, Any]) -> Any:
    """``jax.jit`` of ``fn`` with the batch traced (a jax array) and everything else static."""
    import jax

    name = transform["arg"]
    return jax.jit(lambda x: fn(*_with(args, name, x)))(as_jax_array(args[name]))


@kind("vmap")
def vmap(fn: Any, args: dict[str, Any], transform: dict[str, Any]) -> Any:
    """``jax.vmap`` of ``fn`` over axis 0 of the batch argument, a stack of batches (K, B, ...)."""
    import jax

    name = transform["arg"]
    return jax.vmap(lambda x: fn(*_with(args, name, x)))(as_jax_array(args[name]))


@kind("devices")
def devices(fn: Any, args: dict[str, Any], transform: dict[str, Any]) -> Any:
    """How many devices this process has (``fn`` is not called)."""
    import jax
    import numpy as np

    return np.array([len(jax.devices())], dtype=np.int64)


@kind("sharded")
def sharded(fn: Any, args: dict[str, Any], transform: dict[str, Any]) -> Any:
    """``fn`` on the batch sharded along axis 0 over a 1-D mesh of the first ``devices`` devices,
    passed directly (``jit`` false) or to ``jax.jit`` of ``fn`` (``jit`` true)."""
    import jax
    import numpy as np
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    name, n = transform["arg"], int(transform["devices"])
    available = jax.devices()
    if n > len(available):
        raise RuntimeError(f"asked for a mesh of {n} devices; this process has {len(available)}")
    mesh = Mesh(np.array(available[:n]), ("batch",))
    x = jax.device_put(np.asarray(args[name]), NamedSharding(mesh, PartitionSpec("batch")))
    if transform.get("jit"):
        return jax.jit(lambda v: fn(*_with(args, name, v)))(x)
    return fn(*_with(args, name, x))


#: The event JAX records around each XLA compilation (a persistent-cache hit included), on every
#: JAX line this package supports (tox's matrix runs the oldest and the newest).
COMPILE_EVENT = "/jax/core/compile/backend_compile_duration"
_compilations = [0]
_listening = [False]


def _count_compilations() -> None:
    """Count :data:`COMPILE_EVENT` from now on in this process (one listener, never removed:
    JAX 0.4.31 has no public way to unregister one)."""
    if _listening[0]:
        return
    from jax import monitoring

    register = getattr(monitoring, "register_event_duration_secs_listener", None)
    if register is None:
        raise NotImplementedError(
            "jax.monitoring has no register_event_duration_secs_listener: this JAX cannot count compilations"
        )

    def listener(event: str, duration: float, **kwargs: Any) -> None:
        if event == COMPILE_EVENT:
            _compilations[0] += 1

    register(listener)
    _listening[0] = True


def new_seed(seed: Any, k: int) -> Any:
    """Another seed of the same type and range as ``seed``: its low bits flipped by ``k``
    (small ``k``), or ``k`` further from zero for a float."""
    import numpy as np

    if isinstance(seed, (float, np.floating)):
        return type(seed)(seed + k if seed >= 0 else seed - k)
    return type(seed)(int(seed) ^ k)


@kind("compile_count")
def compile_count(fn: Any, args: dict[str, Any], transform: dict[str, Any]) -> Any:
    """Compilations per call: the batch argument is a stack (N + 1, B, ...); slice 0 with the
    seed warms up, then slice i with :func:`new_seed` (seed, i) is called and counted, i = 1..N.
    Returns the N counts (int64)."""
    import jax
    import numpy as np

    name, seed_name = transform["arg"], transform["seed_arg"]
    stack = args[name]
    values = np.asarray(stack)
    # Slices of the same kind (numpy or jax) as the stack, made before counting starts.
    batches = [as_jax_array(v) if isinstance(stack, jax.Array) else np.array(v) for v in values]
    _count_compilations()

    def call(i: int) -> None:
        call_args = dict(args, **{name: batches[i]})
        if i:
            call_args[seed_name] = new_seed(args[seed_name], i)
        out = fn(*call_args.values())
        if hasattr(out, "block_until_ready"):
            out.block_until_ready()

    call(0)
    counts = []
    for i in range(1, len(batches)):
        before = _compilations[0]
        call(i)
        counts.append(_compilations[0] - before)
    return np.array(counts, dtype=np.int64)


def nnx_modes() -> list[tuple[bool, bool | None]]:
    """The NNX modes ``(graph, graph_updates)`` the installed Flax offers, in order.

    Flax 0.12.6 and later (``nnx.set_graph_mode``, ``nnx.set_graph_updates``): graph mode with
    and without graph updates, and tree mode. Flax 0.12.5 (``nnx.graphlib.set_graph_mode``
    only): graph mode and tree mode (``graph_updates`` None: left as Flax has it). Earlier: none.
    """
    from flax import nnx

    if hasattr(nnx, "set_graph_mode") and hasattr(nnx, "set_graph_updates"):
        return [(True, True), (True, False), (False, False)]
    if hasattr(getattr(nnx, "graphlib", None), "set_graph_mode"):
        return [(True, None), (False, None)]
    return []


def describe_mode(graph: bool, graph_updates: bool | None) -> str:
    """``graph mode with graph_updates=True``, ``tree mode``, ..."""
    name = "graph mode" if graph else "tree mode"
    return name if graph_updates is None else f"{name} with graph_updates={graph_updates}"


@kind("nnx_mode")
def nnx_mode(fn: Any, args: dict[str, Any], transform: dict[str, Any]) -> Any:
    """``fn`` with NNX's graph mode (and graph updates, unless None) set for this call only."""
    import contextlib

    from flax.nnx import graphlib

    updates = transform["graph_updates"]
    mode = (bool(transform["graph"]), None if updates is None else bool(updates))
    if mode not in nnx_modes():
        raise RuntimeError(f"the installed Flax does not offer {describe_mode(*mode)}")
    with contextlib.ExitStack() as stack:
        stack.enter_context(graphlib.set_graph_mode(mode[0]))
        if mode[1] is not None:
            stack.enter_context(graphlib.set_graph_updates(mode[1]))
        return fn(*args.values())


KINDS["vjp"] = gradients.vjp
KINDS["jvp"] = gradients.jvp
