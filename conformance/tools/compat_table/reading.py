"""Reading the matrix's JSON files (reports, tox result files, line stubs) into :class:`Line` s.

:func:`load` joins every file on its (jax, flax) versions; :func:`parse_tox_result` reads
the matrix envs out of a ``tox --result-json`` file.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from conformance.base.verdict import REPORT_SCHEMA_PREFIX
from conformance.tools.compat_table.lines import InputError, Line, ToxRun, version_key

STUB_SCHEMA = "nnx-conformance/matrix-line/1"


def expand(paths: Iterable[str]) -> list[str]:
    files: list[str] = []
    for p in paths:
        if os.path.isdir(p):
            files.extend(sorted(str(f) for f in Path(p).glob("*.json")))
        else:
            files.append(p)
    return files


def _pins(words: Iterable[str]) -> dict[str, str]:
    pins = {}
    for w in words:
        m = re.fullmatch(r"(jax|flax)==([^\s;,]+)", w.strip().lower())
        if m:
            pins[m.group(1)] = m.group(2)
    return pins


def _tail(text: str, lines: int = 12) -> str:
    kept = [line.rstrip() for line in text.strip().splitlines() if line.strip()]
    return "\n".join(kept[-lines:])


def _pytest_summary(output: str) -> str | None:
    for line in reversed(output.strip().splitlines()):
        m = re.fullmatch(r"=+ (.+ in [\d.]+s.*?) =+", line.strip())
        if m:
            return m.group(1)
    return None


def parse_tox_result(data: dict[str, Any], source: str) -> list[tuple[dict[str, str], ToxRun]]:
    """The matrix envs in a ``tox --result-json`` file: ``(pins, run)`` for each env that ran."""
    found = []
    for env, info in (data.get("testenvs") or {}).items():
        if not isinstance(info, dict) or "result" not in info and "setup" not in info:
            continue  # listed, not run
        setup = info.get("setup") or []
        pins = _pins(info.get("installed_packages") or [])
        if len(pins) < 2:
            for step in setup:
                cmd = step.get("command") or []
                if "install" in cmd:
                    pins = {**_pins(cmd), **pins}
        if len(pins) < 2:
            continue  # not a matrix env (lint, py311, ...)
        failed = [s for s in setup if s.get("retcode") not in (0, None)]
        run = ToxRun(env=env, source=source, installed=not failed)
        if failed:
            step = failed[0]
            run.install_error = _tail(f"{step.get('output', '')}\n{step.get('err', '')}")
        run.install_seconds = round(sum(float(s.get("elapsed") or 0) for s in setup), 1)
        for step in info.get("test") or []:
            cmd = " ".join(step.get("command") or [])
            if re.search(r"\bpytest\b", cmd):
                run.tests_exit = step.get("retcode")
                run.tests_seconds = round(float(step.get("elapsed") or 0), 1)
                run.tests_summary = _pytest_summary(f"{step.get('output', '')}")
            elif re.search(r"\bconformance check\b", cmd):
                run.check_exit = step.get("retcode")
                run.check_seconds = round(float(step.get("elapsed") or 0), 1)
        vi = (info.get("python") or {}).get("version_info")
        if vi and info.get("installed_packages") is not None:
            run.python = ".".join(str(v) for v in vi[:3])
        found.append((pins, run))
    return found


def load(paths: Sequence[str]) -> list[Line]:
    """Every file joined into lines, sorted by (jax, flax) version. Later files win a tie."""
    lines: dict[tuple[str, str], Line] = {}
    files = expand(paths)
    if not files:
        raise InputError("no JSON files given (or the folders hold none)")
    for path in files:
        _add_file(lines, path, _read(path))
    _move_tox_runs_home(lines)
    lines = {k: ln for k, ln in lines.items() if ln.reports or ln.tox or ln.stubs}
    if not lines:
        raise InputError("the files hold no matrix line (no report, no matrix env, no stub)")
    return sorted(lines.values(), key=lambda ln: (version_key(ln.jax), version_key(ln.flax)))


def _read(path: str) -> dict[str, Any]:
    """The JSON object in ``path`` (an :class:`InputError` when it is not one)."""
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise InputError(f"{path}: cannot read it as JSON: {e}") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: not a report, a tox result or a line stub")
    return data


def _add_file(lines: dict[tuple[str, str], Line], path: str, data: dict[str, Any]) -> None:
    """What one file says, added to the line (or lines) it is about."""

    def line(jax: str, flax: str) -> Line:
        return lines.setdefault((jax, flax), Line(jax, flax))

    schema = str(data.get("schema", ""))
    if schema.startswith(REPORT_SCHEMA_PREFIX):
        env = data.get("environment") or {}
        if not env.get("jax") or not env.get("flax"):
            raise InputError(f"{path}: the report's environment names no jax/flax version")
        target = line(str(env["jax"]), str(env["flax"]))
        subject = str(data.get("subject", "?"))
        if subject in target.reports:
            print(
                f"compat_table: {path} replaces an earlier {subject} report for {target.name}",
                file=sys.stderr,
            )
        target.reports[subject] = data
        target.sources.append(path)
    elif schema == STUB_SCHEMA:
        if not data.get("jax") or not data.get("flax"):
            raise InputError(f"{path}: a line stub needs 'jax' and 'flax'")
        target = line(str(data["jax"]), str(data["flax"]))
        target.stubs.append(data)
        target.sources.append(path)
    elif "testenvs" in data and "toxversion" in data:
        for pins, run in parse_tox_result(data, path):
            target = line(pins["jax"], pins["flax"])
            target.tox = [t for t in target.tox if t.env != run.env] + [run]
            target.sources.append(path)
    else:
        raise InputError(
            f"{path}: not a report ({REPORT_SCHEMA_PREFIX}N), a tox result or a line stub ({STUB_SCHEMA})"
        )


def _move_tox_runs_home(lines: dict[tuple[str, str], Line]) -> None:
    """tox records the packages as installed before its commands ran; an env that changes them
    afterwards (flax085 downgrades flax) belongs where its report says it ran."""
    home = {env: ln for ln in lines.values() for env in ln.report_envs}
    for ln in list(lines.values()):
        for run in list(ln.tox):
            target = home.get(run.env, ln)
            if target is not ln:
                ln.tox.remove(run)
                target.tox.append(run)
                target.sources.append(run.source)
