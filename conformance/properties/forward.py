"""The forward group: claims about calling the implementation (values, shapes, seeds, inputs).

Each property is one short function named after its claim; its cases come from
:mod:`conformance.properties.cases`.

A property takes a :class:`~conformance.properties.context.Context` and a *case* (a dict of
drawn values, JSON-encodable for replay) and raises
:class:`~conformance.properties.context.PropertyFailure` when the implementation breaks it.
None of them names ``vmap_over_batch``: they ask the subject.
"""

from __future__ import annotations

import chex
import numpy as np

import strategies as S
from conformance.base.failures import PropertyFailure, PropertySkip
from conformance.cases import golden as goldens
from conformance.numerics import tolerance
from conformance.numerics.tolerance import assert_close
from conformance.properties.cases import (
    batch_edits,
    ensemble_calls,
    golden_cases,
    golden_list,
    identical_rows,
    invalid_calls,
    one_call,
    repeated_calls,
    seed_pairs,
)
from conformance.properties.context import (
    Context,
    check_that,
    locator,
    row_locator,
    typical_bound,
    usable_output,
)
from conformance.properties.registry import Case, prop
from conformance.subjects import Args

# --------------------------------------------------------------------------- properties


@prop(one_call)
def output_contract(ctx: Context, case: Case) -> None:
    """Returns a jax.Array or np.ndarray of the subject's shape and dtype, finite for finite inputs."""
    args = case["args"]
    expected = ctx.expected(args)
    result = ctx.call(args)
    if result.status != "ok":
        raise PropertyFailure(f"the call {result.describe_failure()}")
    if result.output_type not in ("jax.Array", "numpy.ndarray"):
        raise PropertyFailure(f"returned {result.output_type}, expected a jax.Array or numpy.ndarray")
    out = result.output
    rank = len(expected.shape)
    check_that(f"not {rank}-D" if rank != 1 else "not 1-D", lambda: chex.assert_rank(out, rank))
    check_that(f"wrong shape (expected {expected.shape})", lambda: chex.assert_shape(out, expected.shape))
    check_that(
        f"wrong dtype (expected {expected.dtype.name}, {ctx.subject.dtype_rule}; the input is "
        f"{args[ctx.subject.batch_arg].dtype.name})",
        lambda: chex.assert_type(out, expected.dtype),
    )
    if np.all(np.isfinite(expected.value)) and np.all(np.isfinite(expected.bound)):
        check_that("non-finite output for finite input", lambda: chex.assert_tree_all_finite(out))


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
        locator(ctx.subject, args),
        typical=typical_bound(expected),
    )


#: An output within this share of the oracle's bound agrees with every witness of the panel,
#: whatever it returns (see agrees_with_builtins); far below 1 - 2**-50, where float64
#: rounding of the differences could start to matter.
IMPLIED_BY_ORACLE = 1 - 2**-20


@prop(one_call)
def agrees_with_builtins(ctx: Context, case: Case) -> None:
    """Agrees with every built-in implementation that itself agrees with the oracle on this input.

    A built-in is a witness only where it lies within the oracle's bound B, and the claim
    allows 2 B. An output within B of the oracle is therefore within 2 B of every witness
    (the triangle inequality), and the built-ins need not run: they run only for an output
    off the oracle, to say which of them it disagrees with too.
    """
    args = case["args"]
    expected = ctx.expected(args)
    out = ctx.output(args)
    if tolerance.compare(out, expected.value, expected.bound).max_ratio <= IMPLIED_BY_ORACLE:
        return
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
            locator(ctx.subject, args),
            typical=typical_bound(expected, 2),
        )


@prop(batch_edits)
def batch_independence(ctx: Context, case: Case) -> None:
    """Each output row depends on its own input row only: sub-batches and edits of other rows agree."""
    subject, args = ctx.subject, case["args"]
    expected = ctx.expected(args)
    full = subject.output_rows(ctx.output(args), args).astype(np.float64)
    allowed = 2 * subject.output_rows(expected.bound, args)
    typical = typical_bound(expected, 2)
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
            row_locator(subject, args),
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
        row_locator(subject, args),
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
    typical = typical_bound(expected)
    usual = allowed if typical is None else subject.output_members(typical, args)
    for m in range(got.shape[0]):
        locate = row_locator(subject, args, "member", m * got.shape[1])
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
    """The same call gives bitwise-identical output when repeated after calls with other seeds and shapes."""
    subject, args = ctx.subject, case["args"]
    # Any earlier identical call of the run will do (other properties often made it already).
    first = ctx.output(args, "the first call")
    # In between: the same input with another seed, then other input with the same seed,
    # so a cache keyed on only some of the arguments is overwritten before the repeat.
    ctx.output({**args, subject.seed_arg: case["other_seed"]}, "the call with the other seed", fresh=True)
    other = {**case["other_args"], subject.seed_arg: args[subject.seed_arg]}
    ctx.output(other, "the call with other arguments", fresh=True)
    last = ctx.output(args, "the repeated call", fresh=True)
    if first.tobytes() == last.tobytes():
        return
    # Which cause: one more identical call, right after the repeat, tells them apart (made only
    # on a failure: a fifth call on every passing example was a fifth of this property's time).
    again = ctx.output(args, "the call right after the repeated one", fresh=True)
    if last.tobytes() != again.tobytes():
        raise PropertyFailure(f"two identical calls in a row differ: {_first_difference(last, again)}")
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
def seed_sensitivity(ctx: Context, case: Case) -> str | None:
    """Seeds naming different streams (modulo 2**32 without x64) give different outputs on non-zero input."""
    subject, args = ctx.subject, case["args"]
    other = {**args, subject.seed_arg: case["other_seed"]}
    if subject.reference_defined and np.array_equal(ctx.expected(args).value, ctx.expected(other).value):
        return "on some inputs the per-sample reference itself gives both seeds the same output"
    first = ctx.output(args)
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


@prop(golden_cases, fixed=golden_list)
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
            locator(ctx.subject, args),
            typical=typical_bound(expected),
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


#: How many standard errors apart a sample mean may lie from the reference's before the
#: difference is a finding (two-sided, per element: about 2e-9 by chance).
STANDARD_ERRORS = 6.0


@prop(identical_rows, edges=False)
def randomness_as_declared(ctx: Context, case: Case) -> None:
    """Identical samples get their own draws (randomness "different") or the same ones ("same").

    A batch of one sample repeated: with "different", its output rows must not all be alike,
    the share of zero outputs and each element's mean over the rows must match the per-sample
    loop's (the free reference ``loop``) within a few standard errors, and another seed must
    not zero the very same outputs; with "same", the rows must agree within the tolerance.
    """
    subject, args = ctx.subject, case["args"]
    rows = subject.output_rows(ctx.output(args), args).astype(np.float64)
    loop = _loop_rows(ctx, args)
    alike = bool(np.all(rows == rows[:1]))
    if subject.randomness == "same":
        spread = np.abs(rows - rows[:1]).max(initial=0.0)
        allowed = float(ctx.expected(args).bound.max(initial=0.0))
        if spread > allowed:
            raise PropertyFailure(
                f"declared randomness 'same', but {len(rows)} identical samples got different draws: "
                f"rows differ by up to {spread:.3g} (allowed {allowed:.3g})"
            )
        return
    if alike and not np.all(loop == loop[:1]):
        raise PropertyFailure(
            f"declared randomness 'different', but {len(rows)} identical samples got the same draws "
            "(every output row is the same): one draw shared by the whole batch, as nnx.vmap with "
            "in_axes=(None, 0) gives; split the random state per sample (nnx.split_rngs, StateAxes)"
        )
    for what, got, want in (
        ("the share of zero outputs", rows == 0, loop == 0),
        ("the mean output", rows, loop),
    ):
        _same_distribution(what, got.astype(np.float64), want.astype(np.float64))
    other = {**args, subject.seed_arg: case["other_seed"]}
    zeros = subject.output_rows(ctx.output(other, f"the call with seed {case['other_seed']}"), other) == 0
    if np.array_equal(zeros, rows == 0) and not np.array_equal(_loop_rows(ctx, other) == 0, loop == 0):
        raise PropertyFailure(
            f"seeds {args[subject.seed_arg]!r} and {case['other_seed']!r} zero the same outputs in all "
            f"{len(rows)} rows: the draws do not depend on the seed (a fixed key?)"
        )


def _loop_rows(ctx: Context, args: Args) -> np.ndarray:
    """The per-sample loop's output rows (the free reference; the call itself when it is the loop)."""
    witness = ctx.panel_output("loop", args) if "loop" in ctx.panel else ctx.call(args)
    out = usable_output(witness, ctx.expected(args), "the per-sample loop")
    return ctx.subject.output_rows(out, args).astype(np.float64)


def _same_distribution(what: str, got: np.ndarray, want: np.ndarray) -> None:
    """Per element, the mean over the rows of ``got`` lies within :data:`STANDARD_ERRORS` standard
    errors of ``want``'s (both are samples of the per-sample draws)."""
    n = got.shape[0]
    diff = np.abs(got.mean(axis=0) - want.mean(axis=0))
    error = np.sqrt((got.var(axis=0) + want.var(axis=0)) / max(n - 1, 1))
    scale = np.maximum(np.abs(want).max(axis=0), 1e-30)
    off = diff > STANDARD_ERRORS * error + 1e-5 * scale
    if np.any(off):
        i = int(np.argmax(off))
        raise PropertyFailure(
            f"{what} over {n} identical samples differs from the per-sample loop's at element {i}: "
            f"{got.mean(axis=0)[i]:.4g} against {want.mean(axis=0)[i]:.4g} "
            f"(more than {STANDARD_ERRORS:g} standard errors apart)"
        )
