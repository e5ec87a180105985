"""``--subject file.py:attr`` from the command line and the pytest face: a per-sample subject is
checked end to end, and a declaration that cannot work is one line and exit code 2."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conformance.base.verdict import EXIT_FAILED, EXIT_OK, EXIT_USAGE

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
    import importlib.metadata

    from conformance.run import user_subjects

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
