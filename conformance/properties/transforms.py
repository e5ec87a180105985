"""The transform group: claims about the implementation under JAX transforms.

``jax.jit``, ``jax.vmap`` of stacked batches, sharding over host devices, compilations after
warm-up, the NNX graph modes, and the VJP and JVP against the float64 oracle. Each is a
property like those of :mod:`conformance.properties` (which imports this module, so that
the one registry ``PROPERTIES`` holds both groups); the calls themselves are made in the
worker (:mod:`conformance.boundary.transforms`, :mod:`conformance.boundary.gradients`).
"""

from __future__ import annotations

import zlib
from dataclasses import replace
from typing import Any

import numpy as np
from hypothesis import strategies as st

import strategies as S
from conformance.base.failures import PropertyFailure, PropertySkip
from conformance.boundary import transforms
from conformance.boundary.calls import CallResult
from conformance.cases.codec import array_to_json as encode_direction
from conformance.numerics.tolerance import assert_close
from conformance.properties.context import Context, locator, typical_bound, usable_output
from conformance.properties.registry import Case, prop
from conformance.subjects import Args, StrategyConfig, Subject, args_key

# --------------------------------------------------------------------------- transform properties: forward
# (jit, vmap, sharding, compilation count, NNX modes; group "transform")

#: Batch sizes the forward transform properties draw: each shards over a mesh of 2, 4 or 8 devices.
TRANSFORM_BATCHES = (2, 4, 8)
#: The array kinds they hand over (their claims are about transforms, not about input layouts).
TRANSFORM_KINDS = ("numpy", "jax")
#: Their share of the profile's examples (4 of ci's 30): each example compiles a new program
#: (jit, vmap, sharding), about a second on CPU.
TRANSFORM_SHARE = 0.15
#: Calls counted after the warm-up by ``bounded_compilation``.
COUNTED_CALLS = 3
#: Outputs of a traced program (jax.jit) are held to this many oracle bounds. The parameters are
#: made inside the program, where XLA may fuse and reassociate their arithmetic: it folds the
#: initializer's scale into the product, ``x * (s * z)`` -> ``(x * s) * z``, so each product may
#: carry two roundings more than the oracle's model, and one more bound covers them
#: (``gamma_n M >= 2 u M`` for ``n = D_in + 1 >= 2``). Seen on CPU: 1.02 bounds, D_in = 1, one
#: row per device.
TRACED_BOUNDS = 2
#: Errors JAX raises when a traced value is used as a concrete one.
TRACER_ERRORS = (
    "TracerArrayConversionError",
    "ConcretizationTypeError",
    "TracerBoolConversionError",
    "TracerIntegerConversionError",
)


def _transform_config(config: StrategyConfig) -> StrategyConfig:
    pool = config.pool if isinstance(config.pool, S.ShapePool) else S.DEFAULT_POOL
    return replace(config, pool=replace(pool, batch=TRANSFORM_BATCHES))


@st.composite
def transform_calls(draw: st.DrawFn, subject: Subject, config: StrategyConfig) -> Case:
    """One call with B in :data:`TRANSFORM_BATCHES`, float32 input (float64 too under x64; half
    precision widened exactly to float32; never without signal) as a numpy or a jax array, and
    the recipes (value family, generator seed) of :data:`COUNTED_CALLS` more batches of its
    shape, which ``vmap_composes`` stacks (the first ``stack - 1``) and ``bounded_compilation``
    calls.

    Every forward transform property draws these cases, so in derandomized profiles they check
    the same examples: one eager call, one oracle answer and one compilation per shape serve all.
    """
    args = draw(subject.valid_args(_transform_config(config), 1, 1))
    x = args[subject.batch_arg]
    dtype = x.dtype.name if x.dtype.name in ("float32", "float64") else "float32"
    values, label = x.values.astype(dtype), x.label
    if not subject.has_signal(args):  # zero input hides wrong parameters: give it ordinary values
        values, label = S.make_values(x.shape, dtype, "ordinary", draw(st.integers(0, 2**32 - 1))), "ordinary"
    kind = draw(st.sampled_from(TRANSFORM_KINDS))
    others = [
        [draw(st.sampled_from(("ordinary", "negative", "zero_rows"))), draw(st.integers(0, 2**32 - 1))]
        for _ in range(COUNTED_CALLS)
    ]
    return {
        "args": {**args, subject.batch_arg: S.KindedArray(values, kind, label)},
        "stack": draw(st.integers(2, 3)),
        "others": others,
    }


def _other_batches(subject: Subject, case: Case, n: int) -> list[S.KindedArray]:
    """The first ``n`` of the case's other batches: its batch's shape, dtype and kind."""
    x = case["args"][subject.batch_arg]
    return [
        S.KindedArray(S.make_values(x.shape, x.dtype.name, family, seed), x.kind, family)
        for family, seed in case["others"][:n]
    ]


def _stack(subject: Subject, args: Args, others: list[S.KindedArray]) -> Args:
    """``args`` with the batch argument replaced by it and ``others`` stacked on a new axis 0."""
    x = args[subject.batch_arg]
    values = np.stack([x.values, *(o.values for o in others)])
    return {**args, subject.batch_arg: S.KindedArray(values, x.kind, x.label)}


def _untraceable(result: CallResult) -> bool:
    if result.status != "raised":
        return False
    return any(n in result.error_bases for n in TRACER_ERRORS) or "tracer" in (
        f"{result.error_type} {result.error_message}".lower()
    )


@prop(transform_calls, group="transform", edges=False, share=TRANSFORM_SHARE)
def jit_agrees_with_oracle(ctx: Context, case: Case) -> None:
    """Under jax.jit (x_batch traced; seed and sizes static) the output agrees with the float64 oracle.

    ``jax.jit`` of a closure over every argument but the batch, in the worker. A call that cannot
    be traced (a host round trip such as ``np.asarray`` on the batch, a Python branch on its values)
    fails as "not traceable". Held to :data:`TRACED_BOUNDS` oracle bounds (XLA may reassociate
    the parameters' arithmetic inside the program). Float32 input (float64 too under x64), numpy
    or jax, B in 2, 4, 8.
    """
    subject, args = ctx.subject, case["args"]
    expected = ctx.expected(args)
    result = ctx.call(args, transform={"kind": "jit", "arg": subject.batch_arg})
    if _untraceable(result):
        where = result.error_where or "an unknown place"
        raise PropertyFailure(
            f"not traceable under jax.jit: {result.error_type} at {where}: {result.error_message} "
            f"(the traced {subject.batch_arg} was pulled to the host or made concrete)",
            call="raised",
            error_type=result.error_type,
        )
    out = usable_output(result, expected, "under jax.jit, the call")
    assert_close(
        out,
        expected.value,
        TRACED_BOUNDS * expected.bound,
        f"under jax.jit, disagrees with the float64 oracle (allowed: {TRACED_BOUNDS} bounds)",
        locator(subject, args),
        typical=typical_bound(expected, TRACED_BOUNDS),
    )


@prop(transform_calls, group="transform", edges=False, share=TRANSFORM_SHARE)
def vmap_composes(ctx: Context, case: Case) -> None:
    """jax.vmap over a leading axis of stacked batches equals the per-batch calls.

    K = 2 or 3 batches of one shape, stacked to (K, B, D_in) and ``jax.vmap``-ed with seed and
    sizes static; slice k agrees with the eager call on batch k within the sum of both calls'
    bounds (twice the oracle's), not bitwise: a batched matmul may sum in another order than
    the unbatched one, and each is only held to its own bound. Cases: ``transform_calls``.
    """
    subject, args = ctx.subject, case["args"]
    others = _other_batches(subject, case, case["stack"] - 1)
    batches = [args[subject.batch_arg], *others]
    k = len(batches)
    what = f"under jax.vmap over {k} stacked batches of shape {batches[0].shape}"
    result = ctx.call(_stack(subject, args, others), transform={"kind": "vmap", "arg": subject.batch_arg})
    if result.status != "ok" or result.output is None:
        raise PropertyFailure(f"{what}, the call {result.describe_failure()}", call=result.status)
    shape = (k, *ctx.expected(args).shape)
    if result.output.shape != shape:
        raise PropertyFailure(
            f"{what}, returned shape {result.output.shape}, expected {shape} (the outputs, stacked)"
        )
    stacked = result.output.reshape(k, -1)
    for i, batch in enumerate(batches):
        one = {**args, subject.batch_arg: batch}
        eager = ctx.output(one, f"the eager call on batch {i}").astype(np.float64)
        assert_close(
            stacked[i],
            eager,
            2 * ctx.expected(one).bound,
            f"{what}, slice {i} differs from the eager call on batch {i}",
            locator(subject, one),
            typical=typical_bound(ctx.expected(one), 2),
        )


def _device_count(ctx: Context, args: Args) -> int:
    result = ctx.call(args, transform={"kind": "devices"})
    if result.status != "ok" or result.output is None:
        raise PropertyFailure(
            f"asking the implementation's process for its devices {result.describe_failure()}"
        )
    return int(result.output[0])


@prop(transform_calls, group="transform", edges=False, share=TRANSFORM_SHARE)
def sharding_invariance(ctx: Context, case: Case) -> str:
    """x_batch sharded by rows over a 1-D device mesh gives the unsharded output, directly and under jax.jit.

    The mesh has the most devices of the implementation's process (workers get 8 host CPU devices)
    that divide B (2, 4 or 8 rows); both outputs are compared with the float64 oracle within its
    bound (:data:`TRACED_BOUNDS` of them under jax.jit). Skipped, saying so, when that process has
    a single device. Cases: ``transform_calls``.
    """
    subject, args = ctx.subject, case["args"]
    batch, count = subject.batch_size(args), _device_count(ctx, args)
    n = max(d for d in range(1, min(count, batch) + 1) if batch % d == 0)
    if n == 1:
        raise PropertySkip(
            f"the implementation's process has {count} device(s), so {subject.batch_arg} with {batch} rows "
            "cannot be sharded (workers get 8 host CPU devices unless XLA_FLAGS sets "
            "--xla_force_host_platform_device_count; --isolation none runs in the runner's process)"
        )
    expected = ctx.expected(args)
    for jit in (False, True):
        what = f"with {subject.batch_arg} sharded over a 1-D mesh of {n} devices, " + (
            "under jax.jit" if jit else "passed directly"
        )
        transform = {"kind": "sharded", "arg": subject.batch_arg, "devices": n, "jit": jit}
        out = usable_output(ctx.call(args, transform=transform), expected, f"{what}, the call")
        bounds = TRACED_BOUNDS if jit else 1
        assert_close(
            out,
            expected.value,
            bounds * expected.bound,
            f"{what}, disagrees with the float64 oracle" + (f" (allowed: {bounds} bounds)" if jit else ""),
            locator(subject, args),
            typical=typical_bound(expected, bounds),
        )
    return f"sharded over a 1-D mesh of {n} devices"


@prop(transform_calls, group="transform", edges=False, share=TRANSFORM_SHARE)
def bounded_compilation(ctx: Context, case: Case) -> None:
    """After warm-up, calls with the same shapes and dtypes (new seed, new values) trigger no XLA compilation.

    In the worker: one warm-up call, then 3 calls, each with another seed of the same type (its
    low bits flipped) and other values of the same shape, dtype and kind, counting JAX's
    '/jax/core/compile/backend_compile_duration' events (jax.monitoring, JAX 0.4.31 to 0.10.2;
    a persistent-cache hit counts too). Cases: ``transform_calls``.
    """
    subject, args = ctx.subject, case["args"]
    transform = {"kind": "compile_count", "arg": subject.batch_arg, "seed_arg": subject.seed_arg}
    stacked = _stack(subject, args, _other_batches(subject, case, COUNTED_CALLS))
    result = ctx.call(stacked, transform=transform)
    if result.status == "raised" and result.error_type == "NotImplementedError":
        raise PropertySkip(f"compilations cannot be counted here: {result.error_message}")
    if result.status != "ok" or result.output is None:
        raise PropertyFailure(
            f"the warm-up and {COUNTED_CALLS} counted calls {result.describe_failure()}", call=result.status
        )
    counts = [int(c) for c in result.output]
    if any(counts):
        per_call = ", ".join(f"call {i + 1}: {c}" for i, c in enumerate(counts))
        raise PropertyFailure(
            f"after a warm-up call, {len(counts)} calls with the same shapes and dtypes (new seed, new "
            f"values) compiled XLA programs ({per_call}; counted with jax.monitoring's "
            "'/jax/core/compile/backend_compile_duration' events in the worker): something is compiled "
            "on every call, such as jax.jit of a function or closure created inside the call "
            "(jit once, at module level, with sizes static)",
            compilations=counts,
        )


@prop(transform_calls, group="transform", edges=False, share=TRANSFORM_SHARE)
def nnx_modes(ctx: Context, case: Case) -> str:
    """Under each NNX graph mode the installed Flax offers, the output agrees with the float64 oracle.

    Graph mode with and without graph updates, and tree mode (``nnx.set_graph_mode``,
    ``nnx.set_graph_updates``: Flax 0.12.6 and later; graph and tree mode only on 0.12.5), each
    set in the worker for one call and restored after it. Skipped, saying so, with an older
    Flax. Cases: ``transform_calls``.
    """
    subject, args = ctx.subject, case["args"]
    modes = transforms.nnx_modes()
    if not modes:
        raise PropertySkip(
            "the installed Flax offers no NNX modes (nnx.set_graph_mode arrived in Flax 0.12.5, "
            "nnx.set_graph_updates in 0.12.6): only the default mode is checked, by the other properties"
        )
    checked = ", ".join(transforms.describe_mode(*m) for m in modes)
    expected = ctx.expected(args)
    for graph, updates in modes:
        what = f"under NNX {transforms.describe_mode(graph, updates)} (modes checked: {checked})"
        transform = {"kind": "nnx_mode", "graph": graph, "graph_updates": updates}
        out = usable_output(ctx.call(args, transform=transform), expected, f"{what}, the call")
        assert_close(
            out,
            expected.value,
            expected.bound,
            f"{what}, disagrees with the float64 oracle",
            locator(subject, args),
            typical=typical_bound(expected),
        )
    return f"NNX modes checked: {checked}"


# --------------------------------------------------------------------------- transform properties: gradients
# (VJP and JVP against the float64 oracle; group "transform")

#: Families of a drawn cotangent or tangent, in shrinking order: all zeros (every gradient is
#: zero there), ordinary values (2 x standard normal), and ordinary values scaled by 2**k,
#: |k| <= 60 (far from overflow and underflow in float32: the bound is relative).
DIRECTION_FAMILIES = ("zeros", "ordinary", "scaled")
#: The input dtypes the gradient properties check (float64 only under x64).
GRADIENT_DTYPES = ("float32", "float64")
#: Gradients compile anew for every shape (about 0.3 s each on CPU, a VJP more): their searches
#: run a quarter of the profile's examples (ci: 8, then 2 with B > 64).
GRADIENT_SHARE = 0.25


@st.composite
def gradient_calls(draw: st.DrawFn, subject: Subject, config: StrategyConfig) -> Case:
    """One call on float32 input (float64 too under x64), and a direction to differentiate along.

    Half-precision draws are widened to float32 (exactly): their gradients are outside the
    error model. The direction is drawn as a family, a generator seed and a power of two, so
    that a case stays short; :func:`direction_values` makes the array.
    """
    args = draw(subject.valid_args(config, 0, 1))
    x = args[subject.batch_arg]
    if x.dtype.name not in GRADIENT_DTYPES:
        args = {**args, subject.batch_arg: x.with_values(x.values.astype(np.float32))}
    family = draw(st.sampled_from(DIRECTION_FAMILIES))
    return {
        "args": args,
        "direction": family,
        "direction_seed": 0 if family == "zeros" else draw(st.integers(0, 2**32 - 1)),
        "direction_scale": draw(st.integers(-60, 60)) if family == "scaled" else 0,
    }


def direction_values(case: Case, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """The case's cotangent or tangent as an array of ``shape`` and ``dtype``."""
    if case["direction"] == "zeros":
        return np.zeros(shape, dtype=dtype)
    values = np.random.default_rng(case["direction_seed"]).standard_normal(shape) * 2.0
    return (values * 2.0 ** case["direction_scale"]).astype(dtype)


def _describe_direction(case: Case) -> str:
    family, scale = case["direction"], case["direction_scale"]
    if family == "zeros":
        return "zeros"
    return f"{family}, seed {case['direction_seed']}" + (f", scaled by 2**{scale}" if scale else "")


def _gradient_oracle(ctx: Context, which: str, args: Args, direction: np.ndarray) -> Any:
    """The subject's VJP or JVP oracle for ``direction``, cached with the forward oracle's answers."""
    oracle = ctx.subject.vjp_expected if which == "vjp" else ctx.subject.jvp_expected
    if oracle is None:
        raise PropertyFailure(f"the subject {ctx.subject.name} has no {which.upper()} oracle")
    key = f"{which}:{args_key(args)}:{direction.dtype.name}:{zlib.crc32(direction.tobytes())}"
    known = ctx.cache.expected.lookup(key)
    if known is None:
        with ctx.cache.lock:
            known = ctx.cache.expected.remember(key, oracle(args, direction, ctx.x64))
    return ctx.tolerated(known)


def _transformed_output(result: Any, expected: Any, what: str) -> np.ndarray:
    """The output of a call under a transform, or a PropertyFailure saying why there is none."""
    if result.status != "ok" or result.output is None:
        raise PropertyFailure(f"{what} {result.describe_failure()}", call=result.status)
    out = result.output
    if out.shape != expected.shape:
        raise PropertyFailure(f"{what} has shape {out.shape}, but should have shape {expected.shape}")
    if out.dtype != expected.dtype:
        raise PropertyFailure(f"{what} has dtype {out.dtype}, but should have dtype {expected.dtype.name}")
    return out.reshape(-1)


def _spans(indices: np.ndarray) -> str:
    """``[0, 1, 2, 5]`` -> ``0..2, 5``."""
    out, start = [], None
    for k, i in enumerate(indices.tolist()):
        if start is None:
            start = i
        if k + 1 == len(indices) or indices[k + 1] != i + 1:
            out.append(str(start) if start == i else f"{start}..{i}")
            start = None
    return ", ".join(out[:6]) + (", ..." if len(out) > 6 else "")


def _diagnosis(
    got: np.ndarray, want: np.ndarray, allowed: np.ndarray, shape: tuple[int, ...], axes: tuple[str, ...]
) -> str:
    """What the wrong elements have in common: all zero, a constant multiple, some rows only."""
    got = got.astype(np.float64)
    off = ~(np.abs(got - want) <= allowed)
    if not off.any():
        return ""
    if np.all(got == 0):
        return "it is zero everywhere, as if the output did not depend on the input (stop_gradient?)"
    scale = float(np.dot(got, want) / np.dot(want, want)) if np.any(want) else 0.0
    if scale and np.all(np.abs(got - scale * want) <= max(1.0, abs(scale)) * allowed):
        return f"it is {scale:.6g} x the oracle's everywhere"
    parts = []
    grid = off.reshape(shape)
    for k, axis in enumerate(axes):
        where = np.flatnonzero(grid.any(axis=tuple(j for j in range(len(shape)) if j != k)))
        if 0 < where.size < shape[k]:
            parts.append(f"only {axis} {_spans(where)} of 0..{shape[k] - 1} are off")
    return "; ".join(parts)


def _agrees(got: np.ndarray, expected: Any, what: str, shape: tuple[int, ...], axes: tuple[str, ...]) -> None:
    """``assert_close`` against a gradient oracle, each element located on ``axes`` of ``shape``,
    with what the wrong elements have in common appended."""

    def locate(i: int) -> str:
        coords = np.unravel_index(i, shape)
        return ", ".join(f"{axis} {int(c)}" for axis, c in zip(axes, coords, strict=True))

    try:
        assert_close(got, expected.value, expected.bound, what, locate, typical=typical_bound(expected))
    except PropertyFailure as failure:
        why = _diagnosis(got, expected.value, expected.bound, shape, axes)
        if not why:
            raise
        raise PropertyFailure(f"{failure.message}; {why}", **failure.details, diagnosis=why) from None


@prop(gradient_calls, group="transform", edges=("B > 64",), share=GRADIENT_SHARE)
def vjp_agrees_with_oracle(ctx: Context, case: Case) -> None:
    """For a drawn cotangent, the VJP with respect to x_batch matches the float64 oracle within its bound.

    ``jax.vjp`` of ``x_batch -> fn(seed, x_batch, ...)`` (seed and sizes static) pulled back
    along the cotangent, in the worker, against the subject's ``vjp_expected``. Float32 input
    only (and float64 under x64): half-precision gradients are outside the error model. The
    per-edge search of ``B > 64`` makes every ``ci`` run reach a batch above 64 rows.
    """
    subject, args = ctx.subject, case["args"]
    forward = ctx.expected(args)
    cotangent = direction_values(case, forward.shape, forward.dtype)
    expected = _gradient_oracle(ctx, "vjp", args, cotangent)
    transform = {"kind": "vjp", "arg": subject.batch_arg, "cotangent": encode_direction(cotangent)}
    what = f"the VJP with respect to {subject.batch_arg} (cotangent: {_describe_direction(case)})"
    got = _transformed_output(ctx.call(args, transform=transform), expected, what)
    _agrees(got, expected, f"{what} disagrees with the float64 oracle", expected.shape, subject.batch_axes)


@prop(gradient_calls, group="transform", edges=("B > 64",), share=GRADIENT_SHARE)
def jvp_agrees_with_oracle(ctx: Context, case: Case) -> None:
    """For a drawn tangent, the JVP with respect to x_batch matches the float64 oracle within its bound.

    ``jax.jvp`` of ``x_batch -> fn(seed, x_batch, ...)`` (seed and sizes static) along the
    tangent, in the worker: its tangent output, flat like the forward output, against the
    subject's ``jvp_expected``. Float32 input only (and float64 under x64), as for the VJP;
    the per-edge search of ``B > 64`` reaches a batch above 64 rows in every ``ci`` run.
    """
    subject, args = ctx.subject, case["args"]
    x = args[subject.batch_arg]
    tangent = direction_values(case, x.shape, x.dtype)
    expected = _gradient_oracle(ctx, "jvp", args, tangent)
    transform = {"kind": "jvp", "arg": subject.batch_arg, "tangent": encode_direction(tangent)}
    what = f"the JVP along the tangent ({_describe_direction(case)})"
    got = _transformed_output(ctx.call(args, transform=transform), expected, what)
    shape = tuple(subject.output_shape(args))
    _agrees(got, expected, f"{what} disagrees with the float64 oracle", shape, subject.output_axes)
