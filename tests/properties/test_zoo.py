"""Every broken implementation is caught by the property named for it; every correct one passes all.

Both run under the ``ci`` profile, as ``python -m conformance check --profile ci``
would: a property that cannot catch its bug here is a defect of the suite.
"""

from __future__ import annotations

import pytest

from conformance.subjects import FORWARD_TRANSFORM_PROPERTIES, GRADIENT_PROPERTIES, VMAP_OVER_BATCH
from tests.helpers import check, fast_sample
from tests.zoo import gradients, transforms
from tests.zoo.broken import BROKEN, NEEDS_ISOLATION
from tests.zoo.correct import CORRECT

#: The properties this zoo's correct implementations must pass: the gradient properties have
#: their own zoo (tests/zoo/gradients.py); float64_compute and chunked go through numpy and
#: have no derivative. Nor are they traceable: forward-only (--group forward), so the forward
#: transform properties have their zoo too (tests/zoo/transforms.py).
FORWARD_ZOO_PROPERTIES = tuple(
    p for p in VMAP_OVER_BATCH.properties if p not in GRADIENT_PROPERTIES + FORWARD_TRANSFORM_PROPERTIES
)

CAUGHT = [(name, prop) for name, (_, props) in BROKEN.items() for prop in props]
#: The fast tier's sample, one or two bugs per property; the slow tier catches the whole zoo.
FAST = {
    ("not_flattened", "output_contract"),
    ("keeps_input_dtype", "output_contract"),
    ("seed_plus_one", "agrees_with_oracle"),
    ("transposed_square_kernel", "agrees_with_oracle"),
    ("feature_major", "agrees_with_builtins"),
    ("ignores_seed", "seed_sensitivity"),
    ("seed_low_16_bits", "seed_sensitivity"),
    ("batch_mean_leaks", "batch_independence"),
    ("first_row_everywhere", "batch_independence"),
    ("reuses_rngs_stream", "seed_determinism"),
    ("global_counter_seed", "seed_determinism"),
    ("zeroes_numpy_input", "inputs_untouched"),
    ("starts_a_prefetch_thread", "no_side_effects"),
    ("deletes_jax_input", "inputs_untouched"),
    ("vague_errors", "invalid_input_rejected"),
    ("other_threefry", "golden"),
}


@pytest.mark.parametrize(("name", "prop"), fast_sample(CAUGHT, FAST), ids=[f"{n}-{p}" for n, p in CAUGHT])
def test_broken_implementation_is_caught(name: str, prop: str) -> None:
    isolated = name in NEEDS_ISOLATION
    result = check(
        f"{name}=tests.zoo.broken:{name}",
        (prop,),
        isolation="process" if isolated else "trusted",
        timeout=5 if isolated else None,
    )
    (cell,) = result.properties
    assert cell.status == "fail", f"{prop} did not catch {name}: {cell.status} {cell.message}"
    assert cell.message
    assert cell.counterexample is not None and cell.counterexample["summary"]
    assert cell.replay is not None and f"--property {prop}" in cell.replay
    assert not result.passed


@pytest.mark.parametrize(
    ("name", "cause"),
    [
        ("global_counter_seed", "two identical calls in a row differ"),
        ("drifts_when_the_seed_changes", "other bits after calls with another seed and other arguments"),
    ],
)
def test_seed_determinism_names_the_cause(name: str, cause: str) -> None:
    """Noise and hidden state fail the same claim; the message says which of the two it was."""
    (cell,) = check(f"{name}=tests.zoo.broken:{name}", ("seed_determinism",)).properties
    assert cell.status == "fail"
    assert cause in cell.message, cell.message


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CORRECT))
def test_correct_implementation_passes_every_property(name: str) -> None:
    result = check(f"{name}=tests.zoo.correct:{name}", FORWARD_ZOO_PROPERTIES)
    problems = [(c.property, c.status, c.message) for c in result.properties if c.status != "pass"]
    assert not problems
    assert [c.property for c in result.properties] == list(FORWARD_ZOO_PROPERTIES)


def test_every_property_has_a_bug_it_must_catch() -> None:
    named = {prop for _, props in BROKEN.values() for prop in props}
    named |= {prop for _, props in gradients.BROKEN[VMAP_OVER_BATCH.name].values() for prop in props}
    named |= {prop for _, prop, _ in transforms.BROKEN[VMAP_OVER_BATCH.name].values()}
    assert named == set(VMAP_OVER_BATCH.properties)


@pytest.mark.slow
def test_every_broken_implementation_fails_something_in_a_full_run() -> None:
    """The zoo's bugs are real: the reference panel itself never shows up in them."""
    assert set(BROKEN).isdisjoint(CORRECT)
    for name in ("seed_plus_one", "batch_mean_leaks"):
        result = check(f"{name}=tests.zoo.broken:{name}", profile="dev", max_examples=5)
        assert not result.passed
