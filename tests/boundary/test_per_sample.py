"""A per-sample subject, worker side (conformance/boundary/per_sample.py), called in this process:
the free references agree with the loop, the oracle is float64, and a declaration that cannot work
is one line saying why."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest

from conformance.boundary import per_sample as ps
from impl.registry import ImplementationLoadError

MODULES = """
import jax
import jax.numpy as jnp
from flax import nnx

import conformance


class Block(nnx.Module):
    def __init__(self, d, rngs, cast=False, noise=False):
        self.lin = nnx.Linear(d, d, rngs=rngs)
        self.norm = nnx.LayerNorm(d, rngs=rngs)
        self.cast, self.noise = cast, noise
        self.rngs = rngs

    def __call__(self, x):  # x: (L, D), one sample
        if self.cast:  # a hard-coded cast: the float64 oracle would see float32 input
            return self.lin(x.astype(jnp.float32))
        h = self.norm(x)
        if self.noise:
            h = h + jax.random.normal(self.rngs.noise(), h.shape)
        return x + jax.nn.gelu(self.lin(h), approximate=True)


def _make(**kw):
    return lambda seed, dims: Block(dims["D"], nnx.Rngs(seed, noise=seed + 1), **kw)


good = conformance.per_sample(make=_make(), call=lambda m, x: m(x), sample=("L", "D"))
casts = conformance.per_sample(make=_make(cast=True), call=lambda m, x: m(x), sample=("L", "D"))
noisy = conformance.per_sample(make=_make(noise=True), call=lambda m, x: m(x), sample=("L", "D"))
declared = conformance.per_sample(
    make=_make(noise=True), call=lambda m, x: m(x), sample=("L", "D"), randomness="different"
)
breaks = conformance.per_sample(make=lambda seed, dims: 1 / 0, call=lambda m, x: x, sample=("D",))
listy = conformance.per_sample(make=_make(), call=lambda m, x: [1, 2], sample=("L", "D"))
not_a_declaration = 42
# the cast stops the float64 oracle; an oracle of the user's computes the same without it
own_oracle = conformance.per_sample(
    make=_make(cast=True), call=lambda m, x: m(x), sample=("L", "D"), oracle=lambda m, x: m.lin(x)
)
wrong_oracle = conformance.per_sample(
    make=_make(), call=lambda m, x: m(x), sample=("L", "D"), oracle=lambda m, x: 2 * m(x)
)


class Scaled(nnx.Module):
    def __init__(self, d, gain, rngs):
        self.lin, self.gain = nnx.Linear(d, d, rngs=rngs), gain

    def __call__(self, x):
        return self.gain * self.lin(x)


scaled = conformance.per_sample(
    make=lambda seed, dims, gain: Scaled(dims["D"], gain, nnx.Rngs(seed)),
    call=lambda m, x: m(x),
    sample=("L", "D"),
    static={"gain": (1.0, -3.0)},
)


def scaled_own(seed, x_batch, gain):
    return batched(Scaled(x_batch.shape[-1], gain, nnx.Rngs(seed)), x_batch)


def batched(model, x_batch):
    return nnx.vmap(lambda m, x: m(x), in_axes=(None, 0))(model, x_batch)


def own_model(seed, x_batch):
    return batched(Block(x_batch.shape[-1], nnx.Rngs(seed, noise=seed + 1)), x_batch)


def three(a, b, c):
    return a
"""


@pytest.fixture(scope="module")
def subjects(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("subjects") / "my_subjects.py"
    path.write_text(textwrap.dedent(MODULES))
    return path


def _x(b: int = 3, length: int = 2, d: int = 4) -> np.ndarray:
    return np.random.default_rng(0).standard_normal((b, length, d)).astype(np.float32)


def test_the_free_references_agree_with_the_loop(subjects: Path) -> None:
    decl = ps.declaration(f"{subjects}:good")
    x = _x()
    loop = np.asarray(ps.loop(decl)(7, x))
    assert loop.shape == (3, 2, 4) and loop.dtype == np.float32
    for name in ("nnx_vmap", "manual_lift"):
        np.testing.assert_allclose(np.asarray(ps.REFERENCES[name](decl)(7, x)), loop, rtol=2e-6, atol=2e-6)
    assert np.asarray(ps.loop(decl)(7, x[:0])).shape == (0, 2, 4)


def test_the_oracle_is_float64_and_close_to_the_loop(subjects: Path) -> None:
    decl = ps.declaration(f"{subjects}:good")
    fn = ps.oracle(decl)
    x = _x()
    wide = fn(7, x, "oracle")
    assert wide.dtype == np.float64 and wide.shape == (3, 2, 4)
    references = fn(7, x, "reference")
    assert references.shape == (2, 3, 2, 4)
    np.testing.assert_allclose(references[0], wide, rtol=1e-5, atol=1e-5)
    assert not np.array_equal(references[0].astype(np.float64), wide)  # float64 is not float32
    assert fn(7, x[:0], "oracle").shape == (0, 2, 4)


def test_gradients_of_the_oracle_and_of_the_reference(subjects: Path) -> None:
    decl = ps.declaration(f"{subjects}:good")
    fn = ps.oracle(decl)
    x = _x()
    ct = np.ones_like(x)
    vjp64 = fn(7, x, {"kind": "vjp", "direction": ct, "precision": "oracle"})
    vjp32 = fn(7, x, {"kind": "vjp", "direction": ct, "precision": "reference"})
    assert vjp64.dtype == np.float64 and vjp32.dtype == np.float32 and vjp64.shape == x.shape
    np.testing.assert_allclose(vjp32, vjp64, rtol=1e-4, atol=1e-4)
    jvp64 = fn(7, x, {"kind": "jvp", "direction": ct, "precision": "oracle"})
    assert jvp64.shape == (3, 2, 4)


def test_a_batched_implementation_gets_the_model_or_makes_its_own(subjects: Path) -> None:
    loop = np.asarray(ps.loop(ps.declaration(f"{subjects}:good"))(7, _x()))
    for name in ("batched", "own_model"):
        impl = ps.implementation(f"{subjects}:{name}", f"{subjects}:good")
        np.testing.assert_allclose(np.asarray(impl.fn(7, _x())), loop, rtol=2e-6, atol=2e-6)
    assert ps.takes_seed(ps.declaration) is False
    with pytest.raises(ImplementationLoadError, match=r"takes two arguments, \(model, x_batch\) or \(seed"):
        ps.implementation(f"{subjects}:three", f"{subjects}:good")


def test_one_sample_without_the_batch_axis_reaches_the_implementation(subjects: Path) -> None:
    """invalid_input_rejected hands a lone sample over: the implementation, not the suite, must refuse it."""
    impl = ps.implementation(f"{subjects}:batched", f"{subjects}:good")
    out = np.asarray(impl.fn(7, _x()[0]))  # nnx.vmap over L: silently the wrong thing
    assert out.shape == (2, 4)
    with pytest.raises(ValueError, match=r"x_batch must have shape \(B, L, D\)"):
        ps.loop(ps.declaration(f"{subjects}:good"))(7, _x()[0])


def test_a_hard_coded_float32_cast_is_found_or_compiled_away(subjects: Path) -> None:
    """A call that rounds its float64 input to float32 cannot serve as the oracle: the probe says so.
    Some XLA versions fold the float64 -> float32 -> float64 round trip of the compiled oracle
    away; then the oracle does compute in float64, and the probe rightly lets it through."""
    decl = ps.declaration(f"{subjects}:casts")
    try:
        ps.probe(decl)
    except ValueError as e:
        assert "does not compute in float64 on a batch of two samples of shape (2, 2)" in str(e)
        return
    x = _x(2, 2, 2)
    nudged = x.astype(np.float64) * (1 + 2.0**-40)
    assert not np.array_equal(ps.forward(decl, 0, nudged), ps.forward(decl, 0, x))


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("noisy", "draws random numbers (two calls on one sample differ): declare randomness"),
        (
            "breaks",
            "the declaration fails on a batch of two samples of shape (2,) (dims {'D': 2}): make or call",
        ),
        ("listy", "call(model, x) on one sample must return an array"),
    ],
)
def test_a_declaration_that_cannot_work_says_why_when_probed(subjects: Path, name: str, words: str) -> None:
    with pytest.raises(ValueError) as e:
        ps.probe(ps.declaration(f"{subjects}:{name}"))
    assert words in str(e.value), str(e.value)


def test_a_declared_random_module_is_probed_fine_and_the_loop_draws_per_sample(subjects: Path) -> None:
    decl = ps.declaration(f"{subjects}:declared")
    assert ps.probe(decl) == {"seed_used": True}  # its state holds typed random keys
    same = np.repeat(_x(1), 4, axis=0)
    rows = np.asarray(ps.loop(decl)(3, same)).reshape(4, -1)
    assert len({r.tobytes() for r in rows}) == 4  # each sample its own draw
    split = np.asarray(ps.nnx_vmap(decl)(3, same)).reshape(4, -1)
    assert len({r.tobytes() for r in split}) == 4


def test_not_a_declaration_is_refused_by_name(subjects: Path) -> None:
    with pytest.raises(ImplementationLoadError, match="is a int, not a per-sample subject: declare it with"):
        ps.declaration(f"{subjects}:not_a_declaration")


def test_static_arguments_reach_make_the_references_the_oracle_and_both_kinds_of_implementation(
    subjects: Path,
) -> None:
    decl = ps.declaration(f"{subjects}:scaled")
    ps.probe(decl)
    x = _x()
    unit, tripled = (np.asarray(ps.loop(decl)(7, x, gain)) for gain in (1.0, -3.0))
    np.testing.assert_allclose(tripled, -3.0 * unit, rtol=1e-6, atol=1e-6)
    fn = ps.oracle(decl)
    np.testing.assert_allclose(fn(7, x, "oracle", -3.0), tripled, rtol=1e-5, atol=1e-5)
    assert fn(7, x, "reference", -3.0).shape == (2, 3, 2, 4)
    np.testing.assert_allclose(fn(7, x, "nnx_vmap", -3.0), tripled, rtol=1e-6, atol=1e-6)
    for name in ("batched", "scaled_own"):
        impl = ps.implementation(f"{subjects}:{name}", f"{subjects}:scaled")
        np.testing.assert_allclose(np.asarray(impl.fn(7, x, -3.0)), tripled, rtol=1e-6, atol=1e-6)
    with pytest.raises(ImplementationLoadError, match=r"by keyword: \(seed, x_batch, gain\)"):
        ps.implementation(f"{subjects}:own_model", f"{subjects}:scaled")  # no gain parameter


def test_an_oracle_of_the_users_stands_in_for_a_call_that_cannot_run_in_float64(subjects: Path) -> None:
    decl = ps.declaration(f"{subjects}:own_oracle")
    ps.probe(decl)
    x = _x()
    wide = ps.forward(decl, 7, x)
    assert wide.dtype == np.float64
    np.testing.assert_allclose(wide, np.asarray(ps.loop(decl)(7, x)), rtol=1e-5, atol=1e-5)
    vjp = ps.oracle(decl)(7, x, {"kind": "vjp", "direction": np.ones_like(x), "precision": "oracle"})
    assert vjp.dtype == np.float64 and vjp.shape == x.shape


def test_an_oracle_that_computes_something_else_is_refused_when_probed(subjects: Path) -> None:
    with pytest.raises(ValueError, match="the float64 oracle and the float32 call disagree by"):
        ps.probe(ps.declaration(f"{subjects}:wrong_oracle"))


def test_a_kept_model_is_merged_anew_for_each_caller_even_when_first_made_under_a_transform(
    subjects: Path,
) -> None:
    """make_model keeps the last few models: each caller must get Variables of its own, usable
    outside the trace the model was first made in (nnx.vmap refuses a Variable of another trace)."""
    import jax
    from flax import nnx

    decl = ps.declaration(f"{subjects}:good")
    x = _x()
    jax.vmap(lambda row: ps.make_model(decl, 11, x).lin(row))(x[:, 0])  # first made inside jax.vmap
    first, second = ps.make_model(decl, 11, x), ps.make_model(decl, 11, x)
    assert first.lin.kernel is not second.lin.kernel
    np.testing.assert_array_equal(first.lin.kernel[...], second.lin.kernel[...])
    first.lin.kernel.value = first.lin.kernel[...] + 1.0  # one caller's change is its own
    assert not np.array_equal(first.lin.kernel[...], second.lin.kernel[...])
    out = nnx.vmap(lambda m, row: m(row), in_axes=(None, 0))(second, x)
    np.testing.assert_allclose(np.asarray(out), np.asarray(ps.loop(decl)(11, x)), rtol=2e-6, atol=2e-6)
