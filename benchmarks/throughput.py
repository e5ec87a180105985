"""How fast the suite searches, against a naive Hypothesis loop, in one process and one run.

Prints, for the same implementations (the three built-ins of ``vmap_over_batch``):

1. the naive loop: one ``@given`` test per implementation, shapes drawn freely,
   one call and one float64 comparison per example -- examples/s;
2. the suite's ``ci`` profile (every property, every edge), cold compilation
   cache -- examples/s (one example = one property checked on one generated case)
   and the ratio to (1);
3. the wall time of ``python -m conformance check --profile ci`` on the three
   built-ins from a cold process, with an empty and then a warm persistent
   compilation cache;
4. time to the first failure and from it to the reported minimal counterexample,
   for every broken implementation in ``tests/zoo/broken.py`` (``--shrink``;
   this part takes several minutes).

Run from the repository root: ``python benchmarks/throughput.py [--shrink] [--json PATH]``;
``--check-only [--repeat N] [--impl NAME ...]`` times only (3), N times, each with its own
empty cache, and gives the CPU time of the runner and its workers beside the wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

NAIVE_EXAMPLES = 40


def naive_loop(name: str, examples: int) -> tuple[int, float]:
    """The loop a user would write first: free shapes, one call, one float64 comparison."""
    import jax
    import numpy as np
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from conformance.numerics.oracle import linear_params
    from impl.registry import get

    fn = get(name).fn
    count = [0]

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(
        seed=st.integers(0, 2**32 - 1),
        batch=st.integers(0, 300),
        d_in=st.integers(1, 300),
        features=st.integers(1, 200),
        data=st.data(),
    )
    def test(seed: int, batch: int, d_in: int, features: int, data: st.DataObject) -> None:
        count[0] += 1
        rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
        x = rng.standard_normal((batch, d_in)).astype(np.float32)
        out = np.asarray(fn(seed, x, features), dtype=np.float64)
        kernel, bias = linear_params(seed, d_in, features)
        want = x.astype(np.float64) @ kernel.astype(np.float64) + bias
        assert np.allclose(out, want.reshape(-1), rtol=1e-4, atol=1e-5)

    jax.clear_caches()  # no head start from code compiled for another implementation
    start = time.perf_counter()
    test()
    return count[0], time.perf_counter() - start


def suite_ci(names: list[str], cache_dir: str) -> tuple[int, float, bool]:
    import jax

    from conformance.run import engine
    from conformance.run.settings import default_jobs

    jax.clear_caches()
    start = time.perf_counter()
    report = engine.check(names, compile_cache=cache_dir, jobs=default_jobs())
    elapsed = time.perf_counter() - start
    examples = sum(c.examples for i in report.implementations for c in i.properties)
    return examples, elapsed, report.passed


def cli_run(cache_dir: str, impls: list[str] | None = None) -> tuple[float, float]:
    """Wall and CPU seconds (user + system, the runner and every worker) of one check of
    ``impls`` (default: every built-in of ``vmap_over_batch``)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "conformance", "check", "--profile", "ci", "--quiet"]
        + [f"--impl={name}" for name in impls or ()],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "CONFORMANCE_COMPILE_CACHE": cache_dir},
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def shrink_times() -> dict[str, float]:
    from tests.helpers import check
    from tests.zoo.broken import BROKEN, NEEDS_ISOLATION

    first, shrink, caught, pairs = [], [], 0, 0
    for name, (_, props) in BROKEN.items():
        isolated = name in NEEDS_ISOLATION
        result = check(
            f"{name}=tests.zoo.broken:{name}",
            props,
            isolation="process" if isolated else "none",
            timeout=5 if isolated else None,
        )
        for cell in result.properties:
            pairs += 1
            caught += cell.status == "fail"
            if cell.first_failure_seconds is not None:
                first.append(cell.first_failure_seconds)
                shrink.append(cell.shrink_seconds)
    return {
        "pairs": pairs,
        "caught": caught,
        "first_failure_median_s": statistics.median(first),
        "first_failure_max_s": max(first),
        "shrink_median_s": statistics.median(shrink),
        "shrink_max_s": max(shrink),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--shrink", action="store_true", help="also time the broken implementations")
    parser.add_argument("--json", metavar="PATH", help="write the figures here")
    parser.add_argument("--naive-examples", type=int, default=NAIVE_EXAMPLES)
    parser.add_argument("--check-only", action="store_true", help="time only check --profile ci, cold")
    parser.add_argument("--repeat", type=int, default=1, metavar="N", help="with --check-only: N runs")
    parser.add_argument(
        "--impl",
        action="append",
        metavar="NAME",
        help="with --check-only: check these built-ins (repeatable; default: all of vmap_over_batch)",
    )
    args = parser.parse_args()
    if args.check_only:
        for _ in range(args.repeat):
            with tempfile.TemporaryDirectory(prefix="conformance-bench-") as tmp:
                cold, cold_cpu = cli_run(os.path.join(tmp, "cli"), args.impl)
                warm, warm_cpu = cli_run(os.path.join(tmp, "cli"), args.impl)
            print(
                f"{time.strftime('%Y-%m-%d %H:%M')} check --profile ci: {cold:5.1f} s cold "
                f"(empty compile cache, {cold_cpu:.0f} s CPU), {warm:5.1f} s warm ({warm_cpu:.0f} s CPU); "
                f"load average {os.getloadavg()[0]:.1f}",
                flush=True,
            )
        return

    import jax

    from impl.registry import names

    builtins = names(builtin_only=True)
    figures: dict[str, object] = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()}",
        "jax": jax.__version__,
        "implementations": builtins,
    }
    with tempfile.TemporaryDirectory(prefix="conformance-bench-") as tmp:
        jax.config.update("jax_enable_x64", False)
        examples = seconds = 0.0
        for name in builtins:
            n, s = naive_loop(name, args.naive_examples)
            examples, seconds = examples + n, seconds + s
            print(f"naive loop   {name:12} {n} examples in {s:5.1f} s = {n / s:5.1f} examples/s", flush=True)
        naive_rate = examples / seconds
        n, s, passed = suite_ci(builtins, os.path.join(tmp, "in-process"))
        suite_rate = n / s
        print(f"naive loop   all          {naive_rate:5.1f} examples/s")
        print(f"ci profile   all          {int(n)} examples in {s:5.1f} s = {suite_rate:5.1f} examples/s")
        print(f"ratio        {suite_rate / naive_rate:.1f}x  (every property held: {passed})", flush=True)
        cold, _ = cli_run(os.path.join(tmp, "cli"))
        warm, _ = cli_run(os.path.join(tmp, "cli"))
        print(f"check --profile ci, cold process, empty compile cache: {cold:5.1f} s")
        print(f"check --profile ci, cold process, warm compile cache:  {warm:5.1f} s", flush=True)
        figures.update(
            naive_examples_per_s=round(naive_rate, 2),
            ci_examples=int(n),
            ci_seconds=round(s, 1),
            ci_examples_per_s=round(suite_rate, 2),
            ratio=round(suite_rate / naive_rate, 1),
            check_ci_cold_s=round(cold, 1),
            check_ci_warm_cache_s=round(warm, 1),
        )
    if args.shrink:
        stats = shrink_times()
        figures["shrink"] = stats
        print(
            f"broken implementations: {stats['caught']}/{stats['pairs']} caught; first failure median "
            f"{stats['first_failure_median_s']:.2f} s (max {stats['first_failure_max_s']:.2f}); "
            f"first failure to minimal example median {stats['shrink_median_s']:.2f} s "
            f"(max {stats['shrink_max_s']:.2f})"
        )
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as f:
            json.dump(figures, f, indent=2)


if __name__ == "__main__":
    main()
