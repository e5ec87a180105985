"""Per-sample declarations that pass the oracle worker's probe, then misbehave on a drawn sample.

Each declares the same module, ``x * w`` on one sample ``x`` of shape ``(D,)``, with
``D`` in 1..3. The probe (``conformance.boundary.per_sample.probe``) runs a batch of two
samples at the second size of each dimension (``D = 2``); the searches also draw ``D = 3``
(``strategies.samples.dim_pool``: the smallest two sizes and the largest), and there
``call`` misbehaves:

* ``hangs``: sleeps for an hour;
* ``exits``: ends its process with ``os._exit``;
* ``returns_a_string``: returns a string, not an array;
* ``ragged``: returns one element more for a sample whose first value is at least 1, so the
  samples of one batch cannot be stacked (a shape that depends on the values);
* ``make_fails``: ``make`` itself raises, in the oracle worker and in the implementation's
  worker alike (where it builds the model handed to ``(model, x_batch)``).

``claims_make_failed`` is a broken implementation that raises an exception named like the
worker's own ``MakeFailed`` although ``make`` works: its failure must stand.

``batched`` is a correct batched implementation of all of them (it never runs the
declaration's ``call``), e.g. ``python -m conformance check --subject
tests/zoo/bad_declarations.py:hangs --impl tests/zoo/bad_declarations.py:batched --timeout 3``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

import conformance

#: The sizes of D: the probe uses 2, the searches draw 1, 2 and 3.
DIMS = {"D": conformance.dim(min=1, max=3)}
#: The size of D at which ``call`` misbehaves (the largest, never probed).
BAD_D = 3


class Scale(nnx.Module):
    """``x * w`` on one sample ``x`` of shape ``(D,)``."""

    def __init__(self, d: int, rngs: nnx.Rngs) -> None:
        self.w = nnx.Param(jax.random.normal(rngs.params(), (d,)))

    def __call__(self, x: jax.Array) -> jax.Array:
        return x * self.w[...]


def _make(seed: int, dims: dict[str, int]) -> Scale:
    return Scale(dims["D"], nnx.Rngs(seed))


def _declare(misbehave: Callable[[Scale, Any], Any]) -> Any:
    """The module, with ``call`` replaced by ``misbehave`` on samples with ``D == BAD_D``."""

    def call(model: Scale, x: Any) -> Any:
        if x.shape[-1] == BAD_D:  # a static shape: decided when the call is traced
            return misbehave(model, x)
        return model(x)

    return conformance.per_sample(make=_make, call=call, sample=("D",), dims=DIMS)


def _hang(model: Scale, x: Any) -> Any:
    time.sleep(3600)
    return model(x)


def _exit(model: Scale, x: Any) -> Any:
    os._exit(7)


def _string(model: Scale, x: Any) -> Any:
    return "not an array"


def _ragged(model: Scale, x: Any) -> Any:
    out = model(x)
    # one element more where the first value is at least 1: not traceable (the value decides a
    # shape), so it runs eagerly, and two samples of one batch differ in shape
    return jnp.concatenate([out, out[:1]]) if float(x[0]) >= 1.0 else out


def _make_or_fail(seed: int, dims: dict[str, int]) -> Scale:
    if dims["D"] == BAD_D:
        raise ValueError(f"D = {BAD_D} is not supported")
    return _make(seed, dims)


hangs = _declare(_hang)
make_fails = conformance.per_sample(make=_make_or_fail, call=lambda m, x: m(x), sample=("D",), dims=DIMS)
exits = _declare(_exit)
returns_a_string = _declare(_string)
ragged = _declare(_ragged)
#: The same module, well behaved everywhere.
good = _declare(lambda model, x: model(x))


def batched(model: Scale, x_batch: jax.Array) -> jax.Array:
    """A correct batched implementation: ``(B, D) * (D,)``."""
    return x_batch * model.w[...]


def claims_make_failed(model: Scale, x_batch: jax.Array) -> jax.Array:
    """Broken: at D == BAD_D it raises an exception named ``MakeFailed``, as the worker does when
    the declaration's make fails, though make worked."""
    if x_batch.shape[-1] == BAD_D:
        raise type("MakeFailed", (Exception,), {})("make raised nothing of the sort")
    return batched(model, x_batch)
