"""The built-ins conform under the configurations users run JAX with.

Each test runs ``python -m conformance check --profile ci --subject all --quiet`` in a fresh
interpreter (JAX reads these settings when it is imported) with one setting changed:

* ``JAX_DEFAULT_PRNG_IMPL=rbg`` and ``=unsafe_rbg`` (common on TPUs): other parameters for
  every seed, so other goldens (``conformance.cases.golden`` keeps a group per PRNG implementation);
* ``JAX_ENABLE_X64=1``: whole int64 seeds, float64 promotion;
* ``XLA_FLAGS=--xla_force_host_platform_device_count=8``: eight CPU devices instead of one.
  Workers always have eight (for the sharding properties), so this changes the runner, where
  the oracle and the reference panel run. This run is the README's main job in full (every
  group).

Slow tier: ``python -m pytest tests/faces/test_configurations.py -m slow``; each run takes a few
minutes on two cores (docs/performance.md).
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
#: The README's main job.
MAIN_JOB = ["-m", "conformance", "check", "--profile", "ci", "--subject", "all", "--quiet"]
#: The forward group on every subject: the transform group already runs in every worker with eight
#: host devices (the main job, below), and adds minutes per configuration; under rbg it runs once below.
COMMAND = [*MAIN_JOB, "--group", "forward"]
TIMEOUT = 1200

#: name -> the environment variables that make the configuration (XLA_FLAGS is appended to)
CONFIGURATIONS: dict[str, dict[str, str]] = {
    "prng_rbg": {"JAX_DEFAULT_PRNG_IMPL": "rbg"},
    "prng_unsafe_rbg": {"JAX_DEFAULT_PRNG_IMPL": "unsafe_rbg"},
    "x64": {"JAX_ENABLE_X64": "1"},
    "eight_host_devices": {"XLA_FLAGS": "--xla_force_host_platform_device_count=8"},
}
#: Configurations checked with the README's main job in full (every group) instead of COMMAND.
FULL = {"eight_host_devices"}
#: Configurations whose run also checks, on vmap_over_batch, the transform properties under which
#: the parameters are drawn again inside a trace (jit and the gradients), with that PRNG.
WITH_TRANSFORMS = {"prng_rbg"}
#: The transform properties whose implementation draws its parameters under a trace.
TRACED_DRAWS = ("jit_agrees_with_oracle", "vjp_agrees_with_oracle", "jvp_agrees_with_oracle")


def configured_env(changes: dict[str, str], case_dir: Path) -> dict[str, str]:
    """This environment with ``changes``: no profile or database from outside, cases in a temp dir."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONFORMANCE_")}
    env.pop("PYTEST_ADDOPTS", None)
    for key, value in changes.items():
        env[key] = " ".join(filter(None, [env.get(key), value])) if key == "XLA_FLAGS" else value
    env["CONFORMANCE_CASE_DIR"] = str(case_dir)
    env["COLUMNS"] = "200"  # rich: no truncated table cells in the output shown on failure
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return env


@pytest.mark.slow
@pytest.mark.parametrize("name", list(CONFIGURATIONS))
def test_the_builtins_conform_under(name: str, tmp_path: Path) -> None:
    changes = CONFIGURATIONS[name]
    runs = [[sys.executable, *(MAIN_JOB if name in FULL else COMMAND)]]
    if name in WITH_TRANSFORMS:
        runs.append(
            [
                sys.executable,
                "-m",
                "conformance",
                "check",
                "--profile",
                "ci",
                "--quiet",
                *(f"--property={p}" for p in TRACED_DRAWS),
            ]
        )
    for argv in runs:
        proc = subprocess.run(
            argv,
            cwd=ROOT,
            env=configured_env(changes, tmp_path),
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )
        setting = " ".join(f"{k}={shlex.quote(v)}" for k, v in changes.items())
        assert proc.returncode == 0, (
            f"$ {setting} {shlex.join(argv)}\n-> exit {proc.returncode}\n{proc.stdout}\n{proc.stderr[-5000:]}"
        )
