"""``--subject file.py:attr`` from the command line and the pytest face: a per-sample subject is
checked end to end, and a declaration that cannot work is one line and exit code 2; ``subjects``
lists the advertised declarations without loading them and describes one with ``--subject``."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conformance import cli
from conformance.base.verdict import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from conformance.run import user_subjects

ROOT = Path(__file__).resolve().parents[2]

SUBJECTS = """
import jax.numpy as jnp
from flax import nnx

import conformance


class Scale(nnx.Module):
    def __init__(self, d, rngs):
        self.w = nnx.Param(nnx.initializers.normal()(rngs.params(), (d,)))

    def __call__(self, x):  # x: (L, D), one sample
        return jnp.cumsum(x * self.w[...], axis=0)


scale = conformance.per_sample(make=lambda seed, dims: Scale(dims["D"], nnx.Rngs(seed)),
                               call=lambda m, x: m(x), sample=("L", "D"))


class Noisy(nnx.Module):
    def __init__(self, d, rngs):
        self.w = nnx.Param(nnx.initializers.normal()(rngs.params(), (d,)))
        self.drop = nnx.Dropout(0.5, rngs=rngs)

    def __call__(self, x):  # x: (D,), one sample
        return self.drop(x * self.w[...])


noisy = conformance.per_sample(make=lambda seed, dims: Noisy(dims["D"], nnx.Rngs(seed)),
                               call=lambda m, x: m(x), sample=("D",),
                               dims={"D": conformance.dim(min=2, max=32, multiple_of=2)},
                               dtypes=("float32", "float64"), randomness="different",
                               tolerance=conformance.tolerance(factor=8, floor=4),
                               summary="a scale, then dropout, of one sample (D,)")
# the seed never reaches the parameters: seed_sensitivity has nothing to tell apart
seedless = conformance.per_sample(make=lambda seed, dims: Scale(dims["D"], nnx.Rngs(0)),
                                  call=lambda m, x: m(x), sample=("L", "D"))
broken_make = conformance.per_sample(make=lambda seed, dims: 1 / 0, call=lambda m, x: x, sample=("D",))
exits = conformance.per_sample(make=lambda seed, dims: exit(3), call=lambda m, x: x, sample=("D",))


def batched(model, x_batch):
    return jnp.cumsum(x_batch * model.w[...], axis=1)


def over_batch(model, x_batch):  # the cumulative sum runs over the batch axis
    return jnp.cumsum(x_batch * model.w[...], axis=0)
"""


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("user")
    (path / "my_subjects.py").write_text(textwrap.dedent(SUBJECTS))
    (path / "not_one.py").write_text("scale = 3\n")
    (path / "exits_at_import.py").write_text("import sys\nsys.exit(4)\n")
    return path


def _run(folder: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "conformance", "check", "--profile", "dev", "--quiet", *args],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_a_per_sample_subject_is_checked_from_the_command_line(folder: Path) -> None:
    done = _run(
        folder,
        "--subject",
        "my_subjects.py:scale",
        "--impl",
        "my_subjects.py:batched",
        "--impl",
        "my_subjects.py:over_batch",
        "--group",
        "forward",
    )
    assert done.returncode == EXIT_FAILED, done.stdout[-2000:] + done.stderr[-2000:]
    assert "batched" in done.stdout and "over_batch / batch_independence" in done.stdout
    assert "--subject my_subjects.py:scale" in done.stdout  # the replay command names it


def test_seed_sensitivity_is_a_skip_saying_why_for_a_module_that_ignores_its_seed(folder: Path) -> None:
    args = ("--impl", "my_subjects.py:batched", "--property", "seed_sensitivity", "--max-examples", "3")
    done = _run(folder, "--subject", "my_subjects.py:seedless", *args)
    assert done.returncode == EXIT_OK, done.stdout[-2000:] + done.stderr[-2000:]
    assert "builds the same model for seeds 0 and 1: the module does not use its seed" in done.stdout
    used = _run(folder, "--subject", "my_subjects.py:scale", *args)  # the same module, seeded
    assert used.returncode == EXIT_OK and "does not use its seed" not in used.stdout


@pytest.mark.slow
def test_the_correct_rewrite_alone_conforms(folder: Path) -> None:
    done = _run(folder, "--subject", "my_subjects.py:scale", "--impl", "my_subjects.py:batched")
    assert done.returncode == EXIT_OK, done.stdout[-3000:]


@pytest.mark.parametrize(
    ("subject", "words"),
    [
        ("my_subjects.py:broken_make", "the declaration fails on a batch of two samples"),
        ("not_one.py:scale", "is a int, not a per-sample subject: declare it with conformance.per_sample"),
        pytest.param(*("no_such_file.py:scale", "no such file no_such_file.py"), marks=pytest.mark.slow),
        pytest.param(
            *("my_subjects.py:no_such_name", "has no attribute 'no_such_name'"), marks=pytest.mark.slow
        ),
        pytest.param(*("exits_at_import.py:x", "exits_at_import.py"), marks=pytest.mark.slow),
        pytest.param(*("my_subjects.py:exits", "--subject my_subjects.py:exits"), marks=pytest.mark.slow),
    ],
)
def test_a_declaration_that_cannot_work_is_one_line_and_exit_2(
    folder: Path, subject: str, words: str
) -> None:
    done = _run(folder, "--subject", subject, timeout=120)
    assert done.returncode == EXIT_USAGE, done.stdout[-1000:] + done.stderr[-1000:]
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and words in lines[0], done.stderr
    assert "Traceback" not in done.stderr


def test_user_code_never_runs_in_the_runner(folder: Path) -> None:
    done = _run(folder, "--subject", "my_subjects.py:scale", "--isolation", "none")
    assert done.returncode == EXIT_USAGE
    assert "a per-sample subject's code runs only in workers" in done.stderr


@pytest.mark.slow
def test_the_pytest_face_takes_a_per_sample_subject(folder: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--pyargs",
            "conformance.suite",
            "-q",
            "-p",
            "no:cacheprovider",
            "--subject",
            "my_subjects.py:scale",
            "--impl",
            "my_subjects.py:over_batch",
            "--conformance-profile",
            "dev",
            "--conformance-group",
            "forward",
        ],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 1, done.stdout[-2000:]
    assert "over_batch-batch_independence" in done.stdout and "passed" in done.stdout


def test_an_installed_package_advertises_a_subject_by_name(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--subject NAME`` finds a declaration advertised under the entry-point group, as
    implementations are found; nothing of it is imported to find it."""
    point = importlib.metadata.EntryPoint(
        name="causal_scale", value="my_subjects:scale", group=user_subjects.SUBJECT_ENTRY_POINTS
    )
    monkeypatch.setattr(
        importlib.metadata, "entry_points", lambda **kw: [point] if kw.get("group") == point.group else []
    )
    assert user_subjects.user_spec("causal_scale") == "my_subjects:scale"
    assert user_subjects.user_spec("vmap_over_batch") is None
    assert user_subjects.user_spec("other.py:thing") == "other.py:thing"
    assert user_subjects.is_user_subject("causal_scale") and not user_subjects.is_user_subject(
        "vmap_anchored"
    )


def _advertise(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    point = importlib.metadata.EntryPoint(name=name, value=value, group=user_subjects.SUBJECT_ENTRY_POINTS)
    monkeypatch.setattr(
        importlib.metadata, "entry_points", lambda **kw: [point] if kw.get("group") == point.group else []
    )


def test_subjects_lists_an_advertised_subject_without_loading_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """An advertised declaration is listed as its entry point says, after the built-ins; its module
    (here one that raises when imported) is not imported to list it."""
    _advertise(monkeypatch, "causal_scale", "tests.fixtures.raises_on_import:scale")
    monkeypatch.delitem(sys.modules, "tests.fixtures.raises_on_import", raising=False)
    assert cli.main(["subjects"]) == EXIT_OK
    out = capsys.readouterr().out
    listed = [line for line in out.splitlines() if line and not line.startswith(" ")]
    assert listed == ["vmap_over_batch", "vmap_over_ensemble", "vmap_anchored", "causal_scale"]
    assert (
        "  a per-sample subject advertised by an installed package: tests.fixtures.raises_on_import:scale"
        in out
    )
    assert "subjects --subject causal_scale' describes it" in out
    assert "tests.fixtures.raises_on_import" not in sys.modules


def test_subjects_describes_a_declaration(folder: Path) -> None:
    """``subjects --subject FILE.py:NAME`` loads the declaration in its oracle worker and shows what
    it declares and what applies to it."""
    done = subprocess.run(
        [sys.executable, "-m", "conformance", "subjects", "--subject", "my_subjects.py:noisy"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == EXIT_OK, done.stderr
    lines = done.stdout.splitlines()
    assert lines[:4] == [
        "my_subjects.py:noisy",
        "  noisy(seed, x_batch: (B, D)) -> (B, ...)",
        "  a scale, then dropout, of one sample (D,)",
        "  sample: (D,)",
    ]
    assert "    D: 2..32, multiples of 2; drawn: 2, 4, 32" in lines
    assert "  dtypes: float32, float64 (float64 only under --x64)" in lines
    assert "  randomness: different (each sample its own draws)" in lines
    assert any(line.startswith("  tolerance: factor 8, floor 4 ") for line in lines), lines
    assert "  free references: loop, nnx_vmap, manual_lift" in lines
    (props,) = [line for line in lines if line.startswith("  properties: ")]
    assert "randomness_as_declared" in props and "agrees_with_oracle" not in props


def test_subjects_describes_an_advertised_subject_by_name(
    folder: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _advertise(monkeypatch, "causal_scale", "my_subjects:scale")
    monkeypatch.chdir(folder)
    monkeypatch.setattr(sys, "path", [str(folder), *sys.path])
    assert cli.main(["subjects", "--subject", "causal_scale"]) == EXIT_OK
    out = capsys.readouterr().out
    assert out.startswith(
        "my_subjects:scale  (advertised as causal_scale)\n  scale(seed, x_batch: (B, L, D))"
    )
    assert "  randomness: none (the module draws no random numbers)" in out
    assert "  tolerance: factor 32, floor 8 " in out
    assert "vjp_agrees_with_oracle" in out


@pytest.mark.parametrize(
    ("subject", "words"),
    [
        ("no_such_file.py:scale", "error: 'no_such_file.py:scale': no such file no_such_file.py"),
        ("no_such_subject", "error: unknown subject 'no_such_subject'; known: vmap_over_batch"),
        ("my_subjects.py:batched", "is a function, not a per-sample subject"),
    ],
)
def test_subjects_with_a_bad_spec_is_one_line_and_exit_2(
    folder: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    subject: str,
    words: str,
) -> None:
    monkeypatch.chdir(folder)
    assert cli.main(["subjects", "--subject", subject]) == EXIT_USAGE
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and words in lines[0], captured.err
    assert captured.out == ""
