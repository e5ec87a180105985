"""Ends its process while being imported."""

import os

os._exit(7)


def vmap_over_batch(seed, x_batch, features):  # noqa: ANN001, ANN201 - never reached
    raise AssertionError
