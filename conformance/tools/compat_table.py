"""The compatibility table: the JAX/Flax matrix's JSON files as one Markdown page.

    python -m conformance.tools.compat_table FILE_OR_DIR... [--out docs/compatibility.md] [--note TEXT]

It reads three kinds of JSON file (a directory stands for the ``*.json`` files in it):

* a conformance report (``check --json``, schema ``nnx-conformance/report/N``): one
  subject on one JAX/Flax line, every implementation x property cell;
* tox's own result file (``tox --result-json``): per matrix env, whether it
  installed (and the installer's error if not), the exit code and summary line of
  the suite's own tests, the check's exit code, and how long each step took;
* a line stub (schema ``nnx-conformance/matrix-line/1``) for a line tried outside
  tox, or one whose failure tox did not record::

      {"schema": "nnx-conformance/matrix-line/1", "env": "jax0431-flax085",
       "jax": "0.4.31", "flax": "0.8.5", "stage": "install" | "run",
       "error": "the error, verbatim"}

Everything is joined on the (jax, flax) versions: a column is one line. The page
shows only what the files say: a cell is the status a report recorded, never a
guess. The module imports neither JAX nor Flax, so any Python runs it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from conformance.base.catalogue import GROUPS, by_group
from conformance.base.verdict import REPORT_SCHEMA_PREFIX, Status, Verdict
from conformance.base.verdict import verdict as verdict_of

STUB_SCHEMA = "nnx-conformance/matrix-line/1"

#: How a cell's status is written in the table (loud, in bold: those not in verdict.PASSING).
STATUS_TEXT = {
    Status.PASS: "pass",
    Status.FAIL: "**FAIL**",
    Status.ERROR: "**error**",
    Status.SKIP: "skip",
    Status.XFAIL: "xfail",
    Status.XPASS: "**XPASS**",
    Status.INCOMPLETE: "**incomplete**",
}
#: How an implementation's verdict is written (loud: it fails a run).
VERDICT_TEXT = {
    Verdict.CONFORMS: "conforms",
    Verdict.KNOWN_NON_CONFORMANT: "known non-conformant",
    Verdict.DOES_NOT_CONFORM: "**does not conform**",
    Verdict.INCOMPLETE: "**incomplete**",
    Verdict.LOAD_ERROR: "load error",
}
#: Statuses quoted as evidence under the table.
EVIDENCE = (Status.FAIL, Status.ERROR, Status.XPASS, Status.XFAIL)
NOT_INSTALLED = "not installed"
NO_REPORT = "no report"
ABSENT = "–"
#: The property that runs each subject under every NNX graph mode, and how its passing message starts.
NNX_MODES = "nnx_modes"
NNX_MODES_PREFIX = "NNX modes checked:"


class InputError(ValueError):
    """A file that is not one of the three kinds, or no usable file at all."""


@dataclass
class ToxRun:
    """One matrix env as tox's result file recorded it."""

    env: str
    source: str
    installed: bool
    install_error: str | None = None
    tests_exit: int | None = None
    tests_summary: str | None = None
    check_exit: int | None = None
    install_seconds: float = 0.0
    tests_seconds: float | None = None
    check_seconds: float | None = None
    python: str | None = None


@dataclass
class Line:
    """One column: a (jax, flax) pair and everything the files say about it."""

    jax: str
    flax: str
    reports: dict[str, dict[str, Any]] = field(default_factory=dict)  # subject -> report
    tox: list[ToxRun] = field(default_factory=list)
    stubs: list[dict[str, Any]] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        envs = list(dict.fromkeys(e.removesuffix("-check") for e in self.envs))
        return f"jax {self.jax}<br>flax {self.flax}" + (f"<br>({', '.join(envs)})" if envs else "")

    @property
    def name(self) -> str:
        return f"jax {self.jax} + flax {self.flax}"

    @property
    def report_envs(self) -> set[str]:
        """The tox envs the reports ran in (a report run by tox names it in the interpreter's path)."""
        names = set()
        for r in self.reports.values():
            m = re.search(
                r"[/\\]\.tox[/\\]([^/\\]+)[/\\]", str((r.get("environment") or {}).get("executable", ""))
            )
            if m:
                names.add(m.group(1))
        return names

    @property
    def envs(self) -> list[str]:
        names = {t.env for t in self.tox} | {str(s["env"]) for s in self.stubs if s.get("env")}
        return sorted(names | self.report_envs)

    @property
    def install_error(self) -> str | None:
        """The installer's error, if no file shows this line installed."""
        if self.reports or any(t.installed for t in self.tox):
            return None
        errors = [t.install_error or "" for t in self.tox if not t.installed]
        errors += [str(s.get("error", "")) for s in self.stubs if s.get("stage") == "install"]
        return next((e for e in errors if e), "(no error text recorded)") if errors else None

    @property
    def run_error(self) -> str | None:
        """Why an installed line has no report (a stub's error, or the check's exit code)."""
        if self.reports or self.install_error is not None:
            return None
        for s in self.stubs:
            if s.get("stage") != "install":
                return str(s.get("error", "")) or "(no error text recorded)"
        for t in self.tox:
            if t.check_exit is not None:
                return f"the check exited {t.check_exit} and wrote no report"
        return "no check report"

    def env_values(self, key: str) -> list[str]:
        values = {str(r["environment"].get(key)) for r in self.reports.values() if r.get("environment")}
        return sorted(v for v in values if v != "None")

    @property
    def full_tox(self) -> ToxRun | None:
        """The tox run that also ran the suite's own tests, else any."""
        runs = sorted(self.tox, key=lambda t: t.tests_exit is None)
        return runs[0] if runs else None


def version_key(version: str) -> tuple:
    """``0.4.31 < 0.4.38 < 0.5.0 < 0.10.2``; pre-release and dev suffixes sort before the release."""
    parts: list[tuple[int, int | str]] = []
    for piece in re.split(r"[.+]", version):
        m = re.match(r"(\d+)(.*)", piece)
        if m:
            parts.append((0, int(m.group(1))))
            if m.group(2):
                parts.append((-1, m.group(2)))
        else:
            parts.append((-1, piece))
    return tuple(parts) + ((0, -1),)


# --------------------------------------------------------------------------- property groups


# --------------------------------------------------------------------------- reading


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

    def line(jax: str, flax: str) -> Line:
        return lines.setdefault((jax, flax), Line(jax, flax))

    files = expand(paths)
    if not files:
        raise InputError("no JSON files given (or the folders hold none)")
    for path in files:
        try:
            with open(path) as f:
                data = json.load(f)
        except (OSError, json.JSONDecodeError) as e:
            raise InputError(f"{path}: cannot read it as JSON: {e}") from None
        if not isinstance(data, dict):
            raise InputError(f"{path}: not a report, a tox result or a line stub")
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
    # tox records the packages as installed before its commands ran; an env that changes them
    # afterwards (flax085 downgrades flax) belongs where its report says it ran
    home = {env: ln for ln in lines.values() for env in ln.report_envs}
    for ln in list(lines.values()):
        for run in list(ln.tox):
            target = home.get(run.env, ln)
            if target is not ln:
                ln.tox.remove(run)
                target.tox.append(run)
                target.sources.append(run.source)
    lines = {k: ln for k, ln in lines.items() if ln.reports or ln.tox or ln.stubs}
    if not lines:
        raise InputError("the files hold no matrix line (no report, no matrix env, no stub)")
    return sorted(lines.values(), key=lambda ln: (version_key(ln.jax), version_key(ln.flax)))


# --------------------------------------------------------------------------- cells


def verdict(impl: dict[str, Any]) -> str:
    """The verdict of one implementation of a report (conformance.base.verdict's rule), as table text."""
    statuses = [str(c.get("status")) for c in impl.get("properties", [])]
    if not impl.get("load_error") and any(s not in STATUS_TEXT for s in statuses):
        # a status this suite does not know (a report of another version): it did not pass
        return VERDICT_TEXT[Verdict.DOES_NOT_CONFORM]
    return VERDICT_TEXT[verdict_of(statuses, str(impl["load_error"]) if impl.get("load_error") else None)]


def _impl(report: dict[str, Any], name: str) -> dict[str, Any] | None:
    return next((i for i in report.get("implementations", []) if i.get("name") == name), None)


def cell(line: Line, subject: str, impl_name: str, prop: str | None) -> str:
    """The table cell for one implementation and property (``prop=None``: the verdict)."""
    if line.install_error is not None:
        return NOT_INSTALLED
    report = line.reports.get(subject)
    if report is None:
        return NO_REPORT
    impl = _impl(report, impl_name)
    if impl is None:
        return ABSENT
    if prop is None:
        return verdict(impl)
    if impl.get("load_error"):
        return "load error"
    c = next((c for c in impl.get("properties", []) if c.get("name", c.get("property")) == prop), None)
    if c is None:
        return ABSENT
    return STATUS_TEXT.get(str(c.get("status")), str(c.get("status")))


def group_cell(line: Line, subject: str, impl_name: str, props: Sequence[str]) -> str:
    """The verdict of one implementation over ``props`` alone (one group's properties)."""
    whole = cell(line, subject, impl_name, None)
    if whole in (NOT_INSTALLED, NO_REPORT, ABSENT, VERDICT_TEXT[Verdict.LOAD_ERROR]):
        return whole
    impl = _impl(line.reports[subject], impl_name) or {}
    mine = [c for c in impl.get("properties", []) if c.get("name", c.get("property")) in props]
    return verdict({"properties": mine}) if mine else ABSENT


def _prop_cells(lines: Sequence[Line], subject: str) -> dict[str, dict[str, Any]]:
    """The first cell each property of a subject has in the reports (for the group it names)."""
    out: dict[str, dict[str, Any]] = {}
    for ln in lines:
        for impl in (ln.reports.get(subject) or {}).get("implementations", []):
            for c in impl.get("properties", []):
                out.setdefault(str(c.get("name", c.get("property"))), c)
    return out


def nnx_modes_text(c: dict[str, Any] | None) -> str:
    """What one ``nnx_modes`` cell says about the NNX modes that ran, as table text."""
    if c is None:
        return f"{ABSENT} (no {NNX_MODES} in the report)"
    status = str(c.get("status"))
    msg = _esc((str(c.get("message") or "").strip().splitlines() or [""])[0])[:300]
    if status == Status.PASS:
        modes = msg.removeprefix(NNX_MODES_PREFIX).strip()
        return modes or "pass (the report names no mode)"
    if status == Status.SKIP:
        return f"none: skipped ({msg})" if msg else "none: skipped"
    text = STATUS_TEXT.get(status, status)  # type: ignore[call-overload]
    return f"{text}: {msg}" if msg else text


def nnx_modes_rows(line: Line, subjects: Sequence[str]) -> list[tuple[str, str]]:
    """``(which, modes)`` for one line: the implementations (per subject) that share a text."""
    if line.install_error is not None:
        return [("", NOT_INSTALLED)]
    if not line.reports:
        return [("", NO_REPORT)]
    seen: dict[str, dict[str, list[str]]] = {}  # text -> subject -> implementations
    for subject in subjects:
        report = line.reports.get(subject)
        for impl in (report or {}).get("implementations", []):
            if impl.get("load_error"):
                text = "load error"
            else:
                c = next(
                    (c for c in impl.get("properties", []) if c.get("name", c.get("property")) == NNX_MODES),
                    None,
                )
                text = nnx_modes_text(c)
            seen.setdefault(text, {}).setdefault(subject, []).append(f"`{impl.get('name')}`")
    if len(seen) == 1:
        ((text, where),) = seen.items()
        n = sum(len(v) for v in where.values())
        return [(f"all {n} implementations of {len(where)} subject{'s' * (len(where) != 1)}", text)]
    return [
        ("; ".join(f"{subject}: {', '.join(names)}" for subject, names in where.items()), text)
        for text, where in seen.items()
    ]


def tests_cell(line: Line) -> str:
    if line.install_error is not None:
        return NOT_INSTALLED
    run = line.full_tox
    if run is None or run.tests_exit is None:
        return ABSENT
    word = "pass" if run.tests_exit == 0 else f"**FAIL** (exit {run.tests_exit})"
    return f"{word}: {run.tests_summary}" if run.tests_summary else word


def rows(lines: Sequence[Line], subject: str) -> tuple[list[str], list[str]]:
    """Implementations and properties of a subject, in the order the reports list them."""
    impls: list[str] = []
    props: list[str] = []
    for ln in lines:
        for impl in (ln.reports.get(subject) or {}).get("implementations", []):
            if impl.get("name") not in impls:
                impls.append(impl.get("name"))
            for c in impl.get("properties", []):
                name = c.get("name", c.get("property"))
                if name not in props:
                    props.append(name)
    return impls, props


def changes(lines: Sequence[Line], subjects: Sequence[str]) -> list[str]:
    """Each place where a row's cell differs from the same row's cell on the previous line."""
    out: list[str] = []
    for ln in lines:
        if ln.install_error is not None:
            out.append(f"**{ln.name}** could not be installed: `{_first_line(ln.install_error)}`")
        elif ln.run_error is not None:
            out.append(f"**{ln.name}** installed but produced no report: `{_first_line(ln.run_error)}`")

    real = (NOT_INSTALLED, NO_REPORT, ABSENT)
    tests = [(ln, _word(tests_cell(ln))) for ln in lines if tests_cell(ln) not in real]
    for (a, va), (b, vb) in zip(tests, tests[1:], strict=False):
        if _plain(va) != _plain(vb):
            out.append(f"the suite's own tests: {va} on {a.name} → {vb} on {b.name}")
    for subject in subjects:
        impls, props = rows(lines, subject)
        for impl in impls:
            seen = [ln for ln in lines if cell(ln, subject, impl, None) not in real]
            for a, b in zip(seen, seen[1:], strict=False):
                va, vb = cell(a, subject, impl, None), cell(b, subject, impl, None)
                moved: dict[tuple[str, str], list[str]] = {}
                for prop in props:
                    pa, pb = cell(a, subject, impl, prop), cell(b, subject, impl, prop)
                    if ABSENT not in (pa, pb) and _plain(pa) != _plain(pb):
                        moved.setdefault((pa, pb), []).append(prop)
                if _plain(va) == _plain(vb) and not moved:
                    continue
                text = f"`{impl}` ({subject}) from {a.name} to {b.name}: "
                text += f"{va} → {vb}" if _plain(va) != _plain(vb) else f"still {va}"
                for (pa, pb), names in moved.items():
                    text += f"; {', '.join(f'`{n}`' for n in names)}: {pa} → {pb}"
                out.append(text)
    return out


def _word(text: str) -> str:
    return text.split(":", 1)[0]


def _plain(text: str) -> str:
    return text.replace("*", "")


def _first_line(text: str) -> str:
    lines = [x.strip() for x in text.strip().splitlines() if x.strip()]
    # an installer or a traceback says the useful part last
    pick = lines[-1] if lines else ""
    return pick.replace("`", "'")[:300]


def _esc(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


# --------------------------------------------------------------------------- rendering


def render(
    lines: Sequence[Line],
    note: str | None = None,
    now: datetime | None = None,
    command: str | None = None,
) -> str:
    now = now or datetime.now(UTC)
    subjects: list[str] = []
    for ln in lines:
        for s in ln.reports:
            if s not in subjects:
                subjects.append(s)
    reports = [r for ln in lines for r in ln.reports.values()]
    out: list[str] = ["# Compatibility: implementations × JAX/Flax lines × properties", ""]
    if note:
        out += [f"> {n}" if n.strip() else ">" for n in note.strip().splitlines()] + [""]
    out.append(f"- Generated: {now.strftime('%Y-%m-%d %H:%M UTC')}" + (f" by `{command}`" if command else ""))
    mtimes = sorted(os.path.getmtime(p) for ln in lines for p in ln.sources if os.path.exists(p))
    if mtimes:
        first, last = (
            datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M UTC") for t in (mtimes[0], mtimes[-1])
        )
        out.append(f"- Files written: {first}" + (f" to {last}" if last != first else ""))
    machines = sorted(
        {
            f"{e.get('system', '?')} {e.get('machine', '?')}, {e.get('cpu_count', '?')} CPUs, "
            f"backend {e.get('backend', '?')}"
            for e in (r.get("environment") or {} for r in reports)
        }
    )
    out.append(f"- Machine: {'; '.join(machines) if machines else 'unknown (no report)'}")
    profiles = sorted({str(r.get("profile")) for r in reports})
    flags = sorted({f for r in reports for f in ("x64", "strict") if r.get(f)})
    out.append(
        f"- Profile: {', '.join(profiles) if profiles else '–'}"
        + (f" ({', '.join(flags)})" if flags else "")
        + ("  **(mixed: columns are not comparable)**" if len(profiles) > 1 else "")
    )
    out.append(f"- Subjects: {', '.join(subjects) if subjects else '–'}")
    out.append(
        "- Reproduce: `scripts/matrix.sh` runs every line (tox label `matrix`: the suite's own tests, "
        "then `check --profile ci`) and rewrites this page; `python -m conformance.tools.compat_table "
        ".conformance/matrix --out docs/compatibility.md` rewrites it from the files a run left"
    )
    out += [
        "",
        "Cells: pass / **FAIL** / **error** (the check could not decide) / skip / xfail (an expected",
        "failure) / **XPASS** (an expected failure that held) / **incomplete** (ran no example) / load",
        "error / not installed / no report (the line installed but wrote no report) / – (not in that",
        "report).",
        "",
    ]
    present = [g for s in subjects for g in by_group(rows(lines, s)[1], _prop_cells(lines, s))]
    if len(set(present)) > 1:
        described = GROUPS
        out += [
            "Properties come in groups; a row *GROUP claims* gives an implementation's verdict over",
            "that group's properties alone, *verdict* over all of them:",
            "",
        ]
        out += [
            f"- *{g}*: {described.get(g, '(a group this suite does not know)')}"
            for g in dict.fromkeys(present)
        ]
        out.append("")

    out += ["## The lines", ""]
    out += [
        "| line | python | numpy | hypothesis | tox env | install | own tests | check exit "
        "| seconds: install / tests / check |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for ln in lines:
        run = ln.full_tox
        install = "**failed**" if ln.install_error is not None else ("ok" if (ln.reports or run) else "–")
        check_exit = ", ".join(str(t.check_exit) for t in ln.tox if t.check_exit is not None) or "–"
        secs = "–"
        if run is not None:
            secs = " / ".join(
                f"{x:.0f}" if x is not None else "–"
                for x in (run.install_seconds, run.tests_seconds, run.check_seconds)
            )
        py = ", ".join(ln.env_values("python")) or (run.python if run and run.python else "–")
        out.append(
            f"| {ln.name} | {py} | {', '.join(ln.env_values('numpy')) or '–'} "
            f"| {', '.join(ln.env_values('hypothesis')) or '–'} | {', '.join(ln.envs) or '–'} "
            f"| {install} | {_esc(tests_cell(ln))} | {check_exit} | {secs} |"
        )
    out.append("")

    out += ["## What changes between lines", ""]
    found = changes(lines, subjects)
    if found:
        out += [f"- {c}" for c in found]
    else:
        out.append(
            "Nothing: every implementation has the same status for every property on every line "
            "that ran"
            + (", and so do the suite's own tests." if any(tests_cell(ln) != ABSENT for ln in lines) else ".")
        )
    out.append("")

    if any(NNX_MODES in rows(lines, s)[1] for s in subjects):
        out += [
            "## NNX modes",
            "",
            f"The NNX graph modes each line ran every subject under (`{NNX_MODES}`'s message: the modes",
            "it checked, or why it checked none).",
            "",
            "| line | implementations | NNX modes checked |",
            "|---|---|---|",
        ]
        for ln in lines:
            for which, text in nnx_modes_rows(ln, subjects):
                out.append(f"| {ln.name} | {which} | {text} |")
        out.append("")

    for subject in subjects:
        impls, props = rows(lines, subject)
        signature = next((r.get("signature") for ln in lines if (r := ln.reports.get(subject))), None)
        out += [f"## {subject}", ""]
        if signature:
            out += [f"`{signature}`", ""]
        out.append("| implementation | property | " + " | ".join(ln.label for ln in lines) + " |")
        out.append("|---|---|" + "---|" * len(lines))
        sections = by_group(props, _prop_cells(lines, subject))
        for impl in impls:
            table: list[tuple[str, list[str]]] = []
            for group, names in sections.items():
                if len(sections) > 1:  # the group's own verdict heads its properties
                    verdicts = [group_cell(ln, subject, impl, names) for ln in lines]
                    table.append((f"*{group} claims*", verdicts))
                table += [(prop, [cell(ln, subject, impl, prop) for ln in lines]) for prop in names]
            for i, (label, cells) in enumerate(table):
                name = f"`{impl}`" if i == 0 else ""
                out.append(f"| {name} | {label} | " + " | ".join(cells) + " |")
            out.append("| | *verdict* | " + " | ".join(cell(ln, subject, impl, None) for ln in lines) + " |")
        out.append("")

    evidence = _evidence(lines, subjects)
    if evidence:
        out += [
            "## Evidence",
            "",
            "The first line of each recorded failure and error, as the report gives it.",
            "",
        ]
        out += evidence + [""]
    broken = [ln for ln in lines if ln.install_error is not None or ln.run_error is not None]
    if broken:
        out += ["## Lines that did not run", ""]
        for ln in broken:
            what = "could not be installed" if ln.install_error is not None else "wrote no report"
            envs = f" (tox env {', '.join(ln.envs)})" if ln.envs else ""
            out += [
                f"**{ln.name}**{envs} {what}:",
                "",
                "```",
                (ln.install_error or ln.run_error or "").strip(),
                "```",
                "",
            ]
    return "\n".join(out).rstrip() + "\n"


def _evidence(lines: Sequence[Line], subjects: Sequence[str]) -> list[str]:
    """One item per line, implementation, status and message; the properties it holds for are listed."""
    out = []
    for subject in subjects:
        for ln in lines:
            report = ln.reports.get(subject)
            if not report:
                continue
            for impl in report.get("implementations", []):
                if impl.get("load_error"):
                    out.append(
                        f"- {ln.name}, `{impl.get('name')}` could not be loaded: "
                        f"{_esc(_first_line(str(impl['load_error'])))}"
                    )
                grouped: dict[tuple[str, str], list[str]] = {}
                for c in impl.get("properties", []):
                    if c.get("status") in EVIDENCE:
                        msg = (str(c.get("message") or "").strip().splitlines() or [""])[0]
                        name = c.get("name", c.get("property"))
                        grouped.setdefault((str(c.get("status")), _esc(msg)[:300]), []).append(f"`{name}`")
                for (status, msg), names in grouped.items():
                    out.append(f"- {ln.name}, `{impl.get('name')}` / {', '.join(names)} ({status}): {msg}")
    return out


# --------------------------------------------------------------------------- command line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m conformance.tools.compat_table",
        description="Write the implementation x JAX/Flax line x property table from the matrix's JSON files.",
    )
    parser.add_argument(
        "paths",
        nargs="+",
        metavar="FILE_OR_DIR",
        help="check --json reports, tox --result-json files, line stubs, or folders of them",
    )
    parser.add_argument("--out", metavar="PATH", help="write the Markdown here (default: standard output)")
    parser.add_argument("--note", metavar="TEXT", help="a note shown at the top (e.g. that this is a trial)")
    args = parser.parse_args(argv)
    try:
        lines = load(args.paths)
    except InputError as e:
        print(f"compat_table: {e}", file=sys.stderr)
        return 2
    command = "python -m conformance.tools.compat_table " + " ".join(args.paths)
    text = render(lines, note=args.note, command=command)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text)
        print(f"compat_table: {len(lines)} lines -> {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
