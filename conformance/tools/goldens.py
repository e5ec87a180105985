"""Regenerating the golden files: every group of every golden subject, each in a fresh interpreter.

Tooling for maintainers, apart from the engine (which only reads goldens, through
:mod:`conformance.cases.golden`)::

    python -m conformance.tools.goldens --regenerate [--subject NAME]   # write the files, print the diff
    python -m conformance.tools.goldens --check [--subject NAME]        # exit 1 if anything would change
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jax
import numpy as np

from conformance.cases import codec
from conformance.cases.golden import (
    CAUSES,
    DEFAULT_PRNG_IMPL,
    GOLDEN_SUBJECTS,
    GROUPS,
    LEADING,
    SCHEMA,
    GoldenError,
    Group,
    as_float64,
    fingerprint,
    golden_path,
    golden_subject,
    golden_versions,
    process_group,
)
from conformance.numerics.tolerance import matmul_input_rounding
from conformance.subjects import get_subject
from impl.registry import get as get_impl
from strategies.kinds import KindedArray


def compute_group(subject: str) -> dict[str, Any]:
    """Every golden case of ``subject`` in this process's group: ``{"group", "cases": {...}}``.

    Runs the reference built-in on each case and asks the subject for the oracle.
    Meant for a fresh process whose environment fixed the group (see :func:`generate`).
    """
    spec = golden_subject(subject)
    subj = get_subject(subject)
    reference = get_impl(spec.reference, subject)
    if jax.default_backend() != "cpu" or matmul_input_rounding("float32") is not None:
        raise GoldenError("goldens are made on CPU with exact float32 matmuls (JAX_PLATFORMS=cpu)")
    x64 = bool(jax.config.jax_enable_x64)
    cases: dict[str, Any] = {}
    for c in spec.cases:
        ordered = subj.ordered(c.args)
        call = {k: (v.materialize() if isinstance(v, KindedArray) else v) for k, v in ordered.items()}
        out = np.asarray(reference(*call.values()))
        expected = subj.expected(c.args, x64)
        cases[c.id] = {
            "sha256": fingerprint(out),
            "dtype": out.dtype.name,
            "shape": list(out.shape),
            "leading": [float(v) for v in as_float64(out.reshape(-1)[:LEADING])],
            "value": [float(v) for v in expected.value],
            "bound": [float(v) for v in expected.bound],
        }
    return {"group": process_group(), "cases": cases}


def _child_env(group: Group) -> dict[str, str]:
    # A group's env names the PRNG implementation only when it is not the default: drop the
    # caller's, as the settings that move nothing here (matmul precision, XLA flags).
    dropped = ("JAX_DEFAULT_MATMUL_PRECISION", "XLA_FLAGS", "JAX_DEFAULT_PRNG_IMPL")
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    env.update(group.env)
    env["JAX_PLATFORMS"] = "cpu"
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join([root, *filter(None, [env.get("PYTHONPATH")])])
    return env


def _run_child(subject: str, group: Group) -> dict[str, Any]:
    """:func:`compute_group` in a fresh interpreter (never a fork of one that imported jax)."""
    cmd = [sys.executable, "-m", "conformance.tools.goldens", "--emit-group", "--subject", subject]
    proc = subprocess.run(cmd, env=_child_env(group), capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise GoldenError(f"computing group {group.name} of {subject} failed:\n{proc.stderr.strip()}")
    result = json.loads(proc.stdout)
    if result.get("group") != group.name:
        raise GoldenError(
            f"asked for group {group.name} (env {group.env}) but the subprocess ran as {result.get('group')}"
        )
    return result


def generate(subject: str) -> dict[str, Any]:
    """The full golden file content of ``subject``: every group computed in its own subprocess."""
    spec = golden_subject(subject)
    groups = {}
    for g in GROUPS:
        result = _run_child(subject, g)
        # "prng_impl" only where it is not the default (a threefry group's entry does not name it).
        named = {} if g.prng_impl == DEFAULT_PRNG_IMPL else {"prng_impl": g.prng_impl}
        groups[g.name] = {
            **named,
            "threefry_partitionable": g.threefry_partitionable,
            "x64": g.x64,
            "default_on": g.default_on,
            "env": g.env,
            "cases": result["cases"],
        }
    return {
        "schema": SCHEMA,
        "subject": subject,
        "reference": spec.reference,
        "generated_with": {**golden_versions(), "backend": "cpu", "matmul": "float32 inputs exact"},
        "note": (
            "Pass criterion: every element within 'bound' of the float64 oracle 'value' (bounds are for "
            "CPU; compare() widens them by a few ulps of parameter drift between jax lines, and off CPU). "
            "'sha256' (dtype, shape, bytes) and 'leading' record the reference built-in's output: "
            "bitwise identity is information, it depends on the jax line and the machine's kernels."
        ),
        "causes": dict(CAUSES),
        "cases": {c.id: {"args": codec.encode(c.args)} for c in spec.cases},
        "groups": groups,
    }


def _fmt_leading(values: Sequence[float]) -> str:
    return "[" + ", ".join(f"{v:.8g}" for v in values) + "]"


def diff(old: dict[str, Any] | None, new: dict[str, Any]) -> list[str]:
    """Readable lines for what changes from ``old`` to ``new`` golden content (empty: nothing)."""
    lines: list[str] = []
    if old is None:
        return [f"new golden file: {len(new['cases'])} cases x {len(new['groups'])} groups"]
    old_cases, new_cases = old.get("cases", {}), new["cases"]
    for cid in new_cases:
        if cid not in old_cases:
            lines.append(f"+ case {cid}")
        elif old_cases[cid] != new_cases[cid]:
            lines.append(f"~ case {cid}: its arguments changed")
    lines += [f"- case {cid}" for cid in old_cases if cid not in new_cases]
    for gname, group in new["groups"].items():
        before = old.get("groups", {}).get(gname, {}).get("cases", {})
        if not before:
            lines.append(f"+ group {gname}")
            continue
        for cid, entry in group["cases"].items():
            prev = before.get(cid)
            if prev is None:
                continue  # reported as a new case above
            if prev.get("sha256") != entry["sha256"]:
                lines.append(
                    f"~ {gname} {cid}: sha256 {str(prev.get('sha256'))[:12]} -> {entry['sha256'][:12]}, "
                    f"leading {_fmt_leading(prev.get('leading', []))} -> {_fmt_leading(entry['leading'])}"
                )
            elif prev.get("value") != entry["value"] or prev.get("bound") != entry["bound"]:
                lines.append(f"~ {gname} {cid}: oracle value or bound changed, reference output unchanged")
    for gname in old.get("groups", {}):
        if gname not in new["groups"]:
            lines.append(f"- group {gname}")
    return lines


def _dump(obj: Any, indent: int = 0) -> str:
    """JSON with nested dicts indented and lists on one line (readable diffs, small files)."""
    compact = json.dumps(obj, separators=(", ", ": "))
    if isinstance(obj, dict) and obj and len(compact) > 100:
        pad = "  " * (indent + 1)
        items = [f"{pad}{json.dumps(k)}: {_dump(v, indent + 1)}" for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + "\n" + "  " * indent + "}"
    return compact


def dumps(content: dict[str, Any]) -> str:
    """The text of a golden file (nested dicts indented, short values on one line)."""
    return _dump(content) + "\n"


def write(content: dict[str, Any], path: Path) -> None:
    """Write golden ``content`` to ``path`` atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(dumps(content))
    os.replace(tmp, path)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m conformance.tools.goldens",
        description="Regenerate or check the golden fingerprints "
        "(every JAX line group, each in a subprocess).",
    )
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--regenerate", action="store_true", help="recompute, write the files, print the diff")
    mode.add_argument("--check", action="store_true", help="recompute, print the diff, exit 1 if any")
    mode.add_argument("--emit-group", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--subject", action="append", default=[], metavar="NAME", help="default: all")
    parser.add_argument("--dir", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    subjects = args.subject or list(GOLDEN_SUBJECTS)
    try:
        for s in subjects:
            golden_subject(s)
        if args.emit_group:
            json.dump(compute_group(subjects[0]), sys.stdout)
            return 0
        changed = False
        for s in subjects:
            path = golden_path(s, args.dir)
            old = json.loads(path.read_text()) if path.is_file() else None
            new = generate(s)
            lines = diff(old, new)
            changed = changed or bool(lines)
            print(f"{s}: " + (f"{len(lines)} change(s)" if lines else "no change") + f" ({path})")
            for line in lines:
                print(f"  {line}")
            if args.regenerate and (not path.is_file() or path.read_text() != dumps(new)):
                write(new, path)
                print(f"  wrote {path}")
    except GoldenError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 1 if args.check and changed else 0


if __name__ == "__main__":
    sys.exit(main())
