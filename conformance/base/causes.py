"""Failures grouped by cause: one implementation's failing cells, in groups that share a cause.

Pure functions on a report's cell data (the JSON report's dicts, or the engine's
``CellResult`` objects): no JAX, no Hypothesis, nothing of the suite but the statuses
(:mod:`conformance.base.verdict`). The terminal report, the JSON report (``causes``), the
Markdown summary and the ``expect`` tool all read their causes from here.

Two failing cells of one implementation share a cause when one of these keys, tried
in this order, says so:

1. **every property fails**: every property that ran (not skipped, not incomplete)
   failed, and at least two ran: the implementation is broken everywhere (it raises on
   every call, returns no array, is not traceable at all). One cause holds them all.
2. **the same minimal counterexample**: the arguments of the two minimal
   counterexamples are identical (the subject's arguments only: the extras a property
   draws, such as a second seed or a cotangent, are not compared).
3. **the same diagnosis**: both messages name the same stated cause: an exception
   raised at the same place (``not traceable`` under jit, ``raised`` under vmap or grad),
   the same non-array return, a hang, a crash or a protocol violation, a stopped
   worker, the same wrong value (the first wrong element: the same number where the
   same number was expected, whatever the property), the same pattern of wrong
   elements (``zero everywhere``), the same golden cause, or the same reason of an
   expected failure (a known failure of a built-in, or the user's ``--expect`` entry).

Keys 2 and 3 are transitive (a cell linked to two groups joins them), so a cause is a
connected group. Expected failures (``xfail``) are grouped apart from unexpected ones,
so a cause is either wholly expected or not; stale expectations (``xpass``) and cells
that ran no example (``incomplete``) are grouped by their own diagnoses.

The grouping is a reading aid, not a proof: two bugs whose minimal counterexamples
shrink to the same smallest input are shown as one cause, and one bug whose failures
shrink to different inputs under different diagnoses stays split. Every failing
property keeps its own block with its own evidence.

Public API::

    group(cells, load_error=None) -> list[Cause]
    causes_of(impl) -> list[Cause]                 # an ImplResult or a report's implementation dict
    describe(number, cause) -> str                 # "cause 1 (4 properties: a, b, c, d): ..."
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from conformance.base.verdict import UNEXPECTED, Status

#: Statuses grouped into causes: unexpected failures (verdict.UNEXPECTED), then expected ones.
EXPECTED = frozenset({Status.XFAIL})
#: Statuses of a property that ran and did not hold (rule 1).
FAILED = frozenset({Status.FAIL, Status.XFAIL, Status.ERROR})

_FIELDS = ("property", "status", "message", "counterexample", "expected_failure", "first_failure_example")

_RAISED_AT = re.compile(r"raised (?P<type>[\w.]+): [^\n]*? \(at (?P<where>[^()\n]+:\d+)\)")
_RAISED = re.compile(r"raised (?P<type>[\w.]+): (?P<msg>[^\n]{0,80})")
_UNTRACEABLE = re.compile(r"not traceable under jax\.jit: (?P<type>[\w.]+) at (?P<where>[^\n]+?:\d+): ")
_RETURNED = re.compile(r"returned (?P<type>[\w.]+), (?:not an array|expected a jax\.Array)")
#: a --expect entry's reason as the report shows it: "IMPL PROPERTY [conditions] (path:LINE): reason"
_USER_REASON = re.compile(r"^\S+ \S+(?: [^()]*)? \((?P<where>[^()]*:\d+)\): (?P<reason>.*)$", re.S)
#: stated causes named by a phrase of the message
_PHRASES = ("not traceable", "not differentiable", "protocol violation")
_CALLS = {
    "timeout": "hangs (a call timed out)",
    "crashed": "crashes its worker",
    "protocol": "protocol violation",
}


@dataclass(frozen=True)
class Diagnosis:
    """One stated cause a failing cell's evidence names."""

    key: str  # what is compared
    text: str  # how it reads


@dataclass(frozen=True)
class Cause:
    """Failing properties of one implementation that share a cause."""

    properties: tuple[str, ...]
    #: one line: what they have in common
    summary: str
    #: the keys that linked them: "every property", "counterexample", "diagnosis" (empty: one property)
    linked_by: tuple[str, ...] = ()
    #: every property of it is an expected failure (xfail)
    expected: bool = False
    #: the stated causes among them, most common first: (text, properties)
    diagnoses: tuple[tuple[str, tuple[str, ...]], ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        return {
            "properties": list(self.properties),
            "summary": self.summary,
            "linked_by": list(self.linked_by),
            "expected": self.expected,
            "diagnoses": [{"text": t, "properties": list(p)} for t, p in self.diagnoses],
        }


def _view(cell: Any) -> dict[str, Any]:
    """A cell as a dict of the fields read here (a JSON dict, or an object with attributes)."""
    if isinstance(cell, Mapping):
        out = {k: cell.get(k) for k in _FIELDS}
        out["property"] = out["property"] or cell.get("name")
    else:
        out = {k: getattr(cell, k, None) for k in _FIELDS}
    out["status"] = str(out["status"] or "")
    out["message"] = str(out["message"] or "")
    return out


def expected_reason(text: str | None) -> str | None:
    """The reason of an expected failure, without the ``--expect`` entry's location."""
    if not text:
        return None
    m = _USER_REASON.match(text.strip())
    return (m.group("reason") if m else text).strip() or None


def diagnoses(cell: Any) -> list[Diagnosis]:
    """The stated causes a failing cell's status, message and details name (maybe none)."""
    c = _view(cell)
    status, message = c["status"], c["message"]
    details = (c["counterexample"] or {}).get("details") or {}
    found: list[Diagnosis] = []

    def add(key: str, text: str) -> None:
        if all(d.key != key for d in found):
            found.append(Diagnosis(key, text))

    if status == "xpass":
        add("xpass", "expected to fail, but held: a stale expectation")
    if status == "incomplete":
        add("incomplete:" + message.split(":", 1)[-1].strip(), message.split("\n", 1)[0])
    if status == "error":
        head = message.split("\n", 1)[0]
        add("error:" + head[:120], head[:200])
    reason = expected_reason(c["expected_failure"])
    if reason and status in ("xfail", "xpass"):
        add("reason:" + reason, f"expected: {reason}")
    if message.startswith("not checked: "):
        add("stopped", "the implementation stopped answering: " + message[len("not checked: ") :][:160])
    for pattern in (_UNTRACEABLE, _RAISED_AT):
        m = pattern.search(message)
        if m:
            where = m.group("where")
            note = " (not traceable)" if "not traceable" in message or "Tracer" in m.group("type") else ""
            add(f"raises:{m.group('type')}@{where}", f"raises {m.group('type')} at {where}{note}")
    if not any(d.key.startswith("raises:") for d in found):
        m = _RAISED.search(message)
        if m:
            add(f"raises:{m.group('type')}:{m.group('msg')}", f"raises {m.group('type')}: {m.group('msg')}")
    m = _RETURNED.search(message)
    if m:
        add("returns:" + m.group("type"), f"returns {m.group('type')}, not an array")
    call = details.get("call") if isinstance(details, Mapping) else None
    if call in _CALLS:
        add("call:" + call, _CALLS[call])
    value = _wrong_value(details)
    if value:
        add("value:" + value, f"the same wrong value: {value}")
    if isinstance(details, Mapping) and details.get("diagnosis"):
        add("pattern:" + str(details["diagnosis"]), str(details["diagnosis"]))
    if c["property"] == "golden" and " moved because " in message:
        why = message.split(" moved because ", 1)[1].split(". ", 1)[0]
        add("golden:" + why, "golden values moved because " + why)
    low = message.lower()
    for phrase in _PHRASES:
        if phrase in low and not any(phrase in d.text for d in found):
            add("phrase:" + phrase, phrase)
    return found


def _wrong_value(details: Any) -> str | None:
    """``got G where E was expected``: a numeric failure's first wrong element, to 9 and 6
    significant digits (the oracle and a float32 built-in differ past that); None for a
    non-finite value or no value."""
    if not isinstance(details, Mapping):
        return None
    got, want = details.get("got"), details.get("expected")
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (got, want)):
        return None
    if not all(math.isfinite(v) for v in (got, want)):
        return None
    return f"got {got:.9g} where {want:.6g} was expected"


def counterexample_key(cell: Any) -> str | None:
    """The arguments of a cell's minimal counterexample, as comparable text (None: none recorded)."""
    example = _view(cell)["counterexample"] or {}
    case = example.get("case")
    if isinstance(case, Mapping):
        inner = case.get("dict", case)
        if isinstance(inner, Mapping) and "args" in inner:
            return json.dumps(inner["args"], sort_keys=True)
    summary = example.get("summary")
    return json.dumps(summary, sort_keys=True) if summary else None


def _arguments(cell: Any) -> str:
    """The minimal counterexample's arguments, as the report's summary shows them."""
    example = _view(cell)["counterexample"] or {}
    summary: Mapping[str, str] = example.get("summary") or {}
    case = example.get("case") or {}
    inner = case.get("dict", case) if isinstance(case, Mapping) else {}
    args = inner.get("args", {}) if isinstance(inner, Mapping) else {}
    names = args.get("dict", args) if isinstance(args, Mapping) else {}
    keys = [k for k in summary if k in names] or list(summary)
    return ", ".join(f"{k} = {summary[k]}" for k in keys)


def _first_line(text: str, limit: int = 200) -> str:
    line = text.strip().split("\n", 1)[0]
    return line if len(line) <= limit else line[: limit - 3] + "..."


class _Groups:
    """Union-find over cell indices."""

    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def join(self, i: int, j: int) -> None:
        a, b = self.find(i), self.find(j)
        if a != b:
            self.parent[max(a, b)] = min(a, b)


def _cause(cells: Sequence[dict[str, Any]], linked_by: Iterable[str], every: bool = False) -> Cause:
    names = tuple(c["property"] for c in cells)
    found: dict[str, tuple[str, list[str]]] = {}
    for c in cells:
        for d in diagnoses(c):
            found.setdefault(d.key, (d.text, []))[1].append(c["property"])
    ranked = sorted(found.values(), key=lambda tp: -len(tp[1]))
    diag = tuple((text, tuple(props)) for text, props in ranked)
    size = len(cells)

    def share(props: Sequence[str]) -> str:
        return "" if len(props) == size else f" ({len(props)} of {size} properties)"

    if every:
        summary = f"every property that ran fails ({size} of {size})"
        if all(c.get("first_failure_example") in (None, 1) for c in cells):
            summary += ", each on its first example"
        if ranked:
            summary += f": {ranked[0][0]}{share(ranked[0][1])}"
    elif size == 1:  # one property: its stated cause, else its own first line
        named = [text for key, (text, _) in found.items() if not key.startswith("value:")]
        summary = named[0] if named else _first_line(cells[0]["message"]) or cells[0]["status"]
    elif ranked and len(ranked[0][1]) > 1:
        summary = ranked[0][0] + share(ranked[0][1])
    elif "counterexample" in linked_by:
        summary = f"the same minimal counterexample: {_arguments(cells[0])}"
    else:
        summary = _first_line(cells[0]["message"]) or f"{cells[0]['status']}"
    if "counterexample" in linked_by and not summary.startswith("the same minimal"):
        summary += " [and a shared minimal counterexample]"
    expected = all(c["status"] in EXPECTED for c in cells)
    return Cause(names, summary, tuple(dict.fromkeys(linked_by)), expected, diag)


def _connected(cells: Sequence[dict[str, Any]]) -> list[Cause]:
    groups = _Groups(len(cells))
    links: dict[int, list[str]] = {}
    seen: dict[tuple[str, str], int] = {}
    for i, c in enumerate(cells):
        keys = [("counterexample", counterexample_key(c))] + [("diagnosis", d.key) for d in diagnoses(c)]
        for kind, key in keys:
            if key is None:
                continue
            j = seen.setdefault((kind, key), i)
            if j != i:
                links.setdefault(groups.find(i), []).append(kind)
                links.setdefault(groups.find(j), []).append(kind)
                groups.join(i, j)
    members: dict[int, list[int]] = {}
    for i in range(len(cells)):
        members.setdefault(groups.find(i), []).append(i)
    out = []
    for root, idx in members.items():
        kinds = [k for r, ks in links.items() if groups.find(r) == root for k in ks]
        ordered = [k for k in ("counterexample", "diagnosis") if k in kinds]
        out.append(_cause([cells[i] for i in idx], ordered))
    return out


def group(cells: Iterable[Any], load_error: str | None = None) -> list[Cause]:
    """The causes of one implementation's failing cells: unexpected ones first, then expected,
    each in the order of their first property. A load error is one cause with no property."""
    if load_error:
        return [Cause((), f"could not be loaded: {_first_line(load_error)}", ("load error",))]
    views = [_view(c) for c in cells]
    ran = [c for c in views if c["status"] not in ("skip", "incomplete")]
    if len(ran) >= 2 and all(c["status"] in FAILED for c in ran):
        rest = [c for c in views if c["status"] == "incomplete"]
        return [_cause(ran, ["every property"], every=True), *_connected(rest)]
    unexpected = [c for c in views if c["status"] in UNEXPECTED]
    expected = [c for c in views if c["status"] in EXPECTED]
    return _connected(unexpected) + _connected(expected)


def causes_of(impl: Any) -> list[Cause]:
    """The causes of an implementation: an ``ImplResult``, or a JSON report's implementation dict."""
    if isinstance(impl, Mapping):
        return group(impl.get("properties") or [], impl.get("load_error"))
    return group(impl.properties, impl.load_error)


def describe(number: int, cause: Cause) -> str:
    """``cause 1 (4 properties: a, b, c, d): summary``."""
    n = len(cause.properties)
    if not n:
        return f"cause {number}: {cause.summary}"
    what = "property" if n == 1 else "properties"
    return f"cause {number} ({n} {what}: {', '.join(cause.properties)}): {cause.summary}"
