"""The strategies of the forward properties' cases: what each property draws."""

from __future__ import annotations

import numpy as np
from hypothesis import assume
from hypothesis import strategies as st

import strategies as S
from conformance.cases import golden as goldens
from conformance.properties.registry import Case
from conformance.subjects import StrategyConfig, Subject


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


#: Its arguments are one_call's (the same seed draws the same ones): the first of its identical
#: calls is then one the run has already made for the properties of one call.
repeated_calls.same_args_as = one_call  # type: ignore[attr-defined]


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


#: Its arguments are batch_edits' (before a silent input gets values): the first of its two
#: calls is usually batch_independence's call on the whole batch.
seed_pairs.same_args_as = batch_edits  # type: ignore[attr-defined]


def golden_list(subject: Subject, x64: bool = False) -> list[Case]:
    names = goldens.case_ids(subject.name)
    return [{"golden": i, "args": goldens.golden_args(subject.name, i)} for i in names]


def golden_cases(subject: Subject, config: StrategyConfig) -> st.SearchStrategy[Case]:
    return st.sampled_from(golden_list(subject))


def invalid_calls(subject: Subject, config: StrategyConfig) -> st.SearchStrategy[Case]:
    return subject.invalid_args().map(lambda t: {"args": t[0], "argument": t[1], "what": t[2]})


#: Identical samples in the batch that :func:`identical_rows` builds: with every sample drawing
#: its own mask, all of them alike by chance is rarer than one in 2**31 for any draw that can
#: come out two ways with even chances.
IDENTICAL_ROWS = 32


def identical_rows(subject: Subject, config: StrategyConfig) -> st.SearchStrategy[Case]:
    """One sample repeated :data:`IDENTICAL_ROWS` times: a batch whose rows can differ only by
    what the module draws."""

    @st.composite
    def repeated(draw: st.DrawFn) -> Case:
        args = draw(subject.valid_args(config, 1, 1))
        x = args[subject.batch_arg]
        same = np.repeat(x.values[:1], IDENTICAL_ROWS, axis=0)
        other = draw(S.related_seeds(args[subject.seed_arg], x64=config.x64))
        return {"args": {**args, subject.batch_arg: x.with_values(same)}, "other_seed": other}

    return repeated()
