"""The properties. Each is one short function named after its claim, plus the strategy of its cases.

A property takes a :class:`~conformance.context.Context` and a *case* (a dict of
drawn values, JSON-encodable for replay) and raises
:class:`~conformance.context.PropertyFailure` when the implementation breaks it.
None of them names ``vmap_over_batch``: they ask the subject.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import chex
import numpy as np
from hypothesis import assume
from hypothesis import strategies as st

import strategies as S
from conformance import golden as goldens
from conformance import tolerance, transforms
from conformance.calls import CallResult
from conformance.context import Context, PropertyFailure, PropertySkip, usable_output
from conformance.gradients import encode_direction
from conformance.subjects import Args, StrategyConfig, Subject, args_key
from conformance.tolerance import assert_close

Case = dict[str, Any]


@dataclass(frozen=True)
class Property:
    name: str
    #: raises PropertyFailure (or PropertySkip: not checkable in this run); may return a note
    #: on what it checked, which a passing cell carries as its message
    check: Callable[[Context, Case], str | None]
    cases: Callable[[Subject, StrategyConfig], st.SearchStrategy[Case]]
    #: "always", or "strict": external implementations are checked only with --strict
    external: str = "always"
    #: cases every run checks first, whatever it draws: (subject, x64) -> cases
    fixed: Callable[[Subject, bool], list[Case]] | None = None
    #: whether the profile's per-edge searches apply (not for fixed, checked-in cases); a tuple
    #: of edge names: only those (a costly property that must still reach them by construction)
    edges: bool | tuple[str, ...] = True
    #: "forward" (claims about calling it) or "transform" (under jit, grad, vmap, sharding, modes)
    group: str = "forward"
    #: the share of the profile's examples its search over the whole domain runs (at least one):
    #: less than 1 for a property whose every new shape costs a compilation of a transform
    share: float = 1.0
    #: the claim needs input with signal: the subject's silent edges are out of its reach
    needs_signal: bool = False
    #: the profile's tile edges (sizes just below and above common tile sizes) apply too:
    #: each is a new, large shape, so only a claim on every value opts in
    tiles: bool = False

    @property
    def claim(self) -> str:
        return (self.check.__doc__ or "").strip().splitlines()[0]


PROPERTIES: dict[str, Property] = {}


#: The groups of properties, in report order, with what they claim.
GROUPS = {
    "forward": "claims about calling the implementation (values, shapes, seeds, inputs)",
    "transform": "claims under JAX transforms (jit, grad, vmap, sharding, compilation, NNX modes)",
}


def prop(
    cases: Callable[[Subject, StrategyConfig], st.SearchStrategy[Case]],
    external: str = "always",
    fixed: Callable[[Subject, bool], list[Case]] | None = None,
    group: str = "forward",
    edges: bool | tuple[str, ...] | None = None,
    share: float = 1.0,
    needs_signal: bool = False,
    tiles: bool = False,
) -> Callable[[Callable[[Context, Case], None]], Callable[[Context, Case], None]]:
    """Register the decorated check as a property named after it (its docstring's first line
    is the claim). ``edges``: whether the per-edge searches apply (default: unless ``fixed``),
    or the names of the only edges searched; ``share``: of the profile's examples; ``tiles``:
    the tile edges too."""
    assert group in GROUPS, group

    def register(fn: Callable[[Context, Case], None]) -> Callable[[Context, Case], None]:
        use_edges = fixed is None if edges is None else edges
        PROPERTIES[fn.__name__] = Property(
            fn.__name__,
            fn,
            cases,
            external,
            fixed,
            use_edges,
            group,
            share=share,
            needs_signal=needs_signal,
            tiles=tiles,
        )
        return fn

    return register


# --------------------------------------------------------------------------- case strategies


def one_call(subject: Subject, config: StrategyConfig) -> st.SearchStrategy[Case]:
    return st.fixed_dictionaries({"args": subject.valid_args(config, 0, 1)})


def ensemble_calls(subject: Subject, config: StrategyConfig) -> st.SearchStrategy[Case]:
    """One call with at least two members and one row, on input that carries signal."""
    return st.fixed_dictionaries({"args": subject.valid_args(config, 1, 2).filter(subject.has_signal)})


def _part_sizes(config: StrategyConfig, batch: int) -> st.SearchStrategy[int]:
    if isinstance(config.pool, S.ShapePool):
        sizes = [b for b in config.pool.batch if 0 < b < batch]
        if sizes:
            return st.sampled_from(sizes)
    return st.integers(1, batch - 1)


@st.composite
def batch_edits(draw: st.DrawFn, subject: Subject, config: StrategyConfig) -> Case:
    args = draw(subject.valid_args(config, 1, 1))
    batch = subject.batch_size(args)
    return {
        "args": args,
        "row": draw(st.integers(0, batch - 1)),
        # The size of the prefix and of the suffix checked on their own: a size the
        # run has already compiled for when the shapes come from a pool.
        "split": draw(_part_sizes(config, batch)) if batch > 1 else 0,
        "replacement_seed": draw(st.integers(0, 2**32 - 1)),
        "permutation_seed": draw(st.integers(0, 2**32 - 1)),
    }


@st.composite
def repeated_calls(draw: st.DrawFn, subject: Subject, config: StrategyConfig) -> Case:
    args = draw(subject.valid_args(config, 0, 1))
    return {
        "args": args,
        "other_seed": draw(S.related_seeds(args[subject.seed_arg], x64=config.x64)),
        "other_args": draw(subject.valid_args(config, 0, 1)),
    }


@st.composite
def seed_pairs(draw: st.DrawFn, subject: Subject, config: StrategyConfig) -> Case:
    args = draw(subject.valid_args(config, 1, 1))
    if not subject.has_signal(args):
        # Zero input hides the seed: give it ordinary values (cheaper than filtering,
        # which would reject a whole edge such as "family zeros" one draw at a time).
        x = args[subject.batch_arg]
        values = S.make_values(x.shape, x.dtype.name, "ordinary", draw(st.integers(0, 2**32 - 1)))
        args = {**args, subject.batch_arg: S.KindedArray(values, x.kind, "ordinary")}
        assume(subject.has_signal(args))  # some inputs carry no signal whatever their values
    return {"args": args, "other_seed": draw(S.related_seeds(args[subject.seed_arg], x64=config.x64))}


def _golden_list(subject: Subject, x64: bool = False) -> list[Case]:
    names = goldens.case_ids(subject.name)
    return [{"golden": i, "args": goldens.golden_args(subject.name, i)} for i in names]


def golden_cases(subject: Subject, config: StrategyConfig) -> st.SearchStrategy[Case]:
    return st.sampled_from(_golden_list(subject))


def invalid_calls(subject: Subject, config: StrategyConfig) -> st.SearchStrategy[Case]:
    return subject.invalid_args().map(lambda t: {"args": t[0], "argument": t[1], "what": t[2]})


# --------------------------------------------------------------------------- helpers


def _typical(expected: Any, times: float = 1.0) -> np.ndarray | None:
    """``times`` the probabilistic model's bound of ``expected``, for the headroom probe only
    (``assert_close(typical=...)``): a pass beyond it gets a warning, never a failure."""
    probable = getattr(expected, "probable", None)
    return None if probable is None else times * probable


def _locator(subject: Subject, args: Args) -> Callable[[int], str]:
    return lambda i: subject.locate(i, args)


def _row_locator(subject: Subject, args: Args, axis: str = "row", offset: int = 0) -> Callable[[int], str]:
    """For outputs viewed as (``axis``, rest), e.g. :meth:`Subject.output_rows`."""
    return lambda i: subject.locate_in(axis, offset + i, args)


def _check(what: str, assertion: Callable[[], None]) -> None:
    try:
        assertion()
    except AssertionError as e:
        text = " ".join(str(e).replace("[Chex]", "").split())
        raise PropertyFailure(f"{what}: {text}") from None


# --------------------------------------------------------------------------- properties


@prop(one_call)
def output_contract(ctx: Context, case: Case) -> None:
    """Returns a jax.Array or np.ndarray, 1-D, of the promoted dtype, finite for finite inputs."""
    args = case["args"]
    expected = ctx.expected(args)
    result = ctx.call(args)
    if result.status != "ok":
        raise PropertyFailure(f"the call {result.describe_failure()}")
    if result.output_type not in ("jax.Array", "numpy.ndarray"):
        raise PropertyFailure(f"returned {result.output_type}, expected a jax.Array or numpy.ndarray")
    out = result.output
    _check("not 1-D", lambda: chex.assert_rank(out, 1))
    _check(f"wrong shape (expected {expected.shape})", lambda: chex.assert_shape(out, expected.shape))
    _check(
        f"wrong dtype (expected {expected.dtype.name}, JAX's promotion of "
        f"{args[ctx.subject.batch_arg].dtype.name} with float32 parameters)",
        lambda: chex.assert_type(out, expected.dtype),
    )
    if np.all(np.isfinite(expected.value)):
        _check("non-finite output for finite input", lambda: chex.assert_tree_all_finite(out))


@prop(one_call, tiles=True)
def agrees_with_oracle(ctx: Context, case: Case) -> None:
    """Every element lies within the floating-point error bound of the float64 oracle."""
    args = case["args"]
    expected = ctx.expected(args)
    out = ctx.output(args)
    assert_close(
        out,
        expected.value,
        expected.bound,
        "disagrees with the float64 oracle",
        _locator(ctx.subject, args),
        typical=_typical(expected),
    )


@prop(one_call)
def agrees_with_builtins(ctx: Context, case: Case) -> None:
    """Agrees with every built-in implementation that itself agrees with the oracle on this input."""
    args = case["args"]
    expected = ctx.expected(args)
    out = ctx.output(args)
    for name in ctx.panel:
        try:
            theirs = usable_output(ctx.panel_output(name, args), expected)
            assert_close(theirs, expected.value, expected.bound, "reference", record=False)
        except PropertyFailure:
            continue  # a reference that is itself off here is no witness (its own row shows it)
        assert_close(
            out,
            theirs.astype(np.float64),
            2 * expected.bound,
            f"disagrees with built-in {name!r}",
            _locator(ctx.subject, args),
            typical=_typical(expected, 2),
        )


@prop(batch_edits)
def batch_independence(ctx: Context, case: Case) -> None:
    """Each output row depends on its own input row only: sub-batches and edits of other rows agree."""
    subject, args = ctx.subject, case["args"]
    expected = ctx.expected(args)
    full = subject.output_rows(ctx.output(args), args).astype(np.float64)
    allowed = 2 * subject.output_rows(expected.bound, args)
    typical = _typical(expected, 2)
    usual = allowed if typical is None else subject.output_rows(typical, args)
    batch, row, split = subject.batch_size(args), case["row"], case["split"]
    perm = np.random.default_rng(case["permutation_seed"]).permutation(batch)
    pieces = [(f"the single row [{row}]", np.array([row]))]
    if split:
        pieces += [
            (f"the prefix [:{split}]", np.arange(split)),
            (f"the suffix [{batch - split}:]", np.arange(batch - split, batch)),
        ]
    pieces.append((f"the permutation {perm.tolist()[:12]}{'...' if batch > 12 else ''}", perm))
    for label, rows in pieces:
        sub = subject.take_rows(args, rows)
        got = subject.output_rows(ctx.output(sub, f"the call on {label}"), sub)
        assert_close(
            got.reshape(-1),
            full[rows].reshape(-1),
            allowed[rows].reshape(-1),
            f"{label} of the batch gives other rows than the full batch",
            _row_locator(subject, args),
            typical=usual[rows].reshape(-1),
        )
    x = args[subject.batch_arg]
    new_row = S.make_values(x.shape[1:], x.dtype.name, "ordinary", case["replacement_seed"])
    edited = subject.replace_row(args, row, new_row)
    got = subject.output_rows(ctx.output(edited, f"the call with row {row} replaced"), edited)
    got = got.astype(np.float64)
    got[row] = full[row]  # the replaced row may change; every other row may not
    assert_close(
        got.reshape(-1),
        full.reshape(-1),
        allowed.reshape(-1),
        f"replacing input row {row} changed another output row",
        _row_locator(subject, args),
        typical=usual.reshape(-1),
    )


@prop(ensemble_calls, needs_signal=True)
def member_independence(ctx: Context, case: Case) -> None:
    """Each member's slice is that member's own layer applied to the shared input, and no other's."""
    subject, args = ctx.subject, case["args"]
    expected = ctx.expected(args)
    got = subject.output_members(ctx.output(args), args).astype(np.float64)
    want = subject.output_members(expected.value, args)
    allowed = subject.output_members(expected.bound, args)
    typical = _typical(expected)
    usual = allowed if typical is None else subject.output_members(typical, args)
    for m in range(got.shape[0]):
        locate = _row_locator(subject, args, "member", m * got.shape[1])
        closeness = tolerance.compare(got[m], want[m], allowed[m])
        if closeness.within:
            what = f"member {m}'s slice against member {m}'s layer"
            tolerance.observe(closeness, what, locate, tolerance.compare(got[m], want[m], usual[m]))
            continue
        explain = [
            j for j in range(got.shape[0]) if j != m and np.all(np.abs(got[m] - want[j]) <= allowed[j])
        ]
        mean = want.mean(axis=0)
        if explain:
            why = f"it equals member {explain[0]}'s layer on the input (not its own parameters)"
        elif np.all(np.abs(got[m] - mean) <= allowed.max(axis=0)):
            why = "it equals the mean over all members (members are mixed)"
        else:
            why = "it is no member's layer applied to the input"
        assert_close(
            got[m],
            want[m],
            allowed[m],
            f"member {m}'s slice is not member {m}'s layer on the shared input: {why}",
            locate,
        )


@prop(ensemble_calls, needs_signal=True)
def distinct_members(ctx: Context, case: Case) -> None:
    """Members have their own parameters: on input with signal, no two members' slices are identical."""
    subject, args = ctx.subject, case["args"]
    got = subject.output_members(ctx.output(args), args)
    for m in range(got.shape[0]):
        for j in range(m):
            if np.array_equal(got[m], got[j]):
                raise PropertyFailure(
                    f"members {j} and {m} give identical outputs on input with signal: the members "
                    "share their parameters (the rngs were not split per member)",
                    members=[j, m],
                )


@prop(repeated_calls)
def seed_determinism(ctx: Context, case: Case) -> None:
    """The same call gives bitwise-identical output, also after calls with other seeds and shapes."""
    subject, args = ctx.subject, case["args"]
    first = ctx.output(args, "the first call", fresh=True)
    again = ctx.output(args, "the second call", fresh=True)
    if first.tobytes() != again.tobytes():
        raise PropertyFailure(f"two identical calls in a row differ: {_first_difference(first, again)}")
    # In between: the same input with another seed, then other input with the same seed,
    # so a cache keyed on only some of the arguments is overwritten before the repeat.
    ctx.output({**args, subject.seed_arg: case["other_seed"]}, "the call with the other seed", fresh=True)
    other = {**case["other_args"], subject.seed_arg: args[subject.seed_arg]}
    ctx.output(other, "the call with other arguments", fresh=True)
    last = ctx.output(args, "the repeated call", fresh=True)
    if first.tobytes() != last.tobytes():
        raise PropertyFailure(
            "the same call gave other bits after calls with another seed and other arguments "
            f"(hidden state, or a cache that ignores an argument): {_first_difference(first, last)}"
        )


def _first_difference(a: np.ndarray, b: np.ndarray) -> str:
    if a.dtype != b.dtype or a.shape != b.shape:
        return f"{a.dtype}{list(a.shape)} then {b.dtype}{list(b.shape)}"
    bytes_a = a.view(np.uint8).reshape(a.size, -1)
    bytes_b = b.view(np.uint8).reshape(b.size, -1)
    i = int(np.flatnonzero((bytes_a != bytes_b).any(axis=1))[0])
    return f"first at index {i}: {float(a[i])!r} then {float(b[i])!r}"


@prop(seed_pairs, needs_signal=True)
def seed_sensitivity(ctx: Context, case: Case) -> None:
    """Seeds naming different streams (modulo 2**32 without x64) give different outputs on non-zero input."""
    subject, args = ctx.subject, case["args"]
    first = ctx.output(args)
    other = {**args, subject.seed_arg: case["other_seed"]}
    second = ctx.output(other, f"the call with seed {case['other_seed']}")
    if np.array_equal(first, second):
        raise PropertyFailure(
            f"seeds {args[subject.seed_arg]!r} and {case['other_seed']!r} give identical outputs "
            f"(they name different streams{'' if ctx.x64 else ' even modulo 2**32'}): "
            "the seed is ignored, truncated or wrapped"
        )


@prop(one_call)
def inputs_untouched(ctx: Context, case: Case) -> None:
    """A numpy input holds the same bytes afterwards; a jax input is neither deleted nor donated."""
    result = ctx.call(case["args"])
    if result.input_changes:
        raise PropertyFailure("; ".join(result.input_changes))
    if result.status != "ok":  # a call that did not return shows nothing about its inputs
        raise PropertyFailure(f"the call {result.describe_failure()}", call=result.status)


@prop(one_call)
def no_side_effects(ctx: Context, case: Case) -> None:
    """The call leaves JAX's global configuration as it was, and no thread or child process running."""
    result = ctx.call(case["args"])
    if result.side_effects:
        raise PropertyFailure("; ".join(result.side_effects))
    if result.status != "ok":  # never a pass on a call that did not return
        raise PropertyFailure(f"the call {result.describe_failure()}", call=result.status)


@prop(invalid_calls, external="strict")
def invalid_input_rejected(ctx: Context, case: Case) -> None:
    """Invalid input raises ValueError or TypeError with a message naming the bad argument."""
    result = ctx.call(case["args"])
    argument, what = case["argument"], case["what"]
    if result.status == "ok":
        shape = None if result.output is None else result.output.shape
        raise PropertyFailure(f"accepted invalid input ({what}) and returned {result.output_type} {shape}")
    if not result.raised_any(("ValueError", "TypeError")):
        raise PropertyFailure(
            f"on invalid input ({what}) {result.describe_failure()}; expected ValueError or TypeError"
        )
    if argument not in result.error_message:
        raise PropertyFailure(
            f"on invalid input ({what}) raised {result.error_type}: {result.error_message!r}, "
            f"which does not name the argument {argument!r}"
        )


@prop(golden_cases, fixed=_golden_list)
def golden(ctx: Context, case: Case) -> None:
    """On checked-in cases, matches the golden values recorded for this JAX line (within the bound)."""
    args = case["args"]
    out = ctx.output(args)
    verdict = goldens.compare(ctx.subject.name, case["golden"], out)
    if verdict.matched:
        return
    note = goldens.flag_note()
    if verdict.matched_group is not None or "expected_shape" in verdict.details:
        raise PropertyFailure(
            verdict.explanation + note, **verdict.details, matched_group=verdict.matched_group
        )
    # No known cause explains the numbers, or no goldens apply here (golden.BACKEND_DEFINED):
    # the oracle of the parameters this process draws tells a wrong computation from
    # parameters that moved.
    expected = ctx.expected(args)
    try:
        assert_close(
            out,
            expected.value,
            expected.bound,
            "It also disagrees with the float64 oracle of the parameters this process draws",
            _locator(ctx.subject, args),
            typical=_typical(expected),
        )
    except PropertyFailure as oracle:
        raise PropertyFailure(
            f"{verdict.explanation}. {oracle.message}{note}", **oracle.details, golden=verdict.details
        ) from None
    if not verdict.comparable:
        # Nothing here to compare with, and the oracle holds: a skip that says why, not a pass.
        raise PropertySkip(
            f"{verdict.explanation}. It agrees with the float64 oracle of the parameters this process draws"
        )
    raise PropertyFailure(
        f"{verdict.explanation}. It agrees with the float64 oracle of the parameters this process draws: "
        f"the parameters drawn for the seed moved, not the arithmetic.{note}",
        **verdict.details,
        matched_group=None,
    )


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
        _locator(subject, args),
        typical=_typical(expected, TRACED_BOUNDS),
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
    size = ctx.expected(args).value.size
    if result.output.shape != (k, size):
        raise PropertyFailure(
            f"{what}, returned shape {result.output.shape}, expected {(k, size)} (the outputs, stacked)"
        )
    for i, batch in enumerate(batches):
        one = {**args, subject.batch_arg: batch}
        eager = ctx.output(one, f"the eager call on batch {i}").astype(np.float64)
        assert_close(
            result.output[i],
            eager,
            2 * ctx.expected(one).bound,
            f"{what}, slice {i} differs from the eager call on batch {i}",
            _locator(subject, one),
            typical=_typical(ctx.expected(one), 2),
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
            _locator(subject, args),
            typical=_typical(expected, bounds),
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
            _locator(subject, args),
            typical=_typical(expected),
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
#: The axes of a gradient with respect to the batch, for failure messages.
GRADIENT_AXES = ("row", "input coordinate")


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
        assert_close(got, expected.value, expected.bound, what, locate, typical=_typical(expected))
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
    _agrees(got, expected, f"{what} disagrees with the float64 oracle", expected.shape, GRADIENT_AXES)


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
