"""The process boundary: nothing an implementation does can hang, crash or rewrite the run.

The adversarial zoo (``tests/adversarial``) exits or hangs at import, has the wrong
signature, forges messages up the worker's pipe (a pickle whose loading would run
code in the runner, a result for another call, a frame of a petabyte), returns an
ndarray subclass or an object pretending to be an array, flips JAX's global
configuration, and leaves threads and processes behind. Each gets its verdict, and
the correct implementation beside them still gets its own.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conformance.run.settings import targets
from conformance.subjects import VMAP_OVER_BATCH
from tests.adversarial.forges import MARKER_ENV
from tests.boundary.helpers import env, workers_of

ROOT = Path(__file__).resolve().parents[2]
ADVERSARIAL = {
    "exits_at_import": "exits_at_import=tests/adversarial/exits_at_import.py:vmap_over_batch",
    "sleeps_at_import": "sleeps_at_import=tests/adversarial/sleeps_at_import.py:vmap_over_batch",
    "wrong_signature": "wrong_signature=tests/adversarial/wrong_signature.py:vmap_over_batch",
    "sends_pickle": "tests.adversarial.forges:sends_pickle",
    "sends_forged_result": "tests.adversarial.forges:sends_forged_result",
    "announces_huge_frame": "tests.adversarial.forges:announces_huge_frame",
    "returns_subclass": "tests.adversarial.pretends:returns_subclass",
    "returns_pretender": "tests.adversarial.pretends:returns_pretender",
    "flips_x64": "tests.adversarial.pretends:flips_x64",
    "leaves_a_thread": "tests.adversarial.pretends:leaves_a_thread",
    "leaves_a_process": "tests.adversarial.pretends:leaves_a_process",
    "nnx_vmap": "nnx_vmap",
}
#: implementation -> (property, words its failure must contain); load errors under "load".
VERDICTS = {
    "exits_at_import": ("load", "ended its process while loading (exit code 7)"),
    "sleeps_at_import": ("load", "did not load within 20 s"),
    "wrong_signature": ("load", "takes 1 argument (x_batch); the subject passes 3: seed, x_batch, features"),
    "sends_pickle": ("output_contract", "protocol violation: the worker sent a message that is not JSON"),
    "sends_forged_result": ("output_contract", "protocol violation"),
    "announces_huge_frame": ("output_contract", "protocol violation: the worker sent a frame of"),
    "returns_subclass": ("output_contract", "(a numpy.ndarray subclass), expected a jax.Array"),
    "returns_pretender": ("output_contract", "LooksLikeAnArray, expected a jax.Array"),
    "flips_x64": ("no_side_effects", "changed JAX's global configuration: jax_enable_x64 False -> True"),
    "leaves_a_thread": ("no_side_effects", "left 1 thread(s) running: left-behind"),
    "leaves_a_process": ("no_side_effects", "started a process that outlived the call"),
}


@pytest.mark.slow
def test_the_adversarial_zoo_gets_its_verdicts_and_the_built_in_its_own(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    report = tmp_path / "report.json"
    cmd = [sys.executable, "-m", "conformance", "check", "--profile", "ci", "--quiet", "--load-timeout", "20"]
    cmd += ["--max-examples", "3", "--property", "output_contract", "--property", "no_side_effects"]
    cmd += ["--json", str(report)]
    for spec in ADVERSARIAL.values():
        cmd += ["--impl", spec]
    done = subprocess.run(
        cmd, cwd=ROOT, env=env(**{MARKER_ENV: str(marker)}), capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 2, done.stdout + done.stderr  # load errors: 2, not 3 (no internal error)
    assert not marker.exists(), "the forged pickle ran code in the runner"
    data = json.loads(report.read_text())
    impls = {i["name"]: i for i in data["implementations"]}
    assert list(impls) == list(ADVERSARIAL)  # every implementation keeps its place
    assert impls["nnx_vmap"]["verdict"] == "conforms"
    for name, (prop, words) in VERDICTS.items():
        impl = impls[name]
        if prop == "load":
            assert impl["verdict"] == "load error" and words in impl["load_error"], impl
            continue
        cell = next(c for c in impl["properties"] if c["name"] == prop)
        assert cell["status"] == "fail" and words in cell["message"], (name, cell["message"])
        assert impl["verdict"] == "does not conform"
    # Processes the implementations left behind went with their workers.
    assert workers_of(os.getpid()) == set()


def _start_hanging_run(tmp_path: Path) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "conformance", "check", "--quiet", "--timeout", "600"]
    cmd += ["--impl", "a=tests.adversarial.pretends:always_hangs", "--property", "output_contract"]
    cmd += ["--impl", "b=tests.adversarial.pretends:always_hangs", "--jobs", "2"]  # two threads, two workers
    return subprocess.Popen(cmd, cwd=ROOT, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _wait_for_worker(runner: subprocess.Popen, seconds: float = 120.0) -> set[int]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        workers = workers_of(runner.pid)
        if len(workers) >= 2:
            time.sleep(8)  # let the worker load and enter the hanging call
            return workers
        time.sleep(0.2)
    raise AssertionError("the runner started no worker")


def _gone_within(pids: set[int], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        alive = {p for p in pids if os.path.exists(f"/proc/{p}") and _state(p) != "Z"}
        if not alive:
            return True
        time.sleep(0.1)
    return False


def _state(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "Z"


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL], ids=lambda s: s.name)
def test_stopping_the_runner_ends_its_workers_within_5_seconds(tmp_path: Path, sig: signal.Signals) -> None:
    """SIGTERM and SIGINT reach the runner's handler; SIGKILL (the runner dies) the worker's watchdog."""
    runner = _start_hanging_run(tmp_path)
    try:
        workers = _wait_for_worker(runner)
        os.kill(runner.pid, sig)
        assert _gone_within(workers, 5.0), f"workers {workers} outlived the runner after {sig.name}"
    finally:
        runner.kill()
        runner.wait()


def test_names_from_specs_are_unique_and_shown_the_same_everywhere() -> None:
    specs = ["a/one.py:vmap_over_batch", "b/two.py:vmap_over_batch", "nnx_vmap", "x=pkg.mod:f"]
    named = targets(VMAP_OVER_BATCH, specs)
    assert [t.name for t, _ in named] == ["vmap_over_batch", "vmap_over_batch_2", "nnx_vmap", "x"]
    # The renamed one carries its name into the worker; the origin is what the user typed.
    assert named[1][0].spec == "vmap_over_batch_2=b/two.py:vmap_over_batch"
    assert [origin for _, origin in named] == specs
