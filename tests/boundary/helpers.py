"""What the boundary tests share: the environment a ``python -m conformance`` subprocess runs in."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def env(**extra: str) -> dict[str, str]:
    """This process's environment, with the repository on ``PYTHONPATH`` and ``extra`` set."""
    out = dict(os.environ)
    out["PYTHONPATH"] = os.pathsep.join([str(ROOT), out.get("PYTHONPATH", "")])
    out.update(extra)
    return out
