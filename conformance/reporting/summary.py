"""The Markdown summary of a run (``check --summary-md PATH``, or ``$GITHUB_STEP_SUMMARY``).

Fed from a report's JSON data (:meth:`conformance.run.results.RunReport.to_json`, or a file
written by ``check --json``): the verdict table (implementations x properties, forward
then transform, as the terminal shows it), the causes of each implementation's failures
(:mod:`conformance.base.causes`), then each failure with its minimal counterexample and its
replay command; expected failures are folded in a ``<details>`` block.

Public API::

    render(report) -> str                       # one subject's section
    write(report, path, append=False) -> None   # GitHub's step summary is appended to
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from conformance.base.catalogue import by_group
from conformance.base.causes import causes_of, describe
from conformance.base.verdict import UNEXPECTED

MARKS = {
    "pass": "✅ pass",
    "fail": "❌ **FAIL**",
    "skip": "➖ skip",
    "incomplete": "❔ **INCOMPLETE**",
    "error": "💥 **ERROR**",
    "xfail": "⚠️ xfail",
    "xpass": "❗ **XPASS**",
}
#: An ``incomplete`` cell marked ``declaration_failed``: the subject's declaration failed there.
NO_VERDICT = "❔ **NO VERDICT**"
VERDICTS = {
    "conforms": "✅ conforms",
    "known non-conformant": "⚠️ known non-conformant",
    "does not conform": "❌ **does not conform**",
    "no verdict: declaration failed": "❔ **no verdict: declaration failed**",
    "incomplete": "❔ **incomplete**",
    "load error": "❌ **load error**",
}
#: Bytes one section may take: GitHub refuses a step summary above 1 MiB, so a larger section
#: keeps its table and causes and leaves the failures' evidence to the JSON report.
LIMIT = 512 * 1024


def _cell(text: str) -> str:
    """Text made safe inside a table cell."""
    return " ".join(str(text).split()).replace("|", "\\|")


def _fence(text: str, lang: str = "") -> str:
    ticks = "````" if "```" in text else "```"
    return f"{ticks}{lang}\n{text}\n{ticks}"


def _name(cell: Mapping[str, Any]) -> str:
    return str(cell.get("property") or cell.get("name"))


def _table(report: Mapping[str, Any]) -> list[str]:
    impls = report.get("implementations") or []
    props: list[str] = []
    for impl in impls:
        for c in impl.get("properties") or []:
            if _name(c) not in props:
                props.append(_name(c))
    names = [f"`{_cell(i.get('name', ''))}`" for i in impls]
    lines = [f"| property | {' | '.join(names)} |", "|---|" + ":-:|" * len(impls)]
    for group, members in by_group(props).items():
        lines.append(f"| **{group}** |" + " |" * len(impls))
        for prop in members:
            row = []
            for impl in impls:
                found = next((c for c in impl.get("properties") or [] if _name(c) == prop), None)
                row.append(_mark(found) if found else "-")
            lines.append(f"| {prop} | {' | '.join(row)} |")
    verdicts = [VERDICTS.get(str(i.get("verdict")), _cell(i.get("verdict", ""))) for i in impls]
    lines.append(f"| **verdict** | {' | '.join(verdicts)} |")
    return lines


def _mark(cell: Mapping[str, Any]) -> str:
    """A cell's status as the table shows it (no verdict where the subject's declaration failed)."""
    status = str(cell.get("status"))
    return NO_VERDICT if cell.get("declaration_failed") else MARKS.get(status, status)


def _failure(impl: str, cell: Mapping[str, Any], level: str = "####") -> list[str]:
    out = [f"{level} {_mark(cell)}: `{impl}` / `{_name(cell)}`", ""]
    if cell.get("claim"):
        out += [f"*{cell['claim']}*", ""]
    if cell.get("expected_failure"):
        out += [f"Expected to fail: {cell['expected_failure']}", ""]
    if cell.get("message"):
        out += [_fence(str(cell["message"]).strip()), ""]
    example = cell.get("counterexample") or {}
    if example.get("summary"):
        where = f" (found inside the edge '{example['edge']}')" if example.get("edge") else ""
        body = "\n".join(f"{k} = {v}" for k, v in example["summary"].items())
        out += [f"Minimal counterexample{where}:", "", _fence(body), ""]
    if cell.get("replay"):
        out += ["Replay:", "", _fence(str(cell["replay"]), "bash"), ""]
    return out


def render(report: Mapping[str, Any]) -> str:
    """One subject's section: the table, the causes, the failures, the expected failures."""
    env = report.get("environment") or {}
    versions = ", ".join(f"{p} {env[p]}" for p in ("jax", "flax") if env.get(p))
    impls = report.get("implementations") or []
    outcome = "passed" if report.get("passed") else "**failed**"
    head = [
        f"## nnx-conformance: {report.get('subject')}, profile {report.get('profile')}",
        "",
        " · ".join(
            x
            for x in (
                f"`{report['signature']}`" if report.get("signature") else "",
                versions,
                f"{report.get('elapsed_seconds', 0):.1f} s"
                if report.get("elapsed_seconds") is not None
                else "",
                outcome,
            )
            if x
        ),
        "",
    ]
    out = head + _table(report) + [""]
    cause_lines, failures, expected = [], [], []
    for impl in impls:
        name = str(impl.get("name", ""))
        if impl.get("load_error"):
            failures += [f"#### ❌ `{name}` could not be loaded", "", _fence(str(impl["load_error"])), ""]
            continue
        found = causes_of(impl)
        for number, cause in enumerate(found, start=1):
            tag = " *(expected)*" if cause.expected else ""
            cause_lines.append(f"- `{name}`: {describe(number, cause)}{tag}")
        for c in impl.get("properties") or []:
            if c.get("status") in UNEXPECTED:  # shown as failures, each with its evidence
                failures += _failure(name, c)
            elif c.get("status") == "xfail":
                expected += _failure(name, c)
    if cause_lines:
        out += ["### Causes", "", *cause_lines, ""]
    if failures:
        out += ["### Failures", "", *failures]
    if expected:
        out += [
            "<details><summary>Expected failures (known non-conformant: the run stays green)</summary>",
            "",
            *expected,
            "</details>",
            "",
        ]
    text = "\n".join(out).rstrip("\n") + "\n"
    cuts = [i for i in (text.find("### Failures"), text.find("<details>")) if i >= 0]
    if len(text.encode()) > LIMIT and cuts:
        text = text[: min(cuts)] + (
            f"*The failures' evidence is left out: this section would exceed {LIMIT // 1024} KiB "
            "(GitHub refuses step summaries above 1 MiB). Each minimal counterexample and replay "
            "command is in the JSON report (`--json`) and in the terminal output.*\n"
        )
    return text


def write(report: Mapping[str, Any], path: str, append: bool = False) -> None:
    """Write (or append, as GitHub's ``$GITHUB_STEP_SUMMARY`` wants) one subject's section."""
    with open(path, "a" if append else "w", encoding="utf-8") as f:
        if append and f.tell():
            f.write("\n")
        f.write(render(report))
