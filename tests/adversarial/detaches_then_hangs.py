"""Starts a detached process, then never returns: the runner ends the worker mid-call."""

from __future__ import annotations

import time
from typing import Any

from tests.adversarial.marker import start_sleeper


def vmap_over_batch(seed: Any, x_batch: Any, features: Any) -> Any:
    start_sleeper(detached=True)
    time.sleep(10_000)
