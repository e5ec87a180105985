"""Starts a daemon at every call: a shell that starts ``setsid sleep`` in the background and exits.

The sleeper is an orphan as soon as the shell exits: not the worker's child, not in its
group, not in its session. Only a subreaper keeps it among the worker's descendants.
"""

from __future__ import annotations

import subprocess
from typing import Any

from tests.adversarial.common import right
from tests.adversarial.marker import counted, marker


def vmap_over_batch(seed: Any, x_batch: Any, features: Any) -> Any:
    counted("daemon")
    subprocess.run(["sh", "-c", f"setsid sleep {marker()} </dev/null >/dev/null 2>&1 &"], check=True)
    return right(seed, x_batch, features)
