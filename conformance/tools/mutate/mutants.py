"""The mutants: every edit the operators make to the reachable code, spliced into the original text.

:func:`make_mutants` splices each edit into the original text (the rest of the file, comments
included, is unchanged, so a mutant's diff is one hunk) and drops mutants whose syntax tree
equals the original's or an earlier mutant's; :func:`spread` picks N of them evenly;
:func:`renamed_registrations` renames a copy's ``register("name")`` calls.
"""

from __future__ import annotations

import ast
import difflib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from conformance.tools.mutate.operators import OPERATORS
from conformance.tools.mutate.source import reachable
from conformance.tools.mutate.syntax import _ORIGINAL, Env, _is_registration, _number, _Splicer

#: Prefix of the renamed registrations of a copy.
MUTANT_PREFIX = "_mutant_"


@dataclass(frozen=True)
class Mutant:
    id: int
    operator: str
    description: str
    line: int
    text: str

    def diff(self, original: str, path: str) -> str:
        return "".join(
            difflib.unified_diff(
                original.splitlines(keepends=True),
                self.text.splitlines(keepends=True),
                fromfile=path,
                tofile=f"{path} (mutant {self.id})",
                n=2,
            )
        )


def _skipped_nodes(region: ast.stmt) -> set[int]:
    """Nodes never mutated: docstrings, annotations, raise statements, f-strings, registrations."""
    skip: set[int] = set()
    for node in ast.walk(region):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                skip.add(id(body[0]))
            if not isinstance(node, ast.ClassDef):
                skip.update(id(d) for d in node.decorator_list if _is_registration(d))
                if node.returns is not None:
                    skip.add(id(node.returns))
            else:
                skip.update(id(d) for d in node.decorator_list if _is_registration(d))
        elif isinstance(node, ast.arg) and node.annotation is not None:
            skip.add(id(node.annotation))
        elif isinstance(node, ast.AnnAssign):
            skip.add(id(node.annotation))
        elif isinstance(node, (ast.Raise, ast.JoinedStr)):
            skip.add(id(node))
        elif isinstance(node, ast.UnaryOp) and _number(node) is not None:
            skip.add(id(node.operand))  # -1 is one constant
    return skip


def _walk(node: ast.AST, skip: set[int]) -> Iterator[ast.AST]:
    if id(node) in skip:
        return
    yield node
    for child in ast.iter_child_nodes(node):
        yield from _walk(child, skip)


def _imported_modules(tree: ast.Module) -> set[str]:
    out: set[str] = set()
    for stmt in ast.walk(tree):
        if isinstance(stmt, ast.Import):
            out.update((a.asname or a.name.split(".")[0]) for a in stmt.names)
        elif isinstance(stmt, ast.ImportFrom) and stmt.module:
            # ``from jax import numpy as jnp``, ``from flax import nnx``: modules, most likely
            out.update(
                (a.asname or a.name) for a in stmt.names if a.name in ("numpy", "nnx", "lax", "random")
            )
    return out


def make_mutants(text: str, attr: str, operators: Iterable[str] | None = None) -> list[Mutant]:
    """Every mutant of ``attr``'s reachable code in ``text`` (see :data:`OPERATORS`), in file
    order; mutants equal to the original or to an earlier mutant (as syntax trees) are dropped."""
    tree = ast.parse(text)
    chosen = list(operators) if operators is not None else list(OPERATORS)
    env = Env(_imported_modules(tree))
    env.learn(reachable(tree, attr))
    splicer = _Splicer(text)
    _ORIGINAL.splicer = splicer
    try:
        return _mutants(tree, attr, chosen, env, splicer)
    finally:
        _ORIGINAL.splicer = None


def _mutants(tree: ast.Module, attr: str, chosen: list[str], env: Env, splicer: _Splicer) -> list[Mutant]:
    seen = {ast.dump(tree)}
    found: list[tuple[int, int, str, str, str]] = []
    for region in reachable(tree, attr):
        skip = _skipped_nodes(region)
        for node in _walk(region, skip):
            if not hasattr(node, "lineno"):
                continue
            for name in chosen:
                for edit in OPERATORS[name](node, env):
                    mutated = splicer.splice(edit.node, edit.text)
                    try:
                        dump = ast.dump(ast.parse(mutated))
                    except SyntaxError:
                        continue
                    if edit.text.startswith("(") and edit.text.endswith(")"):  # parentheses needed?
                        bare = splicer.splice(edit.node, edit.text[1:-1])
                        try:
                            if ast.dump(ast.parse(bare)) == dump:
                                mutated = bare
                        except SyntaxError:
                            pass
                    if dump in seen:
                        continue
                    seen.add(dump)
                    line = edit.node.lineno  # type: ignore[attr-defined]
                    found.append((line, len(found), name, edit.description, mutated))
    found.sort(key=lambda f: (f[0], f[1]))
    return [Mutant(i + 1, name, desc, line, m) for i, (line, _, name, desc, m) in enumerate(found)]


def spread(mutants: list[Mutant], n: int | None) -> list[Mutant]:
    """At most ``n`` mutants, evenly spaced over the file (all of them if ``n`` is None)."""
    if n is None or n >= len(mutants):
        return mutants
    return [mutants[(i * len(mutants)) // n] for i in range(n)]


def renamed_registrations(text: str) -> str:
    """``text`` with every ``register("name", ...)`` renamed ``register("_mutant_name", ...)``: a copy
    loaded beside the real module neither clashes with nor replaces its registration."""
    tree = ast.parse(text)
    names = [
        node.args[0]
        for node in ast.walk(tree)
        if _is_registration(node)
        and node.args  # type: ignore[attr-defined]
        and isinstance(node.args[0], ast.Constant)  # type: ignore[attr-defined]
        and isinstance(node.args[0].value, str)  # type: ignore[attr-defined]
    ]
    # splice from the end, so earlier positions stay valid
    for const in sorted(names, key=lambda c: (c.lineno, c.col_offset), reverse=True):
        text = _Splicer(text).splice(const, repr(MUTANT_PREFIX + const.value))
    return text
