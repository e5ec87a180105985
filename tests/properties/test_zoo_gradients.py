"""The gradient zoo under ``--profile ci``: each broken gradient is caught by the property named
for it, the correct ones (the built-ins, hand-written ``custom_vjp`` and ``custom_jvp`` rules) pass.

Every implementation runs in a worker process, as a user's would. The zoo's forward outputs
are the built-ins' to the bit (tested here too), so only the gradient properties can tell.
The full zoo is in the slow tier; two representatives run in the fast one: a backward pass
wrong only in rows past 64 (which only a batch above 64 rows shows: the ``ci`` run must reach
one by construction) and a correct ``custom_vjp``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from conformance.cases import codec
from conformance.run import engine
from conformance.subjects import GRADIENT_PROPERTIES, get_subject
from impl import registry
from tests.helpers import check
from tests.zoo import gradients
from tests.zoo.gradients import BROKEN, CORRECT, JVP, REFERENCES, VJP

CAUGHT = [
    (subject, name, prop)
    for subject, table in BROKEN.items()
    for name, (_, props) in table.items()
    for prop in props
]
#: Run in the fast tier too.
FAST = {("vmap_over_batch", "backward_drops_rows_past_64", VJP)}
#: What the failure message must say, beyond the oracle's grammar.
SAYS = {
    ("vmap_over_batch", "stop_gradient", VJP): "zero everywhere",
    ("vmap_over_batch", "stop_gradient", JVP): "zero everywhere",
    ("vmap_over_batch", "doubled_backward", VJP): "2 x the oracle's",
    ("vmap_over_batch", "backward_drops_rows_past_64", VJP): "only row 64",
    ("vmap_over_ensemble", "ensemble_backward_drops_rows_past_64", VJP): "only row 64",
    ("vmap_anchored", "anchored_backward_ignores_anchor", VJP): "input coordinate 0)",
}


def _spec(name: str) -> str:
    return f"{name}=tests.zoo.gradients:{name}"


def _case(cell: Any) -> dict[str, Any]:
    return codec.decode(cell.counterexample["case"])


@pytest.mark.parametrize(
    ("subject", "name", "prop"),
    [pytest.param(*c, marks=() if c in FAST else pytest.mark.slow) for c in CAUGHT],
    ids=[f"{s}-{n}-{p}" for s, n, p in CAUGHT],
)
def test_broken_gradient_is_caught(subject: str, name: str, prop: str) -> None:
    result = check(_spec(name), (prop,), subject=subject, isolation="process")
    (cell,) = result.properties
    assert cell.status == "fail", f"{prop} did not catch {subject} {name}: {cell.status} {cell.message}"
    assert cell.counterexample is not None and cell.counterexample["summary"]
    assert (
        cell.replay is not None
        and f"--property {prop}" in cell.replay
        and f"--subject {subject}" in cell.replay
    )
    assert not result.passed
    # The oracle's grammar: where, what it got, what it should be.
    assert "disagrees with the float64 oracle" in cell.message or "raised" in cell.message, cell.message
    if (subject, name, prop) in SAYS:
        assert SAYS[subject, name, prop] in cell.message, cell.message
    if "rows_past_64" in name:
        assert _case(cell)["args"]["x_batch"].shape[0] > 64
        assert "(row 64, input coordinate" in cell.message, cell.message


def _builtins(subject: str, prop: str) -> list[str]:
    """The subject's built-ins not registered as known to break ``prop``."""
    names = registry.names(subject, builtin_only=True)
    return [n for n in names if prop not in dict(registry.get(n, subject).known_failures)]


@pytest.mark.slow
@pytest.mark.parametrize(("subject", "prop"), [(s, p) for s in CORRECT for p in GRADIENT_PROPERTIES])
def test_correct_gradients_pass(subject: str, prop: str) -> None:
    """Every built-in and every correct variant held to ``prop``, in one run (one oracle)."""
    zoo = [name for name, (_, props) in CORRECT[subject].items() if prop in props]
    specs = _builtins(subject, prop) + [_spec(name) for name in zoo]
    report = engine.check(specs, subject=subject, strict=True, isolation="process", properties=(prop,))
    problems = [(i.name, c.status, c.message) for i in report.implementations for c in i.properties]
    assert [p for p in problems if p[1] != "pass"] == []
    assert len(report.implementations) == len(specs)
    assert report.passed


def test_a_correct_custom_vjp_passes() -> None:
    result = check(_spec("custom_vjp_correct"), (VJP,), isolation="process")
    (cell,) = result.properties
    assert cell.status == "pass", cell.message
    assert cell.edges["B > 64"] > 0, cell.edges  # the batch above 64 rows was reached


def test_forward_outputs_are_the_builtins_to_the_bit() -> None:
    """So that only the gradient properties can catch the zoo's bugs."""
    rng = np.random.default_rng(0)
    for subject, table in [*BROKEN.items(), *CORRECT.items()]:
        reference = REFERENCES[subject]
        sizes = (3, 2) if subject == "vmap_over_ensemble" else (3,)
        for name, (fn, _) in table.items():
            for shape in ((2, 3), (0, 2)):
                x = rng.standard_normal(shape).astype(np.float32)
                got, want = np.asarray(fn(5, x, *sizes)), np.asarray(reference(5, x, *sizes))
                assert got.dtype == want.dtype and got.tobytes() == want.tobytes(), (subject, name, shape)


def test_every_gradient_property_has_a_bug_in_every_subject() -> None:
    for subject, table in BROKEN.items():
        named = {prop for _, props in table.values() for prop in props}
        assert named == set(GRADIENT_PROPERTIES), subject
        assert set(GRADIENT_PROPERTIES) <= set(get_subject(subject).properties)
    assert set(BROKEN) == set(CORRECT) == set(REFERENCES)
    for subject in CORRECT:
        assert set(BROKEN[subject]).isdisjoint(CORRECT[subject])
        for name, (fn, _) in CORRECT[subject].items():
            assert fn is getattr(gradients, name)
