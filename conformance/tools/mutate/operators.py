"""The mutation operators: each finds places in the syntax tree and yields one :class:`Edit` per
change it would make there (:data:`OPERATORS`, by name; ``--operator NAME`` keeps only some).
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator

from conformance.tools.mutate.syntax import (
    Edit,
    Env,
    _call,
    _func_name,
    _is_module,
    _is_registration,
    _number,
    _plus,
    _returns_array,
    _src,
    _wrap,
)

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
