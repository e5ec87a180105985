"""A user's per-sample subject, runner side: a :class:`Subject` built from a declaration's plain data.

The declaration itself (user code) lives in workers (:mod:`conformance.boundary.per_sample`);
this module sees only what :meth:`~conformance.base.declaration.PerSample.describe` says of it,
and asks ``oracle(args, request)`` for the float64 oracle (``"oracle"``) and the float32
per-sample reference (``"reference"``): the run layer wires that to the subject's oracle worker.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from hypothesis import strategies as st

import strategies as S
from conformance.base.declaration import DEFAULT_DTYPES, FREE_REFERENCES, Dim
from conformance.numerics.reference import reference_bound
from conformance.subjects.subject import Args, Expected, StrategyConfig, Subject, applicable, args_key
from strategies.samples import Tiles, dim_pool, per_sample_args, per_sample_edges, per_sample_tile_narrowing

#: Asks the subject's oracle worker: (args, request) -> the answer (see
#: :func:`conformance.boundary.per_sample.oracle` for the requests).
Oracle = Callable[[Args, Any], np.ndarray]


#: The claims about the values an implementation computes: for a module that draws random
#: numbers, they depend on the draws, which a batched rewrite may make in another order (and
#: two seeds may draw masks that zero the same outputs).
VALUE_CLAIMS = (
    "agrees_with_oracle",
    "seed_sensitivity",
    "agrees_with_builtins",
    "batch_independence",
    "jit_agrees_with_oracle",
    "vmap_composes",
    "sharding_invariance",
    "nnx_modes",
    "vjp_agrees_with_oracle",
    "jvp_agrees_with_oracle",
)


def display_name(spec: str) -> str:
    """The declaration's attribute name: ``my_subjects.py:causal_conv`` -> ``causal_conv``."""
    return spec.rpartition(":")[2] or spec


def drawn_sizes(description: Mapping[str, Any]) -> tuple[tuple[str, tuple[int, ...]], ...]:
    """Each sample dimension's sizes the searches draw, in the sample's order: the smallest two of
    its declared sizes and the largest (``strategies.samples.dim_pool``)."""
    out = []
    for name in description["sample"]:
        d = Dim(**description["dims"][name])
        out.append((name, dim_pool(d.sizes())))
    return tuple(out)


def _tiles(description: Mapping[str, Any]) -> tuple[tuple[str, Tiles], ...]:
    """Each axis's tile sizes and the sizes around them it allows: ``B`` (up to 1025) and each
    sample dimension (within its declared ``min..max``)."""
    axes = [("B", Dim(min=0))] + [(n, Dim(**description["dims"][n])) for n in description["sample"]]
    out = []
    for name, d in axes:
        around = tuple((t, d.around(t)) for t in S.TILE_SIZES)
        out.append((name, tuple((t, sizes) for t, sizes in around if sizes)))
    return tuple(out)


def per_sample_subject(spec: str, description: Mapping[str, Any], oracle: Oracle) -> Subject:
    """The :class:`Subject` of the declaration at ``spec``: every property of the catalogue but
    those a built-in subject opts in to (and the gradient ones for a module that draws random
    numbers)."""
    sample = tuple(description["sample"])
    dims = drawn_sizes(description)
    static = tuple((n, tuple(v)) for n, v in (description.get("static") or {}).items())
    tiles = _tiles(description)
    narrowing = per_sample_tile_narrowing(tiles)
    dtypes = tuple(description.get("dtypes") or DEFAULT_DTYPES)
    tol = description["tolerance"]
    shapes: dict[str, tuple[int, ...]] = {}

    def domain(config: StrategyConfig) -> tuple[tuple[int, ...], tuple[str, ...]]:
        """The batch sizes (the pool's, up to 65) and the input dtypes (float64 only under x64)."""
        pool = config.pool if isinstance(config.pool, S.ShapePool) else S.COMPACT_POOL
        batch = tuple(b for b in pool.batch if b <= 65) or (1,)
        return batch, tuple(d for d in dtypes if d != "float64" or config.x64)

    @functools.cache  # built once per configuration: the properties' strategies ask on every draw
    def valid_args(config: StrategyConfig, min_batch: int, min_members: int = 1) -> st.SearchStrategy[Args]:
        batch, allowed = domain(config)
        pins: dict[str, Any] = {}
        if config.edge is not None:
            known = dict(per_sample_edges(dims, batch, allowed, static, tiles))
            if config.edge not in known:
                raise ValueError(f"unknown edge {config.edge!r}; known: {', '.join(known)}")
            pins = dict(known[config.edge])
        chosen = {**dict(dims), **pins.pop("dims", {})}
        return per_sample_args(
            dims=chosen,
            batch=pins.pop("batch", batch),
            dtypes=pins.pop("only_dtypes", allowed),
            static={**dict(static), **pins.pop("static", {})},
            min_batch=min_batch,
            **pins,
        )

    def edges(config: StrategyConfig) -> tuple[str, ...]:
        """The searched edges: all but those a tile edge's failure is narrowed to."""
        narrowers = {n for names in narrowing.values() for n in names}
        names = (name for name, _ in per_sample_edges(dims, *domain(config), static, tiles))
        return tuple(n for n in names if n not in narrowers)

    def expected(args: Args, x64: bool) -> Expected:
        wide = oracle(args, "oracle")
        references = oracle(args, "reference")
        value, bound = reference_bound(wide, references, tol["factor"], tol["floor"])
        shapes[args_key(args)] = tuple(wide.shape)
        return Expected(value, bound, np.dtype(references.dtype), tuple(wide.shape))

    def gradient(kind: str) -> Callable[[Args, np.ndarray, bool], Expected]:
        """The VJP or JVP oracle: the float64 gradient, held to the float32 reference's distance."""

        def expected_gradient(args: Args, direction: np.ndarray, x64: bool) -> Expected:
            asked = {"kind": kind, "direction": direction}
            wide = oracle(args, {**asked, "precision": "oracle"})
            reference = oracle(args, {**asked, "precision": "reference"})
            value, bound = reference_bound(wide, reference[None], tol["factor"], tol["floor"])
            return Expected(value, bound, np.dtype(reference.dtype), tuple(reference.shape))

        return expected_gradient

    def confirm_make(args: Args) -> None:
        """OracleError when make cannot build the model of ``args`` in the oracle worker either."""
        oracle(args, "make")

    def output_shape(args: Args) -> tuple[int, ...]:
        """(B, the values of one sample's output): the reference's shape, from the oracle worker."""
        key = args_key(args)
        if key not in shapes:
            expected(args, False)
        full = shapes[key]
        return (full[0], int(np.prod(full[1:], dtype=np.int64)))

    def invalid_args() -> st.SearchStrategy[tuple[Args, str, str]]:
        def lone(seed: int, sizes: tuple[int, ...]) -> tuple[Args, str, str]:
            x = S.KindedArray(S.make_values(sizes, "float32", "ordinary", 1), "numpy", "ordinary")
            args = {"seed": seed, "x_batch": x, **{n: v[0] for n, v in static}}
            return args, "x_batch", f"one sample of shape {sizes}, no batch axis"

        sizes = st.tuples(*(st.sampled_from(d) for _, d in dims))
        return st.builds(lone, st.integers(0, 9), sizes)

    randomness = description.get("randomness")
    properties = applicable("randomness_as_declared") if randomness else applicable()
    if randomness:  # the values depend on the draws: claims about them are the randomness property's
        properties = tuple(p for p in properties if p not in VALUE_CLAIMS)
    params = ("seed", f"x_batch: (B, {', '.join(sample)})", *(n for n, _ in static))
    return Subject(
        name=spec,
        signature=f"{display_name(spec)}({', '.join(params)}) -> (B, ...)",
        summary=description.get("summary") or f"the per-sample module at {spec}, lifted over a batch",
        arg_names=("seed", "x_batch", *(n for n, _ in static)),
        valid_args=valid_args,
        invalid_args=invalid_args,
        expected=expected,
        edges=edges,
        narrowing=lambda config: narrowing,
        output_shape=output_shape,
        output_axes=("row", "element"),
        properties=properties,
        vjp_expected=None if randomness else gradient("vjp"),
        jvp_expected=None if randomness else gradient("jvp"),
        batch_axes=("row", *sample),
        randomness=randomness,
        builtins=FREE_REFERENCES,
        reference_defined=True,
        dtype_rule="the float32 per-sample reference's output dtype",
        confirm_make=confirm_make,
        not_applicable={}
        if description.get("seed_used", True)
        else {
            "seed_sensitivity": "make(seed, dims) builds the same model for seeds 0 and 1: the module "
            "does not use its seed, so no two seeds can be told apart"
        },
    )
