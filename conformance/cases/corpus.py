"""The regression corpus, read side: the cases pinned once, run first in every run after.

Layout of a corpus directory (default ``conformance-corpus/`` in the current directory)::

    conformance-corpus/
      vmap_over_batch/
        agrees_with_oracle/
          3f9a0c1d2b4e5f60.json
        seed_sensitivity/
          ...

One JSON file per pinned case::

    {
      "schema": "nnx-conformance/corpus/1",
      "subject": "vmap_over_batch",
      "property": "agrees_with_oracle",
      "x64": false,
      "case": {...},                  # conformance.cases.codec's encoding: the JSON a replay's --case carries
      "implementation": "bad",        # where it was found
      "spec": "bad=my_impl.py:f",     # how to load it again: a file path relative to the corpus's parent
      "strict": false,
      "message": "disagrees with the float64 oracle: ...",
      "pinned": "2026-11-25T16:20:00+00:00",
      "source": "report out.json" | "replay command"   # the report's path stored like spec's
    }

The file name is the first 16 hex digits of the sha256 of subject, property, x64 and
the case. Writing the corpus is a tool (:mod:`conformance.tools.pin`, the ``pin``
command); the engine only reads it::

    load_pinned(corpus_dir, subject, property, x64) -> list[Case]
    load_entries(corpus_dir, subject, property, x64) -> list[PinnedCase]   # with where/why
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conformance.base.verdict import ReplayCommand
from conformance.cases import codec

Case = dict[str, Any]

SCHEMA = "nnx-conformance/corpus/1"
DEFAULT_DIR = "conformance-corpus"
HASH_DIGITS = 16


@dataclass(frozen=True)
class PinnedCase:
    """A pinned case read back: the decoded case plus where it came from."""

    path: Path
    case: Case
    implementation: str
    message: str
    pinned: str
    subject: str = ""
    property: str = ""
    x64: bool = False
    strict: bool = False
    #: the implementation's spec as stored: a file path relative to the corpus folder's parent
    spec: str = ""

    def replay_command(self, python: str = "python") -> ReplayCommand | None:
        """The replay of this case on the implementation it was found on, to run from the
        corpus folder's parent; None when the entry records no spec."""
        if not self.spec:
            return None
        return ReplayCommand(
            self.subject, self.spec, self.property, codec.dumps(self.case), self.x64, self.strict, python
        )


def case_hash(subject: str, property: str, x64: bool, encoded_case: Any) -> str:
    """The short hash naming a pinned case's file (canonical JSON, keys sorted)."""
    identity = {"subject": subject, "property": property, "x64": bool(x64), "case": encoded_case}
    text = json.dumps(identity, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:HASH_DIGITS]


def _canonical(encoded_case: Any, what: str) -> Any:
    """``encoded_case`` decoded and encoded again: validated, and in one canonical form."""
    try:
        case = codec.decode(encoded_case)
    except (ValueError, TypeError) as e:
        raise ValueError(f"{what}: not a recorded case: {e}") from None
    if not isinstance(case, dict):
        raise ValueError(f"{what}: not a recorded case: a case is a dict, got {type(case).__name__}")
    return codec.encode(case)


# --------------------------------------------------------------------------- reading back


def _read_entry(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: corrupt corpus entry: {e}") from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise ValueError(f"{path}: corrupt corpus entry: not of schema {SCHEMA}")
    for key in ("subject", "property", "x64", "case"):
        if key not in data:
            raise ValueError(f"{path}: corrupt corpus entry: no {key!r}")
    return data


def load_entries(
    corpus_dir: str | os.PathLike[str], subject: str, property: str, x64: bool
) -> list[PinnedCase]:
    """The pinned cases of ``subject``/``property`` for this x64 setting, sorted by file name.

    Empty when the directory does not exist; ``ValueError`` naming the file for a corrupt one.
    """
    folder = Path(corpus_dir) / subject / property
    if not folder.is_dir():
        return []
    out = []
    for path in sorted(folder.glob("*.json")):
        data = _read_entry(path)
        if (data["subject"], data["property"]) != (subject, property):
            raise ValueError(
                f"{path}: corrupt corpus entry: it is for {data['subject']}/{data['property']} "
                f"but lies in {subject}/{property}"
            )
        if bool(data["x64"]) != bool(x64):
            continue
        try:
            case = codec.decode(data["case"])
        except ValueError as e:
            raise ValueError(f"{path}: corrupt corpus entry: {e}") from None
        if not isinstance(case, dict):
            raise ValueError(f"{path}: corrupt corpus entry: the case is not a dict")
        out.append(
            PinnedCase(
                path,
                case,
                str(data.get("implementation", "")),
                str(data.get("message", "")),
                str(data.get("pinned", "")),
                subject,
                property,
                bool(data["x64"]),
                bool(data.get("strict", False)),
                str(data.get("spec", "")),
            )
        )
    return out


def load_pinned(corpus_dir: str | os.PathLike[str], subject: str, property: str, x64: bool) -> list[Case]:
    """The decoded pinned cases (see :func:`load_entries`), ready for ``hypothesis.example(case=...)``."""
    return [e.case for e in load_entries(corpus_dir, subject, property, x64)]
