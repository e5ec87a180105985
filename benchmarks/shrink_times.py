"""Time to first failure and to the reported minimal counterexample, per broken implementation.

Runs every implementation of ``tests/zoo/broken.py`` on the properties that must
catch it, under the ``ci`` profile, and prints a table plus the median and
maximum of both times. Run from the repository root:

    python benchmarks/shrink_times.py
"""

from __future__ import annotations

import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tests.helpers import check  # noqa: E402
from tests.zoo.broken import BROKEN, NEEDS_ISOLATION  # noqa: E402


def main() -> None:
    rows = []
    start = time.perf_counter()
    for name, (_, props) in BROKEN.items():
        isolated = name in NEEDS_ISOLATION
        result = check(
            f"{name}=tests.zoo.broken:{name}",
            props,
            isolation="process" if isolated else "none",
            timeout=5 if isolated else None,
        )
        for cell in result.properties:
            rows.append((name, cell.property, cell.status, cell.first_failure_seconds, cell.shrink_seconds))
            print(
                f"{name:30} {cell.property:24} {cell.status:5} first failure "
                f"{cell.first_failure_seconds or 0:6.2f} s  shrink {cell.shrink_seconds or 0:6.2f} s",
                flush=True,
            )
    shrink = [r[4] for r in rows if r[4] is not None]
    first = [r[3] for r in rows if r[3] is not None]
    caught = sum(r[2] == "fail" for r in rows)
    elapsed = time.perf_counter() - start
    print(f"\n{caught}/{len(rows)} (implementation, property) pairs caught in {elapsed:.0f} s")
    print(f"time to first failure: median {statistics.median(first):.2f} s, max {max(first):.2f} s")
    print(
        f"first failure to minimal example: median {statistics.median(shrink):.2f} s, max {max(shrink):.2f} s"
    )


if __name__ == "__main__":
    main()
