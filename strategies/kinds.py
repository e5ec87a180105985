"""Array kinds: the same values handed over as a jax array or as numpy arrays of several layouts.

A :class:`KindedArray` holds canonical C-ordered numpy values plus the *kind* to
hand them over as; :meth:`KindedArray.materialize` builds a fresh object of that
kind for each call, so one call cannot see what another did to its input.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: In shrinking order: the first is the simplest.
ARRAY_KINDS = ("numpy", "jax", "numpy_readonly", "numpy_fortran", "numpy_noncontiguous")


@dataclass(frozen=True, eq=False)
class KindedArray:
    """Canonical values plus the kind of array to hand them over as."""

    values: np.ndarray
    kind: str = "numpy"
    #: How the values were made (``ordinary``, ``zeros``, ...): shown in reports only.
    label: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if self.kind not in ARRAY_KINDS:
            raise ValueError(f"unknown array kind {self.kind!r}; known: {', '.join(ARRAY_KINDS)}")

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.values.shape)

    @property
    def dtype(self) -> np.dtype:
        return self.values.dtype

    def with_values(self, values: np.ndarray) -> KindedArray:
        return KindedArray(np.ascontiguousarray(values), self.kind, self.label)

    def materialize(self) -> object:
        """A new array of this kind holding these values."""
        return materialize(self.values, self.kind)

    def describe(self) -> str:
        label = f", {self.label}" if self.label else ""
        return f"{self.dtype.name}{list(self.shape)} ({self.kind}{label})"

    def __repr__(self) -> str:
        return f"KindedArray({self.describe()})"


def materialize(values: np.ndarray, kind: str) -> object:
    """Build a fresh array of ``kind`` holding ``values``."""
    if kind == "numpy":
        return np.array(values, copy=True, order="C")
    if kind == "numpy_readonly":
        out = np.array(values, copy=True, order="C")
        out.flags.writeable = False
        return out
    if kind == "numpy_fortran":
        return np.asfortranarray(values.copy())
    if kind == "numpy_noncontiguous":
        if values.ndim == 0:
            return values.copy()
        shape = values.shape[:-1] + (2 * values.shape[-1],)
        base = np.full(shape, 7, dtype=values.dtype)  # filler a wrong stride would pick up
        view = base[..., ::2]
        view[...] = values
        return view
    if kind == "jax":
        import jax

        # A fresh buffer: some jax versions alias a numpy array's memory on CPU
        # (jax 0.4.31 did), and two calls must never share one input. device_put, not
        # jnp.array: the same array, without a compiled program per shape (lax.stage).
        return jax.device_put(np.array(values, copy=True))
    raise ValueError(f"unknown array kind {kind!r}; known: {', '.join(ARRAY_KINDS)}")
