"""JAX's persistent compilation cache, shared by this process and its workers.

A new input shape costs the implementations about 0.3-0.5 s of compilation, and
every worker process compiles it again. With the cache on, a program compiled
once (by the reference panel or by any worker) is read back from disk by every
other process of the run, and by the next run. Its minimum compile time is set
to 0: these programs are small, and the default threshold (1 s) would skip all of them.

The folder is ``$CONFORMANCE_COMPILE_CACHE`` (``off`` disables it), else
``$XDG_CACHE_HOME/nnx-conformance/jax`` (``~/.cache/...``). It is set through
JAX's own environment variables too, so worker processes started later inherit it.
"""

from __future__ import annotations

import os

CACHE_ENV = "CONFORMANCE_COMPILE_CACHE"
DISABLED = ("off", "0", "no", "false", "none")


def default_dir() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "nnx-conformance", "jax")


def cache_dir(setting: str | None = None) -> str | None:
    """The folder to use: ``setting``, else ``$CONFORMANCE_COMPILE_CACHE``, else the default; None if off."""
    value = setting if setting is not None else os.environ.get(CACHE_ENV)
    if value is None or not value.strip():
        return default_dir()
    if value.strip().lower() in DISABLED:
        return None
    return os.path.abspath(os.path.expanduser(value.strip()))


def enable(setting: str | None = None) -> str | None:
    """Turn the cache on in this process and its future workers; returns the folder (None: off)."""
    import jax

    folder = cache_dir(setting)
    if folder is None:
        os.environ[CACHE_ENV] = "off"
        os.environ.pop("JAX_COMPILATION_CACHE_DIR", None)
        return None
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as e:
        raise ValueError(f"compile cache {folder}: cannot create it: {e.strerror}") from None
    settings = {
        "jax_compilation_cache_dir": folder,
        "jax_persistent_cache_min_compile_time_secs": 0.0,
        "jax_persistent_cache_min_entry_size_bytes": 0,
    }
    for name, value in settings.items():
        try:
            jax.config.update(name, value)
        except AttributeError:  # an option this JAX version does not have
            continue
        os.environ[name.upper()] = str(value)
    os.environ[CACHE_ENV] = folder
    return folder
