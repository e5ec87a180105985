"""The oracle's parameters are the bits Flax draws for ``nnx.Linear(d_in, features, rngs=nnx.Rngs(seed))``,
for every seed the subjects accept (int64, negative, beyond 2**32)."""

from __future__ import annotations

import numpy as np
import pytest
from flax import nnx

from conformance.numerics.oracle import ensemble_params, linear_params

SEEDS = (0, 1, -1, 2**31 - 1, 2**32 + 7, -(2**40), 2**63 - 1)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize(("d_in", "features"), [(1, 1), (3, 65), (129, 2)])
def test_linear_params_are_the_eager_draw(seed: int, d_in: int, features: int) -> None:
    layer = nnx.Linear(d_in, features, rngs=nnx.Rngs(seed))
    kernel, bias = linear_params(seed, d_in, features)
    assert kernel.tobytes() == np.asarray(layer.kernel[...]).tobytes()
    assert bias.tobytes() == np.asarray(layer.bias[...]).tobytes()
    assert not kernel.flags.writeable and not bias.flags.writeable


@pytest.mark.parametrize("seed", SEEDS[:4])
def test_ensemble_params_are_the_eager_draw(seed: int) -> None:
    @nnx.split_rngs(splits=3)
    @nnx.vmap(in_axes=(0,), out_axes=0)
    def members(rngs: nnx.Rngs) -> nnx.Linear:
        return nnx.Linear(4, 5, rngs=rngs)

    stack = members(nnx.Rngs(seed))
    kernels, biases = ensemble_params(seed, 4, 5, 3)
    assert kernels.shape == (3, 4, 5) and biases.shape == (3, 5)
    assert kernels.tobytes() == np.asarray(stack.kernel[...]).tobytes()
    assert biases.tobytes() == np.asarray(stack.bias[...]).tobytes()


def test_other_seeds_draw_other_parameters() -> None:
    assert linear_params(0, 3, 4)[0].tobytes() != linear_params(1, 3, 4)[0].tobytes()
