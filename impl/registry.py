"""The registry of implementations: register, list, get, load from a spec, discover.

An implementation is any callable. The registry knows nothing of properties or
strategies; it only maps names to callables and to a *spec* string from which a
fresh process (a worker) can load the same callable again.

Spec forms accepted by :func:`load`:

* ``name``                       -- a registered implementation (built-in or discovered)
* ``package.module:attr``        -- an importable module and an attribute of it
* ``path/to/file.py:attr``       -- a Python file and an attribute of it
* ``NAME=SPEC``                  -- any of the above, shown under NAME
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import os
import sys
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

DEFAULT_SUBJECT = "vmap_over_batch"
ENTRY_POINT_GROUP = "nnx_conformance.implementations"

#: Built-in modules, imported on first use of the registry.
BUILTIN_MODULES = (
    "impl.nnx_vmap",
    "impl.manual_lift",
    "impl.broadcast",
    "impl.vmap_over_ensemble",
    "impl.vmap_anchored",
)


class ImplementationLoadError(Exception):
    """An implementation spec could not be turned into a callable."""


@dataclass(frozen=True)
class Implementation:
    """A named callable plus the spec that loads it again in another process."""

    name: str
    fn: Callable[..., Any]
    spec: str
    subject: str = DEFAULT_SUBJECT
    builtin: bool = False
    #: ``(claim, reason)`` pairs: claims this implementation is registered as known to break
    #: (a reference kept to show what goes wrong, e.g. plain broadcasting of a per-sample module)
    known_failures: tuple[tuple[str, str], ...] = ()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.fn(*args, **kwargs)


_REGISTRY: dict[str, dict[str, Implementation]] = {}
_loaded_builtins = False
_discovered = False


def register(
    name: str, *, subject: str = DEFAULT_SUBJECT, known_failures: dict[str, str] | None = None
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator: register ``fn`` under ``name`` for ``subject``; returns ``fn`` unchanged.

    ``known_failures`` maps the claims (property names) that ``fn`` is known to break
    to the reason: a known non-conformant reference, shown failing but not failing the run.
    """
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"implementation name must be an identifier, got {name!r}")
    known = tuple(sorted((known_failures or {}).items()))
    if any(not reason.strip() for _, reason in known):
        raise ValueError(f"register({name!r}): every known failure needs a reason")

    def decorator(fn: Callable[..., Any]) -> Callable[..., Any]:
        if not callable(fn):
            raise TypeError(f"register({name!r}) needs a callable, got {type(fn).__name__}")
        module = getattr(fn, "__module__", None)
        qualname = getattr(fn, "__qualname__", "")
        spec = f"{module}:{qualname}" if module and "<" not in qualname else name
        builtin = bool(module) and module.startswith("impl.")
        table = _REGISTRY.setdefault(subject, {})
        existing = table.get(name)
        if existing is not None and existing.fn is not fn and existing.spec != spec:
            raise ValueError(f"an implementation named {name!r} is already registered")
        table[name] = Implementation(name, fn, spec, subject, builtin, known)
        return fn

    return decorator


def _ensure_builtins() -> None:
    global _loaded_builtins
    if not _loaded_builtins:
        _loaded_builtins = True
        for module in BUILTIN_MODULES:
            importlib.import_module(module)


def discover(group: str = ENTRY_POINT_GROUP) -> list[str]:
    """Load implementations advertised by installed packages under ``group``.

    Each entry point's name is the implementation name and its value a
    ``module:attr`` spec. Returns the names found. A broken entry point is an
    :class:`ImplementationLoadError` naming it.
    """
    global _discovered
    _ensure_builtins()
    found = []
    for ep in importlib.metadata.entry_points(group=group):
        impl = load(f"{ep.name}={ep.value}")
        _REGISTRY.setdefault(impl.subject, {})[impl.name] = impl
        found.append(ep.name)
    _discovered = True
    return found


def names(subject: str = DEFAULT_SUBJECT, *, builtin_only: bool = False) -> list[str]:
    """Names registered for ``subject``: built-ins first, then others, each sorted."""
    _ensure_builtins()
    table = _REGISTRY.get(subject, {})
    builtins = [n for n, i in table.items() if i.builtin]
    others = [n for n, i in table.items() if not i.builtin]
    # Built-ins in module order, then in the order each module registers them: canonical first.
    builtins.sort(key=lambda n: _module_rank(table[n]))
    return builtins + ([] if builtin_only else sorted(others))


def _module_rank(impl: Implementation) -> int:
    module = getattr(impl.fn, "__module__", "")
    return BUILTIN_MODULES.index(module) if module in BUILTIN_MODULES else len(BUILTIN_MODULES)


def get(name: str, subject: str = DEFAULT_SUBJECT) -> Implementation:
    """The implementation registered under ``name`` (KeyError naming the known ones)."""
    _ensure_builtins()
    table = _REGISTRY.get(subject, {})
    if name not in table:
        known = ", ".join(names(subject)) or "none"
        raise KeyError(f"no implementation named {name!r} for {subject} (known: {known})")
    return table[name]


def load(spec: str, subject: str = DEFAULT_SUBJECT) -> Implementation:
    """Turn a spec (see module docstring) into an :class:`Implementation`.

    Raises :class:`ImplementationLoadError` with a one-line message naming the
    spec when the file is missing, the import fails, the attribute is missing
    or is not callable.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ImplementationLoadError(f"empty implementation spec {spec!r}")
    spec = spec.strip()
    label = None
    if "=" in spec:
        label, _, target = spec.partition("=")
        label, target = label.strip(), target.strip()
        if not label.isidentifier():
            raise ImplementationLoadError(
                f"{spec!r}: the name before '=' must be an identifier, got {label!r}"
            )
    else:
        target = spec
    if ":" not in target:
        _ensure_builtins()
        try:
            impl = get(target, subject)
        except KeyError as e:
            raise ImplementationLoadError(
                f"{spec!r}: {e.args[0]}; use module:attr or path/to/file.py:attr"
            ) from None
        return Implementation(
            label or impl.name, impl.fn, impl.spec, subject, impl.builtin, impl.known_failures
        )
    where, _, attr = target.rpartition(":")
    obj = find(target, spec)
    if not callable(obj):
        raise ImplementationLoadError(f"{spec!r}: {attr} is a {type(obj).__name__}, not a callable")
    canonical = target if where.endswith(".py") else f"{where}:{attr}"
    if where.endswith(".py"):
        canonical = f"{os.path.abspath(where)}:{attr}"
    name = label or attr.rsplit(".", 1)[-1]
    builtin = where.startswith("impl.") and where in BUILTIN_MODULES
    # What the module registered for this subject (its known failures), if it registered ``obj``.
    registered = [i for i in _REGISTRY.get(subject, {}).values() if i.fn is obj]
    known = registered[0].known_failures if registered else ()
    return Implementation(name, obj, canonical, subject, builtin, known)


def find(target: str, spec: str | None = None) -> Any:
    """The object ``module:attr`` or ``path/to/file.py:attr`` names (``attr`` may be dotted), imported;
    ImplementationLoadError in one line naming ``spec`` (default: ``target``) when it cannot be."""
    spec = target if spec is None else spec
    where, _, attr = target.rpartition(":")
    if not where or not attr:
        raise ImplementationLoadError(f"{spec!r}: expected module:attr or file.py:attr")
    obj: Any = _import_target(spec, where)
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ImplementationLoadError(f"{spec!r}: {where} has no attribute {attr!r}") from None
    return obj


def check_spec(spec: str, subject: str = DEFAULT_SUBJECT) -> None:
    """What can be said of a spec without importing anything of it (the runner's side: the import
    happens in a worker). ImplementationLoadError with :func:`load`'s words for a spec that is
    empty, has a bad label, names no registered or advertised implementation, or no file."""
    if not isinstance(spec, str) or not spec.strip():
        raise ImplementationLoadError(f"empty implementation spec {spec!r}")
    spec = spec.strip()
    label, eq, target = spec.partition("=")
    if eq:
        if not label.strip().isidentifier():
            raise ImplementationLoadError(
                f"{spec!r}: the name before '=' must be an identifier, got {label.strip()!r}"
            )
        target = target.strip()
    else:
        target = spec
    if ":" not in target:
        if target in {spec_name(s) for s in entry_point_specs()}:
            return
        try:
            get(target, subject)
        except KeyError as e:
            raise ImplementationLoadError(
                f"{spec!r}: {e.args[0]}; use module:attr or path/to/file.py:attr"
            ) from None
        return
    where, _, attr = target.rpartition(":")
    if not where or not attr:
        raise ImplementationLoadError(f"{spec!r}: expected module:attr or file.py:attr")
    if where.endswith(".py") and not os.path.isfile(os.path.abspath(where)):
        raise ImplementationLoadError(f"{spec!r}: no such file {where}")


def spec_name(spec: str) -> str:
    """The name an implementation is shown under, read from its spec alone (nothing is imported):
    ``NAME=SPEC`` -> NAME, ``module:attr.fn`` or ``file.py:fn`` -> fn, a registered name -> itself."""
    spec = spec.strip()
    label, eq, target = spec.partition("=")
    if eq and label.strip():
        return label.strip()
    target = target if eq else spec
    if ":" in target:
        return target.rpartition(":")[2].rsplit(".", 1)[-1].strip() or target
    return target


def entry_point_specs(group: str = ENTRY_POINT_GROUP) -> list[str]:
    """``NAME=module:attr`` for each implementation advertised by an installed package, without
    importing it (a worker does that)."""
    return [f"{ep.name}={ep.value}" for ep in importlib.metadata.entry_points(group=group)]


def _import_target(spec: str, where: str) -> Any:
    if where.endswith(".py"):
        path = os.path.abspath(where)
        if not os.path.isfile(path):
            raise ImplementationLoadError(f"{spec!r}: no such file {where}")
        for module in list(sys.modules.values()):  # already imported (a built-in's own file, say)
            if os.path.abspath(getattr(module, "__file__", None) or "") == path:
                return module
        mod_name = f"_conformance_user_{zlib.crc32(path.encode()):08x}"
        module_spec = importlib.util.spec_from_file_location(mod_name, path)
        if module_spec is None or module_spec.loader is None:
            raise ImplementationLoadError(f"{spec!r}: cannot import {where}")
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[mod_name] = module
        # Let the file import its neighbours, as `python path/to/file.py` would; appended,
        # so that the folder cannot shadow the suite's own packages.
        folder = os.path.dirname(path)
        added = folder not in sys.path
        if added:
            sys.path.append(folder)
        try:
            module_spec.loader.exec_module(module)
        except BaseException as e:  # a user file may raise anything, even SystemExit
            del sys.modules[mod_name]
            if added:
                sys.path.remove(folder)
            raise ImplementationLoadError(
                f"{spec!r}: importing {where} raised {type(e).__name__}: {one_line(e)}"
            ) from None
        return module
    try:
        return importlib.import_module(where)
    except ModuleNotFoundError as e:
        raise ImplementationLoadError(f"{spec!r}: no module named {e.name!r}") from None
    except BaseException as e:
        raise ImplementationLoadError(
            f"{spec!r}: importing {where} raised {type(e).__name__}: {one_line(e)}"
        ) from None


def one_line(e: BaseException, limit: int | None = None, with_type: bool = False) -> str:
    """An exception's message on one line (cut at ``limit``), optionally after its type's name."""
    text = " ".join(str(e).split())
    if limit is not None and len(text) > limit:
        text = text[: limit - 3] + "..."
    if with_type:
        return f"{type(e).__name__}: {text}" if text else type(e).__name__
    return text
