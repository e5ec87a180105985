"""Nothing an implementation starts outlives its call, or at the latest its worker, detached or not.

A process started in a session of its own (``start_new_session=True``), or daemonized by a
shell, leaves the worker's process group: killing the group does not reach it. The worker is
its subreaper and kills what each call left (:mod:`conformance.boundary.processes`); the
runner asks the worker to end everything when it ends it, and finds what a killed worker left
by the worker's token. An implementation caught leaking is not called again in that run.

The fast tests drive :mod:`conformance.boundary.processes` and the worker's watchdog in small
interpreters without JAX; the slow ones run ``python -m conformance check`` on the adversarial
implementations (``tests/adversarial``) and look for their ``sleep <marker>`` processes after it.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from conformance.boundary import processes, protocol
from conformance.boundary.calls import left_processes, observe_call
from tests.adversarial.marker import MARKER_ENV, STARTS_ENV
from tests.boundary.helpers import command_lines, env, workers_of

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


def _marker() -> str:
    """A ``sleep`` duration no other test uses: the processes of this test are found by it."""
    return f"600.{secrets.randbelow(10**8):08d}"


def _marked(marker: str) -> set[int]:
    """Running processes (not zombies) of ``sleep <marker>...``."""
    return {pid for pid, cmd in command_lines() if cmd.startswith(b"sleep\0" + marker.encode())}


def _until(check: object, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return bool(check())  # type: ignore[operator]


def _kill(pids: set[int]) -> None:
    """A test's own leftovers, should it fail: by pid, never by name."""
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


# --------------------------------------------------------------------------- fast: the pieces


_AFTER_A_CALL = r"""
import json, subprocess, sys
from conformance.boundary import processes
assert processes.become_subreaper()
marker = sys.argv[1]
before = processes.descendants()
subprocess.Popen(["sleep", marker + "1"], start_new_session=True)  # detached: a session of its own
subprocess.run(["sh", "-c", f"setsid sleep {marker}2 </dev/null >/dev/null 2>&1 &"], check=True)  # an orphan
subprocess.run(["true"], check=True)  # ended and reaped in the call: nothing left
found = processes.end_new(before)
print(json.dumps({"found": sorted(found.values()), "left": sorted(processes.descendants() - before)}))
"""


def test_a_subreaper_kills_and_reaps_what_a_call_left_detached_or_orphaned() -> None:
    marker = _marker()
    done = subprocess.run(
        [sys.executable, "-c", _AFTER_A_CALL, marker],
        cwd=ROOT,
        env=env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    try:
        assert done.returncode == 0, done.stderr
        out = json.loads(done.stdout)
        assert len(out["found"]) == 2, out  # the detached child, and the orphan that came back to it
        assert any(f"{marker}1" in cmd for cmd in out["found"]), out
        assert any(f"{marker}2" in cmd for cmd in out["found"]), out
        assert out["left"] == []  # killed and reaped: not even zombies
        assert _marked(marker) == set()
    finally:
        _kill(_marked(marker))


_WORKER = r"""
import os, subprocess, sys, time
from conformance.boundary import processes, worker
processes.become_subreaper()
subprocess.Popen(["sleep", sys.argv[1] + "1"], start_new_session=True)
subprocess.run(["sh", "-c", f"setsid sleep {sys.argv[1]}2 </dev/null >/dev/null 2>&1 &"], check=True)
worker.watch(os.getppid(), int(sys.argv[2]))
print("ready", flush=True)
time.sleep(600)  # a call that hangs: the watchdog does not need the main thread
"""


def test_closing_the_control_pipe_ends_the_worker_and_what_it_detached() -> None:
    """What the runner does to end a worker (lifecycle.end, kill_all_workers)."""
    marker = _marker()
    read_end, write_end = os.pipe()
    proc = subprocess.Popen(
        [sys.executable, "-c", _WORKER, marker, str(read_end)],
        cwd=ROOT,
        env=env(),
        pass_fds=(read_end,),
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,  # a group of its own, as a worker's: its watchdog kills that group
    )
    os.close(read_end)
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
        assert _until(lambda: len(_marked(marker)) == 2, 5.0)
        os.close(write_end)
        write_end = -1
        proc.wait(5)
        assert _until(lambda: not _marked(marker), 2.0), _marked(marker)
    finally:
        if write_end >= 0:
            os.close(write_end)
        proc.kill()
        proc.wait()
        _kill(_marked(marker))


def test_what_a_killed_worker_left_is_found_by_its_token_and_nothing_else() -> None:
    """After a worker was killed (SIGKILL, a crash), its orphans went to init: the runner finds them
    by the token in their environment (lifecycle.end)."""
    marker, token = _marker(), secrets.token_hex(8)
    orphan = f"sleep {marker}1 </dev/null >/dev/null 2>&1 &"
    subprocess.run(["sh", "-c", orphan], env={**os.environ, processes.TOKEN_ENV: token}, check=True)
    other = f"sleep {marker}2 </dev/null >/dev/null 2>&1 &"
    subprocess.run(["sh", "-c", other], env={**os.environ, processes.TOKEN_ENV: "another"}, check=True)
    try:
        assert _until(lambda: len(_marked(marker)) == 2, 5.0)
        killed = processes.end_marked([token])
        assert len(killed) == 1
        assert _until(lambda: len(_marked(marker)) == 1, 2.0)
        assert _marked(f"{marker}2")  # another worker's (another token) is not touched
    finally:
        _kill(_marked(marker))


def test_in_the_runner_a_call_s_processes_are_reported_never_killed() -> None:
    """The runner's own built-ins: other threads start workers meanwhile, so nothing is killed."""
    marker = _marker()
    started: list[subprocess.Popen] = []
    try:
        result = observe_call(lambda: started.append(subprocess.Popen(["sleep", marker])), {})
        assert result.status == "ok"
        left = left_processes(result.side_effects)
        assert left is not None and f"sleep {marker}" in left and "killed" not in left
        assert left.startswith("started a process that outlived the call: pid ")
        assert processes.running(started[0].pid)
    finally:
        for p in started:
            p.kill()
            p.wait()


def test_an_oversized_output_is_refused_before_it_is_copied() -> None:
    """3 GiB (a broadcast view: no memory of its own) is refused without a copy of 3 GiB."""
    huge = np.broadcast_to(np.zeros(1, np.float32), (3 << 28,))
    start = time.perf_counter()
    result = observe_call(lambda: huge, {})
    assert time.perf_counter() - start < 5.0
    assert result.status == "ok" and result.output is None
    assert result.output_type == (
        "numpy.ndarray of 3.0 GiB, too large to check (an output may take at most 1 GiB)"
    )
    message, data = result.to_message(1)
    assert data is None and message["output"] is None
    assert protocol.parse(protocol.encode_json(message))["output_type"] == result.output_type
    # at the limit it is still sent
    assert observe_call(lambda: np.zeros(5, np.float32), {}).output is not None


# --------------------------------------------------------------------------- slow: whole runs


def _check(tmp_path: Path, spec: str, *extra: str) -> tuple[subprocess.CompletedProcess, dict, str, Path]:
    marker, starts, report = _marker(), tmp_path / "starts", tmp_path / "report.json"
    cmd = [sys.executable, "-m", "conformance", "check", "--impl", spec, "--quiet", "--json", str(report)]
    done = subprocess.run(
        [*cmd, *extra],
        cwd=ROOT,
        env=env(**{MARKER_ENV: marker, STARTS_ENV: str(starts)}),
        capture_output=True,
        text=True,
        timeout=600,
    )
    data = json.loads(report.read_text()) if report.exists() else {}
    return done, data, marker, starts


def _starts(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


@pytest.mark.slow
@pytest.mark.parametrize("behaviour", ["detaches_a_process", "starts_a_child", "daemonizes"])
def test_a_leaking_implementation_is_called_once_fails_and_leaves_nothing(
    tmp_path: Path, behaviour: str
) -> None:
    done, data, marker, starts = _check(
        tmp_path, f"tests/adversarial/{behaviour}.py:vmap_over_batch", "--profile", "dev"
    )
    try:
        assert _marked(marker) == set(), "a process the implementation started outlived the run"
        assert done.returncode == 1, done.stdout + done.stderr
        assert 1 <= _starts(starts) <= 2, starts.read_text()  # given up after its first call
        (impl,) = data["implementations"]
        assert impl["verdict"] == "does not conform"
        cells = {c["name"]: c for c in impl["properties"]}
        assert cells["no_side_effects"]["status"] == "fail"
        for cell in cells.values():
            assert cell["status"] == "fail", cell
            assert "started a process that outlived the call: pid " in cell["message"], cell
            assert f"sleep {marker}" in cell["message"]
    finally:
        _kill(_marked(marker))


@pytest.mark.slow
def test_what_a_worker_killed_mid_call_detached_is_ended_by_the_runner(tmp_path: Path) -> None:
    """The worker dies (SIGKILL) before it can clean up: its orphan is found by the worker's token."""
    done, data, marker, starts = _check(
        tmp_path,
        "tests/adversarial/detaches_then_dies.py:vmap_over_batch",
        "--property",
        "output_contract",
    )
    try:
        assert _marked(marker) == set()
        assert 1 <= _starts(starts) <= 3  # dead calls in a row: given up after 3
        (cell,) = data["implementations"][0]["properties"]
        assert cell["status"] == "fail" and "killed its process (killed by SIGKILL)" in cell["message"]
    finally:
        _kill(_marked(marker))


@pytest.mark.slow
def test_what_a_hanging_call_detached_is_ended_with_its_worker_at_the_timeout(tmp_path: Path) -> None:
    done, data, marker, starts = _check(
        tmp_path,
        "tests/adversarial/detaches_then_hangs.py:vmap_over_batch",
        "--property",
        "output_contract",
        "--timeout",
        "3",
    )
    try:
        assert _marked(marker) == set()
        assert 1 <= _starts(starts) <= 3
        (cell,) = data["implementations"][0]["properties"]
        assert cell["status"] == "fail" and "did not return within 3 s" in cell["message"]
    finally:
        _kill(_marked(marker))


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=lambda s: s.name)
def test_stopping_the_runner_mid_call_ends_the_worker_and_what_it_detached(
    tmp_path: Path, sig: signal.Signals
) -> None:
    """SIGTERM: the runner's handler asks each worker to end everything; SIGKILL: the runner is
    gone, its end of the control pipe closes, and the worker's watchdog does the same."""
    marker, starts = _marker(), tmp_path / "starts"
    cmd = [sys.executable, "-m", "conformance", "check", "--quiet", "--timeout", "600"]
    cmd += ["--impl", "tests/adversarial/detaches_then_hangs.py:vmap_over_batch"]
    cmd += ["--property", "output_contract"]
    runner = subprocess.Popen(
        cmd,
        cwd=ROOT,
        env=env(**{MARKER_ENV: marker, STARTS_ENV: str(starts)}),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert _until(lambda: _starts(starts) >= 1 and _marked(marker), 120.0), "no call started"
        assert workers_of(runner.pid)
        runner.send_signal(sig)
        assert _until(lambda: not workers_of(runner.pid) and not _marked(marker), 5.0), (
            f"outlived the runner after {sig.name}: workers {workers_of(runner.pid)}, "
            f"processes {_marked(marker)}"
        )
    finally:
        runner.kill()
        runner.wait()
        _kill(_marked(marker) | workers_of(runner.pid))
