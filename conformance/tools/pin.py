"""Pinning counterexamples into the regression corpus: the ``pin`` command (a tool on the engine).

``python -m conformance pin REPORT.json [--corpus DIR]`` pins every counterexample of
a report; ``python -m conformance pin --replay 'COMMAND' [--corpus DIR]`` the case of
one replay command (``--replay -`` reads the command from standard input, which spares
quoting the quotes of its ``--case``). An ``--case @path`` is read relative to the
current directory, like the replay itself. The layout and the file format are in
:mod:`conformance.cases.corpus`; pinning the same case again finds the same file and leaves
it as it is.

A corpus is checked in and shared, so a file spec is never stored absolute: an
absolute path (a JSON report records the resolved one) is stored relative to the
corpus folder's parent, a relative one as the user gave it. The ``golden``
property's cases are the checked-in goldens themselves (``conformance/data/goldens``):
``pin`` skips them with a note.

Public API::

    pin_from_report(report_path, corpus_dir) -> list[Path]
    pin_from_replay(command, corpus_dir) -> Path | None                # None: not pinned (golden)
    add_parser(subparsers) / cmd_pin(args) -> int                      # `python -m conformance pin`
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from conformance.base.verdict import REPORT_SCHEMA_PREFIX, ReplayCommand
from conformance.cases.corpus import DEFAULT_DIR, SCHEMA, _canonical, case_hash

#: Properties whose cases are never pinned, and why.
NOT_PINNED = {"golden": "its cases are the checked-in goldens (conformance/data/goldens) already"}


@dataclass(frozen=True)
class PinResult:
    """What one pin did: the file, and whether it is new (False: the case was pinned before).

    ``skipped`` says why a case was not pinned at all (then ``path`` is None).
    """

    path: Path | None
    created: bool
    subject: str
    property: str
    implementation: str
    skipped: str = ""


def stored_spec(spec: str, corpus_dir: str | os.PathLike[str]) -> str:
    """``spec`` as a corpus stores it: an absolute file path made relative to the corpus folder's parent.

    A relative path is kept as the user gave it; module and registered-name specs are unchanged.
    """
    label, eq, target = spec.partition("=") if "=" in spec else ("", "", spec)
    where, colon, attr = target.rpartition(":")
    if not colon or not where.strip().endswith(".py"):
        return spec
    return f"{label}{eq}{_stored_path(where.strip(), corpus_dir)}:{attr}"


def _stored_path(path: str, corpus_dir: str | os.PathLike[str]) -> str:
    """An absolute ``path`` relative to the corpus folder's parent; a relative one as given."""
    if not os.path.isabs(path):
        return path
    try:
        return os.path.relpath(path, os.path.dirname(os.path.abspath(corpus_dir)))
    except ValueError:  # on another drive (Windows): no relative path; keep the file's name
        return os.path.basename(path)


def pin(
    corpus_dir: str | os.PathLike[str],
    subject: str,
    property: str,
    x64: bool,
    encoded_case: Any,
    *,
    implementation: str = "",
    spec: str = "",
    strict: bool = False,
    message: str = "",
    source: str = "",
) -> PinResult:
    """Pin one codec-encoded case under ``corpus_dir``; an existing pin of it is left untouched.

    ``spec`` is stored as :func:`stored_spec` makes it. A case of a property in
    :data:`NOT_PINNED` is not pinned: the result says why (``skipped``), with no path.
    """
    for label, name in (("subject", subject), ("property", property)):
        if not name or not name.isidentifier():
            raise ValueError(f"cannot pin a case with {label} {name!r}: not a name")
    case = _canonical(encoded_case, f"{subject}/{property}")
    if property in NOT_PINNED:
        return PinResult(None, False, subject, property, implementation, NOT_PINNED[property])
    folder = Path(corpus_dir) / subject / property
    path = folder / f"{case_hash(subject, property, x64, case)}.json"
    if path.exists():
        return PinResult(path, False, subject, property, implementation)
    folder.mkdir(parents=True, exist_ok=True)
    entry = {
        "schema": SCHEMA,
        "subject": subject,
        "property": property,
        "x64": bool(x64),
        "case": case,
        "implementation": implementation,
        "spec": stored_spec(spec, corpus_dir) if spec else "",
        "strict": bool(strict),
        "message": message,
        "pinned": datetime.now(UTC).isoformat(timespec="seconds"),
        "source": source,
    }
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(entry, indent=2) + "\n")
    try:
        os.link(tmp, path)  # fails if someone pinned the same case meanwhile: keep theirs
        created = True
    except FileExistsError:
        created = False
    finally:
        tmp.unlink()
    return PinResult(path, created, subject, property, implementation)


# --------------------------------------------------------------------------- from a JSON report


def _pin_report(report_path: str | os.PathLike[str], corpus_dir: str | os.PathLike[str]) -> list[PinResult]:
    name = os.fspath(report_path)
    try:
        with open(name) as f:
            report = json.load(f)
    except json.JSONDecodeError as e:
        raise ValueError(f"{name}: not a JSON report: {e}") from None
    if not isinstance(report, dict) or not str(report.get("schema", "")).startswith(REPORT_SCHEMA_PREFIX):
        raise ValueError(f"{name}: not a conformance JSON report (no schema {REPORT_SCHEMA_PREFIX}N)")
    if "subject" not in report:
        raise ValueError(f"{name}: the report names no subject")
    subject, x64, strict = (
        report["subject"],
        bool(report.get("x64", False)),
        bool(report.get("strict", False)),
    )
    results: list[PinResult] = []
    for impl in report.get("implementations", []):
        for cell in impl.get("properties", []):
            example = cell.get("counterexample") or {}
            if "case" not in example:
                continue
            prop = cell.get("property") or cell.get("name")
            results.append(
                pin(
                    corpus_dir,
                    subject,
                    prop,
                    x64,
                    example["case"],
                    implementation=impl.get("name", ""),
                    spec=impl.get("spec", ""),
                    strict=strict,
                    message=cell.get("message", ""),
                    source=f"report {_stored_path(name, corpus_dir)}",
                )
            )
    return results


def pin_from_report(report_path: str | os.PathLike[str], corpus_dir: str | os.PathLike[str]) -> list[Path]:
    """Pin every counterexample of a JSON report (``check --json``); the files, each once, in order.

    Counterexamples of a property in :data:`NOT_PINNED` are left out. ``ValueError``
    for a file that is not a report, ``OSError`` for one that cannot be read.
    """
    paths: list[Path] = []
    for r in _pin_report(report_path, corpus_dir):
        if r.path is not None and r.path not in paths:
            paths.append(r.path)
    return paths


# --------------------------------------------------------------------------- from a replay command


def _impl_name(spec: str) -> str:
    """The name a spec is shown under (as ``impl.registry.load`` names it)."""
    if "=" in spec:
        return spec.partition("=")[0].strip()
    if ":" in spec:
        return spec.rpartition(":")[2].rsplit(".", 1)[-1]
    return spec


def _pin_replay(command: str, corpus_dir: str | os.PathLike[str], message: str = "") -> PinResult:
    args = ReplayCommand.parse(command)
    text = args.case
    if text.startswith("@"):
        try:
            text = Path(text[1:]).read_text()
        except OSError as e:
            raise ValueError(f"--case {args.case}: cannot read the case file: {e.strerror}") from None
    try:
        encoded = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"--case is not JSON: {e}") from None
    return pin(
        corpus_dir,
        args.subject,
        args.property,
        args.x64,
        encoded,
        implementation=_impl_name(args.impl),
        spec=args.impl,
        strict=args.strict,
        message=message,
        source="replay command",
    )


def pin_from_replay(command: str, corpus_dir: str | os.PathLike[str]) -> Path | None:
    """Pin the case of a replay command line (``--case JSON`` or ``--case @file``); its file.

    None for a case that is not pinned (see :data:`NOT_PINNED`). ``ValueError`` naming
    what is wrong for a line that is not a replay command.
    """
    return _pin_replay(command, corpus_dir).path


# --------------------------------------------------------------------------- the `pin` command


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Add ``pin`` to the subparsers ``sub`` of ``python -m conformance``; returns the parser."""
    p = sub.add_parser(
        "pin",
        help="pin counterexamples into the regression corpus (they then run first, in every profile)",
        description="Pin every counterexample of a JSON report, or the case of one replay command, "
        "into the regression corpus.",
    )
    p.add_argument("report", nargs="?", metavar="REPORT.json", help="a report written by check --json")
    p.add_argument(
        "--replay",
        metavar="COMMAND",
        help="a replay command line, quoted as one argument; '-' reads it from standard input",
    )
    p.add_argument(
        "--corpus", default=DEFAULT_DIR, metavar="DIR", help=f"the corpus directory (default {DEFAULT_DIR})"
    )
    return p


def cmd_pin(args: argparse.Namespace) -> int:
    """Run ``pin``: 0 on success (also when nothing was new), 2 for bad input."""
    corpus_dir = getattr(args, "corpus", None) or DEFAULT_DIR
    if (args.report is None) == (args.replay is None):
        print("error: pin takes a REPORT.json or --replay 'COMMAND' (one of them)", file=sys.stderr)
        return 2
    try:
        if args.report is not None:
            results = _pin_report(args.report, corpus_dir)
            source = args.report
        else:
            command = sys.stdin.read() if args.replay == "-" else args.replay
            results = [_pin_replay(command, corpus_dir)]
            source = "the replay command"
    except OSError as e:
        print(f"error: {e.filename or args.report}: {e.strerror}", file=sys.stderr)
        return 2
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if not results:
        print(f"no counterexample in {source}: nothing to pin")
        return 0
    seen: set[Path] = set()
    skipped: dict[tuple[str, str], tuple[int, str]] = {}
    for r in results:
        if r.path is None:
            count, _ = skipped.get((r.subject, r.property), (0, ""))
            skipped[(r.subject, r.property)] = (count + 1, r.skipped)
            continue
        if r.path in seen:
            continue
        seen.add(r.path)
        what = "pinned" if r.created else "already pinned"
        found = f", found on {r.implementation}" if r.implementation else ""
        print(f"{what} {r.subject}/{r.property}{found}: {r.path}")
    for (subject, prop), (count, why) in skipped.items():
        cases = "case" if count == 1 else "cases"
        print(f"not pinned: {count} {cases} of {subject}/{prop}: {why}")
    new = sum(1 for r in results if r.created)
    also = f", {sum(c for c, _ in skipped.values())} not pinned" if skipped else ""
    print(f"{new} new, {len(seen) - new} already pinned{also}, in {corpus_dir}")
    return 0
