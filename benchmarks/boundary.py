"""How long verdicts on misbehaving implementations take: a hang and a crash must not cost minutes.

Runs, from a cold process, ``python -m conformance check --profile ci`` at the default
timeout on three implementations checked together: one that always hangs, one that
ends its process on every call, and the built-in ``nnx_vmap``. Prints the wall time
and each verdict; exits 1 if the verdicts are not the expected ones.

Run from the repository root: ``python benchmarks/boundary.py [--json PATH]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IMPLS = {
    "hang": ("hang=tests.adversarial.pretends:always_hangs", "does not conform"),
    "exits": ("exits=tests.adversarial.pretends:always_exits", "does not conform"),
    "nnx_vmap": ("nnx_vmap", "conforms"),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", metavar="PATH", help="also write the figures here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        report = os.path.join(tmp, "report.json")
        cmd = [sys.executable, "-m", "conformance", "check", "--profile", "ci", "--quiet", "--json", report]
        for spec, _ in IMPLS.values():
            cmd += ["--impl", spec]
        start = time.perf_counter()
        done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        wall = time.perf_counter() - start
        with open(report) as f:
            data = json.load(f)
    verdicts = {i["name"]: i["verdict"] for i in data["implementations"]}
    seconds = {i["name"]: i["seconds"] for i in data["implementations"]}
    print(f"wall {wall:.1f} s (exit {done.returncode}); per implementation: {seconds}")
    print(f"verdicts: {verdicts}")
    ok = all(verdicts.get(name) == want for name, (_, want) in IMPLS.items())
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"wall_seconds": round(wall, 1), "seconds": seconds, "verdicts": verdicts}, f, indent=2)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
