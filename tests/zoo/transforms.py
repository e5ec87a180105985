"""A zoo for the forward transform properties: implementations right when called, wrong under a transform.

Every broken implementation here agrees with the oracle when called directly; each breaks one
claim of the group "transform" (jit, vmap, sharding, compilation count, NNX modes). They are
made for every subject from the subject's module and lift (:data:`LIFTS`), so each subject has
a bug for each property: :data:`BROKEN` maps subject -> name -> (implementation, the property
that must catch it, words its failure must contain). :data:`CORRECT` holds the built-ins of
``vmap_over_batch`` and a jitted variant, which must pass them all.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from impl.nnx_vmap import TREE_MODE
from impl.validation import check_vmap_over_batch_args, check_vmap_over_ensemble_args
from impl.vmap_anchored import AnchoredLinear
from impl.vmap_over_ensemble import make_ensemble

Make = Callable[..., tuple[nnx.Module, jax.Array]]


def _linear(seed: Any, x_batch: Any, features: Any) -> tuple[nnx.Module, jax.Array]:
    seed, x_batch, features = check_vmap_over_batch_args(seed, x_batch, features)
    return nnx.Linear(x_batch.shape[-1], features, rngs=nnx.Rngs(seed)), jnp.asarray(x_batch)


def _anchored(seed: Any, x_batch: Any, features: Any) -> tuple[nnx.Module, jax.Array]:
    seed, x_batch, features = check_vmap_over_batch_args(seed, x_batch, features)
    return AnchoredLinear(x_batch.shape[-1], features, rngs=nnx.Rngs(seed)), jnp.asarray(x_batch)


def _ensemble(seed: Any, x_batch: Any, features: Any, n_models: Any) -> tuple[nnx.Module, jax.Array]:
    seed, x_batch, features, n_models = check_vmap_over_ensemble_args(seed, x_batch, features, n_models)
    return make_ensemble(seed, x_batch.shape[-1], features, n_models), jnp.asarray(x_batch)


#: subject -> (its module with the input, the in_axes of its nnx.vmap): the built-ins' nnx_vmap
LIFTS: dict[str, tuple[Make, tuple[int | None, int | None]]] = {
    "vmap_over_batch": (_linear, (None, 0)),
    "vmap_over_ensemble": (_ensemble, (0, None)),
    "vmap_anchored": (_anchored, (None, 0)),
}


def _call(model: nnx.Module, x: jax.Array) -> jax.Array:
    return model(x)


def _lifted(subject: str, seed: Any, x: Any, features: Any, *rest: Any) -> jax.Array:
    """The subject's canonical implementation on ``x`` as given (numpy, jax or traced)."""
    make, in_axes = LIFTS[subject]
    model, x = make(seed, x, features, *rest)
    return nnx.vmap(_call, in_axes=in_axes)(model, x).reshape(-1)


# --------------------------------------------------------------------------- broken, for every subject


def host_round_trip(subject: str) -> Callable[..., Any]:
    def host_round_trip(seed: Any, x_batch: Any, features: Any, *rest: Any) -> jax.Array:
        """Pulls the batch to the host (np.asarray) first: fine eagerly, untraceable under jit."""
        return _lifted(subject, seed, jnp.asarray(np.asarray(x_batch)), features, *rest)

    return host_round_trip


def other_params_when_traced(subject: str) -> Callable[..., Any]:
    def other_params_when_traced(seed: Any, x_batch: Any, features: Any, *rest: Any) -> jax.Array:
        """A traced path that draws its parameters from another seed: right eagerly, wrong under jit."""
        traced = isinstance(x_batch, jax.core.Tracer)
        return _lifted(subject, int(seed) ^ 1 if traced else seed, x_batch, features, *rest)

    return other_params_when_traced


def per_device_rngs(subject: str) -> Callable[..., Any]:
    def per_device_rngs(seed: Any, x_batch: Any, features: Any, *rest: Any) -> Any:
        """Data parallel by hand: each device's rows go through parameters seeded with seed ^ device id.

        An unsharded batch (or a traced one, under jit) goes through the canonical implementation.
        """
        concrete = isinstance(x_batch, jax.Array) and not isinstance(x_batch, jax.core.Tracer)
        shards = sorted(x_batch.addressable_shards, key=lambda s: s.index[0].start or 0) if concrete else []
        if len(shards) < 2:
            return _lifted(subject, seed, x_batch, features, *rest)
        members = int(rest[0]) if rest else 1  # the output is (members, rows, features), flattened
        parts = [
            np.asarray(_lifted(subject, int(seed) ^ s.device.id, s.data, features, *rest)).reshape(
                members, -1
            )
            for s in shards
        ]
        return np.concatenate(parts, axis=1).reshape(-1)

    return per_device_rngs


def jit_per_call(subject: str) -> Callable[..., Any]:
    def jit_per_call(seed: Any, x_batch: Any, features: Any, *rest: Any) -> jax.Array:
        """A fresh jax.jit of a fresh closure on every call: right values, a compilation per call."""
        make, in_axes = LIFTS[subject]
        graphdef, state = nnx.split(make(seed, x_batch, features, *rest)[0])

        def forward(state: Any, x: jax.Array) -> jax.Array:
            return nnx.vmap(_call, in_axes=in_axes)(nnx.merge(graphdef, state), x).reshape(-1)

        return jax.jit(forward)(state, jnp.asarray(x_batch))

    return jit_per_call


class Tied(nnx.Module):
    """One module held twice (a shared reference, a graph-mode feature), its outputs averaged."""

    def __init__(self, inner: nnx.Module) -> None:
        self.first = inner
        self.second = inner

    def __call__(self, x: jax.Array) -> jax.Array:
        return 0.5 * (self.first(x) + self.second(x))  # exactly the module's output


def graph_only(subject: str) -> Callable[..., Any]:
    def graph_only(seed: Any, x_batch: Any, features: Any, *rest: Any) -> jax.Array:
        """nnx.vmap over a module with a shared reference: fine in graph mode; tree mode refuses aliases."""
        make, in_axes = LIFTS[subject]
        model, x = make(seed, x_batch, features, *rest)
        return nnx.vmap(_call, in_axes=in_axes)(Tied(model), x).reshape(-1)

    return graph_only


def wrong_batching_rule(subject: str) -> Callable[..., Any]:
    def wrong_batching_rule(seed: Any, x_batch: Any, features: Any, *rest: Any) -> jax.Array:
        """A custom_vmap whose batching rule runs the stacked batches (K, B, D) as one batch of K * B
        rows, then regroups the output batch-major instead of stack-major."""

        @jax.custom_batching.custom_vmap
        def forward(x: jax.Array) -> jax.Array:
            return _lifted(subject, seed, x, features, *rest)

        @forward.def_vmap
        def batched(axis_size: int, in_batched: list[bool], x: jax.Array) -> tuple[jax.Array, bool]:
            k, b, d = x.shape
            out = _lifted(subject, seed, x.reshape(k * b, d), features, *rest)
            return out.reshape(b, k, -1).swapaxes(0, 1).reshape(k, -1), True

        return forward(jnp.asarray(x_batch))

    return wrong_batching_rule


#: bug -> (factory, the property that must catch it, words its failure must contain)
BUGS: dict[str, tuple[Callable[[str], Callable[..., Any]], str, str]] = {
    "host_round_trip": (host_round_trip, "jit_agrees_with_oracle", "not traceable under jax.jit"),
    "other_params_when_traced": (
        other_params_when_traced,
        "jit_agrees_with_oracle",
        "under jax.jit, disagrees with the float64 oracle",
    ),
    "per_device_rngs": (per_device_rngs, "sharding_invariance", "passed directly, disagrees"),
    "jit_per_call": (jit_per_call, "bounded_compilation", "call 1: 1, call 2: 1, call 3: 1"),
    "graph_only": (graph_only, "nnx_modes", "under NNX tree mode"),
    "wrong_batching_rule": (wrong_batching_rule, "vmap_composes", "differs from the eager call"),
}

#: The module attribute of a bug for a subject (the bug's own name for vmap_over_batch).
SUFFIX = {"vmap_over_batch": "", "vmap_over_ensemble": "_ensemble", "vmap_anchored": "_anchored"}

#: subject -> name -> (implementation, property, words); each is also a module attribute
BROKEN: dict[str, dict[str, tuple[Callable[..., Any], str, str]]] = {}
for _subject, _suffix in SUFFIX.items():
    for _bug, (_factory, _prop, _words) in BUGS.items():
        _fn = _factory(_subject)
        _fn.__name__ = _fn.__qualname__ = _bug + _suffix
        globals()[_bug + _suffix] = _fn
        BROKEN.setdefault(_subject, {})[_bug + _suffix] = (_fn, _prop, _words)

# --------------------------------------------------------------------------- correct


#: name -> spec: the built-ins of vmap_over_batch (by name) and the jitted variant
CORRECT: dict[str, str] = {
    "nnx_vmap": "nnx_vmap",
    "manual_lift": "manual_lift",
    "jitted": "jitted=tests.zoo.correct:jitted",  # the forward zoo's jitted variant
}
if TREE_MODE:
    CORRECT["nnx_vmap_tree"] = "nnx_vmap_tree"
