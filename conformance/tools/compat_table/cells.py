"""The table's cells: what one implementation, property or line shows, and what changes between lines."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from conformance.base.verdict import Status, Verdict
from conformance.base.verdict import verdict as verdict_of
from conformance.tools.compat_table.lines import Line

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
    Verdict.DECLARATION_FAILED: "**no verdict: declaration failed**",
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


def verdict(impl: dict[str, Any]) -> str:
    """The verdict of one implementation of a report (conformance.base.verdict's rule), as table text."""
    statuses = [str(c.get("status")) for c in impl.get("properties", [])]
    if not impl.get("load_error") and any(s not in STATUS_TEXT for s in statuses):
        # a status this suite does not know (a report of another version): it did not pass
        return VERDICT_TEXT[Verdict.DOES_NOT_CONFORM]
    load_error = str(impl["load_error"]) if impl.get("load_error") else None
    failed = any(c.get("declaration_failed") for c in impl.get("properties", []))
    return VERDICT_TEXT[verdict_of(statuses, load_error, failed)]


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
