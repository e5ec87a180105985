"""The page: the lines read from the files, as Markdown.

:func:`render` puts the sections together in order: the header (when, where, how to
reproduce), the legend, the lines, what changes between them, the NNX modes, one table per
subject, the evidence, and the lines that did not run.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import UTC, datetime

from conformance.base.catalogue import GROUPS, by_group
from conformance.tools.compat_table.cells import (
    ABSENT,
    EVIDENCE,
    NNX_MODES,
    _esc,
    _first_line,
    _prop_cells,
    cell,
    changes,
    group_cell,
    nnx_modes_rows,
    rows,
    tests_cell,
)
from conformance.tools.compat_table.lines import Line

TITLE = "# Compatibility: implementations × JAX/Flax lines × properties"
#: What the cells may say (the legend under the header).
LEGEND = [
    "Cells: pass / **FAIL** / **error** (the check could not decide) / skip / xfail (an expected",
    "failure) / **XPASS** (an expected failure that held) / **incomplete** (ran no example) / load",
    "error / not installed / no report (the line installed but wrote no report) / – (not in that",
    "report).",
]


def render(
    lines: Sequence[Line],
    note: str | None = None,
    now: datetime | None = None,
    command: str | None = None,
) -> str:
    """The whole page (``now``: when it says it was generated; ``command``: what it says made it)."""
    now = now or datetime.now(UTC)
    subjects = _subjects(lines)
    out: list[str] = [TITLE, ""]
    out += _header(lines, subjects, note, now, command)
    out += ["", *LEGEND, ""]
    out += _groups(lines, subjects)
    out += _lines_table(lines)
    out += _changes(lines, subjects)
    out += _nnx_modes(lines, subjects)
    for subject in subjects:
        out += _subject_table(lines, subject)
    out += _evidence_section(lines, subjects)
    out += _not_run(lines)
    return "\n".join(out).rstrip() + "\n"


def _subjects(lines: Sequence[Line]) -> list[str]:
    """The subjects the reports cover, in the order they first appear."""
    subjects: list[str] = []
    for ln in lines:
        for s in ln.reports:
            if s not in subjects:
                subjects.append(s)
    return subjects


def _header(
    lines: Sequence[Line], subjects: list[str], note: str | None, now: datetime, command: str | None
) -> list[str]:
    """The note (quoted), then when, from which files, on which machine, with which profile."""
    reports = [r for ln in lines for r in ln.reports.values()]
    out: list[str] = []
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
    return out


def _groups(lines: Sequence[Line], subjects: list[str]) -> list[str]:
    """What each property group claims, when the tables show more than one group."""
    present = [g for s in subjects for g in by_group(rows(lines, s)[1], _prop_cells(lines, s))]
    if len(set(present)) <= 1:
        return []
    out = [
        "Properties come in groups; a row *GROUP claims* gives an implementation's verdict over",
        "that group's properties alone, *verdict* over all of them:",
        "",
    ]
    out += [f"- *{g}*: {GROUPS.get(g, '(a group this suite does not know)')}" for g in dict.fromkeys(present)]
    out.append("")
    return out


def _lines_table(lines: Sequence[Line]) -> list[str]:
    """One row per line: its versions, its tox env, whether it installed, its own tests, its check."""
    out = ["## The lines", ""]
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
    return out


def _changes(lines: Sequence[Line], subjects: list[str]) -> list[str]:
    """Each cell that differs from the previous line's, or a sentence saying none does."""
    out = ["## What changes between lines", ""]
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
    return out


def _nnx_modes(lines: Sequence[Line], subjects: list[str]) -> list[str]:
    """The NNX graph modes each line ran, when any report has the ``nnx_modes`` property."""
    if not any(NNX_MODES in rows(lines, s)[1] for s in subjects):
        return []
    out = [
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
    return out


def _subject_table(lines: Sequence[Line], subject: str) -> list[str]:
    """One subject: a row per implementation and property (grouped), a column per line."""
    impls, props = rows(lines, subject)
    signature = next((r.get("signature") for ln in lines if (r := ln.reports.get(subject))), None)
    out = [f"## {subject}", ""]
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
    return out


def _evidence_section(lines: Sequence[Line], subjects: list[str]) -> list[str]:
    """The first line of every recorded failure and error, when there is any."""
    evidence = _evidence(lines, subjects)
    if not evidence:
        return []
    return [
        "## Evidence",
        "",
        "The first line of each recorded failure and error, as the report gives it.",
        "",
        *evidence,
        "",
    ]


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


def _not_run(lines: Sequence[Line]) -> list[str]:
    """Each line that could not be installed or wrote no report, with the error verbatim."""
    broken = [ln for ln in lines if ln.install_error is not None or ln.run_error is not None]
    if not broken:
        return []
    out = ["## Lines that did not run", ""]
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
    return out
