"""The forward transform properties catch their zoo and pass correct code; groups select them.

Each implementation of ``tests/zoo/transforms.py`` is right when called directly and wrong under
one transform (jit, vmap, sharding, compilation count, NNX modes); under the ``ci`` profile, in
a worker process (where the transforms run, with 8 host CPU devices), the property named for it
must fail it with its own words, and the correct variants must pass every one. Also: what the
properties do where they cannot run (a single device, no NNX modes: a skip that says why), the
compile counter on this JAX line, and ``--group`` on every face.
"""

from __future__ import annotations

import pytest

from conformance import cli
from conformance.base.verdict import Status
from conformance.boundary import transforms
from conformance.properties import GROUPS, PROPERTIES
from conformance.properties.context import Context, SharedCache
from conformance.run import engine
from conformance.run.engine import Engine
from conformance.run.profiles import get_profile
from conformance.run.runner import CellResult, run_cell
from conformance.run.settings import EngineOptions, UsageError
from conformance.subjects import FORWARD_TRANSFORM_PROPERTIES, SUBJECTS, VMAP_OVER_BATCH
from tests.helpers import check
from tests.zoo import transforms as zoo

PREFIX = {"subject": "vmap_over_batch", "impl": "nnx_vmap"}
CAUGHT = [(subject, name) for subject, bugs in zoo.BROKEN.items() for name in bugs]


def _spec(name: str) -> str:
    return f"{name}=tests.zoo.transforms:{name}"


def _caught(subject: str, name: str) -> CellResult:
    """The cell of the property that must catch ``name``, checked to have caught it."""
    _, prop, words = zoo.BROKEN[subject][name]
    result = check(_spec(name), (prop,), isolation="process", subject=subject)
    (cell,) = result.properties
    assert cell.status == "fail", f"{prop} did not catch {name}: {cell.status} {cell.message}"
    assert words in cell.message, cell.message
    assert cell.counterexample is not None and cell.replay is not None
    assert f"--property {prop}" in cell.replay and f"--subject {subject}" in cell.replay
    assert not result.passed
    return cell


# --------------------------------------------------------------------------- the zoo


def test_a_host_round_trip_is_not_traceable_under_jit() -> None:
    """Fast representative: named as untraceable, with the error and where it was raised."""
    message = _caught("vmap_over_batch", "host_round_trip").message
    assert "TracerArrayConversionError at " in message and "tests/zoo/transforms.py:" in message


def test_a_compilation_per_call_is_counted() -> None:
    """Fast representative: the count per call and the mechanism are in the message."""
    cell = _caught("vmap_over_batch", "jit_per_call")
    assert "backend_compile_duration" in cell.message
    assert cell.counterexample["details"]["compilations"] == [1, 1, 1]


@pytest.mark.slow
@pytest.mark.parametrize(("subject", "name"), CAUGHT, ids=[n for _, n in CAUGHT])
def test_every_bug_is_caught_by_its_property(subject: str, name: str) -> None:
    _caught(subject, name)


@pytest.mark.slow
@pytest.mark.parametrize("subject", sorted(zoo.BROKEN))
def test_every_bug_is_right_when_called_directly(subject: str) -> None:
    """The zoo's bugs need a transform to show: called directly, every one agrees with the oracle."""
    bugs = zoo.BROKEN[subject]
    report = engine.check(
        [_spec(n) for n in bugs],
        subject=subject,
        profile="dev",
        properties=("agrees_with_oracle",),
        isolation="process",
        corpus=None,
    )
    assert [(i.name, c.status) for i in report.implementations for c in i.properties] == [
        (n, Status.PASS) for n in bugs
    ]


@pytest.mark.slow
def test_correct_variants_pass_every_forward_transform_property() -> None:
    report = engine.check(
        list(zoo.CORRECT.values()),
        profile="ci",
        properties=FORWARD_TRANSFORM_PROPERTIES,
        isolation="process",
        corpus=None,
    )
    problems = [
        (i.name, c.property, c.status, c.message) for i in report.implementations for c in i.properties
    ]
    assert [p for p in problems if p[2] != Status.PASS] == []
    assert report.passed
    modes = ", ".join(transforms.describe_mode(*m) for m in transforms.nnx_modes())
    for impl in report.implementations:
        notes = {c.property: c.message for c in impl.properties}
        assert "sharded over a 1-D mesh of" in notes["sharding_invariance"]
        assert notes["nnx_modes"] == f"NNX modes checked: {modes}"


def test_every_forward_transform_property_has_a_bug_in_the_zoo_of_every_subject() -> None:
    assert set(zoo.BROKEN) == set(SUBJECTS)
    for subject, bugs in zoo.BROKEN.items():
        assert {prop for _, prop, _ in bugs.values()} == set(FORWARD_TRANSFORM_PROPERTIES)
        assert set(FORWARD_TRANSFORM_PROPERTIES) <= set(SUBJECTS[subject].properties)
    assert all(PROPERTIES[p].group == "transform" for p in FORWARD_TRANSFORM_PROPERTIES)


# --------------------------------------------------------------------------- where they cannot run


def _cell_in_this_process(prop: str) -> CellResult:
    options = EngineOptions(subjects=(VMAP_OVER_BATCH,), profile=get_profile("ci"), isolation="trusted")
    with Engine(options) as eng:
        panel = eng.panel(VMAP_OVER_BATCH)
        ctx = Context(VMAP_OVER_BATCH, panel["nnx_vmap"], {}, cache=SharedCache())
        return run_cell(ctx, PROPERTIES[prop], options.profile, PREFIX)


def test_sharding_with_a_single_device_is_a_skip_that_says_why() -> None:
    import jax

    if len(jax.devices()) > 1:
        pytest.skip("this process has several devices")
    cell = _cell_in_this_process("sharding_invariance")
    assert cell.status == Status.SKIP
    assert "has 1 device(s)" in cell.message and "cannot be sharded" in cell.message


def test_without_nnx_modes_nnx_modes_is_a_skip_that_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(transforms, "nnx_modes", lambda: [])
    cell = _cell_in_this_process("nnx_modes")
    assert cell.status == Status.SKIP
    assert "offers no NNX modes" in cell.message
    assert cell.calls == 0


def test_a_passing_nnx_modes_cell_names_the_modes_it_ran() -> None:
    """Where Flax offers NNX modes the cell passes naming each; before flax 0.12.5 it is a skip
    that says so (the oldest supported line), never a silent pass."""
    cell = _cell_in_this_process("nnx_modes")
    if not transforms.nnx_modes():
        assert cell.status == Status.SKIP and cell.message, (cell.status, cell.message)
        return
    assert cell.status == Status.PASS
    for mode in transforms.nnx_modes():
        assert transforms.describe_mode(*mode) in cell.message


def test_the_compile_counter_works_on_this_jax_line() -> None:
    """A built-in compiles nothing per call after warm-up; a jit of a fresh closure once per call."""
    import jax
    import numpy as np

    from impl.nnx_vmap import vmap_over_batch

    def fresh_jit(seed: object, x_batch: object, features: object) -> object:
        return jax.jit(lambda x: vmap_over_batch(seed, x, features))(x_batch)

    stack = np.random.default_rng(0).standard_normal((4, 3, 5)).astype(np.float32)
    transform = {"kind": "compile_count", "arg": "x_batch", "seed_arg": "seed"}
    for fn, want in ((vmap_over_batch, [0, 0, 0]), (fresh_jit, [1, 1, 1])):
        counts = transforms.apply(fn, {"seed": 3, "x_batch": stack, "features": 2}, transform)
        assert counts.tolist() == want, fn


@pytest.mark.parametrize("seed", [0, 7, -9, 2**40, 2**63 - 1, -(2**63), 3.5, -2.25])
def test_new_seeds_keep_the_type_and_range(seed: object) -> None:
    import numpy as np

    for s in (seed, np.float64(seed) if isinstance(seed, float) else np.int64(seed)):
        others = [transforms.new_seed(s, k) for k in (1, 2, 3)]
        assert all(type(o) is type(s) for o in others)
        assert len({int(o) for o in others} | {int(s)}) == 4
        assert all(-(2**63) <= int(o) < 2**63 for o in others)


# --------------------------------------------------------------------------- groups


def test_group_forward_selects_the_forward_properties_only() -> None:
    options = EngineOptions.build(groups=["forward"], subject="all")
    with Engine(options) as eng:
        for subject in options.subjects:
            names = [p.name for p in eng.properties(subject)]
            assert names == [p for p in subject.properties if PROPERTIES[p].group == "forward"]
            assert not set(names) & set(FORWARD_TRANSFORM_PROPERTIES)


def test_every_group_is_every_property() -> None:
    options = EngineOptions.build(groups=list(GROUPS))
    with Engine(options) as eng:
        assert [p.name for p in eng.properties(VMAP_OVER_BATCH)] == list(VMAP_OVER_BATCH.properties)


def test_an_unknown_group_is_a_usage_error_naming_the_known_ones() -> None:
    with pytest.raises(UsageError, match="unknown group 'gradients' for --group; known: forward, transform"):
        EngineOptions.build(groups=["gradients"])


def test_a_property_outside_the_chosen_groups_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="'nnx_modes' is in the group 'transform', not in the chosen group"):
        EngineOptions.build(groups=["forward"], properties=["nnx_modes"])


def test_list_shows_the_group_of_each_property(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["list"]) == 0
    lines = {
        line.split()[1]: line.split()[2]
        for line in capsys.readouterr().out.splitlines()
        if line.startswith("property ")
    }
    assert lines == {name: p.group for name, p in PROPERTIES.items()}
