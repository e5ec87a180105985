"""Built-ins pass their worker on to the next built-in; nothing else ever shares a worker."""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np
import pytest

from conformance.boundary import executors
from conformance.boundary.executors import Target, WorkerExecutor, WorkerPool
from conformance.boundary.lifecycle import STOPPING, kill_all_workers
from conformance.run import engine
from conformance.run.settings import EngineOptions
from impl.registry import ImplementationLoadError, get

pytestmark = pytest.mark.slow  # each test starts one or two JAX workers

X = np.arange(12, dtype=np.float32).reshape(3, 4) / 7


def _args(subject: str) -> dict[str, object]:
    args: dict[str, object] = {"seed": 3, "x_batch": X, "features": 5}
    if subject == "vmap_over_ensemble":
        args["n_models"] = 2
    return args


def _in_process(name: str, subject: str) -> np.ndarray:
    return np.asarray(get(name, subject).fn(**_args(subject)))


@pytest.fixture
def pool() -> Iterator[WorkerPool]:
    pool = WorkerPool()
    yield pool
    pool.close()


def _started(
    name: str, subject: str, pool: WorkerPool | None, spec: str | None = None, **kw: object
) -> WorkerExecutor:
    ex = WorkerExecutor(Target(name, spec or name, subject), pool=pool, **kw)  # type: ignore[arg-type]
    ex.start()
    return ex


def _pid(ex: WorkerExecutor) -> int:
    assert ex._proc is not None
    return ex._proc.pid


def _alive(pid: int, settle: float = 0.0) -> bool:
    """Is ``pid`` running (not gone, not a zombie), after up to ``settle`` seconds for it to end?"""
    end = time.monotonic() + settle
    while True:
        try:
            with open(f"/proc/{pid}/stat") as f:
                running = f.read().split(") ")[1][0] != "Z"
        except FileNotFoundError:
            running = False
        if not running or time.monotonic() >= end:
            return running
        time.sleep(0.05)


def test_a_built_in_worker_serves_the_next_built_in_even_of_another_subject(pool: WorkerPool) -> None:
    first = _started("nnx_vmap", "vmap_over_batch", pool)
    assert first.call(_args("vmap_over_batch")).status == "ok"
    pid = _pid(first)
    first.close()
    assert _alive(pid)  # kept, not ended

    second = _started("manual_lift", "vmap_over_ensemble", pool)
    assert _pid(second) == pid
    assert second.impl.subject == "vmap_over_ensemble" and second.impl.builtin
    result = second.call(_args("vmap_over_ensemble"))  # n_models: the ensemble's own function answers
    assert result.status == "ok", result.describe_failure()
    np.testing.assert_array_equal(result.output, _in_process("manual_lift", "vmap_over_ensemble"))
    second.close()

    pool.close()
    assert not _alive(pid, settle=5.0)


def test_a_worker_that_loaded_code_from_outside_the_package_is_never_reused(pool: WorkerPool) -> None:
    external = _started("einsum", "vmap_over_batch", pool, spec="tests.zoo.correct:einsum")
    assert not external.impl.builtin
    pid = _pid(external)
    external.close()
    assert not _alive(pid, settle=5.0)

    # and the engine gives the pool only to the built-ins, by its own registry
    options = EngineOptions.build(impls=["nnx_vmap", "tests.zoo.correct:einsum"])
    eng = engine.Engine(options)
    try:
        subject = eng.options.subjects[0]
        pools = {t.name: eng.context(subject, t).executor.pool for t, _ in eng.targets(subject)}
        assert pools["nnx_vmap"] is not None and pools["einsum"] is None
    finally:
        eng.close()


def test_a_worker_whose_implementation_hung_is_not_reused(
    pool: WorkerPool, monkeypatch: pytest.MonkeyPatch
) -> None:
    ex = _started("nnx_vmap", "vmap_over_batch", pool, timeout=1e-3)
    first = _pid(ex)
    assert ex.call(_args("vmap_over_batch")).status == "timeout"
    assert not _alive(first, settle=5.0)
    ex.timeout = 60.0  # after a hang a call may take max(HANG_FLOOR, 10 x the slowest), at most this
    monkeypatch.setattr(executors, "HANG_FLOOR", 60.0)  # a cold first call on a busy machine
    assert ex.call(_args("vmap_over_batch")).status == "ok"  # in a new worker
    second = _pid(ex)
    ex.close()
    assert not _alive(second, settle=5.0)
    assert pool.take(ex._key) is None


def test_the_pool_keeps_configurations_apart(pool: WorkerPool) -> None:
    plain = _started("nnx_vmap", "vmap_over_batch", pool)
    pid = _pid(plain)
    plain.close()
    x64 = _started("nnx_vmap", "vmap_over_batch", pool, x64=True)
    assert _pid(x64) != pid
    x64.close()
    assert _alive(pid)


def test_stopping_the_run_ends_idle_workers_too(pool: WorkerPool) -> None:
    ex = _started("nnx_vmap", "vmap_over_batch", pool)
    pid = _pid(ex)
    ex.close()
    assert _alive(pid)
    try:
        kill_all_workers()
        assert not _alive(pid, settle=5.0)
    finally:
        STOPPING.clear()


def test_a_load_error_in_a_reused_worker_is_the_load_error_of_a_fresh_one(pool: WorkerPool) -> None:
    ex = _started("nnx_vmap", "vmap_over_batch", pool)
    pid = _pid(ex)
    ex.close()
    bad = WorkerExecutor(Target("nope", "no_such_builtin", "vmap_over_batch"), pool=pool)
    with pytest.raises(ImplementationLoadError, match="no_such_builtin"):
        bad.start()  # refused in the reused worker, then again in a fresh one: the fresh one's words
    assert not _alive(pid, settle=5.0)  # the reused worker is not given back
    assert pool.take(bad._key) is None
    bad.close()
