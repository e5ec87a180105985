"""A per-sample subject, declared by the user: ``conformance.per_sample(make=..., call=..., sample=...)``.

The declaration holds user code (``make`` and ``call``), so it is only ever *used* in a worker
(:mod:`conformance.boundary.per_sample`); the runner sees its :meth:`PerSample.describe`, plain
data. Importing this module imports nothing heavy, so ``import conformance`` stays cheap.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

#: What a batch does with random draws (as ``torch.func.vmap(randomness=...)``): each sample its
#: own draws, or every sample the same ones.
RANDOMNESS = ("different", "same")

#: The references every per-sample subject gets for free, in report order (the first is the
#: canonical one): the per-sample Python loop, the ``nnx.vmap(in_axes=(None, 0))`` lift, the
#: manual ``nnx.split``/``jax.vmap``/``nnx.merge`` lift.
FREE_REFERENCES = ("loop", "nnx_vmap", "manual_lift")

#: Input dtypes a per-sample subject accepts unless it says otherwise (float64 only under x64).
DEFAULT_DTYPES = ("float32", "bfloat16", "float16")

#: Names a static argument may not take: the arguments every call of the subject already has.
RESERVED = ("seed", "x_batch", "model", "dims", "request")

#: The values a static argument may take: plain data, which a case, its JSON and its replay carry.
STATIC_TYPES = (bool, int, float, str, type(None))


class DeclarationError(ValueError):
    """A per-sample declaration that cannot work, said in one line with how to fix it."""


#: The largest size a dimension is drawn at in the main search when its declaration gives no
#: ``max``: every new shape costs a compilation, so the search keeps to small ones, and only the
#: tile edges go larger.
SEARCH_MAX = 16


@dataclass(frozen=True)
class Dim:
    """The sizes a named dimension of one sample may take: from ``min``, up to ``max`` (None: no
    limit), a multiple of ``multiple_of``."""

    min: int = 1
    max: int | None = None
    multiple_of: int = 1

    def sizes(self) -> tuple[int, ...]:
        """The sizes the main search draws from: up to ``max``, or :data:`SEARCH_MAX` with none."""
        start = -(-self.min // self.multiple_of) * self.multiple_of
        top = self.max if self.max is not None else max(SEARCH_MAX, start)
        return tuple(range(start, top + 1, self.multiple_of))

    def around(self, tile: int) -> tuple[int, ...]:
        """The sizes this dimension allows just below and just above ``tile``: the nearest
        multiples of ``multiple_of`` on either side, within ``min..max``."""
        m = self.multiple_of
        near = ((tile - 1) // m * m, (tile // m + 1) * m)
        return tuple(n for n in near if n >= self.min and (self.max is None or n <= self.max))

    def to_json(self) -> dict[str, int | None]:
        return {"min": self.min, "max": self.max, "multiple_of": self.multiple_of}


def dim(min: int = 1, max: int | None = None, multiple_of: int = 1) -> Dim:  # noqa: A002  (the words users write)
    """The sizes a dimension of one sample may take, e.g. ``dim(min=2)``, ``dim(max=64)`` or
    ``dim(multiple_of=2)``; with no ``max``, the search draws up to 16 and the tile edges past 1024."""
    for what, value in (("min", min), ("max", max), ("multiple_of", multiple_of)):
        if (value is not None or what != "max") and (not isinstance(value, int) or isinstance(value, bool)):
            raise DeclarationError(f"dim({what}={value!r}): {what} must be an int")
    if min < 1 or multiple_of < 1:
        raise DeclarationError(f"dim(min={min}, multiple_of={multiple_of}): both must be at least 1")
    made = Dim(min, max, multiple_of)
    if not made.sizes():
        raise DeclarationError(f"dim(min={min}, max={max}, multiple_of={multiple_of}) allows no size")
    return made


@dataclass(frozen=True)
class Tolerance:
    """How far from the float64 oracle a batched output may be: ``factor`` times as far as the
    float32 per-sample reference is (measured over the batch, relative to each sample's scale),
    and never less than ``floor`` units of the output dtype's rounding error."""

    factor: float = 32.0
    floor: float = 8.0

    def to_json(self) -> dict[str, float]:
        return {"factor": self.factor, "floor": self.floor}


def tolerance(factor: float = 32.0, floor: float = 8.0) -> Tolerance:
    """A per-subject tolerance: tighten it (smaller numbers) or loosen it (larger)."""
    for what, value in (("factor", factor), ("floor", floor)):
        if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
            raise DeclarationError(f"tolerance({what}={value!r}): a finite number is needed")
    if factor < 1 or floor < 0:
        raise DeclarationError(
            f"tolerance(factor={factor}, floor={floor}): factor must be at least 1 (no batched "
            "output can be asked to beat the reference it is checked against) and floor at least 0"
        )
    return Tolerance(float(factor), float(floor))


@dataclass(frozen=True)
class PerSample:
    """A module written for ONE sample, and how to build and call it; see :func:`per_sample`."""

    make: Callable[..., Any]
    call: Callable[[Any, Any], Any]
    sample: tuple[str, ...]
    dims: Mapping[str, Dim] = field(default_factory=dict)
    dtypes: tuple[str, ...] = DEFAULT_DTYPES
    randomness: str | None = None
    tolerance: Tolerance = Tolerance()
    summary: str = ""
    static: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)
    oracle: Callable[[Any, Any], Any] | None = None

    def dims_of(self, shape: tuple[int, ...]) -> dict[str, int]:
        """The named sizes of one sample of ``shape``."""
        return dict(zip(self.sample, (int(n) for n in shape), strict=True))

    def static_of(self, values: tuple[Any, ...]) -> dict[str, Any]:
        """The static arguments by name, from their values in declaration order."""
        return dict(zip(self.static, values, strict=True))

    def describe(self) -> dict[str, Any]:
        """The declaration as plain data: what the runner may know of it."""
        return {
            "sample": list(self.sample),
            "dims": {n: self.dims.get(n, Dim()).to_json() for n in self.sample},
            "dtypes": list(self.dtypes),
            "randomness": self.randomness,
            "tolerance": self.tolerance.to_json(),
            "summary": self.summary,
            "static": {n: list(v) for n, v in self.static.items()},
            "own_oracle": self.oracle is not None,
        }


def per_sample(
    make: Callable[..., Any],
    call: Callable[[Any, Any], Any],
    sample: tuple[str, ...] | list[str],
    *,
    dims: Mapping[str, Dim] | None = None,
    dtypes: tuple[str, ...] | list[str] | None = None,
    randomness: str | None = None,
    tolerance: Tolerance | None = None,
    static: Mapping[str, tuple[Any, ...] | list[Any]] | None = None,
    oracle: Callable[[Any, Any], Any] | None = None,
    summary: str = "",
) -> PerSample:
    """Declare a subject from per-sample code.

    ``make(seed, dims)`` builds the module for samples whose named sizes are ``dims`` (a dict,
    e.g. ``{"L": 7, "C": 3}``); ``call(model, x)`` runs it on ONE sample ``x`` of shape
    ``sample`` (the names of its dimensions, e.g. ``("L", "C")``). ``dims`` narrows a
    dimension's sizes (:func:`dim`); ``dtypes`` the input dtypes; ``randomness`` says what a
    batch does with the module's random draws, ``"different"`` or ``"same"`` (None: it draws
    none); ``tolerance`` (:func:`tolerance`) tightens or loosens the comparison with the oracle.
    ``static`` names other arguments of ``make`` and the values each may take (e.g.
    ``{"heads": (1, 2, 4)}``): every example draws one, and ``make`` receives it by keyword,
    ``make(seed, dims, heads=2)``. ``oracle(model, x)``, for a call that cannot compute in
    float64 (a hard-coded cast, a host callback), computes one sample's output in float64 in its
    place. A batched implementation of the subject takes ``(model, x_batch)`` or
    ``(seed, x_batch, **static)`` and returns the per-sample outputs stacked on axis 0.
    """
    if not callable(make) or not callable(call) or (oracle is not None and not callable(oracle)):
        raise DeclarationError(
            "per_sample: make, call and oracle must be callables: make(seed, dims), call(model, x), "
            "oracle(model, x)"
        )
    if isinstance(sample, str) or not isinstance(sample, tuple | list) or not sample:
        raise DeclarationError(
            f"per_sample: sample must name one sample's dimensions, e.g. ('L', 'C'); got {sample!r}"
        )
    names = tuple(sample)
    if not all(isinstance(n, str) and n.isidentifier() for n in names) or len(set(names)) != len(names):
        raise DeclarationError(f"per_sample: sample must be distinct identifiers, got {names!r}")
    dims = dict(dims or {})
    unknown = [n for n in dims if n not in names]
    if unknown:
        raise DeclarationError(f"per_sample: dims names {unknown}, which sample {names!r} does not have")
    for n, d in dims.items():
        if not isinstance(d, Dim):
            raise DeclarationError(f"per_sample: dims[{n!r}] must be conformance.dim(...), got {d!r}")
    chosen = tuple(dtypes) if dtypes is not None else DEFAULT_DTYPES
    allowed = DEFAULT_DTYPES + ("float64",)
    if not chosen or any(d not in allowed for d in chosen):
        raise DeclarationError(f"per_sample: dtypes must be among {', '.join(allowed)}; got {chosen!r}")
    if randomness is not None and randomness not in RANDOMNESS:
        raise DeclarationError(
            f"per_sample: randomness must be None, 'different' or 'same'; got {randomness!r}"
        )
    if tolerance is not None and not isinstance(tolerance, Tolerance):
        raise DeclarationError("per_sample: tolerance must be conformance.tolerance(factor=..., floor=...)")
    statics = _static(static or {}, names, make)
    return PerSample(
        make, call, names, dims, chosen, randomness, tolerance or Tolerance(), summary, statics, oracle
    )


def _static(
    static: Mapping[str, tuple[Any, ...] | list[Any]], names: tuple[str, ...], make: Callable[..., Any]
) -> dict[str, tuple[Any, ...]]:
    """The declared static arguments, checked: identifiers clashing with nothing, each with a
    non-empty tuple of plain values, all of them accepted by ``make`` as keywords."""
    if not isinstance(static, Mapping):
        raise DeclarationError(f"per_sample: static must be a dict of name -> values, got {static!r}")
    out: dict[str, tuple[Any, ...]] = {}
    for name, values in static.items():
        if not isinstance(name, str) or not name.isidentifier() or name in RESERVED or name in names:
            raise DeclarationError(
                f"per_sample: static argument {name!r} must be an identifier other than the sample's "
                f"dimensions and {', '.join(RESERVED)}"
            )
        if isinstance(values, str) or not isinstance(values, tuple | list) or not values:
            raise DeclarationError(
                f"per_sample: static[{name!r}] must be the values it may take, e.g. (1, 2, 4); got {values!r}"
            )
        odd = [v for v in values if not isinstance(v, STATIC_TYPES)]
        if odd or len(set(map(repr, values))) != len(values):
            raise DeclarationError(
                f"per_sample: static[{name!r}] must be distinct bools, ints, floats, strings or None; "
                f"got {odd[0] if odd else values!r}"
            )
        out[name] = tuple(values)
    if out and not accepts(make, 0, {}, **{n: v[0] for n, v in out.items()}):
        raise DeclarationError(
            f"per_sample: make must take the static arguments by keyword: make(seed, dims, {', '.join(out)})"
        )
    return out


def accepts(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> bool:
    """Whether ``fn`` can be called with these arguments, by its signature; True where it has no
    signature to read (its calls will tell)."""
    try:
        inspect.signature(fn).bind(*args, **kwargs)
    except TypeError:
        return False
    except ValueError:
        return True
    return True
