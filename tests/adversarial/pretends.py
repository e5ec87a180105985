"""Outputs that are not plain arrays, and calls that leave things behind."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from typing import Any

import numpy as np

from tests.adversarial.common import right


class Subclass(np.ndarray):
    """An ndarray subclass: it may override any operation the caller relies on."""


def returns_subclass(seed: Any, x_batch: Any, features: Any) -> Any:
    return np.asarray(right(seed, x_batch, features)).view(Subclass)


class LooksLikeAnArray:
    """Has shape, dtype and __array__, and says its class is np.ndarray."""

    def __init__(self, values: np.ndarray) -> None:
        self._values = values
        self.shape, self.dtype = values.shape, values.dtype

    @property
    def __class__(self) -> type:  # type: ignore[override]
        return np.ndarray

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return self._values


def returns_pretender(seed: Any, x_batch: Any, features: Any) -> Any:
    return LooksLikeAnArray(np.asarray(right(seed, x_batch, features)))


def flips_x64(seed: Any, x_batch: Any, features: Any) -> Any:
    """Turns on jax_enable_x64 for everyone after it."""
    import jax

    out = right(seed, x_batch, features)
    jax.config.update("jax_enable_x64", True)
    return out


def leaves_a_thread(seed: Any, x_batch: Any, features: Any) -> Any:
    threading.Thread(target=time.sleep, args=(3600,), name="left-behind", daemon=True).start()
    return right(seed, x_batch, features)


def leaves_a_process(seed: Any, x_batch: Any, features: Any) -> Any:
    subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)"])
    return right(seed, x_batch, features)


def always_hangs(seed: Any, x_batch: Any, features: Any) -> Any:
    time.sleep(10_000)


def always_exits(seed: Any, x_batch: Any, features: Any) -> Any:
    import os

    os._exit(9)


def always_raises(seed: Any, x_batch: Any, features: Any) -> Any:
    raise RuntimeError("not implemented")
