"""What a run's results look like to a program: the JSON files ``check`` and ``bench`` write.

:func:`write_json` writes a document atomically (a ``.tmp`` file beside it, then a rename),
so a reader never sees half a report; :func:`json_path` names one report per subject.
The documents themselves come from :meth:`conformance.run.results.RunReport.to_json` and
:func:`conformance.tools.bench.run_bench`.
"""

from __future__ import annotations

import json
import os
from typing import Any


def write_json(doc: dict[str, Any], path: str, *, allow_nan: bool = True) -> None:
    """Write ``doc`` to ``path`` atomically, indented, with a final newline.

    A value JSON cannot hold is written as its ``str()``; ``allow_nan=False`` refuses NaN
    and infinities (ValueError) instead of writing the non-standard ``NaN``/``Infinity``.
    """
    tmp = f"{path}.tmp"
    try:
        with open(tmp, "w") as f:
            json.dump(doc, f, indent=2, default=str, allow_nan=allow_nan)
            f.write("\n")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def json_path(path: str, subject: str, several: bool) -> str:
    """One report per subject: ``out.json`` becomes ``out.SUBJECT.json`` when there are several."""
    if not several:
        return path
    stem, ext = os.path.splitext(path)
    return f"{stem}.{subject}{ext or '.json'}"


__all__ = ["json_path", "write_json"]
