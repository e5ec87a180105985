"""The mutation scores of the built-ins: ``mutate --profile ci`` on each, one after another.

Runs ``python -m conformance mutate --impl NAME --subject S --profile ci --json ...`` from a
cold process for each built-in asked for (default: every conforming built-in of every
subject; ``--only SUBJECT:NAME`` repeatable), and prints one line per implementation:
mutants, killed, timed out, load errors, survivors, likely equivalent, the score and the wall
time; then every survivor that is not likely equivalent, as its diff. The per-run JSON
reports go to ``--out`` (default ``.conformance/mutation``), with ``summary.json`` beside them.

Run from the repository root: ``python benchmarks/mutation.py [--only vmap_over_batch:nnx_vmap] [--jobs 2]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
#: Each subject's conforming built-ins (the known non-conformant broadcast of vmap_anchored is left out).
DEFAULT = (
    "vmap_over_batch:nnx_vmap",
    "vmap_over_batch:nnx_vmap_tree",
    "vmap_over_batch:manual_lift",
    "vmap_over_batch:broadcast",
    "vmap_over_ensemble:nnx_vmap",
    "vmap_over_ensemble:manual_lift",
    "vmap_over_ensemble:einsum",
    "vmap_anchored:nnx_vmap",
    "vmap_anchored:manual_lift",
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", default=[], metavar="SUBJECT:NAME")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", default=os.path.join(".conformance", "mutation"))
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    rows = []
    for item in args.only or DEFAULT:
        subject, _, name = item.partition(":")
        path = os.path.join(args.out, f"{subject}.{name}.json")
        cmd = [sys.executable, "-m", "conformance", "mutate", "--impl", name, "--subject", subject]
        cmd += ["--profile", "ci", "--jobs", str(args.jobs), "--json", path, "--quiet"]
        start = time.perf_counter()
        done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        wall = time.perf_counter() - start
        if done.returncode != 0:
            print(f"{item}: exit {done.returncode}: {done.stderr.strip()[-500:]}", flush=True)
            rows.append({"item": item, "exit": done.returncode, "wall_seconds": round(wall, 1)})
            continue
        with open(path) as f:
            report = json.load(f)
        c = report["counts"]
        row = {"item": item, "wall_seconds": round(wall, 1), **c, "score": report["score"]}
        rows.append(row)
        score = "n/a" if report["score"] is None else f"{report['score']:.1%}"
        print(
            f"{item}: {c['mutants']} mutants, {c['killed']} killed, {c['timed_out']} timed out, "
            f"{c['load_error']} load errors, {c['survived']} survived ({c['likely_equivalent']} likely "
            f"equivalent); score {score}; {wall:.0f} s",
            flush=True,
        )
        for m in report["mutants"]:
            if m["status"] == "survived" and not m["likely_equivalent"]:
                print(f"  NOT equivalent survivor {m['id']}: {m['description']} ({m['difference']})")
                print("    " + m["diff"].replace("\n", "\n    ").rstrip())
    with open(os.path.join(args.out, "summary.json"), "w") as f:
        json.dump(rows, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
