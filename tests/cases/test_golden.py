"""``conformance.cases.golden``: checked-in fingerprints per JAX line group, and why numbers move.

The built-in matches the golden of the running group, under every PRNG implementation
(threefry2x32, rbg, unsafe_rbg); the same built-in run with another PRNG implementation,
``jax_threefry_partitionable`` or ``jax_enable_x64`` matches another group, and the verdict
names that group and the cause; a correct implementation that is not bitwise the reference
passes; an output far outside the bound matches no group, and the message says what a user
can do; off CPU (or on another jax) rbg goldens do not apply and nothing is blamed.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest
from flax import nnx

from conformance import properties as props
from conformance.base.failures import PropertyFailure, PropertySkip
from conformance.boundary.calls import CallResult
from conformance.cases import golden
from conformance.properties.context import Context
from conformance.subjects import SUBJECTS, get_subject
from conformance.tools import goldens
from impl.registry import get as get_impl

SUBJECT = "vmap_over_batch"
ROOT = Path(__file__).resolve().parents[2]
#: Tests that judge other numbers in this process assume it draws with the default PRNG.
threefry_here = pytest.mark.skipif(
    golden.prng_impl() != golden.DEFAULT_PRNG_IMPL, reason="this process runs another PRNG implementation"
)

#: Computes the reference built-in's output of every golden case in a fresh process
#: (the environment decides the group) and saves them to the .npz named by argv[1].
CHILD = """
import sys, numpy as np
from conformance.cases import golden
from conformance.tools import goldens
from conformance.subjects import get_subject
from impl.registry import get
subject = sys.argv[2]
spec = golden.GOLDEN_SUBJECTS[subject]
ordered = get_subject(subject).ordered
ref = get(spec.reference, subject)
outs = {}
for c in spec.cases:
    args = [v.materialize() if hasattr(v, "materialize") else v for v in ordered(c.args).values()]
    outs[c.id] = np.asarray(ref(*args))
np.savez(sys.argv[1], group=np.array(golden.process_group()), **outs)
"""


def run_reference(subject: str, case_id: str) -> np.ndarray:
    subj = get_subject(subject)
    args = subj.ordered(golden.golden_args(subject, case_id))
    ref = get_impl(golden.GOLDEN_SUBJECTS[subject].reference, subject)
    return np.asarray(ref(*[v.materialize() if hasattr(v, "materialize") else v for v in args.values()]))


def outputs_in_subprocess(tmp_path: Path, subject: str, **env: str) -> tuple[str, dict[str, np.ndarray]]:
    out = tmp_path / "outputs.npz"
    full_env = {**os.environ, "JAX_PLATFORMS": "cpu", **env}
    full_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(out), subject],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    with np.load(out) as data:
        group = str(data["group"])
        return group, {k: data[k] for k in data.files if k != "group"}


def flipped(group: str, switch: str) -> golden.Group:
    g = golden.GROUPS_BY_NAME[group]
    p, x = g.threefry_partitionable, g.x64
    if switch == "threefry":
        p = not p
    else:
        x = not x
    return golden.GROUPS_BY_NAME[golden.group_name(p, x, g.prng_impl)]


def same_jax_as_goldens(subject: str) -> bool:
    return golden.load_goldens(subject).raw["generated_with"]["jax"] == jax.__version__


# --------------------------------------------------------------------------- the table and the file


def test_every_subject_in_the_table_has_a_checked_in_golden_that_fits_it() -> None:
    for subject, spec in golden.GOLDEN_SUBJECTS.items():
        ids = golden.case_ids(subject)
        assert len(ids) == len(set(ids)), f"{subject}: duplicate case ids"
        goldens = golden.load_goldens(subject)  # raises GoldenError when stale
        assert set(goldens.groups) == set(golden.GROUPS_BY_NAME)
        for group in goldens.groups.values():
            assert set(group) == set(ids)
        assert spec.subject == subject


def test_a_subject_has_the_golden_property_exactly_when_it_has_golden_cases() -> None:
    for name, subject in SUBJECTS.items():
        assert ("golden" in subject.properties) == (name in golden.GOLDEN_SUBJECTS), name
        assert ("golden" in subject.properties) == golden.has_goldens(name), name
    assert golden.GOLDEN_DIR == ROOT / "conformance" / "data" / "goldens"


def test_the_cases_cover_the_seeds_shapes_and_dtypes() -> None:
    cases = golden.GOLDEN_SUBJECTS[SUBJECT].cases
    seeds = {c.args["seed"] for c in cases}
    assert {0, 1, 2**31 - 1, 2**32 + 7, -1, -(2**40), 2**63 - 1} <= seeds
    shapes = {(c.args["x_batch"].shape, c.args["features"]) for c in cases}
    assert {((1, 1), 1), ((2, 3), 4), ((3, 16), 5), ((5, 129), 2)} <= shapes
    assert {c.args["x_batch"].dtype.name for c in cases} == {"float32", "bfloat16", "float16"}
    assert "float32_1x1to1_seed0" in golden.case_ids(SUBJECT)  # ids are stable names
    # the args are what the suite hands over, and the subject's oracle accepts them
    args = golden.golden_args(SUBJECT, "float32_1x1to1_seed0")
    assert set(args) == {"seed", "x_batch", "features"}
    expected = get_subject(SUBJECT).expected(args, False)
    assert expected.value.shape == expected.bound.shape == (1,)


def test_golden_values_are_deterministic_and_exact_in_float32() -> None:
    a = golden.golden_values((3, 5), "float32", "stream")
    b = golden.golden_values((3, 5), "float32", "stream")
    assert a.tobytes() == b.tobytes()
    assert np.all(a.astype(np.float64) * 2**18 == np.round(a.astype(np.float64) * 2**18))
    assert not np.array_equal(a, golden.golden_values((3, 5), "float32", "other"))


# --------------------------------------------------------------------------- the built-in, here


@pytest.mark.parametrize("subject", list(golden.GOLDEN_SUBJECTS))
def test_the_builtin_matches_the_golden_of_the_running_group(subject: str) -> None:
    group = golden.current_group()
    bitwise = []
    for case_id in golden.case_ids(subject):
        verdict = golden.compare(subject, case_id, run_reference(subject, case_id))
        assert verdict.matched, verdict.explanation
        assert verdict.group == group and verdict.matched_group is None
        assert group in verdict.groups_within
        bitwise.append(verdict.bitwise)
    if same_jax_as_goldens(subject):
        # Bitwise identity is information (it depends on the kernels of the jaxlib and
        # the machine); with the jax that made the goldens, on this machine, it holds.
        assert all(bitwise)


def test_a_correct_implementation_that_is_not_bitwise_the_reference_passes() -> None:
    """float64 arithmetic rounded once to float32: another rounding, same bound."""
    verdicts = []
    for case_id in golden.case_ids(SUBJECT):
        args = golden.golden_args(SUBJECT, case_id)
        x = args["x_batch"].values.astype(np.float64)
        layer = nnx.Linear(x.shape[1], args["features"], rngs=nnx.Rngs(args["seed"]))
        kernel = np.asarray(layer.kernel[...], dtype=np.float64)
        bias = np.asarray(layer.bias[...], dtype=np.float64)
        out = (x @ kernel + bias).astype(np.float32).reshape(-1)
        verdict = golden.compare(SUBJECT, case_id, out)
        assert verdict.matched, verdict.explanation
        verdicts.append(verdict)
    differing = [v for v in verdicts if not v.bitwise]
    assert differing, "float64-then-cast should differ from the float32 reference somewhere"
    assert "not bitwise identical to the golden reference nnx_vmap" in differing[0].explanation


def test_parameters_a_few_ulps_off_still_match() -> None:
    """Between jax lines a parameter may differ by 1-2 ulps; even for D_in = 1 that is no mismatch."""
    for case_id in ("float32_1x1to1_seed0", "float32_2x3to4_seed2147483647"):
        args = golden.golden_args(SUBJECT, case_id)
        x = args["x_batch"].values.astype(np.float64)
        layer = nnx.Linear(x.shape[1], args["features"], rngs=nnx.Rngs(args["seed"]))
        kernel = np.asarray(layer.kernel[...])
        for _ in range(golden.PARAM_ULPS):
            kernel = np.nextafter(kernel, np.float32(np.inf) * np.sign(kernel))
        out = (x @ kernel.astype(np.float64)).astype(np.float32).reshape(-1)
        verdict = golden.compare(SUBJECT, case_id, out)
        assert verdict.matched and not verdict.bitwise, verdict.explanation


def test_an_output_far_outside_the_bound_matches_no_group() -> None:
    case_id = "float32_3x16to5_seed1"
    out = run_reference(SUBJECT, case_id).copy()
    out[7] += np.float32(1e-2) * (1 + abs(out[7]))
    verdict = golden.compare(SUBJECT, case_id, out)
    assert not verdict.matched and not verdict.bitwise
    assert verdict.matched_group is None and verdict.groups_within == ()
    assert verdict.details["index"] == 7 and verdict.details["mismatches"] == 1
    assert verdict.details["location"] == "row 1, feature 2"
    assert "matches the golden of no group" in verdict.explanation
    assert "index 7 (row 1, feature 2)" in verdict.explanation
    # What a user can do, in plain words; no maintainers' command.
    assert "the PRNG implementation, jax_threefry_partitionable, jax_enable_x64" in verdict.explanation
    assert "expectations file (--expect FILE" in verdict.explanation
    assert "python -m conformance" not in verdict.explanation and "--regenerate" not in verdict.explanation
    assert verdict.comparable  # threefry goldens hold everywhere: a mismatch counts


def test_wrong_shapes_and_nan_do_not_match() -> None:
    case_id = "float32_2x3to4_seed2147483647"
    out = run_reference(SUBJECT, case_id)
    short = golden.compare(SUBJECT, case_id, out[:-1])
    assert not short.matched and "returned shape (7,), the golden has (8,)" in short.explanation
    nan = out.copy()
    nan[0] = np.nan
    assert not golden.compare(SUBJECT, case_id, nan).matched


def test_unknown_case_group_or_subject_is_a_golden_error() -> None:
    with pytest.raises(golden.GoldenError, match="no golden case"):
        golden.compare(SUBJECT, "nope", np.zeros(1))
    with pytest.raises(golden.GoldenError, match="unknown group"):
        golden.compare(SUBJECT, "float32_1x1to1_seed0", np.zeros(1), group="x128")
    with pytest.raises(golden.GoldenError, match="no golden cases for subject"):
        golden.case_ids("vmap_nowhere")
    assert not golden.has_goldens("vmap_nowhere")
    assert golden.has_goldens(SUBJECT)


def test_a_missing_or_stale_golden_file_says_to_regenerate(tmp_path: Path) -> None:
    with pytest.raises(golden.GoldenError, match="--regenerate"):
        golden.compare(SUBJECT, "float32_1x1to1_seed0", np.zeros(1), directory=tmp_path)
    data = json.loads(golden.golden_path(SUBJECT).read_text())
    data["cases"]["float32_1x1to1_seed0"]["args"]["dict"]["seed"] = {"int": "5"}
    golden.golden_path(SUBJECT, tmp_path).write_text(json.dumps(data))
    with pytest.raises(golden.GoldenError, match="arguments of case float32_1x1to1_seed0 changed"):
        golden.compare(SUBJECT, "float32_1x1to1_seed0", np.zeros(1), directory=tmp_path)


# --------------------------------------------------------------------------- the other groups


def test_with_threefry_flipped_the_builtin_matches_the_other_group_and_names_the_cause(
    tmp_path: Path,
) -> None:
    here = golden.current_group()
    other = flipped(here, "threefry")
    child_group, outputs = outputs_in_subprocess(
        tmp_path, SUBJECT, JAX_THREEFRY_PARTITIONABLE=other.env["JAX_THREEFRY_PARTITIONABLE"]
    )
    assert child_group == other.name
    for case_id, out in outputs.items():
        verdict = golden.compare(SUBJECT, case_id, out, group=here)
        assert not verdict.matched and not verdict.bitwise, case_id
        assert verdict.matched_group == other.name, verdict.explanation
        assert verdict.causes == ("threefry",)
        assert f"matches the golden of group {other.name} instead of {here}" in verdict.explanation
        assert (
            "jax_threefry_partitionable changed (False before jax 0.5.0, True since)" in verdict.explanation
        )
        assert f"JAX_THREEFRY_PARTITIONABLE={other.env['JAX_THREEFRY_PARTITIONABLE']}" in verdict.explanation
        # and against its own group it is the golden
        assert golden.compare(SUBJECT, case_id, out, group=other.name).matched


def test_with_x64_flipped_only_seeds_outside_uint32_move(tmp_path: Path) -> None:
    here = golden.current_group()
    other = flipped(here, "x64")
    child_group, outputs = outputs_in_subprocess(
        tmp_path, SUBJECT, JAX_ENABLE_X64=other.env["JAX_ENABLE_X64"]
    )
    assert child_group == other.name
    moved = 0
    for case_id, out in outputs.items():
        seed = golden.golden_args(SUBJECT, case_id)["seed"]
        verdict = golden.compare(SUBJECT, case_id, out, group=here)
        if 0 <= seed < 2**32:
            assert verdict.matched, verdict.explanation  # nnx.Rngs reads the same key either way
            continue
        moved += 1
        assert not verdict.matched
        assert verdict.matched_group == other.name and verdict.causes == ("x64",)
        assert "modulo 2**32" in verdict.explanation
    assert moved == 4 * 4  # seeds 2**32 + 7, -1, -(2**40), 2**63 - 1 on four shapes


def test_a_regeneration_subprocess_reproduces_the_checked_in_group(tmp_path: Path) -> None:
    """The plumbing of ``--regenerate``: env -> group, and the same numbers as the file."""
    other = flipped(golden.current_group(), "threefry")
    result = goldens._run_child(SUBJECT, other)
    stored = golden.load_goldens(SUBJECT).groups[other.name]
    assert set(result["cases"]) == set(stored)
    for case_id, entry in result["cases"].items():
        # the same numbers up to the parameter drift between jax lines that compare() allows
        n_terms = golden.GOLDEN_SUBJECTS[SUBJECT].n_terms(golden.golden_args(SUBJECT, case_id))
        allowed = np.asarray(stored[case_id]["bound"]) * golden.tolerance_scale(entry["dtype"], n_terms)
        assert np.all(np.abs(np.subtract(entry["value"], stored[case_id]["value"])) <= allowed), case_id
        np.testing.assert_allclose(entry["bound"], stored[case_id]["bound"], rtol=1e-6, atol=0)
        assert entry["dtype"] == stored[case_id]["dtype"] and entry["shape"] == stored[case_id]["shape"]
        if same_jax_as_goldens(SUBJECT):
            assert entry["sha256"] == stored[case_id]["sha256"], case_id


# --------------------------------------------------------------------------- the PRNG implementations

#: Every golden case of every subject with the reference built-in, in a fresh process whose
#: environment picks the PRNG implementation; argv[1] names the .npz to write: the groups the
#: child chose, its own verdicts (compare() with the default group) and the outputs.
PRNG_CHILD = """
import sys, numpy as np
from conformance.cases import golden
from conformance.tools import goldens
from conformance.subjects import get_subject
from impl.registry import get
outs, matched = {}, {}
for subject, spec in golden.GOLDEN_SUBJECTS.items():
    ordered = get_subject(subject).ordered
    ref = get(spec.reference, subject)
    for c in spec.cases:
        args = [v.materialize() if hasattr(v, "materialize") else v for v in ordered(c.args).values()]
        out = np.asarray(ref(*args))
        outs[f"{subject}::{c.id}"] = out
        matched[f"{subject}::{c.id}"] = golden.compare(subject, c.id, out).matched
np.savez(
    sys.argv[1],
    current=np.array(golden.current_group()),
    process=np.array(golden.process_group()),
    matched_keys=np.array(list(matched)),
    matched=np.array(list(matched.values())),
    **outs,
)
"""


@dataclasses.dataclass
class ChildRun:
    current: str
    process: str
    #: "subject::case_id" -> whether the child's own compare() matched
    matched: dict[str, bool]
    #: "subject::case_id" -> the reference's output
    outputs: dict[str, np.ndarray]


_CHILD_RUNS: dict[str, ChildRun] = {}


def prng_run(tmp_path_factory: pytest.TempPathFactory, impl: str) -> ChildRun:
    """The reference built-in on every golden case under ``JAX_DEFAULT_PRNG_IMPL=impl`` (once per session)."""
    if impl not in _CHILD_RUNS:
        out = tmp_path_factory.mktemp(f"prng-{impl}") / "outputs.npz"
        env = {**os.environ, "JAX_PLATFORMS": "cpu", "JAX_DEFAULT_PRNG_IMPL": impl}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
        proc = subprocess.run(
            [sys.executable, "-c", PRNG_CHILD, str(out)], env=env, capture_output=True, text=True, timeout=300
        )
        assert proc.returncode == 0, proc.stderr
        with np.load(out) as data:
            meta = {"current", "process", "matched_keys", "matched"}
            _CHILD_RUNS[impl] = ChildRun(
                str(data["current"]),
                str(data["process"]),
                dict(zip(data["matched_keys"].tolist(), data["matched"].tolist(), strict=True)),
                {k: data[k] for k in data.files if k not in meta},
            )
    return _CHILD_RUNS[impl]


def test_every_prng_implementation_has_its_groups() -> None:
    names = {g.name: g for g in golden.GROUPS}
    partitionable = golden.default_partitionable()
    for impl in ("threefry2x32", "rbg", "unsafe_rbg"):
        for x64 in (False, True):
            g = names[golden.group_name(partitionable, x64, impl)]
            assert g.prng_impl == impl and g.x64 == x64
            assert (g.env.get("JAX_DEFAULT_PRNG_IMPL") or "threefry2x32") == impl
    # rbg splits keys with threefry's split, so an ensemble moves with the flag; unsafe_rbg
    # ignores the flag: one group per x64 setting.
    assert {"rbg_partitionable/x32", "rbg_legacy/x32", "unsafe_rbg/x32"} <= set(names)
    assert names["unsafe_rbg/x32"].threefry_partitionable is None
    assert "JAX_THREEFRY_PARTITIONABLE" not in names["unsafe_rbg/x32"].env
    ensemble = golden.load_goldens("vmap_over_ensemble").groups
    batch = golden.load_goldens("vmap_over_batch").groups
    for case in golden.case_ids("vmap_over_ensemble"):  # every member moves
        assert ensemble["rbg_partitionable/x32"][case]["sha256"] != ensemble["rbg_legacy/x32"][case]["sha256"]
    assert batch["rbg_partitionable/x32"] == batch["rbg_legacy/x32"]  # one layer: fold_in only
    seed0 = "float32_1x1to1_seed0"
    shas = {
        batch[g][seed0]["sha256"] for g in ("threefry_partitionable/x32", "rbg_legacy/x32", "unsafe_rbg/x32")
    }
    assert len(shas) == 3  # each PRNG implementation draws its own parameters


@pytest.mark.parametrize("impl", ["rbg", "unsafe_rbg"])
def test_under_rbg_the_builtin_matches_the_golden_of_its_prng_group(
    tmp_path_factory: pytest.TempPathFactory, impl: str
) -> None:
    run = prng_run(tmp_path_factory, impl)
    expected_group = golden.group_name(golden.default_partitionable(), False, impl)
    assert run.current == run.process == expected_group
    assert run.matched and all(run.matched.values()), [k for k, v in run.matched.items() if not v]
    for key, out in run.outputs.items():
        subject, case_id = key.split("::")
        verdict = golden.compare(subject, case_id, out, group=run.current)
        assert verdict.matched, verdict.explanation
        if same_jax_as_goldens(subject):  # recorded on this jax: the same bits (rbg on CPU is deterministic)
            assert verdict.bitwise, key
        # ...and they are not the numbers of the threefry goldens
        threefry = golden.group_name(golden.default_partitionable(), False)
        assert threefry not in verdict.groups_within, key


def test_numbers_of_rbg_against_threefry_goldens_name_the_prng_implementation(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    run = prng_run(tmp_path_factory, "rbg")
    threefry = golden.group_name(golden.default_partitionable(), False)
    for key, out in run.outputs.items():
        subject, case_id = key.split("::")
        verdict = golden.compare(subject, case_id, out, group=threefry)
        assert not verdict.matched and verdict.comparable, key
        assert verdict.matched_group == run.current and verdict.causes == ("prng",), verdict.explanation
        assert f"matches the golden of group {run.current} instead of {threefry}" in verdict.explanation
        assert "the PRNG implementation is rbg, these goldens were recorded with threefry2x32" in (
            verdict.explanation
        )
        assert "JAX_DEFAULT_PRNG_IMPL=rbg" in verdict.explanation
        assert "python -m conformance" not in verdict.explanation


def test_numbers_of_unsafe_rbg_against_rbg_goldens_name_only_the_prng_implementation(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    run = prng_run(tmp_path_factory, "unsafe_rbg")
    rbg = golden.group_name(not golden.default_partitionable(), False, "rbg")  # the flag differs too
    verdicts = [
        golden.compare(subject, case_id, out, group=rbg)
        for subject, case_id, out in ((*k.split("::"), o) for k, o in run.outputs.items())
    ]
    assert all(not v.matched and v.matched_group == "unsafe_rbg/x32" for v in verdicts)
    # unsafe_rbg ignores jax_threefry_partitionable: the flag is no cause
    assert {v.causes for v in verdicts} == {("prng",)}
    assert (
        "the PRNG implementation is unsafe_rbg, these goldens were recorded with rbg"
        in verdicts[0].explanation
    )


@threefry_here
def test_this_process_threefry_numbers_against_rbg_goldens_name_the_prng_implementation() -> None:
    rbg = golden.group_name(golden.default_partitionable(), False, "rbg")
    verdict = golden.compare(
        SUBJECT, "float32_3x16to5_seed1", run_reference(SUBJECT, "float32_3x16to5_seed1"), group=rbg
    )
    assert verdict.matched_group == golden.current_group() and verdict.causes == ("prng",)
    assert (
        "the PRNG implementation is threefry2x32, these goldens were recorded with rbg" in verdict.explanation
    )


# --------------------------------------------------------------------------- where rbg goldens do not apply


def far_off(case_id: str) -> np.ndarray:
    out = run_reference(SUBJECT, case_id).copy()
    out[0] += np.float32(1.0) + abs(out[0])  # outside every bound, also with bfloat16 matmul inputs
    return out


def test_off_cpu_a_mismatch_under_rbg_is_explained_not_blamed() -> None:
    case_id = "float32_3x16to5_seed1"
    rbg = golden.group_name(golden.default_partitionable(), False, "rbg")
    for backend in ("tpu", "gpu"):
        verdict = golden.compare(SUBJECT, case_id, far_off(case_id), group=rbg, backend=backend)
        assert not verdict.matched and not verdict.comparable and verdict.matched_group is None
        assert "matches the golden of no group" not in verdict.explanation
        assert "recorded on CPU" in verdict.explanation and f"runs on {backend}" in verdict.explanation
        assert "RngBitGenerator" in verdict.explanation
        assert "JAX_DEFAULT_PRNG_IMPL=threefry2x32 or on CPU (JAX_PLATFORMS=cpu)" in verdict.explanation
        assert "says nothing about the implementation" in verdict.explanation
    # on CPU, with the jax that recorded them, the rbg goldens hold: a mismatch counts
    on_cpu = golden.compare(SUBJECT, case_id, far_off(case_id), group=rbg, backend="cpu")
    if same_jax_as_goldens(SUBJECT):
        assert on_cpu.comparable and "matches the golden of no group" in on_cpu.explanation
    # threefry's numbers are the same on every backend: off CPU a mismatch still counts
    threefry = golden.compare(SUBJECT, case_id, far_off(case_id), backend="tpu")
    assert threefry.comparable and "matches the golden of no group" in threefry.explanation


def test_on_another_jaxlib_a_mismatch_under_rbg_is_explained_not_blamed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    case_id = "float32_2x3to4_seed2147483647"
    recorded = golden.load_goldens(SUBJECT).raw["generated_with"]
    monkeypatch.setattr(golden.files, "golden_versions", lambda: {**recorded, "jaxlib": "99.0.0"})
    rbg = golden.group_name(golden.default_partitionable(), False, "unsafe_rbg")
    verdict = golden.compare(SUBJECT, case_id, far_off(case_id), group=rbg, backend="cpu")
    assert not verdict.comparable
    assert f"jaxlib 99.0.0 (recorded with {recorded['jaxlib']})" in verdict.explanation
    assert "or on CPU" not in verdict.explanation  # it is on CPU already
    monkeypatch.setattr(golden.files, "golden_versions", lambda: dict(recorded))
    assert golden.compare(SUBJECT, case_id, far_off(case_id), group=rbg, backend="cpu").comparable


def test_a_prng_implementation_without_goldens_is_not_blamed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(golden.groups, "prng_impl", lambda: "my_philox")
    verdict = golden.compare(SUBJECT, "float32_1x1to1_seed0", run_reference(SUBJECT, "float32_1x1to1_seed0"))
    assert not verdict.matched and not verdict.comparable
    assert "no goldens are recorded for the PRNG implementation my_philox" in verdict.explanation
    assert "JAX_DEFAULT_PRNG_IMPL=threefry2x32" in verdict.explanation


def test_the_bound_widens_with_the_backend_s_matmul_precision() -> None:
    if jax.config.jax_default_matmul_precision not in (None, "default"):
        pytest.skip("jax_default_matmul_precision is set: the backend does not decide")
    n = 17
    cpu = golden.tolerance_scale("float32", n, backend="cpu")
    assert golden.platform_scale("float32", n, backend="cpu") == 1.0
    assert golden.tolerance_scale("float32", n, backend="gpu") > cpu
    assert golden.tolerance_scale("float32", n, backend="tpu") > golden.tolerance_scale("float32", n, "gpu")
    assert golden.platform_scale("bfloat16", n, backend="tpu") == 1.0  # only float32 inputs are rounded


# --------------------------------------------------------------------------- the golden property


class _Fixed:
    """An executor that returns one fixed output (the property sees it as the implementation's)."""

    def __init__(self, output: np.ndarray) -> None:
        self.impl = get_impl("nnx_vmap", SUBJECT)
        self.output = output

    def call(self, args: object) -> CallResult:
        return CallResult("ok", self.output, "numpy.ndarray")


def check_golden_property(
    monkeypatch: pytest.MonkeyPatch, output: np.ndarray, case_id: str, **verdict: object
) -> None:
    """Run the ``golden`` property on ``output``, with compare()'s verdict changed by ``verdict``."""
    real = golden.compare

    def compare(*args: object, **kwargs: object) -> golden.GoldenVerdict:
        return dataclasses.replace(real(*args, **kwargs), **verdict)

    monkeypatch.setattr(golden, "compare", compare)
    ctx = Context(get_subject(SUBJECT), _Fixed(output), {})
    props.PROPERTIES["golden"].check(ctx, {"golden": case_id, "args": golden.golden_args(SUBJECT, case_id)})


def test_the_property_does_not_blame_where_the_goldens_do_not_apply(monkeypatch: pytest.MonkeyPatch) -> None:
    """No golden applies, the output agrees with the oracle of this process's parameters: a skip, and why."""
    case_id = "float32_3x16to5_seed1"
    good = run_reference(SUBJECT, case_id)
    with pytest.raises(PropertySkip) as skip:
        check_golden_property(monkeypatch, good, case_id, matched=False, comparable=False, explanation="why")
    assert skip.value.message == "why. It agrees with the float64 oracle of the parameters this process draws"
    # ...but an output the oracle refutes fails, with the oracle's evidence
    with pytest.raises(PropertyFailure) as bad:
        check_golden_property(monkeypatch, far_off(case_id), case_id, comparable=False)
    assert (
        "It also disagrees with the float64 oracle of the parameters this process draws" in bad.value.message
    )
    assert "first at index 0 (row 0, feature 0)" in bad.value.message and bad.value.details["index"] == 0


def test_the_property_tells_moved_parameters_from_wrong_arithmetic(monkeypatch: pytest.MonkeyPatch) -> None:
    case_id = "float32_3x16to5_seed1"
    # matching no group, but agreeing with the oracle here: the parameters moved
    with pytest.raises(PropertyFailure) as moved:
        check_golden_property(monkeypatch, run_reference(SUBJECT, case_id), case_id, matched=False)
    assert "the parameters drawn for the seed moved, not the arithmetic" in moved.value.message
    # matching no group and refuted by the oracle: the arithmetic
    with pytest.raises(PropertyFailure) as wrong:
        check_golden_property(monkeypatch, far_off(case_id), case_id)
    assert "matches the golden of no group" in wrong.value.message
    assert "It also disagrees with the float64 oracle" in wrong.value.message
    assert "python -m conformance" not in wrong.value.message


@threefry_here
def test_the_property_names_the_prng_cause(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """rbg numbers judged in a threefry process: the property's failure names the PRNG implementation."""
    run = prng_run(tmp_path_factory, "rbg")
    case_id = "float32_2x3to4_seed2147483647"
    with pytest.raises(PropertyFailure) as failure:
        check_golden_property(monkeypatch, run.outputs[f"{SUBJECT}::{case_id}"], case_id)
    assert (
        "the PRNG implementation is rbg, these goldens were recorded with threefry2x32"
        in failure.value.message
    )
    assert failure.value.details["matched_group"] == run.current


# --------------------------------------------------------------------------- diff and the command


def test_diff_names_the_case_the_group_and_the_leading_values() -> None:
    old = json.loads(golden.golden_path(SUBJECT).read_text())
    assert goldens.diff(old, old) == []
    new = json.loads(json.dumps(old))
    group = "threefry_legacy/x32"
    entry = new["groups"][group]["cases"]["float32_2x3to4_seed2147483647"]
    entry["sha256"] = "0" * 64
    entry["leading"] = [1.5, 2.5, 3.5, 4.5]
    del new["cases"]["float32_1x1to1_seed0"]
    lines = goldens.diff(old, new)
    assert any(
        line.startswith(f"~ {group} float32_2x3to4_seed2147483647: sha256 ")
        and "-> 000000000000" in line
        and "-> [1.5, 2.5, 3.5, 4.5]" in line
        for line in lines
    ), lines
    assert "- case float32_1x1to1_seed0" in lines
    assert goldens.diff(None, new)[0].startswith("new golden file")


def test_check_exits_1_when_regenerating_would_change_something(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    content = json.loads(golden.golden_path(SUBJECT).read_text())
    goldens.write(content, golden.golden_path(SUBJECT, tmp_path))
    fresh = json.loads(json.dumps(content))
    monkeypatch.setattr(goldens, "generate", lambda subject: fresh)
    argv = ["--check", "--subject", SUBJECT, "--dir", str(tmp_path)]
    assert goldens.main(argv) == 0
    assert "no change" in capsys.readouterr().out
    fresh["groups"]["threefry_partitionable/x64"]["cases"]["float16_5x129to2_seed2147483647"]["sha256"] = (
        "f" * 64
    )
    assert goldens.main(argv) == 1
    out = capsys.readouterr().out
    assert "1 change(s)" in out and "float16_5x129to2_seed2147483647" in out
    before = golden.golden_path(SUBJECT, tmp_path).read_text()
    assert goldens.main(["--regenerate", "--subject", SUBJECT, "--dir", str(tmp_path)]) == 0
    assert "wrote" in capsys.readouterr().out
    after = golden.golden_path(SUBJECT, tmp_path).read_text()
    assert after != before and json.loads(after) == fresh
