"""Starts a detached process (a session of its own) at every call, and answers correctly.

Killing the worker's process group does not reach it; when its parent dies, it is
reparented to init, unless the worker is its subreaper.
"""

from __future__ import annotations

from typing import Any

from tests.adversarial.common import right
from tests.adversarial.marker import start_sleeper


def vmap_over_batch(seed: Any, x_batch: Any, features: Any) -> Any:
    start_sleeper(detached=True)
    return right(seed, x_batch, features)
