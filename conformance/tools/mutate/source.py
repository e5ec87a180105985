"""Where a mutant comes from: the file that defines an implementation, and the code in it to mutate.

:func:`resolve_source` finds the file without importing user code (a registered name, a
``module:attr`` or a ``path/file.py:attr``), :func:`reachable` the module-level functions
and classes its target reaches by name, and :func:`with_package` lets a copy written
outside the package keep its relative imports.
"""

from __future__ import annotations

import ast
import importlib.machinery
import os
import sys
from dataclasses import dataclass


class MutateUsageError(ValueError):
    """A bad option or an implementation that cannot be mutated: one line, exit 2."""


@dataclass(frozen=True)
class Source:
    """The file an implementation is defined in, and the attribute that names it there."""

    spec: str
    path: str
    attr: str
    text: str
    #: the package the file belongs to (its relative imports resolve against it), or None
    package: str | None = None
    #: the folder holding the package's top level, to be on the path of the copies' workers
    root: str | None = None


def resolve_source(spec: str, subject: str) -> Source:
    """The source file of ``spec``, found without running any of the implementation's code
    (a built-in's registration is read: built-ins are this package's own)."""
    from impl.registry import ImplementationLoadError, check_spec, entry_point_specs, get, spec_name

    spec = spec.strip()
    try:
        check_spec(spec, subject)
    except ImplementationLoadError as e:
        raise MutateUsageError(str(e)) from None
    label, eq, target = spec.partition("=")
    target = target.strip() if eq and label.strip().isidentifier() else spec
    if ":" not in target:
        advertised = {spec_name(s): s.partition("=")[2] for s in entry_point_specs()}
        target = advertised.get(target) or get(target, subject).spec
        if ":" not in target:
            raise MutateUsageError(f"{spec!r}: registered without a module, so there is no source file")
    where, _, attr = target.rpartition(":")
    path = where if where.endswith(".py") else _module_file(spec, where)
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as e:
        raise MutateUsageError(f"{spec!r}: cannot read {path}: {e}") from None
    try:
        tree = ast.parse(text, path)
    except SyntaxError as e:
        raise MutateUsageError(f"{spec!r}: {path} does not parse: {e.msg} (line {e.lineno})") from None
    if attr.split(".")[0] not in _module_level(tree):
        raise MutateUsageError(
            f"{spec!r}: {path} defines no module-level {attr.split('.')[0]!r} to mutate "
            "(the attribute must be a function, class or assignment of that file)"
        )
    path = os.path.abspath(path)
    package, root = _package_of(path, None if where.endswith(".py") else where)
    return Source(spec, path, attr, text, package, root)


def _package_of(path: str, module: str | None) -> tuple[str | None, str | None]:
    """``(package, folder above its top level)`` of the file at ``path``: from the module's
    dotted name when known, else from the ``__init__.py`` files around it; ``(None, None)``
    for a file outside any package."""
    folder = os.path.dirname(path)
    if module is not None:
        package = module if os.path.basename(path) == "__init__.py" else module.rpartition(".")[0]
        if not package:
            return None, None
        root = folder  # the innermost package's own folder, whether path is its __init__.py or not
        for _ in range(package.count(".") + 1):
            root = os.path.dirname(root)
        return package, root
    names: list[str] = []
    while os.path.isfile(os.path.join(folder, "__init__.py")):
        names.insert(0, os.path.basename(folder))
        folder = os.path.dirname(folder)
    return (".".join(names), folder) if names else (None, None)


def with_package(text: str, package: str | None) -> str:
    """``text`` with ``__package__ = package`` set before any of its code runs, so that a copy
    written outside the package resolves its relative imports (``from .layers import f``)
    against the original's package.

    The assignment joins an existing line (after the docstring or the last ``__future__``
    import, else before the first simple statement), so every line keeps its number; only
    a file that opens with a compound statement (a ``def``, a decorator) gets a new first line.
    """
    if not package:
        return text
    assign = f"__package__ = {package!r}"
    body = ast.parse(text).body
    i = 0
    if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant):
        i = 1
    while i < len(body) and isinstance(body[i], ast.ImportFrom) and body[i].module == "__future__":  # type: ignore[attr-defined]
        i += 1
    lines = text.splitlines(keepends=True)
    if i:
        last = body[i - 1]
        row, col = (last.end_lineno or 1) - 1, last.end_col_offset or 0
        raw = lines[row].encode("utf-8")  # ast's column offsets count UTF-8 bytes
        lines[row] = (raw[:col] + f"; {assign}".encode() + raw[col:]).decode("utf-8")
        return "".join(lines)
    simple = (ast.Import, ast.ImportFrom, ast.Assign, ast.AnnAssign, ast.AugAssign, ast.Expr, ast.Pass)
    if body and isinstance(body[0], simple):
        row = body[0].lineno - 1
        lines[row] = f"{assign}; " + lines[row]
        return "".join(lines)
    return f"{assign}\n" + text


def _module_file(spec: str, module: str) -> str:
    """The ``.py`` file of ``module``, found on ``sys.path`` without importing anything."""
    parts = module.split(".")
    if parts[0] in sys.builtin_module_names:  # compiled into the interpreter (math, on some builds)
        raise MutateUsageError(f"{spec!r}: {module} has no Python source file to mutate (built-in)")
    search: list[str] | None = None
    found = None
    for i in range(len(parts)):
        found = importlib.machinery.PathFinder.find_spec(".".join(parts[: i + 1]), search)
        if found is None:
            raise MutateUsageError(f"{spec!r}: no module named {'.'.join(parts[: i + 1])!r}")
        search = list(found.submodule_search_locations or [])
    origin = found.origin if found else None
    if not origin or not origin.endswith(".py") or not os.path.isfile(origin):
        raise MutateUsageError(f"{spec!r}: {module} has no Python source file to mutate ({origin})")
    return origin


def _module_level(tree: ast.Module) -> dict[str, list[ast.stmt]]:
    """Module-level names -> the statements that define them (defs, classes, assignments)."""
    out: dict[str, list[ast.stmt]] = {}
    for stmt in tree.body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out.setdefault(stmt.name, []).append(stmt)
        elif isinstance(stmt, (ast.Assign, ast.AnnAssign)):
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            for t in targets:
                for n in ast.walk(t):
                    if isinstance(n, ast.Name):
                        out.setdefault(n.id, []).append(stmt)
    return out


def reachable(tree: ast.Module, attr: str) -> list[ast.stmt]:
    """The module-level functions and classes reachable by name from ``attr``'s definition
    (itself first), in file order. Assignments are followed but not mutated."""
    defs = _module_level(tree)
    seen: set[str] = set()
    todo = [attr.split(".")[0]]
    while todo:
        name = todo.pop()
        if name in seen or name not in defs:
            continue
        seen.add(name)
        for stmt in defs[name]:
            todo += [n.id for n in ast.walk(stmt) if isinstance(n, ast.Name)]
    return [
        s
        for s in tree.body
        if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and s.name in seen
    ]
