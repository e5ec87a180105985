"""The subject layer (conformance/subjects): the CLI lists and checks subjects, the output layouts,
the oracles, the output dtype (``output_dtype``, with and without x64), and ``expected()`` of
``vmap_over_batch`` against the built-in implementation."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest
from flax import nnx

from conformance import cli
from conformance.numerics.oracle import ensemble_params, linear_params
from conformance.subjects import SUBJECTS, VMAP_OVER_BATCH, get_subject, output_dtype
from impl.nnx_vmap import vmap_over_batch
from impl.vmap_anchored import AnchoredLinear
from impl.vmap_over_ensemble import make_ensemble
from strategies.kinds import KindedArray
from tests.numerics.helpers import BF16, F16, F32, F64, describe_worst, make_x, outside

ROOT = Path(__file__).resolve().parents[2]


def _x(values: np.ndarray, kind: str = "numpy") -> KindedArray:
    return KindedArray(np.ascontiguousarray(values), kind, "hand-built")


# --------------------------------------------------------------------------- command line


def test_subjects_command_lists_the_three_subjects() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "conformance", "subjects"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    listed = [line for line in done.stdout.splitlines() if line and not line.startswith(" ")]
    assert listed == ["vmap_over_batch", "vmap_over_ensemble", "vmap_anchored"]
    assert set(listed) == set(SUBJECTS)
    assert "output axes: member, row, feature" in done.stdout
    assert "member_independence" in done.stdout and "distinct_members" in done.stdout
    assert re.search(r"built-in broadcast\s+\(known non-conformant: .*batch_independence", done.stdout)


def test_check_runs_an_ensemble_property(capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(
        [
            "check",
            "--subject",
            "vmap_over_ensemble",
            "--property",
            "member_independence",
            "--impl",
            "einsum",
            "--profile",
            "dev",
            "--max-examples",
            "3",
        ]
    )
    out = capsys.readouterr()
    assert code == 0, out.out + out.err
    assert "member_independence" in out.out + out.err


def test_a_property_of_another_subject_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["check", "--subject", "vmap_over_batch", "--property", "member_independence"])
    err = capsys.readouterr().err
    assert code == cli.EXIT_USAGE == 2
    assert "member_independence" in err and "vmap_over_batch" in err


# --------------------------------------------------------------------------- output layout

B, F, M = 3, 4, 2


def _ensemble_args() -> dict:
    return {"seed": 0, "x_batch": _x(np.zeros((B, 2), np.float32)), "features": F, "n_models": 2.9}


def _coords(text: str) -> dict[str, int]:
    """``"member 1, row 2, feature 3"`` -> ``{"member": 1, "row": 2, "feature": 3}``."""
    return {axis: int(i) for axis, i in (part.split() for part in text.split(", "))}


def test_ensemble_layout_is_member_row_feature() -> None:
    subject = get_subject("vmap_over_ensemble")
    args = _ensemble_args()
    assert subject.output_axes == ("member", "row", "feature")
    assert subject.output_shape(args) == (M, B, F)  # int(2.9) members
    flat = np.arange(M * B * F)  # flat[i] == i: every value is its own flat index
    assert subject.locate(0, args) == "member 0, row 0, feature 0"
    assert subject.locate(5, args) == "member 0, row 1, feature 1"
    assert subject.locate(23, args) == "member 1, row 2, feature 3"
    for i in range(flat.size):
        m, rest = divmod(i, B * F)
        assert _coords(subject.locate(i, args)) == {"member": m, "row": rest // F, "feature": rest % F}

    rows = subject.output_rows(flat, args)
    assert rows.shape == (B, M * F)
    assert rows[2].tolist() == [8, 9, 10, 11, 20, 21, 22, 23]
    members = subject.output_members(flat, args)
    assert members.shape == (M, B * F)
    assert members[1].tolist() == list(range(12, 24))

    # locate_in names the element of the (axis, rest) view: the same element locate names.
    for axis, view in (("row", rows), ("member", members)):
        for index, value in enumerate(view.reshape(-1)):
            text = subject.locate_in(axis, index, args)
            assert text.startswith(f"{axis} ")
            assert _coords(text) == _coords(subject.locate(int(value), args))
    assert subject.locate_in("row", 13, args) == "row 1, member 1, feature 1"
    assert subject.locate_in("member", 23, args) == "member 1, row 2, feature 3"


def test_batch_layout_has_no_members() -> None:
    for name in ("vmap_over_batch", "vmap_anchored"):
        subject = get_subject(name)
        args = {"seed": 0, "x_batch": _x(np.zeros((B, 2), np.float32)), "features": F}
        flat = np.arange(B * F)
        assert subject.output_axes == ("row", "feature")
        assert subject.locate(7, args) == "row 1, feature 3"
        assert subject.output_rows(flat, args)[1].tolist() == [4, 5, 6, 7]
        assert subject.locate_in("row", 7, args) == "row 1, feature 3"
        with pytest.raises(ValueError):
            subject.output_members(flat, args)


# --------------------------------------------------------------------------- oracles


def test_ensemble_oracle_is_each_members_linear_in_float64() -> None:
    subject = get_subject("vmap_over_ensemble")
    seed, d_in, features, members = 7, 5, 4, 3
    x = np.random.default_rng(0).standard_normal((B, d_in)).astype(np.float32)
    args = {"seed": seed, "x_batch": _x(x), "features": features, "n_models": 3.7}
    expected = subject.expected(args, False)
    assert expected.shape == (members * B * features,)
    assert expected.dtype == np.float32
    value = expected.value.reshape(members, B, features)
    bound = expected.bound.reshape(members, B, features)

    kernels, biases = ensemble_params(seed, d_in, features, members)
    assert kernels.shape == (members, d_in, features) and biases.shape == (members, features)
    # The parameters are those of the ensemble Flax builds: member m is an nnx.Linear of its own.
    graphdef, state = nnx.split(make_ensemble(seed, d_in, features, members))
    x64 = x.astype(np.float64)
    for m in range(members):
        member = nnx.merge(graphdef, jax.tree.map(lambda a, m=m: a[m], state))
        assert isinstance(member, nnx.Linear)
        kernel, bias = np.asarray(member.kernel[...]), np.asarray(member.bias[...])
        np.testing.assert_array_equal(kernel, kernels[m])
        np.testing.assert_array_equal(bias, biases[m])
        want = x64 @ kernel.astype(np.float64) + bias.astype(np.float64)
        np.testing.assert_allclose(value[m], want, rtol=1e-13, atol=1e-13)
        assert np.all(np.abs(value[m] - want) <= bound[m])
        assert np.all(bound[m] > 0) and np.all(bound[m] < 1e-5)
    assert not np.array_equal(kernels[0], kernels[1]), "members have their own parameters"


def test_anchored_oracle_is_linear_of_each_sample_minus_its_first_coordinate() -> None:
    subject = get_subject("vmap_anchored")
    seed, d_in, features, batch = 5, 3, 2, 4
    x = np.random.default_rng(1).standard_normal((batch, d_in)).astype(np.float32)
    args = {"seed": seed, "x_batch": _x(x), "features": features}
    expected = subject.expected(args, False)
    assert expected.shape == (batch * features,)
    assert expected.dtype == np.float32

    linear = nnx.Linear(d_in, features, rngs=nnx.Rngs(seed))
    kernel = np.asarray(linear.kernel[...], np.float64)
    bias = np.asarray(linear.bias[...], np.float64)
    np.testing.assert_array_equal(linear_params(seed, d_in, features)[0], kernel)
    module = AnchoredLinear(d_in, features, rngs=nnx.Rngs(seed))
    np.testing.assert_array_equal(np.asarray(module.linear.kernel[...], np.float64), kernel)

    value = expected.value.reshape(batch, features)
    bound = expected.bound.reshape(batch, features)
    x64 = x.astype(np.float64)
    for i in range(batch):
        sample = x64[i]
        want = (sample - sample[0]) @ kernel + bias  # this sample's own first coordinate, not row 0
        np.testing.assert_allclose(value[i], want, rtol=1e-13, atol=1e-13)
        assert np.all(np.abs(value[i] - want) <= bound[i])
    # Row 0 measured from itself is not the bias alone unless its coordinates are equal.
    assert not np.allclose(value[1:], (x64[1:] - x64[0]) @ kernel + bias)


def test_anchored_signal_is_in_the_anchored_input() -> None:
    subject = get_subject("vmap_anchored")
    constant_rows = {
        "seed": 0,
        "x_batch": _x(np.array([[2.0, 2.0], [-1.0, -1.0]], np.float32)),
        "features": 1,
    }
    assert not subject.has_signal(constant_rows)  # x - x[0] is all zeros: the output is the bias
    varied = {**constant_rows, "x_batch": _x(np.array([[2.0, 3.0]], np.float32))}
    assert subject.has_signal(varied)
    assert get_subject("vmap_over_batch").has_signal(constant_rows)


# --------------------------------------------------------------------------- output dtype


@pytest.mark.filterwarnings("ignore:Explicitly requested dtype")
@pytest.mark.parametrize(
    "dtype", [np.float16, ml_dtypes.bfloat16, np.float32, np.float64, np.int8, np.uint8, np.int32, np.int64]
)
def test_output_dtype_without_x64(dtype):
    assert not jax.config.jax_enable_x64
    assert output_dtype(np.dtype(dtype)) == np.dtype(np.float32)
    got = (jnp.asarray(np.ones((1, 2), dtype)) @ jnp.ones((2, 3), jnp.float32)).dtype
    assert output_dtype(np.dtype(dtype)) == np.dtype(got)


def test_output_dtype_and_expected_with_x64_in_a_subprocess():
    script = textwrap.dedent(
        """
        import json
        import jax
        jax.config.update("jax_enable_x64", True)
        import jax.numpy as jnp, ml_dtypes, numpy as np
        from conformance.subjects import VMAP_OVER_BATCH, output_dtype
        from impl.nnx_vmap import vmap_over_batch
        from strategies import KindedArray
        out = {}
        for d in ["float16", "float32", "float64", "int32", "int64"]:
            dt = np.dtype(d)
            actual = (jnp.asarray(np.ones((1, 2), dt)) @ jnp.ones((2, 3), jnp.float32)).dtype
            out[d] = [output_dtype(dt).name, np.dtype(actual).name]
        out["bfloat16"] = [output_dtype(np.dtype(ml_dtypes.bfloat16)).name, "float32"]
        x = np.random.default_rng(0).standard_normal((3, 7))
        args = {"seed": 4, "x_batch": KindedArray(x, "numpy"), "features": 5}
        exp = VMAP_OVER_BATCH.expected(args, True)
        got = np.asarray(vmap_over_batch(4, x, 5))
        out["expected_dtype"] = exp.dtype.name
        out["impl_dtype"] = got.dtype.name
        out["inside"] = bool(np.all(np.abs(got.astype(np.float64) - exp.value) <= exp.bound))
        out["bound_is_float64_sized"] = bool(np.all(exp.bound < 1e-12 * (1 + np.abs(exp.value))))
        print(json.dumps(out))
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["float64"] == ["float64", "float64"]
    assert out["int64"][0] == out["int64"][1]
    for d in ("float16", "float32", "int32", "bfloat16"):
        assert out[d] == ["float32", "float32"], (d, out[d])
    assert out["expected_dtype"] == out["impl_dtype"] == "float64"
    assert out["inside"]
    assert out["bound_is_float64_sized"]


# --------------------------------------------------------------------------- expected() against the built-in


SUBJECT_CASES = [
    (0, (3, 20), F32, 5),
    (2**40, (8, 3), F32, 16),
    (-5, (3, 64), BF16, 8),
    (7, (1, 200), F16, 3.7),
    (11, (0, 20), F32, 5),
    (3, (3, 20), F64, 5),
    (1, (3, 3), np.dtype(np.int32), 16),
]


@pytest.mark.filterwarnings("ignore:Explicitly requested dtype")
@pytest.mark.parametrize("seed,shape,dtype,features", SUBJECT_CASES)
def test_subject_expected_agrees_with_the_builtin(seed, shape, dtype, features):
    rng = np.random.default_rng(abs(seed) % 1000)
    if dtype.kind == "i":
        x = rng.integers(-(2**31), 2**31 - 1, shape).astype(dtype)  # rounded to float32 on the way in
    elif dtype == F64:  # full 53-bit values: rounded to float32 on the way in
        x = rng.standard_normal(shape) * 10.0 ** rng.uniform(-3, 3, shape)
    else:
        x = make_x(rng, shape, dtype, "wide", "mixed")
    args = {"seed": seed, "x_batch": KindedArray(x, "numpy"), "features": features}
    exp = VMAP_OVER_BATCH.expected(args, False)
    got = np.asarray(vmap_over_batch(seed, x, features))
    n_out = shape[0] * int(features)
    assert exp.shape == (n_out,) == got.shape
    assert exp.value.shape == exp.bound.shape == (n_out,)
    assert exp.dtype == np.dtype(np.float32) == got.dtype
    assert np.all(exp.bound >= 0)
    bad = outside(got, exp.value, exp.bound)
    assert not bad.any(), describe_worst(got, exp.value, exp.bound)
    if n_out:
        # the bound is a float32-sized tolerance, not a blanket one: the other seed's layer is rejected
        assert np.any(x != 0)
        other = np.asarray(vmap_over_batch(seed + 1, x, features))
        assert outside(other, exp.value, exp.bound).any()
