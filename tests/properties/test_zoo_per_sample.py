"""Per-sample subjects: every example's correct rewrites conform, every broken one is caught by the
property named for it, with a minimal counterexample (tests/zoo/per_sample.py, examples/).

Under the ``ci`` profile, as ``python -m conformance check --subject examples/NAME.py:NAME
--profile ci`` would; the user's code runs in workers (``isolation="process"``).
"""

from __future__ import annotations

import pytest

from tests.helpers import check, fast_sample
from tests.zoo.per_sample import BROKEN, CORRECT

#: The property each broken rewrite must fail.
CAUGHT_BY = {
    "mlp_norm_over_batch": "batch_independence",
    "mlp_norm_over_batch_axis": "batch_independence",
    "mlp_exact_gelu": "agrees_with_oracle",
    "mlp_residual_on_wrong_axis": "agrees_with_oracle",
    "conv_pads_across_batch": "batch_independence",
    "conv_same_padding": "agrees_with_oracle",
    "conv_flipped_kernel": "agrees_with_oracle",
    "conv_chunks_without_carry": "agrees_with_oracle",
    "attention_positions_across_batch": "batch_independence",
    "attention_softmax_wrong_axis": "agrees_with_oracle",
    "attention_mask_one_ahead": "agrees_with_oracle",
    "dropout_shared_mask": "randomness_as_declared",
    "dropout_no_rescale": "randomness_as_declared",
    "dropout_fixed_key": "randomness_as_declared",
    "head_no_max_subtraction": "output_contract",
    "head_over_batch_axis": "batch_independence",
}
CASES = [(name, CAUGHT_BY[name]) for name in BROKEN]
#: The fast tier's sample: the GELU swap (a 3e-4 difference), a cross-batch leak, the shared mask.
FAST = {
    ("mlp_exact_gelu", "agrees_with_oracle"),
    ("conv_pads_across_batch", "batch_independence"),
    ("dropout_shared_mask", "randomness_as_declared"),
}


def _subject(example: str) -> str:
    return f"examples/{example}.py:{example}"


def test_every_broken_rewrite_names_the_property_that_catches_it() -> None:
    assert set(CAUGHT_BY) == set(BROKEN)


@pytest.mark.parametrize(("name", "prop"), fast_sample(CASES, FAST), ids=[f"{n}-{p}" for n, p in CASES])
def test_broken_rewrite_is_caught(name: str, prop: str) -> None:
    _, example = BROKEN[name]
    result = check(f"tests/zoo/per_sample.py:{name}", (prop,), subject=_subject(example), isolation="process")
    (cell,) = result.properties
    assert cell.status == "fail", f"{prop} did not catch {name}: {cell.status} {cell.message}"
    assert cell.counterexample is not None and cell.counterexample["summary"]
    assert cell.replay is not None and f"--subject {_subject(example)}" in cell.replay


@pytest.mark.slow
@pytest.mark.parametrize(
    ("example", "rewrite"), [(e, fn.__name__) for e, fns in CORRECT.items() for fn in fns]
)
def test_correct_rewrite_passes_every_property(example: str, rewrite: str) -> None:
    # the default check: how a rewrite refuses invalid input is --strict's business
    result = check(
        f"examples/{example}.py:{rewrite}", subject=_subject(example), isolation="process", strict=False
    )
    problems = [
        (c.property, c.status, c.message[:300]) for c in result.properties if c.status not in ("pass", "skip")
    ]
    assert not problems
    assert result.passed


@pytest.mark.slow
@pytest.mark.parametrize("example", sorted(CORRECT))
def test_the_free_references_conform(example: str) -> None:
    """With no --impl, the loop, the nnx.vmap lift and the manual lift are checked, and conform."""
    from conformance.run import engine

    report = engine.check([], subject=_subject(example), profile="dev", corpus=None, max_examples=5)
    assert [i.name for i in report.implementations] == ["loop", "nnx_vmap", "manual_lift"]
    for impl in report.implementations:
        assert impl.passed, [(c.property, c.status, c.message[:200]) for c in impl.properties]
