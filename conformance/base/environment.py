"""What a run's numbers depend on: versions, devices, machine. One place for every report."""

from __future__ import annotations

import os
import platform
import sys
from importlib.metadata import PackageNotFoundError, version
from typing import Any

#: Packages whose versions every report records.
PACKAGES = ("jax", "jaxlib", "flax", "numpy", "ml_dtypes", "hypothesis", "chex")


def versions(packages: tuple[str, ...] = PACKAGES) -> dict[str, str]:
    """Installed versions (from the package metadata, without importing), ``not installed`` else."""
    out = {}
    for name in packages:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


def environment(x64: bool | None = None) -> dict[str, Any]:
    """Versions, the JAX backend and devices, the PRNG implementation, the machine."""
    import jax

    try:
        usable: int | None = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = None
    out: dict[str, Any] = {"python": platform.python_version(), **versions()}
    out.update(
        {
            "backend": jax.default_backend(),
            "devices": [str(d) for d in jax.devices()],
            "device_kind": str(jax.devices()[0].device_kind),
            "prng_impl": str(jax.config.jax_default_prng_impl),
            "threefry_partitionable": bool(jax.config.jax_threefry_partitionable),
            "x64": bool(jax.config.jax_enable_x64 if x64 is None else x64),
            "machine": platform.machine(),
            "processor": platform.processor() or None,
            "platform": platform.platform(),
            "system": platform.system(),
            "cpu_count": os.cpu_count(),
            "cpus_usable": usable,
            "executable": sys.executable,
        }
    )
    return out
