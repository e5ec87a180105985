"""Expected failures from a report: the ``expect`` command (a tool on the engine's JSON reports).

``python -m conformance expect --from REPORT.json [--from ...] [--out FILE]`` writes or
refreshes an expected-failures file (the ``--expect`` format of
:mod:`conformance.cases.expectations`):

* every unexpected failure (status ``fail``) that no entry of the file covers gets a new
  entry: ``IMPL PROPERTY subject=S jax>=X,<NEXT flax>=Y,<NEXT -- TODO(expect): ...``, the
  ranges starting at the versions the report ran on and ending before the next minor
  release, and a reason left for the user (:data:`conformance.cases.expectations.PLACEHOLDER`:
  ``check --expect`` refuses the file, naming the line, until each is replaced). New
  entries come in blocks, one per cause (:mod:`conformance.base.causes`), each under a comment
  saying what its failures have in common;
* an entry whose every covered cell of the reports now holds (``pass``, or ``xpass`` when
  the run used the file) is removed, and printed;
* every other line (entries that still fail, entries the reports say nothing about,
  comments) is kept as written.

A failure that was already expected (``xfail``: a built-in's known failure, or an entry of
some file) gets no entry. Load errors, internal errors and cells that ran no example are
not failures of a property and get none either.

Public API::

    refresh(reports, text="", path=DEFAULT_OUT, sources=()) -> Refresh
    new_entry(subject, impl, property, environment) -> str
    add_parser(subparsers) / cmd_expect(args) -> int                  # `python -m conformance expect`
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from packaging.version import InvalidVersion, Version

from conformance.base.causes import causes_of
from conformance.base.verdict import REPORT_SCHEMA_PREFIX
from conformance.cases.expectations import (
    NOT_INSTALLED,
    PACKAGES,
    PLACEHOLDER,
    Expectation,
    ExpectationFileError,
    parse_text,
)

#: The file written when no --out is given.
DEFAULT_OUT = "conformance-expect.txt"
#: The packages a new entry's version ranges name.
RANGED = ("jax", "flax")


@dataclass
class Refresh:
    """What :func:`refresh` made of a file: its new text, and what changed."""

    text: str
    added: list[str] = field(default_factory=list)
    removed: list[tuple[Expectation, str]] = field(default_factory=list)  # entry, its line as written
    kept: list[Expectation] = field(default_factory=list)  # entries that still fail
    untouched: list[Expectation] = field(default_factory=list)  # entries the reports say nothing about

    @property
    def changed(self) -> bool:
        return bool(self.added or self.removed)


def load_report(path: str) -> dict[str, Any]:
    """A JSON report written by ``check --json``; ``ValueError`` saying why it is not one."""
    with open(path) as f:
        try:
            report = json.load(f)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}: not a JSON report: {e}") from None
    if not isinstance(report, dict) or not str(report.get("schema", "")).startswith(REPORT_SCHEMA_PREFIX):
        raise ValueError(f"{path}: not a conformance JSON report (no schema {REPORT_SCHEMA_PREFIX}N)")
    if not report.get("subject"):
        raise ValueError(f"{path}: the report names no subject")
    return report


def versions_of(environment: Mapping[str, Any]) -> dict[str, str]:
    """The versions a report ran on, as :meth:`Expectation.applies` takes them."""
    return {p: str(environment[p]) for p in PACKAGES if environment.get(p) not in (None, NOT_INSTALLED)}


def version_range(package: str, version: str) -> str | None:
    """``jax>=0.10.2,<0.11``: from the running version to the next minor release (None: no version)."""
    try:
        release = Version(version).release
    except InvalidVersion:
        return None
    major, minor = (release + (0,))[:2]
    return f"{package}>={version},<{major}.{minor + 1}"


def new_entry(subject: str, impl: str, property: str, environment: Mapping[str, Any]) -> str:
    """One entry for a current failure, its reason the placeholder ``check --expect`` refuses."""
    versions = versions_of(environment)
    ranges = [r for p in RANGED if p in versions for r in [version_range(p, versions[p])] if r]
    conditions = " ".join([f"subject={subject}", *ranges])
    return f"{impl}  {property}  {conditions} -- {PLACEHOLDER}: say why this failure is expected"


def _outcomes(entry: Expectation, reports: Sequence[Mapping[str, Any]]) -> tuple[int, int, int]:
    """(held, failed, unknown): the cells of ``reports`` that ``entry`` covers, by outcome."""
    held = failed = unknown = 0
    for report in reports:
        versions = versions_of(report.get("environment") or {})
        for impl in report.get("implementations") or []:
            for cell in impl.get("properties") or []:
                prop = cell.get("property") or cell.get("name")
                if not _covers(entry, report["subject"], impl.get("name", ""), prop, versions):
                    continue
                status = cell.get("status")
                if status in ("pass", "xpass"):
                    held += 1
                elif status in ("fail", "xfail"):
                    failed += 1
                else:
                    unknown += 1
    return held, failed, unknown


def _covers(entry: Expectation, subject: str, impl: str, prop: str, versions: Mapping[str, str]) -> bool:
    try:
        return entry.applies(subject, impl, prop, versions)
    except ValueError:  # a range naming a package the report does not record
        return False


def refresh(
    reports: Sequence[Mapping[str, Any]], text: str = "", path: str = DEFAULT_OUT, sources: Iterable[str] = ()
) -> Refresh:
    """The expected-failures file ``text`` (at ``path``) refreshed from ``reports``.

    ``ExpectationFileError`` (``path:LINE: ...``) for a bad line of the existing file;
    reasons still holding the placeholder are accepted here (only ``check`` refuses them).
    """
    entries = parse_text(text, path, placeholders=True)
    result = Refresh(text="")
    drop: set[int] = set()
    lines = text.splitlines()
    for entry in entries:
        held, failed, unknown = _outcomes(entry, reports)
        if held and not failed and not unknown:
            drop.add(entry.line)
            result.removed.append((entry, lines[entry.line - 1].strip()))
        elif failed:
            result.kept.append(entry)
        else:
            result.untouched.append(entry)
    remaining = [e for e in entries if e.line not in drop]
    blocks: list[list[str]] = []  # per cause: its comment line, then its new entries
    for report in reports:
        versions = versions_of(report.get("environment") or {})
        environment = report.get("environment") or {}
        for impl in report.get("implementations") or []:
            name = impl.get("name", "")
            statuses = {
                (c.get("property") or c.get("name")): c.get("status") for c in impl.get("properties") or []
            }
            for number, cause in enumerate(causes_of(impl), start=1):
                block: list[str] = []
                for prop in cause.properties:
                    if statuses.get(prop) != "fail" or any(
                        _covers(e, report["subject"], name, prop, versions) for e in remaining
                    ):
                        continue
                    line = new_entry(report["subject"], name, prop, environment)
                    if line not in result.added:
                        result.added.append(line)
                        block.append(line)
                if block:
                    head = f"# {name} on {report['subject']}, cause {number}: {cause.summary}"
                    blocks.append([" ".join(head.split())[:300], *block])
    out = [line for number, line in enumerate(lines, start=1) if number not in drop]
    if blocks:
        while out and not out[-1].strip():
            out.pop()
        if out:
            out.append("")
        names = ", ".join(sources) or "a report"
        out.append(f"# added by 'python -m conformance expect' from {names}: replace each {PLACEHOLDER}")
        for block in blocks:
            out += block
    result.text = "\n".join(out) + ("\n" if out else "")
    return result


# --------------------------------------------------------------------------- the `expect` command


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Add ``expect`` to the subparsers ``sub`` of ``python -m conformance``; returns the parser."""
    p = sub.add_parser(
        "expect",
        help="write or refresh an expected-failures file (for --expect) from JSON reports",
        description="Add an entry for every current failure of the reports (its reason left for you: "
        f"--expect refuses the file while a {PLACEHOLDER} is left), drop the entries that now pass, "
        "and keep every other line as written.",
    )
    p.add_argument(
        "--from",
        dest="reports",
        action="append",
        required=True,
        metavar="REPORT.json",
        help="a report written by check --json (repeatable: one per subject)",
    )
    p.add_argument(
        "--out",
        default=DEFAULT_OUT,
        metavar="FILE",
        help=f"the expected-failures file (default {DEFAULT_OUT})",
    )
    return p


def cmd_expect(args: argparse.Namespace) -> int:
    """Run ``expect``: 0 when the file was written or was already current, 2 for bad input."""
    try:
        reports = [load_report(p) for p in args.reports]
        text = ""
        if os.path.exists(args.out):
            with open(args.out, encoding="utf-8") as f:
                text = f.read()
        result = refresh(reports, text, args.out, args.reports)
        if result.changed:
            with open(args.out, "w", encoding="utf-8") as f:
                f.write(result.text)
    except OSError as e:
        print(f"error: {e.filename}: {e.strerror}", file=sys.stderr)
        return 2
    except (ValueError, ExpectationFileError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for entry, line in result.removed:
        print(f"removed {entry.where} (it now passes): {line}")
    for line in result.added:
        print(f"added: {line}")
    summary = f"{len(result.added)} added, {len(result.removed)} removed, {len(result.kept)} still failing"
    if result.untouched:
        summary += f", {len(result.untouched)} not in the reports"
    where = args.out if result.changed else f"{args.out} (unchanged)"
    if not result.changed and not os.path.exists(args.out):
        where = f"{args.out} not written (no failure to expect)"
    print(f"{summary}: {where}")
    if result.added:
        print(
            f"write each new entry's reason in place of {PLACEHOLDER}: check --expect refuses it until then"
        )
    return 0
