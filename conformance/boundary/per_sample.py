"""A user's per-sample subject, worker side: its declaration, its free references, its oracle.

Everything here runs user code (the declaration's ``make`` and ``call``, a batched
implementation), so it runs in a worker, never in the runner. For a subject declared as
``spec`` (``file.py:attr`` or ``module:attr``, naming a :func:`conformance.per_sample`),
:func:`implementation` gives what the worker calls, always ``fn(seed, x_batch)``:

* a free reference (``FREE_REFERENCES``): the per-sample Python loop, the
  ``nnx.vmap(in_axes=(None, 0))`` lift, the manual split/merge lift;
* the subject's :data:`ORACLE` worker function (:func:`oracle`): the float64 oracle, the float32
  reference, the panel, gradients, and the declaration's plain description;
* the user's batched implementation, which takes ``(model, x_batch)`` (the model ``make``
  built for the batch's sample dims) or ``(seed, x_batch, **static)`` (it builds its own: its
  first parameter is named ``seed``).

Every function here is called ``fn(seed, x_batch, *static)``: the declaration's static
arguments follow the batch, in the order declared, and ``make`` receives them by keyword.
"""

from __future__ import annotations

import collections
import functools
import inspect
import json
from collections.abc import Callable
from typing import Any

import numpy as np

from conformance.base.declaration import FREE_REFERENCES, PerSample, accepts
from conformance.base.failures import MAKE_FAILED
from impl.registry import Implementation, ImplementationLoadError, find, load

#: The implementation name the runner asks for the oracle under.
ORACLE = "oracle"


def is_declaration_spec(name: str) -> bool:
    """Whether a subject name is a declaration's spec (``file.py:attr`` or ``module:attr``)."""
    return ":" in name


@functools.cache
def declaration(spec: str) -> PerSample:
    """The :class:`PerSample` at ``spec``; ImplementationLoadError in one line when it is not one."""
    obj = find(spec)
    if not isinstance(obj, PerSample):
        raise ImplementationLoadError(
            f"{spec!r} is a {type(obj).__name__}, not a per-sample subject: declare it with "
            "conformance.per_sample(make=..., call=..., sample=...)"
        )
    return obj


def sample_dims(decl: PerSample, x_batch: Any) -> dict[str, int]:
    """The named sizes of one sample of ``x_batch``; ValueError naming ``x_batch`` for a wrong rank."""
    shape = tuple(np.shape(x_batch))
    if len(shape) != 1 + len(decl.sample):
        names = ", ".join(("B", *decl.sample))
        raise ValueError(f"x_batch must have shape ({names}): rank {1 + len(decl.sample)}, got shape {shape}")
    return decl.dims_of(shape[1:])


#: The last few models ``make`` built, as ``nnx.split`` left them: key -> (graph, state). The
#: oracle, the references and an implementation each ask for the model of one example.
_MADE: collections.OrderedDict[tuple[Any, ...], tuple[Any, Any]] = collections.OrderedDict()
_MADE_KEPT = 4


def make_model(decl: PerSample, seed: Any, x_batch: Any, static: tuple[Any, ...] = ()) -> Any:
    """The model ``make`` builds for the samples of ``x_batch`` and the static arguments ``static``.

    Built once per seed, sizes, static arguments and precision among the last few asked for, and
    merged anew from its graph and state for each caller: the same parameters to the bit, and no
    caller sees what another's call did to its model (random counters moved, attributes set).
    A model made under a transformation (an implementation under ``jax.jit`` or ``jax.vmap``
    makes it inside the trace) holds that trace's values and is not kept."""
    import jax
    from flax import nnx

    dims = sample_dims(decl, x_batch)
    key = (id(decl), int(seed), tuple(dims.items()), static, bool(jax.config.jax_enable_x64))
    if key not in _MADE:
        model = decl.make(int(seed), dims, **decl.static_of(static))
        graphdef, state = nnx.split(model)
        if any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree.leaves(state)):
            return model
        _MADE[key] = (graphdef, state)
        while len(_MADE) > _MADE_KEPT:
            _MADE.popitem(last=False)
    _MADE.move_to_end(key)
    graphdef, state = _MADE[key]
    # new Variables around the same arrays: nnx.merge would hand every caller the kept ones,
    # tied to the trace they were made in and shared by every model merged from them
    return nnx.merge(graphdef, jax.tree.map(lambda leaf: leaf, state))


def _stack(decl: PerSample, model: Any, outs: list[Any], x_batch: Any) -> Any:
    import jax.numpy as jnp

    if outs:
        return jnp.stack(outs)
    one = sample_output(decl, model, x_batch.shape[1:], x_batch.dtype)
    return jnp.zeros((0, *one.shape), one.dtype)


def sample_output(decl: PerSample, model: Any, shape: tuple[int, ...], dtype: Any, wide: bool = False) -> Any:
    """``call`` (its ``oracle`` if ``wide``) on one sample of zeros, on a copy of ``model`` (so that
    a module drawing random numbers moves no counter of the model itself): what an empty batch
    stacks to zero rows of. Only its shape and dtype are wanted: traced, not run (run eagerly
    where it cannot be traced)."""
    import jax
    import jax.numpy as jnp
    from flax import nnx

    graphdef, state = nnx.split(model)
    fn = body(decl, wide)
    try:
        out = jax.eval_shape(
            lambda s, x: fn(nnx.merge(graphdef, s), x), state, jax.ShapeDtypeStruct(shape, dtype)
        )
        return jnp.zeros(out.shape, out.dtype)
    except Exception as e:
        if type(e).__name__ not in _UNTRACEABLE:
            raise
    return jnp.asarray(fn(nnx.merge(graphdef, state), jnp.zeros(shape, dtype)))


#: Compiled per-sample functions and lifts: (declaration, graph, what) -> the function, or None
#: where the call cannot be traced (Python control flow on values) and runs eagerly.
_COMPILED: dict[tuple[Any, ...], Any] = {}
#: (key of :data:`_COMPILED`, the arguments' shapes and dtypes) that XLA failed to compile or run.
_REJECTED: set[tuple[Any, ...]] = set()

#: What tracing raises for code that needs concrete values.
_UNTRACEABLE = (
    "ConcretizationTypeError",
    "TracerBoolConversionError",
    "TracerIntegerConversionError",
    "TracerArrayConversionError",
    "UnexpectedTracerError",
)


def body(decl: PerSample, wide: bool) -> Callable[[Any, Any], Any]:
    """The per-sample function: the declaration's ``call``, or in float64 (``wide``) its ``oracle``
    where it gives one."""
    return decl.oracle if wide and decl.oracle is not None else decl.call


def per_sample(decl: PerSample, graphdef: Any, kind: str, wide: bool = False) -> Callable[..., Any]:
    """``one(state, x, [direction])``: the per-sample ``call`` (its ``oracle`` if ``wide``) of the
    model ``graphdef`` with ``state`` on one sample ``x`` (``kind`` "call"), or its VJP ("vjp",
    along a direction shaped like the output) or JVP ("jvp", along one shaped like ``x``).
    Compiled once per graph and shape, a sample at a time as written; a call that cannot be
    traced runs eagerly."""
    import jax
    from flax import nnx

    fn = body(decl, wide)

    def call(state: Any, x: Any) -> Any:
        return fn(nnx.merge(graphdef, state), x)

    def vjp(state: Any, x: Any, cotangent: Any) -> Any:
        out, pullback = jax.vjp(lambda s: call(state, s), x)
        return pullback(cotangent.reshape(out.shape).astype(out.dtype))[0]

    def jvp(state: Any, x: Any, tangent: Any) -> Any:
        return jax.jvp(lambda s: call(state, s), (x,), (tangent.astype(x.dtype),))[1]

    eager = {"call": call, "vjp": vjp, "jvp": jvp}[kind]
    return _jit_or_eager((id(decl), graphdef, kind, fn is not decl.call), eager)


def _jit_or_eager(key: tuple[Any, ...], eager: Callable[..., Any]) -> Callable[..., Any]:
    """``eager`` under ``jax.jit``, compiled once per ``key`` and shape; eagerly from the first
    call that cannot be traced (Python control flow on values) on, and eagerly for a call XLA
    fails to compile or run (some XLA versions reject programs they compiled themselves: jax
    0.4.31 fails a RET_CHECK on a bfloat16 MLP block): run as written, the call either gives its
    output or raises its own error."""
    import jax

    compiled = _COMPILED.setdefault(key, jax.jit(eager))

    def signature(args: tuple[Any, ...]) -> tuple[Any, ...]:
        return key, tuple((np.shape(a), str(getattr(a, "dtype", ""))) for a in jax.tree.leaves(args))

    def one(*args: Any) -> Any:
        if _COMPILED.get(key) is not None and not (_REJECTED and signature(args) in _REJECTED):
            try:
                return compiled(*args)
            except Exception as e:
                if type(e).__name__ in _UNTRACEABLE:
                    _COMPILED[key] = None
                elif type(e).__name__ == "XlaRuntimeError":  # not tried again on these shapes
                    _REJECTED.add(signature(args))
                else:
                    raise
        return eager(*args)

    return one


def loop(decl: PerSample) -> Callable[[Any, Any], Any]:
    """The per-sample Python loop: ``call`` on each sample in turn, outputs stacked.

    Randomness ``"same"``: a fresh model for every sample (each draws what the first draws);
    otherwise one model, whose random state moves on from one sample to the next."""

    def fn(seed: Any, x_batch: Any, *static: Any) -> Any:
        model = make_model(decl, seed, x_batch, static)
        if decl.randomness is None:  # the same call on every sample: compiled once per shape
            from flax import nnx

            graphdef, state = nnx.split(model)
            one = per_sample(decl, graphdef, "call")
            return _stack(decl, model, [one(state, x_batch[i]) for i in range(x_batch.shape[0])], x_batch)
        outs = []
        for i in range(x_batch.shape[0]):
            m = make_model(decl, seed, x_batch, static) if decl.randomness == "same" and i else model
            outs.append(decl.call(m, x_batch[i]))
        return _stack(decl, model, outs, x_batch)

    return fn


def nnx_vmap(decl: PerSample) -> Callable[[Any, Any], Any]:
    """``nnx.vmap`` of the per-sample call: the model shared (``in_axes=(None, 0)``); with
    randomness ``"different"``, its random state split per sample (``nnx.split_rngs`` and
    ``StateAxes({RngState: 0, ...: None})``, graph mode)."""
    from flax import nnx

    def fn(seed: Any, x_batch: Any, *static: Any) -> Any:
        model = make_model(decl, seed, x_batch, static)
        if x_batch.shape[0] == 0:
            return _stack(decl, model, [], x_batch)
        if decl.randomness == "different":
            axes = nnx.StateAxes({nnx.RngState: 0, ...: None})

            @nnx.split_rngs(splits=x_batch.shape[0])
            @nnx.vmap(in_axes=(axes, 0))
            def split(m: Any, x: Any) -> Any:
                return decl.call(m, x)

            return split(model, x_batch)
        if decl.randomness is not None:
            return nnx.vmap(decl.call, in_axes=(None, 0))(model, x_batch)
        graphdef, state = nnx.split(model)  # the same call every time: compiled once per shape

        def lifted(state: Any, x_batch: Any) -> Any:
            return nnx.vmap(decl.call, in_axes=(None, 0))(nnx.merge(graphdef, state), x_batch)

        return _jit_or_eager((id(decl), graphdef, "nnx_vmap"), lifted)(state, x_batch)

    return fn


def manual_lift(decl: PerSample) -> Callable[[Any, Any], Any]:
    """``nnx.split`` once, ``jax.vmap`` of ``nnx.merge`` and the call, state shared; with randomness
    ``"different"``, the random state split per sample (``nnx.split_rngs``) and mapped over axis 0."""
    import jax
    from flax import nnx

    def fn(seed: Any, x_batch: Any, *static: Any) -> Any:
        model = make_model(decl, seed, x_batch, static)
        if x_batch.shape[0] == 0:
            return _stack(decl, model, [], x_batch)
        if decl.randomness == "different":
            with nnx.split_rngs(model, splits=x_batch.shape[0]):
                graphdef, rngs, rest = nnx.split(model, nnx.RngState, ...)
                lifted = jax.vmap(
                    lambda r, s, x: decl.call(nnx.merge(graphdef, r, s), x), in_axes=(0, None, 0)
                )
                return lifted(rngs, rest, x_batch)
        graphdef, state = nnx.split(model)
        lifted = jax.vmap(lambda s, x: decl.call(nnx.merge(graphdef, s), x), in_axes=(None, 0))
        if decl.randomness is not None:
            return lifted(state, x_batch)
        return _jit_or_eager((id(decl), graphdef, "manual_lift"), lifted)(state, x_batch)

    return fn


#: The free references by name.
REFERENCES: dict[str, Callable[[PerSample], Callable[[Any, Any], Any]]] = dict(
    zip(FREE_REFERENCES, (loop, nnx_vmap, manual_lift), strict=True)
)


#: The references the tolerance measures: the per-sample loop and the nnx.vmap lift (two ways of
#: batching the same float32 arithmetic; the manual lift computes what the nnx.vmap one does).
TOLERANCE_REFERENCES = ("loop", "nnx_vmap")


def takes_seed(fn: Any) -> bool:
    """Whether a batched implementation builds its own model: its first parameter is named ``seed``."""
    try:
        params = list(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        return False
    return bool(params) and params[0] == "seed"


#: :data:`~conformance.base.failures.MAKE_FAILED`: ``make`` failed before the implementation ran.
MakeFailed = type(MAKE_FAILED, (Exception,), {"__doc__": "make failed before the implementation ran."})


def with_model(decl: PerSample, impl: Callable[..., Any]) -> Callable[[Any, Any], Any]:
    """A ``(model, x_batch)`` implementation as ``fn(seed, x_batch, *static)``: the model built by
    ``make`` (:class:`MakeFailed` where ``make`` raises: the implementation was never called)."""

    def fn(seed: Any, x_batch: Any, *static: Any) -> Any:
        try:
            if np.ndim(x_batch) == len(decl.sample):  # one sample, no batch axis: its model, and the call
                model = decl.make(int(seed), decl.dims_of(np.shape(x_batch)), **decl.static_of(static))
            else:
                model = make_model(decl, seed, x_batch, static)
        except Exception as e:
            raise MakeFailed(f"make raised {type(e).__name__}: {e}") from None
        return impl(model, x_batch)

    return fn


def with_seed(decl: PerSample, impl: Callable[..., Any]) -> Callable[..., Any]:
    """A ``(seed, x_batch, **static)`` implementation as ``fn(seed, x_batch, *static)``."""
    if not decl.static:
        return impl

    def fn(seed: Any, x_batch: Any, *static: Any) -> Any:
        return impl(seed, x_batch, **decl.static_of(static))

    return fn


def implementation(spec: str, subject: str) -> Implementation:
    """What a worker serves for ``spec`` under the per-sample subject ``subject``."""
    decl = declaration(subject)
    makers = {**REFERENCES, ORACLE: oracle}
    label, eq, target = spec.partition("=")
    name, target = (label.strip(), target.strip()) if eq else (spec.strip(), spec.strip())
    if target in makers:
        return Implementation(name, makers[target](decl), target, subject, builtin=True)
    impl = load(spec, subject)
    static = {n: v[0] for n, v in decl.static.items()} if takes_seed(impl.fn) else {}
    if not accepts(impl.fn, None, None, **static):
        own = (
            f", the static arguments by keyword: (seed, x_batch, {', '.join(decl.static)})" if static else ""
        )
        raise ImplementationLoadError(
            f"{spec!r}: a batched implementation of a per-sample subject takes two arguments, "
            f"(model, x_batch) or (seed, x_batch){own}"
        )
    fn = with_seed(decl, impl.fn) if takes_seed(impl.fn) else with_model(decl, impl.fn)
    return Implementation(impl.name, fn, impl.spec, subject, impl.builtin, impl.known_failures)


# --------------------------------------------------------------------------- the oracle


def _floating(leaf: Any, dtype: Any) -> Any:
    """A floating leaf cast to ``dtype``; any other leaf (RNG keys and counts) copied, so that the
    model built from it owns it in the float64 block."""
    import jax.numpy as jnp

    if hasattr(leaf, "dtype") and jnp.issubdtype(leaf.dtype, jnp.floating):
        return leaf.astype(dtype)
    return jnp.array(leaf) if hasattr(leaf, "dtype") else leaf


def _split(decl: PerSample, seed: Any, x: np.ndarray, static: tuple[Any, ...]) -> tuple[Any, Any, Any]:
    """The model as ``make`` makes it, in the run's precision (the same seed draws the same bits),
    and its graph and state, for :func:`_wide` to rebuild in float64."""
    from flax import nnx

    model = make_model(decl, seed, x, static)
    graphdef, state = nnx.split(model)
    return model, graphdef, state


def _wide_state(state: Any) -> Any:
    """``state`` with every floating leaf cast to float64 (inside the float64 block)."""
    import jax
    import jax.numpy as jnp

    return jax.tree.map(lambda a: _floating(a, jnp.float64), state)


def _wide(graphdef: Any, state: Any) -> Any:
    """The model with every floating leaf of its state cast to float64: built inside the float64
    block, where it is called (NNX ties a variable to the trace context it was made in)."""
    from flax import nnx

    return nnx.merge(graphdef, _wide_state(state))


class _Float64:
    """``jax_enable_x64`` on inside the block, as it was after it."""

    def __enter__(self) -> None:
        import jax

        self.was = bool(jax.config.jax_enable_x64)
        jax.config.update("jax_enable_x64", True)

    def __exit__(self, *exc: Any) -> None:
        import jax

        jax.config.update("jax_enable_x64", self.was)


def _an_array(out: Any, where: str) -> Any:
    """``out``, the output of ``call`` on one sample; ValueError saying so when it is no array."""
    if not (hasattr(out, "shape") and hasattr(out, "dtype")):
        raise ValueError(
            f"call(model, x) on one sample must return an array;{where} it returned {type(out).__name__}"
        )
    return out


#: (declaration, graph) whose module :func:`_draws_randomly` has seen draw none.
_DETERMINISTIC: set[tuple[Any, ...]] = set()


def _draws_randomly(decl: PerSample, model: Any, sample: Any) -> bool:
    """Whether two calls on one sample differ: the module draws random numbers. Asked once per
    model graph (a module that draws does so whatever the input), eagerly: a compiled call
    rebuilt from one state would draw the same numbers twice."""
    from flax import nnx

    key = (id(decl), nnx.graphdef(model))
    if key in _DETERMINISTIC:
        return False
    first, second = (np.asarray(_an_array(decl.call(model, sample), "")) for _ in range(2))
    if np.array_equal(first, second, equal_nan=True):
        _DETERMINISTIC.add(key)
        return False
    return True


def forward(decl: PerSample, seed: Any, x: np.ndarray, static: tuple[Any, ...] = ()) -> np.ndarray:
    """The float64 oracle: ``call`` (or the declaration's ``oracle``) on each sample, in float64,
    on the float64 model."""
    import jax.numpy as jnp

    made, graphdef, state = _split(decl, seed, x, static)
    wide_call = body(decl, True)
    if decl.randomness is None and x.shape[0] and _draws_randomly(decl, made, x[0]):
        raise ValueError(
            "the per-sample call draws random numbers (two calls on one sample differ): "
            "declare randomness='different' or 'same' in conformance.per_sample"
        )
    with _Float64():
        wide = _wide(graphdef, state)
        outs = []
        if decl.randomness is None:
            one, wide_state = per_sample(decl, graphdef, "call", wide=True), _wide_state(state)
            outs = [np.asarray(one(wide_state, jnp.asarray(x[i], jnp.float64))) for i in range(x.shape[0])]
        for i in range(x.shape[0] if decl.randomness else 0):  # "same": a fresh model every sample
            model = _wide(graphdef, state) if decl.randomness == "same" and i else wide
            outs.append(np.asarray(wide_call(model, jnp.asarray(x[i], jnp.float64))))
        if not outs:
            out = sample_output(decl, wide, x.shape[1:], jnp.float64, wide=True)
            return np.zeros((0, *out.shape), np.float64)
    if outs[0].dtype != np.float64:
        raise ValueError(
            f"the per-sample {_which(decl)} does not compute in float64: float64 input and parameters "
            f"gave {outs[0].dtype} (a hard-coded cast or a host callback?); {_FIX}"
        )
    return np.stack(outs)


def gradient(
    decl: PerSample, seed: Any, x: np.ndarray, request: dict[str, Any], static: tuple[Any, ...] = ()
) -> np.ndarray:
    """The VJP (``request["kind"]`` "vjp", along ``request["direction"]`` shaped like the output) or
    the JVP ("jvp", along a direction shaped like ``x``) of the per-sample loop with respect to
    the batch: in float64 (``request["precision"]`` "oracle") or as made ("reference")."""
    import contextlib

    import jax.numpy as jnp

    made, graphdef, state = _split(decl, seed, x, static)
    exact = request.get("precision") == "oracle"
    kind = request["kind"]
    direction = np.asarray(request["direction"])
    with _Float64() if exact else contextlib.nullcontext():
        model_state = _wide_state(state) if exact else state
        xs = jnp.asarray(x, jnp.float64) if exact else jnp.asarray(x)
        if xs.shape[0] == 0:  # a gradient of an empty batch is empty: shaped like x, or the output
            model = _wide(graphdef, state) if exact else made
            shape = (
                xs.shape
                if kind == "vjp"
                else (0, *sample_output(decl, model, xs.shape[1:], xs.dtype, wide=exact).shape)
            )
            return np.zeros(shape, xs.dtype)
        one = per_sample(decl, graphdef, kind, wide=exact)
        rows = [one(model_state, xs[i], jnp.asarray(direction[i])) for i in range(xs.shape[0])]
        return np.asarray(jnp.stack(rows))


def oracle(decl: PerSample) -> Callable[..., Any]:
    """``fn(seed, x_batch, request)``, what the runner asks of a per-sample subject's worker:

    * ``"oracle"`` -- the float64 oracle (:func:`forward`);
    * ``"reference"`` -- the float32 references, stacked: the loop and the ``nnx.vmap`` lift on
      the model as made, in the run's precision;
    * ``"loop"``, ``"nnx_vmap"``, ``"manual_lift"`` -- a free reference, for the panel;
    * ``"make"`` -- build the model of these arguments, nothing else (an empty array);
    * a dict -- a gradient of the oracle or of the reference (:func:`gradient`);
    * ``"describe"`` -- the declaration as plain data (the bytes of its JSON), once
      :func:`probe` has seen it work.

    A module that does not compute in float64, or draws random numbers without declaring it,
    is a ValueError saying so.
    """

    def fn(seed: Any, x_batch: Any, request: Any = "oracle", *static: Any) -> Any:
        if isinstance(request, dict):
            return gradient(decl, seed, np.asarray(x_batch), request, static)
        if request == "describe":
            found = probe(decl)
            return np.frombuffer(json.dumps({**decl.describe(), **found}).encode(), np.uint8).copy()
        if request == "reference":  # the loop and the nnx.vmap lift: the tolerance takes the farther
            return np.stack(
                [np.asarray(REFERENCES[name](decl)(seed, x_batch, *static)) for name in TOLERANCE_REFERENCES]
            )
        if request in REFERENCES:
            return REFERENCES[request](decl)(seed, x_batch, *static)
        if request == "make":  # does make build the model of these arguments? (raises if not)
            make_model(decl, seed, x_batch, static)
            return np.zeros((0,), np.float32)
        return forward(decl, seed, np.asarray(x_batch), static)

    return fn


#: How to fix a per-sample call that cannot give the float64 oracle.
_FIX = (
    "the oracle needs float64: remove the cast, or give conformance.per_sample an "
    "oracle=lambda model, x: ... that computes one sample's output in float64"
)


def _which(decl: PerSample) -> str:
    """The per-sample function the float64 oracle runs, in words."""
    return "oracle" if decl.oracle is not None else "call"


def probe(decl: PerSample) -> dict[str, Any]:
    """Build the model and call it on a batch of two small samples (each dimension at its second
    size, each static argument at its first value), in the run's precision and in float64;
    ValueError saying what is wrong with the declaration and how to fix it. Returns what it
    found out: ``{"seed_used": whether make draws other parameters for another seed}``."""
    from conformance.base.declaration import Dim

    dims = {n: (lambda s: s[min(1, len(s) - 1)])(decl.dims.get(n, Dim()).sizes()) for n in decl.sample}
    static = tuple(values[0] for values in decl.static.values())
    x = np.random.default_rng(0).standard_normal((2, *dims.values())).astype(np.float32)
    where = f"a batch of two samples of shape {tuple(dims.values())} (dims {dims}"
    where += "".join(f", {n}={v!r}" for n, v in decl.static_of(static).items()) + ")"
    try:
        _an_array(decl.call(make_model(decl, 0, x, static), x[0]), f" on {where}")
        reference = np.asarray(loop(decl)(0, x, *static))
    except ValueError:
        raise
    except Exception as e:
        raise ValueError(
            f"the declaration fails on {where}: make or call raised {type(e).__name__}: {e}"
        ) from None
    which = _which(decl)
    try:
        base = forward(decl, 0, x, static)
        wide, direction = x.astype(np.float64), np.random.default_rng(1).standard_normal(x.shape)
        finer = forward(decl, 0, wide * (1 + 2.0**-40 * direction), static)  # below float32's resolution
        coarser = forward(decl, 0, wide * (1 + 2.0**-16 * direction), static)
    except ValueError:
        raise
    except Exception as e:
        raise ValueError(
            f"the per-sample {which} cannot run in float64 on {where}: {type(e).__name__}: {e} "
            f"(give the subject dtypes it can run in; {_FIX})"
        ) from None
    if base.shape != reference.shape:
        raise ValueError(
            f"the per-sample oracle gives one sample's output of shape {base.shape[1:]}, call of shape "
            f"{reference.shape[1:]}, on {where}: the oracle must compute what call computes"
        )
    scale = float(np.max(np.abs(base), initial=0.0))
    gap = float(np.max(np.abs(base - reference.astype(np.float64)), initial=0.0))
    if decl.randomness is None and np.isfinite(gap) and gap > 1e-2 * max(scale, 1.0):
        raise ValueError(
            f"the float64 {which} and the float32 call disagree by {gap:.3g} (outputs up to "
            f"{scale:.3g}) on {where}: the oracle must compute what call computes"
        )
    # In float64 the output moves in proportion to the input: a change 2**-24 times smaller moves
    # it 2**-24 times less. Where it moves much less, the input was rounded to float32 on the way.
    coarse, fine = np.abs(coarser - base), np.abs(finer - base)
    # elements that move well above float64's own rounding of them under the smaller change
    seen = (coarse > 1e-3 * coarse.max(initial=0.0)) & (coarse * 2.0**-24 > 2.0**-44 * np.abs(base))
    if np.any(seen) and np.min(fine[seen] / (coarse[seen] * 2.0**-24)) < 0.5:
        raise ValueError(
            f"the per-sample {which} does not compute in float64 on {where}: it ignores input changes "
            f"below float32's resolution (a hard-coded cast to float32?); {_FIX}"
        )
    return {"seed_used": _seed_used(decl, x, static)}


def _seed_used(decl: PerSample, x: np.ndarray, static: tuple[Any, ...]) -> bool:
    """Whether ``make`` builds another model (other parameters, other random state) for seeds 0
    and 1: a module that ignores its seed has nothing for seed_sensitivity to check."""
    import jax
    from flax import nnx

    def bits(leaf: Any) -> np.ndarray:  # a typed PRNG key has no numpy form: its data does
        dtype = getattr(leaf, "dtype", None)
        if dtype is not None and jax.dtypes.issubdtype(dtype, jax.dtypes.prng_key):
            leaf = jax.random.key_data(leaf)
        return np.asarray(leaf)

    states = [jax.tree.leaves(nnx.state(make_model(decl, seed, x, static))) for seed in (0, 1)]
    return len(states[0]) != len(states[1]) or any(
        not np.array_equal(bits(a), bits(b)) for a, b in zip(*states, strict=True)
    )
