"""The ``mutate`` command: its operators, its source resolution, its usage errors, the engine's
``stop_at_first_failure``, and one small run that kills a mutant and keeps two survivors (one
likely equivalent, one not)."""

from __future__ import annotations

import ast
import json
import os
import textwrap
from pathlib import Path

import numpy as np
import pytest

from conformance.boundary.calls import CallResult
from conformance.cli import main
from conformance.tools.mutate import (
    KILLED,
    SURVIVED,
    MutateUsageError,
    ci_examples,
    make_mutants,
    outputs_differ,
    reachable,
    renamed_registrations,
    resolve_source,
    spread,
)

SOURCE = textwrap.dedent(
    '''\
    import jax
    import jax.numpy as jnp
    from flax import nnx

    from impl.registry import register


    def helper(x, n):
        """Docstring: 1 + 2 is never mutated."""
        return x[1:n] * 2


    def unused(x):
        return x + 1


    @register("tiny")
    def f(seed, x, features):
        model = nnx.Linear(x.shape[-1], features, rngs=nnx.Rngs(seed))
        y = jnp.einsum("bd,df->bf", x, model.kernel[...]) + model.bias[...]
        z = jnp.transpose(y, (1, 0)).T
        if features > 1:
            z = z.astype(jnp.float32)
        return helper(z, features).reshape(-1)
    '''
)


def changes(operator: str, source: str = SOURCE, attr: str = "f") -> set[str]:
    """The changed line of each mutant the operator makes, stripped."""
    original = source.splitlines()
    out = set()
    for m in make_mutants(source, attr, [operator]):
        lines = m.text.splitlines()
        assert len(lines) == len(original), "a mutant changes one expression, not the line count"
        (changed,) = [b for a, b in zip(original, lines, strict=True) if a != b]
        out.add(changed.strip())
    return out


# --------------------------------------------------------------------------- operators


def test_arithmetic_swaps_each_operator() -> None:
    got = changes("arithmetic")
    assert 'y = jnp.einsum("bd,df->bf", x, model.kernel[...]) - model.bias[...]' in got
    assert "return x[1:n] / 2" in got  # in the reachable helper


def test_drop_term_keeps_either_side() -> None:
    got = changes("drop_term")
    assert 'y = jnp.einsum("bd,df->bf", x, model.kernel[...])' in got  # the bias dropped
    assert "y = model.bias[...]" in got
    assert "return x[1:n]" in got  # `* 2` dropped


def test_comparison_moves_the_boundary() -> None:
    assert changes("comparison") == {"if features >= 1:", "if features <= 1:"}


def test_constants_off_by_one_and_negated() -> None:
    got = changes("constant")
    assert "model = nnx.Linear(x.shape[0], features, rngs=nnx.Rngs(seed))" in got
    assert "model = nnx.Linear(x.shape[-2], features, rngs=nnx.Rngs(seed))" in got
    assert "model = nnx.Linear(x.shape[1], features, rngs=nnx.Rngs(seed))" in got
    assert "if features > 2:" in got
    assert not any("1 + 2" in line for line in got)  # never the docstring


def test_einsum_and_transposes() -> None:
    got = changes("transpose")
    assert 'y = jnp.einsum("db,df->bf", x, model.kernel[...]) + model.bias[...]' not in got  # repr quotes
    assert "y = jnp.einsum('db,df->bf', x, model.kernel[...]) + model.bias[...]" in got
    assert "y = jnp.einsum('bd,fd->bf', x, model.kernel[...]) + model.bias[...]" in got
    assert "y = jnp.einsum('bd,df->fb', x, model.kernel[...]) + model.bias[...]" in got
    assert "z = jnp.transpose(y, (1, 0))" in got  # .T dropped
    assert "z = y.T" in got  # jnp.transpose dropped


def test_axes_tuples_swapped() -> None:
    assert changes("axes") == {"z = jnp.transpose(y, (0, 1)).T"}
    swapped = changes("axes", "import jax\ndef g(f, x):\n    return jax.vmap(f, in_axes=(None, 0))(x)\n", "g")
    assert swapped == {"return jax.vmap(f, in_axes=(0, None))(x)", "return jax.vmap(f, in_axes=(0, 0))(x)"}


def test_reshape_order_sizes_and_drop() -> None:
    got = changes("reshape")
    assert "return helper(z, features).reshape(-1, order='F')" in got
    assert "return helper(z, features)" in got
    two = changes("reshape", "def g(y, a, b):\n    return y.reshape(a, b)\n", "g")
    assert "return y.reshape(b, a)" in two


def test_slices_and_sizes_off_by_one() -> None:
    got = changes("slice")
    assert {"return x[1 + 1:n] * 2", "return x[1:n - 1] * 2", "return x[1:n + 1] * 2"} <= got
    assert "model = nnx.Linear(x.shape[-1] + 1, features, rngs=nnx.Rngs(seed))" in got


def test_seed_arithmetic() -> None:
    got = changes("seed")
    assert "model = nnx.Linear(x.shape[-1], features, rngs=nnx.Rngs(seed + 1))" in got
    assert "model = nnx.Linear(x.shape[-1], features, rngs=nnx.Rngs(seed % 2 ** 16))" in got
    checked = "def g(seed, x, n):\n    seed, x, n = check(seed, x, n)\n    return int(seed)\n"
    assert changes("seed", checked, "g") == {"seed, x, n = seed, x, n", "return round(seed)"}


def test_narrowed_dtypes() -> None:
    got = changes("dtype")
    assert "z = z.astype(jnp.float16)" in got
    assert "z = z.astype(jnp.bfloat16)" in got
    assert "model = nnx.Linear(x.shape[-1], features, rngs=nnx.Rngs(seed), param_dtype='float16')" in got
    assert any("astype('bfloat16').astype(v.dtype)" in line for line in got)  # the output rounded


def test_dropped_calls_keywords_and_swapped_arguments() -> None:
    assert "z = z" in changes("skip_call")  # z.astype(...) -> z
    got = changes("arguments")
    assert "model = nnx.Linear(features, x.shape[-1], rngs=nnx.Rngs(seed))" in got
    assert "model = nnx.Linear(x.shape[-1], features)" in got  # rngs= dropped


def test_sizes_and_seeds_passed_on_off_by_one() -> None:
    got = changes("off_by_one")
    assert "model = nnx.Linear(x.shape[-1], features + 1, rngs=nnx.Rngs(seed))" in got
    assert "model = nnx.Linear(x.shape[-1], features, rngs=nnx.Rngs(seed - 1))" in got
    assert not any("x + 1" in line or "z + 1" in line for line in got)  # arrays are not sizes


def test_the_lift_dropped_and_inputs_narrowed() -> None:
    lifted = "import jax\ndef g(f, x):\n    @nnx.vmap(in_axes=0)\n    def h(v):\n        return v\n"
    lifted += "    return jax.vmap(f, in_axes=0)(x.T) + h(x)\n"
    got = changes("lift", lifted, "g")
    assert "@lambda f: f" in got
    assert "return f(x.T) + h(x)" in got
    assert changes("input", lifted, "g") == {
        "return jax.vmap(f, in_axes=0)(x.T) + h((lambda v: v.astype('float16').astype(v.dtype))(x))"
    }


def test_gradient_cut() -> None:
    assert "return jax.lax.stop_gradient(helper(z, features).reshape(-1))" in changes("gradient")


def test_only_reachable_code_and_never_the_registration() -> None:
    tree = ast.parse(SOURCE)
    assert [s.name for s in reachable(tree, "f")] == ["helper", "f"]
    for m in make_mutants(SOURCE, "f"):
        assert "def unused(x):\n    return x + 1\n" in m.text, m.description
        assert '@register("tiny")' in m.text, m.description
        assert "1 + 2 is never mutated" in m.text
    texts = [m.text for m in make_mutants(SOURCE, "f")]
    assert len(texts) == len(set(texts)) >= 40


def test_spread_keeps_the_first_and_spaces_the_rest() -> None:
    mutants = make_mutants(SOURCE, "f")
    picked = spread(mutants, 4)
    assert len(picked) == 4 and picked[0] is mutants[0]
    assert [m.id for m in picked] == sorted(m.id for m in picked)
    assert spread(mutants, None) == mutants


def test_registrations_renamed() -> None:
    text = renamed_registrations(SOURCE + '\nregister("other", subject="s")(unused)\n')
    assert "@register('_mutant_tiny')" in text
    assert "register('_mutant_other', subject=\"s\")(unused)" in text
    assert '"tiny"' not in text


# --------------------------------------------------------------------------- sources


def test_resolve_source_of_a_builtin_a_module_and_a_file(tmp_path: Path) -> None:
    builtin = resolve_source("nnx_vmap", "vmap_over_batch")
    assert builtin.path.endswith(os.path.join("impl", "nnx_vmap.py")) and builtin.attr == "vmap_over_batch"
    assert resolve_source("einsum", "vmap_over_ensemble").attr == "einsum"
    module = resolve_source("tests.zoo.broken:seed_plus_one", "vmap_over_batch")
    assert module.path.endswith(os.path.join("tests", "zoo", "broken.py"))
    path = tmp_path / "mine.py"
    path.write_text(SOURCE)
    assert resolve_source(f"mine={path}:f", "vmap_over_batch").text == SOURCE


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("no_such_impl", "no implementation named 'no_such_impl'"),
        ("math:floor", "no Python source file"),  # an extension module, or built in (Debian)
        ("sys:exit", r"no Python source file to mutate \(built-in\)"),  # built in everywhere
        ("no_such_module_xyz:f", "no module named 'no_such_module_xyz'"),
        ("missing/file.py:f", "no such file"),
        ("tests.zoo.broken:not_defined_here", "defines no module-level 'not_defined_here'"),
    ],
)
def test_resolve_source_errors(spec: str, words: str) -> None:
    with pytest.raises(MutateUsageError, match=words):
        resolve_source(spec, "vmap_over_batch")


# --------------------------------------------------------------------------- usage errors


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--impl", "no_such_impl"], "no implementation named 'no_such_impl'"),
        (["--impl", "math:floor"], "no Python source file"),
        (["--impl", "nnx_vmap", "--max-mutants", "0"], "--max-mutants must be at least 1"),
        (["--impl", "nnx_vmap", "--jobs", "0"], "--jobs must be at least 1"),
        (["--impl", "nnx_vmap", "--timeout", "-1"], "--timeout must be positive"),
        (["--impl", "nnx_vmap", "--operator", "nope"], "unknown operator 'nope'"),
        (["--impl", "nnx_vmap", "--profile", "nope"], "unknown profile 'nope'"),
        (["--impl", "nnx_vmap", "--subject", "nope"], "nope"),
        (["--impl", "nnx_vmap", "--property", "nope"], "unknown property 'nope'"),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(
    argv: list[str], words: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["mutate", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and words in err, err
    assert err.count("\n") == 1 and "Traceback" not in err


# --------------------------------------------------------------------------- equivalence


class _Fixed:
    """An executor that answers every call with ``value`` times the row count."""

    def __init__(self, value: float, dtype: str = "float32") -> None:
        self.value, self.dtype = value, dtype

    def call(self, args: dict, transform: dict | None = None) -> CallResult:
        return CallResult("ok", output=np.full(3, self.value, dtype=self.dtype))


def test_outputs_compared_bit_for_bit() -> None:
    from conformance.subjects import VMAP_OVER_BATCH

    examples = [({"seed": 0, "x_batch": np.zeros((1, 1), np.float32), "features": 3}, None)]
    assert outputs_differ(VMAP_OVER_BATCH, _Fixed(1.0), _Fixed(1.0), examples) is None
    assert outputs_differ(VMAP_OVER_BATCH, _Fixed(1.0), _Fixed(1.0 + 2**-20), examples)  # one ulp-ish
    assert outputs_differ(VMAP_OVER_BATCH, _Fixed(1.0), _Fixed(1.0, "float64"), examples)  # the dtype
    assert outputs_differ(VMAP_OVER_BATCH, _Fixed(np.nan), _Fixed(np.nan), examples) is None  # bits, not ==
    assert (
        outputs_differ(VMAP_OVER_BATCH, _Fixed(0.0), _Fixed(-0.0), examples) is None
    )  # but not a zero's sign


class _GradientOnly(_Fixed):
    """Agrees with ``_Fixed(1.0)`` on plain calls, not under a transform."""

    def call(self, args: dict, transform: dict | None = None) -> CallResult:
        return super().call(args) if transform is None else CallResult("ok", output=np.zeros(3, "float32"))


def test_a_survivor_that_changes_only_its_gradient_is_not_equivalent() -> None:
    from conformance.subjects import VMAP_OVER_BATCH

    args = {"seed": 0, "x_batch": np.zeros((1, 1), np.float32), "features": 3}
    plain = [(args, None)]
    assert outputs_differ(VMAP_OVER_BATCH, _Fixed(1.0), _GradientOnly(1.0), plain) is None
    why = outputs_differ(VMAP_OVER_BATCH, _Fixed(1.0), _GradientOnly(1.0), [*plain, (args, {"kind": "vjp"})])
    assert why is not None and why.startswith("differs under vjp on")


def test_the_comparison_makes_the_calls_the_properties_make() -> None:
    from conformance.properties import PROPERTIES
    from conformance.run.profiles import get_profile
    from conformance.subjects import VMAP_OVER_BATCH, args_key

    props = [PROPERTIES[p] for p in ("output_contract", "jit_agrees_with_oracle", "vjp_agrees_with_oracle")]
    calls = ci_examples(VMAP_OVER_BATCH, get_profile("ci"), props)
    kinds = {t["kind"] if t else None for _, t in calls}
    assert kinds == {None, "jit", "vjp", "jvp"}, kinds
    keys = [args_key(a) + json.dumps(t, sort_keys=True) for a, t in calls]
    assert len(keys) == len(set(keys))  # no call twice
    again = ci_examples(VMAP_OVER_BATCH, get_profile("ci"), props)
    assert keys == [args_key(a) + json.dumps(t, sort_keys=True) for a, t in again]  # derandomized
    shapes = {a["x_batch"].shape[0] for a, t in calls if t is None}
    assert {0, 1, 65} <= shapes  # the edges of B are among them


# --------------------------------------------------------------------------- the engine's option


def test_stop_at_first_failure_checks_nothing_after_it() -> None:
    from conformance.run import engine

    props = ("output_contract", "seed_determinism")
    spec = ["tests.adversarial.pretends:always_raises"]
    full = engine.check(spec, isolation="trusted", max_examples=3, properties=props)
    assert [c.property for c in full.implementations[0].properties] == list(props)
    first = engine.check(
        spec, isolation="trusted", max_examples=3, properties=props, stop_at_first_failure=True
    )
    assert [(c.property, str(c.status)) for c in first.implementations[0].properties] == [
        ("output_contract", "fail")
    ]
    passing = engine.check(
        ["nnx_vmap"], isolation="trusted", max_examples=2, properties=props, stop_at_first_failure=True
    )
    assert [c.property for c in passing.implementations[0].properties] == list(props)  # nothing failed


# --------------------------------------------------------------------------- one small run

TINY = textwrap.dedent(
    """\
    import jax.numpy as jnp
    from flax import nnx


    def tiny(seed, x_batch, features):
        model = nnx.Linear(x_batch.shape[-1], int(features), rngs=nnx.Rngs(int(seed)))
        y = jnp.asarray(x_batch, jnp.float32) @ model.kernel[...] + model.bias[...]
        return y.reshape(-1)
    """
)


@pytest.mark.slow
def test_a_small_run_kills_and_keeps_survivors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Only output_contract (shapes and dtypes): the reshape in Fortran order survives and is not
    equivalent; dropping the bias (zero at initialisation) survives and is; a wrong shape is killed."""
    path = tmp_path / "tiny.py"
    path.write_text(TINY)
    out = tmp_path / "mutants.json"
    argv = [
        "mutate",
        "--impl",
        f"{path}:tiny",
        "--property",
        "output_contract",
        "--json",
        str(out),
        "--quiet",
    ]
    argv += ["--operator", "reshape", "--operator", "drop_term", "--jobs", "2"]
    assert main(argv) == 0
    report = json.loads(out.read_text())
    by = {m["description"]: m for m in report["mutants"]}
    bias_dropped = by[
        "jnp.asarray(x_batch, jnp.float32) @ model.kernel[...] + model.bias[...] -> "
        "jnp.asarray(x_batch, jnp.float32) @ model.kernel[...]"
    ]
    assert (bias_dropped["status"], bias_dropped["likely_equivalent"]) == (SURVIVED, True)
    fortran = by["y.reshape(-1) -> y.reshape(-1, order='F')"]
    assert (fortran["status"], fortran["likely_equivalent"]) == (SURVIVED, False)
    assert "order='F'" in fortran["diff"] and fortran["difference"].startswith("differs on")
    dropped = by["y.reshape(-1) -> y"]
    assert (dropped["status"], dropped["killed_by"]) == (KILLED, "output_contract")
    counts = report["counts"]
    assert counts["likely_equivalent"] == 1 and counts["killed"] == len(report["mutants"]) - 2
    assert report["score"] == pytest.approx(counts["killed"] / (len(report["mutants"]) - 1))
    printed = capsys.readouterr().out
    assert (
        "+        return y.reshape(-1, order='F')" in printed
        or "+    return y.reshape(-1, order='F')" in printed
    )
    assert "NOT equivalent" in printed and "likely equivalent" in printed


PACKAGE_FILES = {
    "mypkg/__init__.py": "",
    "mypkg/helpers.py": "def scale():\n    return 2.0\n",
    "mypkg/layer.py": textwrap.dedent(
        '''\
        """A layer — with a relative import."""

        from __future__ import annotations

        from .helpers import scale


        def vmap_over_batch(seed, x_batch, features):
            return scale() * seed
        '''
    ),
}


@pytest.mark.parametrize("how", ["module", "path"])
def test_a_copy_outside_its_package_keeps_its_relative_imports(how: str, tmp_path, monkeypatch) -> None:
    from conformance.tools.mutate.source import with_package
    from impl.registry import load

    for name, text in PACKAGE_FILES.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    spec = "mypkg.layer:vmap_over_batch" if how == "module" else f"{tmp_path}/mypkg/layer.py:vmap_over_batch"
    source = resolve_source(spec, "vmap_over_batch")
    assert (source.package, source.root) == ("mypkg", str(tmp_path))
    copy_text = with_package(source.text, source.package)
    assert len(copy_text.splitlines()) == len(source.text.splitlines())  # every line keeps its number
    elsewhere = tmp_path / "copies"
    elsewhere.mkdir()
    (elsewhere / "layer_m001.py").write_text(copy_text, encoding="utf-8")
    (elsewhere / "layer_bare.py").write_text(source.text, encoding="utf-8")
    assert load(f"{elsewhere}/layer_m001.py:vmap_over_batch").fn(3, None, 1) == 6.0
    with pytest.raises(Exception, match="relative import|no known parent"):
        load(f"{elsewhere}/layer_bare.py:vmap_over_batch")


@pytest.mark.parametrize(
    "text",
    [
        "import os\nx = 1\n",
        "'''doc'''\nimport os\n",
        "from __future__ import annotations  # why\nimport os\n",
        "def f():\n    return 1\n",
        "@staticmethod\ndef f():\n    return 1\n",
    ],
)
def test_the_package_is_set_before_any_code_and_the_file_still_parses(text: str) -> None:
    from conformance.tools.mutate.source import with_package

    out = with_package(text, "pkg.sub")
    namespace: dict = {}
    exec(compile(out, "copy.py", "exec"), namespace)
    assert namespace["__package__"] == "pkg.sub"
    assert with_package(text, None) == text
    opens_with_code = text.startswith(("def", "@"))
    assert len(out.splitlines()) == len(text.splitlines()) + opens_with_code


@pytest.mark.parametrize(
    ("file", "module", "package"),
    [
        ("top/layer.py", "top.layer", "top"),
        ("top/__init__.py", "top", "top"),
        ("top/sub/layer.py", "top.sub.layer", "top.sub"),
        ("top/sub/__init__.py", "top.sub", "top.sub"),
    ],
)
def test_the_package_root_is_the_folder_above_the_top_package(
    file: str, module: str, package: str, tmp_path
) -> None:
    from conformance.tools.mutate.source import _package_of

    for folder in ("top", "top/sub"):
        (tmp_path / folder).mkdir(exist_ok=True)
        (tmp_path / folder / "__init__.py").write_text("")
    path = str(tmp_path / file)
    assert _package_of(path, module) == (package, str(tmp_path))  # from the module's name
    assert _package_of(path, None) == (package, str(tmp_path))  # from the __init__.py files
