"""The syntax a mutation is made of: an :class:`Edit` of one node, what an operator may know
about the file (:class:`Env`), and the helpers that write a node back as text.

Positions are those of the standard library's :mod:`ast` (columns count UTF-8 bytes). While
:func:`conformance.tools.mutate.mutants.make_mutants` runs, :func:`_src` copies the parts of a
node that come from the original text as written (its quotes, its spacing), so a mutant's
diff shows only what changed.
"""

from __future__ import annotations

import ast
import threading
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Edit:
    """Replace ``node``'s text with ``text``; ``description`` says what changed."""

    node: ast.AST
    text: str
    description: str


@dataclass
class Env:
    """What an operator may ask about the file: the names it imported as modules, the parameters of
    the mutated functions that may be numbers, and the names used as arrays there (``x.shape``,
    ``x.astype``)."""

    modules: set[str] = field(default_factory=set)
    parameters: set[str] = field(default_factory=set)
    arrays: set[str] = field(default_factory=set)

    def learn(self, regions: list[ast.stmt]) -> None:
        array_attrs = {"shape", "dtype", "astype", "reshape", "T", "ndim"}
        for region in regions:
            for node in ast.walk(region):
                if isinstance(node, ast.arg):
                    # a parameter that may be a number: unannotated, or annotated as one
                    kind = ast.unparse(node.annotation) if node.annotation is not None else "Any"
                    if kind in ("Any", "int", "float", "object", "int | float"):
                        self.parameters.add(node.arg)
                elif isinstance(node, ast.Attribute) and node.attr in array_attrs:
                    if isinstance(node.value, ast.Name):
                        self.arrays.add(node.value.id)
        self.parameters -= {"self", "cls"}


#: The text being mutated, while :func:`make_mutants` runs: :func:`_src` copies original parts verbatim.
_ORIGINAL = threading.local()


class _Verbatim(ast._Unparser):  # type: ignore[name-defined,misc]
    """``ast.unparse``, but names, attributes, calls, subscripts and constants that come from the
    original text are copied from it as written (its quotes, its spacing)."""

    def traverse(self, node: Any) -> None:
        splicer = getattr(_ORIGINAL, "splicer", None)
        verbatim = (ast.Name, ast.Attribute, ast.Call, ast.Subscript, ast.Constant)
        if (
            splicer is not None
            and isinstance(node, verbatim)
            and getattr(node, "end_col_offset", None) is not None
        ):
            text = splicer.segment(node)
            if "\n" not in text:
                self.write(text)
                return
        super().traverse(node)


def _src(node: ast.AST) -> str:
    return _Verbatim().visit(node)


def _wrap(node: ast.AST) -> str:
    """``node``'s text, parenthesized unless it is an atom."""
    text = _src(node)
    atoms = (ast.Name, ast.Attribute, ast.Call, ast.Subscript, ast.Tuple, ast.List, ast.Dict, ast.Set)
    if isinstance(node, atoms) or (isinstance(node, ast.Constant) and not _negative(node)):
        return text
    return f"({text})"


def _negative(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and node.value < 0


def _number(node: ast.AST) -> int | float | None:
    """The value of a numeric literal, ``-1`` included (a unary minus on a constant); None otherwise."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        inner = _number(node.operand)
        return None if inner is None else -inner
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return node.value
    return None


def _func_name(call: ast.Call) -> str:
    f = call.func
    return f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""


def _call(call: ast.Call, args: list[ast.expr], keywords: list[ast.keyword]) -> str:
    return _src(ast.Call(call.func, args, keywords))


def _plus(node: ast.expr, n: int) -> ast.expr:
    return ast.BinOp(node, ast.Add() if n > 0 else ast.Sub(), ast.Constant(abs(n)))


def _is_module(node: ast.AST, env: Env) -> bool:
    """``jnp``, ``np``, ``jax.numpy``: a name the file imported as a module (not an array)."""
    root = node
    while isinstance(root, ast.Attribute):
        root = root.value
    return isinstance(root, ast.Name) and root.id in env.modules


def _returns_array(node: ast.Return) -> bool:
    """Whether ``return value`` may return an array: not a constructor call (``nnx.Linear(...)``)."""
    value = node.value
    if value is None or isinstance(value, (ast.Constant, ast.Tuple, ast.Dict)):
        return False
    return not (isinstance(value, ast.Call) and _func_name(value)[:1].isupper())


def _is_registration(node: ast.AST) -> bool:
    return isinstance(node, ast.Call) and _func_name(node) == "register"


class _Splicer:
    """Replace a node's source text (positions are UTF-8 byte columns) with other text."""

    def __init__(self, text: str) -> None:
        self.data = text.encode("utf-8")
        self.starts = [0]
        for line in self.data.splitlines(keepends=True):
            self.starts.append(self.starts[-1] + len(line))

    def segment(self, node: ast.AST) -> str:
        start = self.starts[node.lineno - 1] + node.col_offset  # type: ignore[attr-defined]
        end = self.starts[node.end_lineno - 1] + node.end_col_offset  # type: ignore[attr-defined]
        return self.data[start:end].decode("utf-8")

    def splice(self, node: ast.AST, new: str) -> str:
        start = self.starts[node.lineno - 1] + node.col_offset  # type: ignore[attr-defined]
        end = self.starts[node.end_lineno - 1] + node.end_col_offset  # type: ignore[attr-defined]
        return (self.data[:start] + new.encode("utf-8") + self.data[end:]).decode("utf-8")
