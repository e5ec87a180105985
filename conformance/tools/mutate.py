"""``python -m conformance mutate``: how much the suite's verdict is worth on an implementation's own code.

Mutation testing, with the suite as the test: small changes (*mutants*) are made to the
implementation's own source file, and each mutant is checked like any external
implementation, in the suite's own worker processes, by the :mod:`conformance.engine`.
A mutant that fails a property is *killed*; one that passes every property *survived*.
The score is the share of mutants killed among those that are not equivalent to the
original.

Steps of a run (:func:`run`):

1. The source: the file that defines the implementation (a registered name, a
   ``module:attr`` or a ``path/file.py:attr``; found without importing user code), and in
   it the target function and the module-level functions and classes it reaches by name
   (:func:`reachable`). Only those are mutated, never their docstrings, annotations,
   ``raise`` statements or registration decorators.
2. The mutants (:func:`make_mutants`): the standard library's :mod:`ast` finds the places,
   each mutant is one edit spliced into the original text (so the rest of the file, its
   comments included, is unchanged and a mutant's diff is one hunk), and mutants whose
   syntax tree equals the original's or an earlier mutant's are dropped. The operators are
   listed in :data:`OPERATORS`.
3. A copy of the original file runs first (the *baseline*): every property, so the run
   knows which properties the original passes (only those can kill a mutant) and what each
   costs. Each file is written to a temporary folder with its ``register("name")`` calls
   renamed (``register("_mutant_name")``), so a copy never clashes with or replaces the
   real registration, and keeps its known failures.
4. Every mutant is checked in its own worker (``--jobs`` at once), the cheap properties
   first, with the engine's ``stop_at_first_failure``: a mutant is killed once, so nothing
   after its first failed property runs; shrinking is off (the verdict, not a minimal
   counterexample, is what counts here).
5. Survivors are compared with the original on the calls the ``ci`` profile's properties make
   (the same derandomized draws: plain calls, and the gradient and transform properties'
   cases under VJP, JVP and ``jit``; :func:`ci_examples`): called in workers, outputs
   compared bit for bit (the sign of a zero aside). A survivor whose every output is identical is
   *likely equivalent* and leaves the score's denominator; any other survivor is a blind
   spot of the suite, shown as a unified diff.

Public API::

    resolve_source(spec, subject) -> Source           # UsageError when there is no source file
    make_mutants(text, attr, operators=None) -> list[Mutant]
    run(spec, subject=..., profile=..., ...) -> MutationReport
    add_parser(subparsers) / cmd_mutate(args) -> int  # `python -m conformance mutate`
"""

from __future__ import annotations

import argparse
import ast
import difflib
import importlib.machinery
import json
import os
import shutil
import sys
import tempfile
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

SCHEMA = "nnx-conformance/mutation/1"
EXIT_OK, EXIT_USAGE = 0, 2
#: Statuses of a mutant.
KILLED, SURVIVED, TIMED_OUT, LOAD_ERROR, ERROR = "killed", "survived", "timed out", "load error", "error"
#: Prefix of the renamed registrations of a copy.
MUTANT_PREFIX = "_mutant_"
#: Properties checked first, in this order, when they apply: cheap, and they kill most mutants.
FIRST = ("output_contract", "agrees_with_oracle")

DESCRIPTION = """\
Mutate an implementation's own source file and check every mutant with the suite, each
in its own worker. Reports each mutant as killed (with the first property that failed),
survived (with "likely equivalent" when its outputs are bitwise identical to the
original's on every call the ci properties make: plain, and under VJP, JVP and jit),
timed out or load error; the score is
killed / (mutants - likely equivalent), where killed counts timeouts and load errors
(check fails on them too); and every survivor as a unified diff.

Exit codes: 0 the run completed (whatever the score); 2 usage error (an unknown
implementation, a spec with no source file, bad numbers, an original that does not load
or passes no property), as one "error: ..." line on stderr.
"""


class MutateUsageError(ValueError):
    """A bad option or an implementation that cannot be mutated: one line, exit 2."""


# --------------------------------------------------------------------------- the source


@dataclass(frozen=True)
class Source:
    """The file an implementation is defined in, and the attribute that names it there."""

    spec: str
    path: str
    attr: str
    text: str


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
    return Source(spec, os.path.abspath(path), attr, text)


def _module_file(spec: str, module: str) -> str:
    """The ``.py`` file of ``module``, found on ``sys.path`` without importing anything."""
    parts = module.split(".")
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


# --------------------------------------------------------------------------- operators


@dataclass(frozen=True)
class Edit:
    """Replace ``node``'s text with ``text``; ``description`` says what changed."""

    node: ast.AST
    text: str
    description: str


_ARITH = {
    ast.Add: (ast.Sub,),
    ast.Sub: (ast.Add,),
    ast.Mult: (ast.Div,),
    ast.Div: (ast.Mult,),
    ast.FloorDiv: (ast.Div,),
    ast.Mod: (ast.FloorDiv,),
    ast.Pow: (ast.Mult,),
    ast.MatMult: (ast.Mult,),
}
_COMPARE = {
    ast.Lt: (ast.LtE, ast.GtE),
    ast.LtE: (ast.Lt, ast.Gt),
    ast.Gt: (ast.GtE, ast.LtE),
    ast.GtE: (ast.Gt, ast.Lt),
    ast.Eq: (ast.NotEq,),
    ast.NotEq: (ast.Eq,),
    ast.Is: (ast.IsNot,),
    ast.IsNot: (ast.Is,),
    ast.In: (ast.NotIn,),
    ast.NotIn: (ast.In,),
}
#: Narrower dtypes for a dtype named in the code.
_NARROW = {
    "float64": ("float32",),
    "float32": ("float16", "bfloat16"),
    "complex128": ("complex64",),
    "int64": ("int32",),
}
#: Layers that take ``dtype`` / ``param_dtype``: the narrowed-dtype operator adds them.
_LAYERS = {"Linear", "LinearGeneral", "Einsum", "Conv", "Embed", "Dense", "DenseGeneral"}
#: Calls that seed a generator: the seed operator edits their first argument.
_SEEDERS = {"Rngs", "PRNGKey", "key", "default_rng", "RandomState"}
_TRANSPOSES = {"transpose", "swapaxes", "moveaxis", "permute_dims", "matrix_transpose"}


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


def op_arithmetic(node: ast.AST, env: Env) -> Iterator[Edit]:
    """``a + b`` -> ``a - b``, ``*`` <-> ``/``, ``%`` -> ``//``, ``**`` -> ``*``, ``@`` -> ``*``."""
    if isinstance(node, ast.BinOp):
        for new in _ARITH.get(type(node.op), ()):
            changed = ast.BinOp(node.left, new(), node.right)
            yield Edit(node, _src(changed), f"{_src(node)} -> {_src(changed)}")
    elif isinstance(node, ast.AugAssign):
        for new in _ARITH.get(type(node.op), ()):
            changed = ast.AugAssign(node.target, new(), node.value)
            yield Edit(node, _src(changed), f"{_src(node)} -> {_src(changed)}")


def op_drop_term(node: ast.AST, env: Env) -> Iterator[Edit]:
    """``a + b`` -> ``a`` and -> ``b`` (a dropped term: ``x @ w + b`` -> ``x @ w``; ``s % m`` -> ``s``)."""
    if isinstance(node, ast.BinOp):
        yield Edit(node, _wrap(node.left), f"{_src(node)} -> {_src(node.left)}")
        if not isinstance(node.op, (ast.Pow, ast.Mod, ast.Sub, ast.Div, ast.FloorDiv)):
            yield Edit(node, _wrap(node.right), f"{_src(node)} -> {_src(node.right)}")
    elif isinstance(node, ast.UnaryOp) and _number(node) is None:
        yield Edit(node, _wrap(node.operand), f"{_src(node)} -> {_src(node.operand)}")
    elif isinstance(node, ast.BoolOp):
        other = ast.Or() if isinstance(node.op, ast.And) else ast.And()
        changed = ast.BoolOp(other, node.values)
        yield Edit(node, _src(changed), f"{_src(node)} -> {_src(changed)}")


def op_comparison(node: ast.AST, env: Env) -> Iterator[Edit]:
    """``<`` <-> ``<=``, ``<`` -> ``>=``, ``==`` <-> ``!=``, ``is`` <-> ``is not``, ``in`` <-> ``not in``."""
    if isinstance(node, ast.Compare) and len(node.ops) == 1:
        for new in _COMPARE.get(type(node.ops[0]), ()):
            changed = ast.Compare(node.left, [new()], node.comparators)
            yield Edit(node, _src(changed), f"{_src(node)} -> {_src(changed)}")


def op_constant(node: ast.AST, env: Env) -> Iterator[Edit]:
    """Numbers ``n`` -> ``n + 1``, ``n - 1`` (an index off by one) and ``-n``, floats doubled or zeroed,
    ``True`` <-> ``False``."""
    value = _number(node)
    if isinstance(node, ast.Constant) and isinstance(node.value, bool):
        yield Edit(node, str(not node.value), f"{node.value} -> {not node.value}")
    elif isinstance(value, int):
        for new in (value + 1, value - 1, -value):
            if new != value:
                yield Edit(node, str(new), f"{_src(node)} -> {new}")
    elif isinstance(value, float):
        for new in (value * 2, 0.0) if value else (1.0,):
            yield Edit(node, repr(new), f"{_src(node)} -> {new!r}")


def op_axes(node: ast.AST, env: Env) -> Iterator[Edit]:
    """Tuples of axes (``in_axes=(None, 0)``, ``axes=(1, 0)``): neighbours swapped, ``None`` -> ``0``."""
    if not (isinstance(node, ast.Tuple) and len(node.elts) >= 2):
        return
    if not all(
        _number(e) is not None or (isinstance(e, ast.Constant) and e.value is None) for e in node.elts
    ):
        return
    for i in range(len(node.elts) - 1):
        elts = list(node.elts)
        elts[i], elts[i + 1] = elts[i + 1], elts[i]
        changed = ast.Tuple(elts, ast.Load())
        if _src(changed) != _src(node):
            yield Edit(node, _src(changed), f"{_src(node)} -> {_src(changed)}")
    for i, e in enumerate(node.elts):
        if isinstance(e, ast.Constant) and e.value is None:
            elts = list(node.elts)
            elts[i] = ast.Constant(0)
            changed = ast.Tuple(elts, ast.Load())
            yield Edit(node, _src(changed), f"{_src(node)} -> {_src(changed)}")


def op_transpose(node: ast.AST, env: Env) -> Iterator[Edit]:
    """``x.T`` -> ``x``; ``jnp.transpose(x, ...)``, ``swapaxes``, ``moveaxis`` dropped; einsum
    subscripts with two letters of one term swapped (``bd,df->bf`` -> ``db,df->bf``)."""
    if isinstance(node, ast.Attribute) and node.attr in ("T", "mT"):
        yield Edit(node, _src(node.value), f"{_src(node)} -> {_src(node.value)}")
    if not isinstance(node, ast.Call):
        return
    name = _func_name(node)
    if name in _TRANSPOSES:
        method = isinstance(node.func, ast.Attribute) and not _is_module(node.func.value, env)
        kept = node.func.value if method else (node.args[0] if node.args else None)  # type: ignore[union-attr]
        if kept is not None:
            yield Edit(node, _wrap(kept), f"{_src(node)} -> {_src(kept)}")
    if name == "einsum" and node.args and isinstance(node.args[0], ast.Constant):
        spec = node.args[0].value
        if isinstance(spec, str):
            for new in _einsum_swaps(spec):
                yield Edit(node.args[0], repr(new), f"einsum {spec!r} -> {new!r}")


def _einsum_swaps(spec: str) -> list[str]:
    """``spec`` with the first two letters of each term (each operand, then the output) swapped."""
    compact = spec.replace(" ", "")
    inputs, arrow, output = compact.partition("->")
    terms = inputs.split(",") + ([output] if arrow else [])
    out = []
    for i, term in enumerate(terms):
        letters = [j for j, c in enumerate(term) if c.isalpha()]
        if len(letters) >= 2 and term[letters[0]] != term[letters[1]]:
            a, b = letters[0], letters[1]
            swapped = term[:a] + term[b] + term[a + 1 : b] + term[a] + term[b + 1 :]
            new_terms = terms[:i] + [swapped] + terms[i + 1 :]
            n_in = len(inputs.split(","))
            new = ",".join(new_terms[:n_in]) + (f"->{new_terms[n_in]}" if arrow else "")
            out.append(new)
    return out


def _is_module(node: ast.AST, env: Env) -> bool:
    """``jnp``, ``np``, ``jax.numpy``: a name the file imported as a module (not an array)."""
    root = node
    while isinstance(root, ast.Attribute):
        root = root.value
    return isinstance(root, ast.Name) and root.id in env.modules


def op_reshape(node: ast.AST, env: Env) -> Iterator[Edit]:
    """``x.reshape(a, b)``: ``order='F'``, the shape's sizes reversed, the reshape dropped."""
    if not (isinstance(node, ast.Call) and _func_name(node) == "reshape"):
        return
    method = isinstance(node.func, ast.Attribute) and not _is_module(node.func.value, env)
    shape_args = node.args if method else node.args[1:]
    if not any(k.arg == "order" for k in node.keywords):
        changed = _call(node, node.args, [*node.keywords, ast.keyword("order", ast.Constant("F"))])
        yield Edit(node, changed, f"{_src(node)} -> {changed}")
    if len(shape_args) >= 2:
        args = list(node.args[: len(node.args) - len(shape_args)]) + list(reversed(shape_args))
        changed = _call(node, args, node.keywords)
        yield Edit(node, changed, f"{_src(node)} -> {changed}")
    elif len(shape_args) == 1 and isinstance(shape_args[0], ast.Tuple) and len(shape_args[0].elts) >= 2:
        reversed_shape = ast.Tuple(list(reversed(shape_args[0].elts)), ast.Load())
        args = [*node.args[:-1], reversed_shape]
        changed = _call(node, args, node.keywords)
        yield Edit(node, changed, f"{_src(node)} -> {changed}")
    kept = node.func.value if method else (node.args[0] if node.args else None)  # type: ignore[union-attr]
    if kept is not None:
        yield Edit(node, _wrap(kept), f"{_src(node)} -> {_src(kept)}")


def op_slice(node: ast.AST, env: Env) -> Iterator[Edit]:
    """Slices and indices off by one: ``x[a:b]`` -> ``x[a + 1:b]``, ``x[a:b - 1]``; ``x[:]`` -> ``x[1:]``,
    ``x[:-1]``; ``x[i]`` -> ``x[i + 1]`` (number indices are the constant operator's); a size
    ``x.shape[k]`` -> ``x.shape[k] + 1`` and ``- 1``."""
    if not isinstance(node, ast.Subscript):
        return
    if isinstance(node.value, ast.Attribute) and node.value.attr == "shape":  # a size off by one
        for n in (1, -1):
            yield Edit(node, _wrap(_plus(node, n)), f"{_src(node)} -> {_src(_plus(node, n))}")
    index = node.slice
    items = index.elts if isinstance(index, ast.Tuple) else [index]
    for k, item in enumerate(items):
        options: list[ast.expr] = []
        if isinstance(item, ast.Slice):
            lower = ast.Constant(1) if item.lower is None else _plus(item.lower, 1)
            options.append(ast.Slice(lower, item.upper, item.step))
            uppers = (
                [ast.Constant(-1)] if item.upper is None else [_plus(item.upper, -1), _plus(item.upper, 1)]
            )
            options += [ast.Slice(item.lower, u, item.step) for u in uppers]
        elif isinstance(item, ast.Name):
            options += [_plus(item, 1), _plus(item, -1)]
        for new in options:
            new_items = items[:k] + [new] + items[k + 1 :]
            new_index = ast.Tuple(new_items, ast.Load()) if isinstance(index, ast.Tuple) else new
            changed = ast.Subscript(node.value, new_index, ast.Load())
            yield Edit(node, _src(changed), f"{_src(node)} -> {_src(changed)}")


def _plus(node: ast.expr, n: int) -> ast.expr:
    return ast.BinOp(node, ast.Add() if n > 0 else ast.Sub(), ast.Constant(abs(n)))


def op_seed(node: ast.AST, env: Env) -> Iterator[Edit]:
    """The seed's arithmetic: ``Rngs(s)`` -> ``Rngs(s + 1)``, ``Rngs(s % 2 ** 16)``,
    ``Rngs(s % 2 ** 31)`` and ``Rngs(abs(s))`` (also ``PRNGKey``, ``key``); truncation ``int(s)`` ->
    ``round(s)``; a call that checks and normalises the arguments skipped
    (``s, x, f = check(s, x, f)`` -> ``s, x, f = s, x, f``: the ``int()`` truncation of ``seed``
    and ``features`` is gone)."""
    if isinstance(node, ast.Call) and _func_name(node) in _SEEDERS:
        first = node.args[0] if node.args else (node.keywords[0].value if node.keywords else None)
        if first is not None and not isinstance(first, ast.Starred):
            for new in (
                _plus(first, 1),
                ast.BinOp(first, ast.Mod(), ast.BinOp(ast.Constant(2), ast.Pow(), ast.Constant(16))),
                ast.BinOp(first, ast.Mod(), ast.BinOp(ast.Constant(2), ast.Pow(), ast.Constant(31))),
                ast.Call(ast.Name("abs", ast.Load()), [first], []),
            ):
                yield Edit(first, _wrap(new), f"seed {_src(first)} -> {_src(new)}")
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "int"
        and len(node.args) == 1
    ):
        changed = ast.Call(ast.Name("round", ast.Load()), node.args, [])
        yield Edit(node, _src(changed), f"{_src(node)} -> {_src(changed)} (rounding, not truncation)")
    if (
        isinstance(node, ast.Assign)
        and len(node.targets) == 1
        and isinstance(node.targets[0], ast.Tuple)
        and isinstance(node.value, ast.Call)
        and not node.value.keywords
        and len(node.value.args) == len(node.targets[0].elts)
        and all(isinstance(a, ast.Name) for a in node.value.args)
    ):
        passed = ast.Tuple(list(node.value.args), ast.Load())
        yield Edit(
            node.value, _src(passed), f"{_src(node.value)} skipped (arguments passed through unchecked)"
        )


def op_skip_call(node: ast.AST, env: Env) -> Iterator[Edit]:
    """A call of one argument skipped: ``f(x)`` -> ``x`` (``model(x)``, ``jnp.asarray(x)``, ``int(f)``);
    a method's: ``x.astype(t)`` -> ``x``."""
    if (
        isinstance(node, ast.Call)
        and len(node.args) == 1
        and not node.keywords
        and not isinstance(node.args[0], ast.Starred)
        and _func_name(node) not in _TRANSPOSES | {"reshape", "print"}
    ):
        method = isinstance(node.func, ast.Attribute) and not _is_module(node.func.value, env)
        kept = node.func.value if method else node.args[0]  # type: ignore[union-attr]
        yield Edit(node, _wrap(kept), f"{_src(node)} -> {_src(kept)}")


def op_arguments(node: ast.AST, env: Env) -> Iterator[Edit]:
    """Neighbouring positional arguments swapped (``Linear(d_in, f)`` -> ``Linear(f, d_in)``);
    each keyword argument dropped (``rngs=``, ``in_axes=``)."""
    if not isinstance(node, ast.Call) or _func_name(node) in ("print", "register"):
        return
    args = node.args
    for i in range(len(args) - 1):
        if (
            isinstance(args[i], ast.Starred)
            or isinstance(args[i + 1], ast.Starred)
            or _src(args[i]) == _src(args[i + 1])
        ):
            continue
        swapped = list(args)
        swapped[i], swapped[i + 1] = swapped[i + 1], swapped[i]
        changed = _call(node, swapped, node.keywords)
        yield Edit(node, changed, f"arguments {_src(args[i])}, {_src(args[i + 1])} swapped")
    for k in node.keywords:
        if k.arg is not None:
            changed = _call(node, node.args, [x for x in node.keywords if x is not k])
            yield Edit(node, changed, f"keyword {k.arg}={_src(k.value)} dropped")


def op_dtype(node: ast.AST, env: Env) -> Iterator[Edit]:
    """Narrowed dtypes: ``jnp.float32`` -> ``float16``/``bfloat16`` (also ``'float32'``,
    ``float64`` -> ``float32``); a layer made with ``param_dtype='float16'`` or
    ``dtype='bfloat16'`` added; a returned value rounded through bfloat16 (same dtype)."""
    if isinstance(node, ast.Attribute) and node.attr in _NARROW and _is_module(node.value, env):
        for new in _NARROW[node.attr]:
            changed = ast.Attribute(node.value, new, ast.Load())
            yield Edit(node, _src(changed), f"{_src(node)} -> {_src(changed)}")
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in _NARROW:
        for new in _NARROW[node.value]:
            yield Edit(node, repr(new), f"{node.value!r} -> {new!r}")
    if isinstance(node, ast.Call) and _func_name(node) in _LAYERS:
        have = {k.arg for k in node.keywords}
        for key, value in (("param_dtype", "float16"), ("dtype", "bfloat16")):
            if key not in have:
                changed = _call(node, node.args, [*node.keywords, ast.keyword(key, ast.Constant(value))])
                yield Edit(node, changed, f"{_func_name(node)} with {key}={value!r}")
    if isinstance(node, ast.Return) and _returns_array(node):
        text = f"(lambda v: v.astype('bfloat16').astype(v.dtype))({_src(node.value)})"
        yield Edit(node.value, text, f"return value rounded through bfloat16: {_src(node.value)}")


def op_gradient(node: ast.AST, env: Env) -> Iterator[Edit]:
    """A returned value cut from the gradient: ``return y`` -> ``return jax.lax.stop_gradient(y)``
    (when the file imports ``jax``)."""
    if isinstance(node, ast.Return) and _returns_array(node) and "jax" in env.modules:
        text = f"jax.lax.stop_gradient({_src(node.value)})"
        yield Edit(node.value, text, f"return value cut from the gradient: {_src(node.value)}")


def op_off_by_one(node: ast.AST, env: Env) -> Iterator[Edit]:
    """A parameter that is not an array, passed on off by one: ``Linear(d, features)`` ->
    ``Linear(d, features + 1)`` and ``- 1``; ``check(seed, ...)`` -> ``check(seed + 1, ...)``."""
    if not isinstance(node, ast.Call) or _func_name(node) in ("print", "register"):
        return
    for i, arg in enumerate(node.args):
        if isinstance(arg, ast.Name) and arg.id in env.parameters and arg.id not in env.arrays:
            for n in (1, -1):
                args = [*node.args[:i], _plus(arg, n), *node.args[i + 1 :]]
                changed = _call(node, args, node.keywords)
                yield Edit(node, changed, f"argument {arg.id} -> {_src(_plus(arg, n))}")


def op_lift(node: ast.AST, env: Env) -> Iterator[Edit]:
    """The lift dropped: a function's ``@nnx.vmap(...)`` decorator made the identity, and
    ``jax.vmap(f, ...)(args)`` -> ``f(args)``; each array argument rounded through float16."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        for d in node.decorator_list:
            if not _is_registration(d) and _func_name(d if isinstance(d, ast.Call) else ast.Call(d, [], [])):
                yield Edit(d, "(lambda f: f)", f"decorator @{_src(d)} dropped")
    if isinstance(node, ast.Call) and _func_name(node) == "vmap" and node.args:
        yield Edit(node, _wrap(node.args[0]), f"{_src(node)} -> {_src(node.args[0])} (not vectorised)")


def op_input(node: ast.AST, env: Env) -> Iterator[Edit]:
    """An array argument narrowed on its way in: ``model(x)`` -> ``model(x`` rounded through float16 ``)``."""
    if not isinstance(node, ast.Call) or _func_name(node) in ("print", "register"):
        return
    for i, arg in enumerate(node.args):
        if isinstance(arg, ast.Name) and arg.id in env.arrays:
            rounded = f"(lambda v: v.astype('float16').astype(v.dtype))({arg.id})"
            args = [*node.args[:i], ast.Name(rounded, ast.Load()), *node.args[i + 1 :]]
            changed = _call(node, args, node.keywords)
            yield Edit(node, changed, f"argument {arg.id} rounded through float16")


def _returns_array(node: ast.Return) -> bool:
    """Whether ``return value`` may return an array: not a constructor call (``nnx.Linear(...)``)."""
    value = node.value
    if value is None or isinstance(value, (ast.Constant, ast.Tuple, ast.Dict)):
        return False
    return not (isinstance(value, ast.Call) and _func_name(value)[:1].isupper())


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


Operator = Callable[[ast.AST, Env], Iterator[Edit]]

#: The operators, by name (``--operator NAME`` keeps only some).
OPERATORS: dict[str, Operator] = {
    "arithmetic": op_arithmetic,
    "comparison": op_comparison,
    "drop_term": op_drop_term,
    "constant": op_constant,
    "axes": op_axes,
    "transpose": op_transpose,
    "reshape": op_reshape,
    "slice": op_slice,
    "seed": op_seed,
    "skip_call": op_skip_call,
    "arguments": op_arguments,
    "dtype": op_dtype,
    "gradient": op_gradient,
    "off_by_one": op_off_by_one,
    "lift": op_lift,
    "input": op_input,
}


# --------------------------------------------------------------------------- mutants


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


def _is_registration(node: ast.AST) -> bool:
    return isinstance(node, ast.Call) and _func_name(node) == "register"


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


# --------------------------------------------------------------------------- equivalence


#: One call to compare: the arguments, and the transform it runs under (None: a plain call).
Call = tuple[dict[str, Any], dict[str, Any] | None]


def ci_examples(subject: Any, profile: Any, properties: Iterable[Any]) -> list[Call]:
    """The calls the properties make in ``profile``, as the comparison of survivors makes them:
    the arguments every forward property draws (the same derandomized seeds as
    :func:`conformance.runner._search`: the whole domain, then each edge), plain; the
    gradient properties' cases under their VJP and JVP (a survivor may change only its
    gradient); the forward transform properties' cases under ``jax.jit``. Deduplicated."""
    from hypothesis import given, seed, settings

    from conformance.runner import SUPPRESSED_HEALTH_CHECKS, case_strategy, search_examples, searches
    from conformance.subjects import StrategyConfig, args_key

    config = StrategyConfig(pool=profile.pool)
    found: dict[str, Call] = {}
    done: set[str] = set()

    def add(args: dict[str, Any], transform: dict[str, Any] | None) -> None:
        key = args_key(args) + (json.dumps(transform, sort_keys=True) if transform else "")
        found.setdefault(key, (args, transform))

    def collect(prop: Any, case: dict[str, Any]) -> None:
        kind = prop.cases.__name__
        if kind == "gradient_calls":
            from conformance.gradients import encode_direction
            from conformance.transform_properties import direction_values

            args, x = case["args"], case["args"][subject.batch_arg]
            flat = (int(np.prod(subject.output_shape(args))),)
            cotangent = direction_values(case, flat, x.dtype)
            tangent = direction_values(case, x.shape, x.dtype)
            add(args, {"kind": "vjp", "arg": subject.batch_arg, "cotangent": encode_direction(cotangent)})
            add(args, {"kind": "jvp", "arg": subject.batch_arg, "tangent": encode_direction(tangent)})
        elif kind == "transform_calls":
            add(case["args"], {"kind": "jit", "arg": subject.batch_arg})
        elif prop.group == "forward":
            for key in ("args", "other_args"):
                if isinstance(case.get(key), dict):
                    add(case[key], None)

    for prop in properties:
        if prop.external == "strict" or prop.cases.__name__ in done:
            continue
        done.add(prop.cases.__name__)
        for edge in searches(prop, subject, config, profile):
            try:
                strategy = case_strategy(prop, subject, replace(config, edge=edge))
            except Exception:  # an edge this kind of case cannot reach
                continue
            n = search_examples(prop, profile, edge)

            test = given(case=strategy)(_collector(collect, prop))
            test = settings(
                max_examples=n,
                derandomize=profile.derandomize,
                database=None,
                deadline=None,
                suppress_health_check=list(SUPPRESSED_HEALTH_CHECKS),
            )(test)
            suffix = f"/{edge}" if edge else ""
            if profile.derandomize:
                test = seed(zlib.crc32(f"{subject.name}/{prop.cases.__name__}{suffix}".encode()))(test)
            try:
                test()
            except Exception:  # filtered out entirely, an unreachable edge: nothing to add
                continue
    return list(found.values())


def _collector(collect: Callable[[Any, dict[str, Any]], None], prop: Any) -> Callable[[dict[str, Any]], None]:
    def body(case: dict[str, Any]) -> None:
        collect(prop, case)

    return body


def _fingerprint(result: Any) -> tuple[Any, ...]:
    """A call's output as bytes (its dtype and shape too), or its error's type. The sign of a zero
    is not kept: ``x @ w + 0`` and ``x @ w`` differ only there, and no tolerance can see it."""
    if result.status == "ok" and result.output is not None:
        out = np.asarray(result.output)
        if out.dtype.kind in "fc" or out.dtype.name == "bfloat16":
            out = np.where(out == 0, np.zeros_like(out), out)
        return ("ok", out.dtype.str, out.shape, out.tobytes())
    return (result.status, result.error_type)


def outputs_differ(subject: Any, original: Any, mutant: Any, calls: list[Call]) -> str | None:
    """The first call on which ``mutant``'s output differs from ``original``'s (bitwise), or None."""
    from conformance.runner import summarize

    for args, transform in calls:
        ordered = subject.ordered(args)
        a, b = original.call(ordered, transform), mutant.call(ordered, transform)
        if _fingerprint(a) != _fingerprint(b):
            where = ", ".join(f"{k}={v}" for k, v in summarize({"args": args}).items())
            under = f" under {transform['kind']}" if transform else ""
            return f"differs{under} on {where}"
    return None


# --------------------------------------------------------------------------- the run


@dataclass
class MutantResult:
    id: int
    operator: str
    description: str
    line: int
    status: str = SURVIVED
    killed_by: str | None = None
    message: str = ""
    seconds: float = 0.0
    likely_equivalent: bool | None = None
    difference: str | None = None
    diff: str = ""


@dataclass
class MutationReport:
    spec: str
    subject: str
    profile: str
    source: str
    functions: list[str]
    properties: list[str]
    baseline_seconds: float
    baseline_excluded: dict[str, str]
    calls_compared: int
    mutants_found: int
    results: list[MutantResult]
    elapsed_seconds: float = 0.0
    jobs: int = 1
    strict: bool = False

    def count(self, status: str) -> int:
        return sum(r.status == status for r in self.results)

    @property
    def equivalent(self) -> int:
        return sum(bool(r.likely_equivalent) for r in self.results)

    @property
    def detected(self) -> int:
        return sum(r.status in (KILLED, TIMED_OUT, LOAD_ERROR) for r in self.results)

    @property
    def score(self) -> float | None:
        denominator = len(self.results) - self.equivalent
        return self.detected / denominator if denominator else None

    def to_json(self) -> dict[str, Any]:
        from conformance.environment import environment

        return {
            "schema": SCHEMA,
            "spec": self.spec,
            "subject": self.subject,
            "profile": self.profile,
            "source": self.source,
            "functions": self.functions,
            "properties": self.properties,
            "environment": environment(False),
            "jobs": self.jobs,
            "strict": self.strict,
            "elapsed_seconds": self.elapsed_seconds,
            "baseline_seconds": self.baseline_seconds,
            "baseline_excluded": self.baseline_excluded,
            "calls_compared": self.calls_compared,
            "mutants_found": self.mutants_found,
            "counts": {
                "mutants": len(self.results),
                "killed": self.count(KILLED),
                "timed_out": self.count(TIMED_OUT),
                "load_error": self.count(LOAD_ERROR),
                "error": self.count(ERROR),
                "survived": self.count(SURVIVED),
                "likely_equivalent": self.equivalent,
            },
            "score": self.score,
            "mutants": [asdict(r) for r in self.results],
        }


def _classify(impl: Any) -> tuple[str, str | None, str]:
    """(status, first failing property, message) of one mutant's engine result."""
    from conformance.verdict import Status

    if impl.load_error:
        return LOAD_ERROR, None, impl.load_error
    for cell in impl.properties:
        if cell.status in (Status.FAIL, Status.XPASS):
            details = (cell.counterexample or {}).get("details") or {}
            hung = details.get("call") == "timeout" or "did not return within" in cell.message
            return (TIMED_OUT if hung else KILLED), cell.property, cell.message.splitlines()[0][:300]
        if cell.status == Status.ERROR:
            return ERROR, cell.property, cell.message.splitlines()[0][:300]
    return SURVIVED, None, ""


def _is_builtin(spec: str, subject: str) -> bool:
    from impl.registry import get

    label, eq, target = spec.partition("=")
    name = (target if eq else spec).strip()
    try:
        return ":" not in name and get(name, subject).builtin
    except KeyError:
        return False


def _order(properties: list[str], cells: dict[str, Any]) -> list[str]:
    """Cheap forward properties first (``output_contract``, ``agrees_with_oracle``, then by the
    baseline's seconds), transform properties last (by seconds)."""
    from conformance.properties import PROPERTIES

    def key(p: str) -> tuple[int, int, float]:
        first = FIRST.index(p) if p in FIRST else len(FIRST)
        return (PROPERTIES[p].group != "forward", first, cells[p].seconds if p in cells else 0.0)

    return sorted(properties, key=key)


def run(
    spec: str,
    *,
    subject: str = "vmap_over_batch",
    profile: str = "ci",
    max_mutants: int | None = None,
    operators: Iterable[str] | None = None,
    properties: Iterable[str] = (),
    jobs: int = 2,
    timeout: float | None = None,
    strict: bool | None = None,
    progress: Callable[[str], None] | None = None,
) -> MutationReport:
    """Mutate ``spec``'s source and check every mutant; see the module docstring.

    ``strict`` (default: on for a built-in, which ``check`` holds to ``invalid_input_rejected``,
    off for another implementation, as ``check`` does) also checks how invalid input is rejected.
    """
    from conformance import corpus
    from conformance.engine import Engine, EngineOptions, UsageError, targets
    from conformance.executors import Target, WorkerExecutor
    from conformance.profiles import get_profile
    from conformance.properties import PROPERTIES
    from conformance.verdict import Status
    from impl.registry import ImplementationLoadError

    say = progress or (lambda _m: None)
    start = time.perf_counter()
    try:
        options = EngineOptions.build(
            subject=subject, profile=profile, impls=[spec], properties=properties, jobs=jobs, timeout=timeout
        )
    except UsageError as e:
        raise MutateUsageError(str(e)) from None
    if options.several:
        raise MutateUsageError("mutate takes one --subject")
    subj = options.subjects[0]
    source = resolve_source(spec, subj.name)
    if strict is None:
        strict = _is_builtin(spec, subj.name)
    tree = ast.parse(source.text)
    functions = [s.name for s in reachable(tree, source.attr)]
    all_mutants = make_mutants(source.text, source.attr, operators)
    if not all_mutants:
        raise MutateUsageError(f"{spec!r}: no mutant can be made of {', '.join(functions) or source.attr}")
    chosen = spread(all_mutants, max_mutants)
    say(
        f"{spec}: {len(all_mutants)} mutants of {', '.join(functions)} in {source.path}"
        + (f"; checking {len(chosen)} of them" if len(chosen) < len(all_mutants) else "")
    )

    folder = tempfile.mkdtemp(prefix="conformance-mutants-")
    stem = os.path.splitext(os.path.basename(source.path))[0]
    original_folder = os.path.dirname(source.path)
    if original_folder not in sys.path:  # the copies import their neighbours as the original does
        sys.path.append(original_folder)
    try:

        def write(name: str, text: str) -> str:
            path = os.path.join(folder, f"{stem}_{name}.py")
            with open(path, "w", encoding="utf-8") as f:
                f.write(renamed_registrations(text))
            return f"{name}={path}:{source.attr}"

        base_spec = write("original", source.text)
        mutant_specs = {m.id: write(f"m{m.id:03d}", m.text) for m in chosen}
        profile_obj = get_profile(profile)
        common = {
            "subjects": (subj,),
            "strict": strict,
            "jobs": jobs,
            "timeout": timeout,
            "corpus": corpus.DEFAULT_DIR if os.path.isdir(corpus.DEFAULT_DIR) else None,
            "properties": options.properties,
        }

        # 1. the baseline: the original's copy, every property
        say("checking the original (a copy of it, every property) ...")
        with Engine(EngineOptions(profile=profile_obj, specs=(base_spec,), **common)) as engine:
            ((target, origin),) = targets(subj, [base_spec])
            baseline = engine.check_target(subj, target, origin, None)
        if baseline.load_error:
            raise MutateUsageError(f"{spec!r}: a copy of {source.path} does not load: {baseline.load_error}")
        cells = {c.property: c for c in baseline.properties}
        usable = [p for p, c in cells.items() if c.status == Status.PASS]
        excluded = {
            p: f"{c.status}: {c.message.splitlines()[0][:200] if c.message else ''}".rstrip(": ")
            for p, c in cells.items()
            if c.status != Status.PASS
        }
        if not usable:
            raise MutateUsageError(f"{spec!r}: the original passes no property, so no mutant can be killed")
        order = _order(usable, cells)
        say(
            f"original: {len(usable)} properties pass in {baseline.seconds:.0f} s"
            + (f"; not used, as the original does not pass them: {', '.join(excluded)}" if excluded else "")
        )

        # 2. the mutants, each in its own worker, the first failure ends each
        fast = replace(profile_obj, shrink_seconds=0.0)
        results: dict[int, MutantResult] = {}
        lock = threading.Lock()
        opts = EngineOptions(
            profile=fast,
            specs=tuple(mutant_specs.values()),
            stop_at_first_failure=True,
            **{**common, "properties": tuple(order)},
        )
        with Engine(opts) as engine:
            pairs = dict(zip(mutant_specs, targets(subj, list(mutant_specs.values())), strict=True))

            def one(mutant: Mutant) -> None:
                target, origin = pairs[mutant.id]
                impl = engine.check_target(subj, target, origin, None)
                status, by, message = _classify(impl)
                r = MutantResult(
                    mutant.id,
                    mutant.operator,
                    mutant.description,
                    mutant.line,
                    status,
                    by,
                    message,
                    impl.seconds,
                )
                with lock:
                    results[mutant.id] = r
                    say(
                        f"[{len(results)}/{len(chosen)}] mutant {mutant.id} (line {mutant.line}, "
                        f"{mutant.operator}: {mutant.description}): {status}"
                        f"{f' by {by}' if by else ''} ({impl.seconds:.1f} s)"
                    )

            with ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="mutate") as pool:
                list(pool.map(one, chosen))

        # 3. survivors against the original, bit for bit, on the ci examples
        survivors = [m for m in chosen if results[m.id].status == SURVIVED]
        examples: list[Call] = []
        if survivors:
            examples = ci_examples(subj, get_profile("ci"), [PROPERTIES[p] for p in order])
            say(f"comparing {len(survivors)} survivors with the original on {len(examples)} ci calls ...")
            base_exec = WorkerExecutor(Target("original", base_spec, subj.name), timeout=timeout or 60.0)
            base_exec.start()
            base_lock = threading.Lock()
            base_results: dict[str, Any] = {}

            class Remembered:
                """The original's worker, each call made once for every survivor compared."""

                def call(self, args: Any, transform: dict[str, Any] | None = None) -> Any:
                    from conformance.subjects import args_key

                    key = args_key(args) + json.dumps(transform, sort_keys=True)
                    with base_lock:
                        if key not in base_results:
                            base_results[key] = base_exec.call(args, transform)
                        return base_results[key]

            def compare(mutant: Mutant) -> None:
                ex = WorkerExecutor(
                    Target(f"m{mutant.id:03d}", mutant_specs[mutant.id], subj.name), timeout=timeout or 60.0
                )
                try:
                    ex.start()
                    why = outputs_differ(subj, Remembered(), ex, examples)
                except ImplementationLoadError as e:  # it loaded for its check; say so, do not crash
                    why = f"could not be loaded again to compare: {e}"
                finally:
                    ex.close()
                results[mutant.id].likely_equivalent = why is None
                results[mutant.id].difference = why

            try:
                with ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="mutate-eq") as pool:
                    list(pool.map(compare, survivors))
            finally:
                base_exec.close()
        for m in chosen:
            if results[m.id].status == SURVIVED:
                results[m.id].diff = m.diff(source.text, _shown(source.path))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    report = MutationReport(
        spec=spec,
        subject=subj.name,
        profile=profile,
        source=source.path,
        functions=functions,
        properties=order,
        baseline_seconds=baseline.seconds,
        baseline_excluded=excluded,
        calls_compared=len(examples),
        mutants_found=len(all_mutants),
        results=[results[m.id] for m in chosen],
        jobs=jobs,
        strict=strict,
    )
    report.elapsed_seconds = round(time.perf_counter() - start, 1)
    return report


def _shown(path: str) -> str:
    """``path`` relative to the current folder when it is inside it, else as it is."""
    relative = os.path.relpath(path)
    return path if relative.startswith("..") else relative


# --------------------------------------------------------------------------- the command


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Add ``mutate`` to the subparsers ``sub`` of ``python -m conformance``; returns the parser."""
    p = sub.add_parser(
        "mutate",
        help="mutation testing: how many small changes to an implementation's own source the suite catches",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--impl", required=True, metavar="SPEC", help="name, module:attr, path/file.py:attr or NAME=SPEC"
    )
    p.add_argument("--subject", default="vmap_over_batch", help="the function under test (see 'subjects')")
    p.add_argument("--profile", default="ci", help="the profile the mutants are checked with (default ci)")
    p.add_argument("--json", metavar="PATH", help="write every mutant's result here")
    p.add_argument(
        "--max-mutants",
        type=int,
        default=None,
        metavar="N",
        help="check at most N mutants, spread over the file",
    )
    p.add_argument(
        "--operator",
        action="append",
        default=[],
        metavar="NAME",
        help=f"only these mutation operators (repeatable): {', '.join(OPERATORS)}",
    )
    p.add_argument(
        "--property", action="append", default=[], metavar="NAME", help="only these properties (repeatable)"
    )
    p.add_argument(
        "--jobs",
        type=int,
        default=None,
        metavar="N",
        help="mutants checked at once, each in its own worker (default: the CPU count, at most 4)",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=None,
        metavar="S",
        help="seconds one call may take before it counts as a hang (default: the profile's)",
    )
    p.add_argument(
        "--strict",
        action="store_true",
        help="also check how invalid input is rejected (default: on for a built-in, as check does)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress output")
    return p


def cmd_mutate(args: argparse.Namespace) -> int:
    from conformance.engine import UsageError, default_jobs, prepare_output

    try:
        if args.max_mutants is not None and args.max_mutants < 1:
            raise MutateUsageError("--max-mutants must be at least 1")
        if args.jobs is not None and args.jobs < 1:
            raise MutateUsageError("--jobs must be at least 1")
        if args.timeout is not None and not args.timeout > 0:
            raise MutateUsageError("--timeout must be positive")
        unknown = [o for o in args.operator if o not in OPERATORS]
        if unknown:
            raise MutateUsageError(
                f"unknown operator {unknown[0]!r} for --operator; known: {', '.join(OPERATORS)}"
            )
        if args.json:
            prepare_output(args.json)
        report = run(
            args.impl,
            subject=args.subject,
            profile=args.profile,
            max_mutants=args.max_mutants,
            operators=args.operator or None,
            properties=args.property,
            jobs=args.jobs or default_jobs(),
            timeout=args.timeout,
            strict=True if args.strict else None,
            progress=None if args.quiet else (lambda m: print(m, file=sys.stderr, flush=True)),
        )
    except (MutateUsageError, UsageError) as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USAGE
    print_report(report)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report.to_json(), f, indent=2)
    return EXIT_OK


def print_report(report: MutationReport) -> None:
    n = len(report.results)
    print(
        f"mutate {report.spec} on {report.subject}, profile {report.profile}: "
        f"{n} mutants of {', '.join(report.functions)} ({report.source})"
    )
    print(f"properties, in order: {', '.join(report.properties)}")
    for status in (KILLED, TIMED_OUT, LOAD_ERROR, ERROR, SURVIVED):
        print(f"  {status:<11} {report.count(status)}")
    print(
        f"  likely equivalent (outputs bitwise identical on all {report.calls_compared} ci calls): "
        f"{report.equivalent}"
    )
    killers: dict[str, int] = {}
    for r in report.results:
        if r.killed_by:
            killers[r.killed_by] = killers.get(r.killed_by, 0) + 1
    if killers:
        print(
            "first property to fail: "
            + ", ".join(f"{p} {k}" for p, k in sorted(killers.items(), key=lambda kv: -kv[1]))
        )
    score = report.score
    denominator = n - report.equivalent
    print(
        f"score: {report.detected}/{denominator} = {score:.1%} of the non-equivalent mutants killed"
        if score is not None
        else "score: none (every mutant is likely equivalent)"
    )
    print(
        f"time: {report.elapsed_seconds:.0f} s ({report.jobs} jobs; "
        f"the original's check {report.baseline_seconds:.0f} s)"
    )
    for r in report.results:
        if r.status != SURVIVED:
            continue
        kind = "likely equivalent" if r.likely_equivalent else f"NOT equivalent: {r.difference}"
        print(f"\nsurvivor: mutant {r.id}, line {r.line}, {r.operator}: {r.description} ({kind})")
        print(r.diff.rstrip("\n"))
