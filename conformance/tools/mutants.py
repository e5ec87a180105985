"""The mutants of ``python -m conformance mutate``: an implementation's source, the places
to change in it, and one edit per mutant (:mod:`conformance.tools.mutate` checks them).

* :func:`resolve_source` finds the file that defines the implementation without
  importing user code, and :func:`reachable` the functions and classes its target reaches.
* The operators (:data:`OPERATORS`) find the places with the standard library's
  :mod:`ast`; each yields :class:`Edit` s.
* :func:`make_mutants` splices each edit into the original text (the rest of the file,
  comments included, is unchanged, so a mutant's diff is one hunk) and drops mutants whose
  syntax tree equals the original's or an earlier mutant's; :func:`spread` picks N of
  them evenly; :func:`renamed_registrations` renames a copy's ``register("name")`` calls.
"""

from __future__ import annotations

import ast
import difflib
import importlib.machinery
import os
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

#: Prefix of the renamed registrations of a copy.
MUTANT_PREFIX = "_mutant_"


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
