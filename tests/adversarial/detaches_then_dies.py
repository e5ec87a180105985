"""Starts a detached process, then kills its own worker (SIGKILL): the worker cannot clean up.

The sleeper goes to init; only its environment (the worker's token) still tells whose it is.
"""

from __future__ import annotations

import os
import signal
from typing import Any

from tests.adversarial.marker import start_sleeper


def vmap_over_batch(seed: Any, x_batch: Any, features: Any) -> Any:
    start_sleeper(detached=True)
    os.kill(os.getpid(), signal.SIGKILL)
