"""The tolerance model: how far a correct ``x @ W + b`` may lie from the exact value.

For one output element ``y = sum_i x_i W_i + b`` (``n = D_in + 1`` terms, the bias
counted as ``1 * b``) computed in floating point with unit roundoff ``u`` in *any*
summation order, blocked or not, with or without FMA (Higham, *Accuracy and
Stability of Numerical Algorithms*, 2nd ed., eq. 3.5 and Lemma 3.1):

    |fl(y) - y| <= gamma_n * M,   gamma_n = n u / (1 - n u),   M = sum_i |x_i W_i| + |b|

If the platform rounds the matmul *inputs* to a shorter format first (TF32 on
NVIDIA GPUs, one bfloat16 pass on TPUs) with unit roundoff ``v``, each product
carries a further relative error of at most ``(1 + v)**2 - 1``, so

    bound = ((1 + v)**2 (1 + gamma_n) - 1) * M  +  S  +  (n + 1) * tiny

``S`` is the part of ``M`` that comes from inputs too small for a normal number of
their dtype (flush-to-zero may drop them whole) and ``(n + 1) * tiny`` covers
products and the result underflowing to zero (``tiny`` = smallest normal of the
compute dtype). The compute dtype is the output dtype. A computation in higher
precision rounded once at the end stays inside the bound (``u |y| <= gamma_n M``);
a matmul in float16 (``u = 2**-11``) or bfloat16 (``2**-8``) on CPU does not.
Two correct results differ by at most the sum of their bounds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

import jax
import ml_dtypes
import numpy as np

from conformance.base.failures import PropertyFailure

#: Unit roundoff ``u = 2**-p`` (p = significand bits incl. the implicit one), per dtype.
UNIT_ROUNDOFF: dict[str, float] = {
    "float64": 2.0**-53,
    "float32": 2.0**-24,
    "tensorfloat32": 2.0**-11,
    "float16": 2.0**-11,
    "bfloat16": 2.0**-8,
}

#: Smallest positive normal number, per dtype.
TINY: dict[str, float] = {
    "float64": float(np.finfo(np.float64).tiny),
    "float32": float(np.finfo(np.float32).tiny),
    "float16": float(np.finfo(np.float16).tiny),
    "bfloat16": float(ml_dtypes.finfo(ml_dtypes.bfloat16).tiny),
}

#: How the platform's *default* float32 matmul precision rounds the inputs:
#: None = not at all (full float32).
DEFAULT_FLOAT32_MATMUL_INPUTS: dict[str, str | None] = {
    "cpu": None,
    "gpu": "tensorfloat32",
    "cuda": "tensorfloat32",
    "rocm": "tensorfloat32",
    "tpu": "bfloat16",
}

#: ``jax_default_matmul_precision`` values (legacy names and dot-algorithm presets,
#: lower-cased), and how they round float32 matmul inputs. "default" defers to the
#: platform table above. Presets that also *accumulate* in a low precision
#: (``bf16_bf16_bf16``, ``f16_f16_f16``, ``any_f8_*``) are outside this model: the
#: bound then assumes bfloat16 inputs, the coarsest rounding it expresses, which
#: does not cover low-precision accumulation; run such settings with care.
MATMUL_PRECISION_INPUTS: dict[str, str | None] = {
    "highest": None,
    "float32": None,
    "f32_f32_f32": None,
    "f64_f64_f64": None,
    "bf16_bf16_f32_x6": None,
    "bf16_bf16_f32_x9": None,
    "tf32_tf32_f32_x3": None,
    "high": "tensorfloat32",  # bf16_3x or TF32: both within TF32's rounding
    "tensorfloat32": "tensorfloat32",
    "bfloat16_3x": "tensorfloat32",
    "bf16_bf16_f32_x3": "tensorfloat32",
    "tf32_tf32_f32": "tensorfloat32",
    "f16_f16_f32": "float16",
    "bfloat16": "bfloat16",
    "fastest": "bfloat16",
    "bf16_bf16_f32": "bfloat16",
}

#: The coarsest input rounding the model expresses: assumed for unknown settings.
WORST_INPUTS = "bfloat16"


def matmul_input_rounding(compute_dtype: str, backend: str | None = None) -> str | None:
    """The format the platform rounds float32 matmul inputs to, or None when it does not."""
    if compute_dtype != "float32":
        return None
    setting = jax.config.jax_default_matmul_precision
    if setting is not None:
        key = str(setting).lower().rsplit(".", 1)[-1]
        if key != "default":
            return MATMUL_PRECISION_INPUTS.get(key, WORST_INPUTS)
    backend = backend or jax.default_backend()
    return DEFAULT_FLOAT32_MATMUL_INPUTS.get(backend, WORST_INPUTS)


def gamma(n: int, u: float) -> float:
    if n * u >= 1:
        raise ValueError(f"gamma_{n} undefined for u={u}: the dot product is too long")
    return n * u / (1 - n * u)


#: The tolerance models ``--tolerance`` chooses from; the first is the default.
TOLERANCES = ("rigorous", "probabilistic")
#: lambda of the probabilistic model: each term's accumulated rounding stays within
#: ``gamma~_n(lambda)`` except with probability ``2 exp(-lambda**2 (1-u)**2 / 2)``, about
#: 3.9e-22 for lambda = 10 (docs/tolerance.md, "A probabilistic tolerance", derives the choice).
LAMBDA = 10.0


def probabilistic_gamma(n: int, u: float, lam: float = LAMBDA) -> float:
    """Higham and Mary's ``gamma~_n(lambda) = exp(lambda sqrt(n) u + n u**2 / (1 - u)) - 1``
    (about ``lambda sqrt(n) u``): the relative error of a product of ``n`` factors ``1 + delta``
    with independent mean-zero ``|delta| <= u``, exceeded with probability at most
    :func:`term_failure_probability`."""
    return float(np.expm1(lam * np.sqrt(n) * u + n * u * u / (1 - u)))


def term_failure_probability(u: float, lam: float = LAMBDA) -> float:
    """``1 - P(lambda) = 2 exp(-lambda**2 (1 - u)**2 / 2)``: the chance one term's accumulated
    rounding exceeds ``gamma~_n(lambda)`` under the probabilistic model (any ``n``)."""
    return float(2 * np.exp(-(lam**2) * (1 - u) ** 2 / 2))


def accumulation_gamma(n: int, u: float, model: str = "rigorous", lam: float = LAMBDA) -> float:
    """The relative error allowed for ``n`` accumulated roundings: ``gamma_n`` (rigorous), or the
    smaller of ``gamma_n`` and ``gamma~_n(lambda)`` (probabilistic: the rigorous bound always holds)."""
    if model == "rigorous":
        return gamma(n, u)
    if model != "probabilistic":
        raise ValueError(f"unknown tolerance {model!r}; known: {', '.join(TOLERANCES)}")
    rigorous = gamma(n, u) if n * u < 1 else float("inf")
    return min(rigorous, probabilistic_gamma(n, u, lam))


def relative_error(
    compute_dtype: str,
    n_terms: int,
    backend: str | None = None,
    model: str = "rigorous",
    input_rounding: bool = True,
) -> float:
    """``(1 + v)**2 (1 + gamma_n) - 1``: the relative error of an ``n_terms`` dot product in
    ``compute_dtype`` on ``backend``, ``v`` the platform's rounding of the matmul inputs
    (0 with ``input_rounding=False``) and ``gamma_n`` per ``model`` (see the module doc)."""
    u = UNIT_ROUNDOFF[compute_dtype]
    rounding = matmul_input_rounding(compute_dtype, backend) if input_rounding else None
    v = UNIT_ROUNDOFF[rounding] if rounding else 0.0
    return (1 + v) ** 2 * (1 + accumulation_gamma(n_terms, u, model)) - 1


def affine_bound(
    magnitude: np.ndarray,
    flushable: np.ndarray,
    n_terms: int,
    compute_dtype: str,
    backend: str | None = None,
    model: str = "rigorous",
) -> np.ndarray:
    """Elementwise bound for an affine map with ``n_terms`` terms per output (see module doc).

    ``magnitude`` is ``M = |x| @ |W| + |b|`` and ``flushable`` the part of it from
    subnormal inputs, both in float64. ``model`` "probabilistic" replaces ``gamma_n`` by
    :func:`accumulation_gamma`'s; the input rounding, flush-to-zero and underflow terms stay.
    """
    relative = relative_error(compute_dtype, n_terms, backend, model=model)
    # 4 ulps of float64 for computing M itself and the comparison.
    relative *= 1 + 4 * UNIT_ROUNDOFF["float64"]
    return relative * magnitude + flushable + (n_terms + 1) * TINY[compute_dtype]


# --------------------------------------------------------------------------- comparing against a bound


@dataclass(frozen=True)
class Closeness:
    """How an output compares with a value and an elementwise allowed error (:func:`compare`).

    ``ratio`` is ``|got - want| / allowed`` elementwise: 0 where both the error and the
    allowance are 0, ``inf`` where the error is positive and the allowance 0, or the
    error is NaN (NaN never passes). The output is within the bound when ``max_ratio <= 1``.
    """

    #: the largest elementwise error-to-allowed ratio (0.0 for an empty output)
    max_ratio: float
    #: the flat index of the largest ratio (the first of equal ones), None for an empty output
    worst: int | None
    #: the flat index of the first element outside the bound, None when every one is within it
    first_mismatch: int | None
    #: elements outside the bound
    mismatches: int
    #: elements compared
    size: int

    @property
    def within(self) -> bool:
        return self.mismatches == 0


def ratios(got: np.ndarray, want: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    """Elementwise ``|got - want| / allowed`` in float64 (see :class:`Closeness` for 0, inf, NaN)."""
    err = np.abs(np.asarray(got).astype(np.float64) - np.asarray(want, dtype=np.float64))
    allowed = np.broadcast_to(np.asarray(allowed, dtype=np.float64), err.shape)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = err / allowed
    out = np.where(err == 0, 0.0, out)  # 0/0: no error, nothing allowed
    return np.where(np.isnan(out), np.inf, out)


def compare(got: np.ndarray, want: np.ndarray, allowed: np.ndarray) -> Closeness:
    """Elementwise ``|got - want| <= allowed`` (NaN never passes), as data: nothing is raised.

    The pure comparison behind :func:`assert_close`: the largest error-to-allowed ratio and
    where it is, and the first element outside the bound.
    """
    err = np.abs(np.asarray(got).astype(np.float64) - np.asarray(want, dtype=np.float64))
    bad = ~(err <= allowed)
    size = int(err.size)
    if size == 0:
        return Closeness(0.0, None, None, 0, 0)
    r = ratios(got, want, allowed).reshape(-1)
    worst = int(np.argmax(r))
    flat_bad = bad.reshape(-1)
    n_bad = int(flat_bad.sum())
    first = int(np.argmax(flat_bad)) if n_bad else None
    return Closeness(float(r[worst]), worst, first, n_bad, size)


@dataclass
class Observation:
    """One comparison seen by a :class:`Probe`: its largest ratio, and where it was."""

    ratio: float
    index: int | None
    what: str
    location: str


class Probe:
    """Collects what :func:`assert_close` compares while it is the active probe (:func:`probing`).

    The runner opens one around each example of a property, so that the example's largest
    error-to-allowed ratio can be recorded (its *headroom*) without the properties knowing.
    """

    def __init__(self) -> None:
        #: the largest ratio to the allowed error, and where
        self.worst: Observation | None = None
        #: the largest ratio to the probabilistic model's allowance, where one was given
        self.typical: Observation | None = None
        self.comparisons = 0
        self.elements = 0

    def observe(
        self,
        closeness: Closeness,
        what: str,
        locate: Callable[[int], str] | None = None,
        typical: Closeness | None = None,
    ) -> None:
        self.comparisons += 1
        self.elements += closeness.size
        self.worst = _larger(self.worst, closeness, what, locate)
        if typical is not None:
            self.typical = _larger(self.typical, typical, what, locate)


def _larger(
    known: Observation | None, closeness: Closeness, what: str, locate: Callable[[int], str] | None
) -> Observation | None:
    if closeness.worst is None or (known is not None and closeness.max_ratio <= known.ratio):
        return known
    where = f"index {closeness.worst}"
    if locate is not None:
        where += f" ({locate(closeness.worst)})"
    return Observation(closeness.max_ratio, closeness.worst, what, where)


_PROBE: ContextVar[Probe | None] = ContextVar("conformance_tolerance_probe", default=None)


@contextmanager
def probing() -> Iterator[Probe]:
    """Make a new :class:`Probe` the active one (in this thread) for the ``with`` block."""
    probe = Probe()
    token = _PROBE.set(probe)
    try:
        yield probe
    finally:
        _PROBE.reset(token)


def observe(
    closeness: Closeness,
    what: str,
    locate: Callable[[int], str] | None = None,
    typical: Closeness | None = None,
) -> None:
    """Tell the active :class:`Probe`, if any, about a comparison made without :func:`assert_close`."""
    probe = _PROBE.get()
    if probe is not None:
        probe.observe(closeness, what, locate, typical)


def assert_close(
    got: np.ndarray,
    want: np.ndarray,
    allowed: np.ndarray,
    what: str,
    locate: Callable[[int], str] | None = None,
    record: bool = True,
    typical: np.ndarray | None = None,
) -> Closeness:
    """Elementwise ``|got - want| <= allowed`` (NaN never passes), with the first mismatch reported.

    Raises :class:`~conformance.base.failures.PropertyFailure` (details: ``index``, ``got``,
    ``expected``, ``allowed``, ``mismatches``); returns the :class:`Closeness` otherwise.
    ``record``: tell the active :class:`Probe` (pass False for a comparison that is not
    about the implementation under test, such as vetting a reference). ``typical``: the
    allowance under the probabilistic model (never above ``allowed``), for the probe only:
    a pass beyond it is within the bound but past what correct arithmetic plausibly reaches.
    """
    closeness = compare(got, want, allowed)
    if record and _PROBE.get() is not None:
        observe(closeness, what, locate, None if typical is None else compare(got, want, typical))
    if closeness.within:
        return closeness
    i = closeness.first_mismatch
    assert i is not None
    got_i, want_i = float(np.asarray(got).reshape(-1)[i]), float(np.asarray(want).reshape(-1)[i])
    allowed_i = float(np.broadcast_to(allowed, np.shape(got)).reshape(-1)[i])
    err_i = abs(float(np.float64(got_i) - np.float64(want_i)))
    where = f"index {i}" + (f" ({locate(i)})" if locate else "")
    ratio = err_i / allowed_i if allowed_i > 0 else float("inf")
    raise PropertyFailure(
        f"{what}: {closeness.mismatches} of {closeness.size} elements differ by more than allowed; first at "
        f"{where}: got {got_i!r}, expected {want_i!r} +- {allowed_i:.3g} "
        f"(error {err_i:.3g} = {ratio:.3g} x allowed)",
        index=i,
        got=got_i,
        expected=want_i,
        allowed=allowed_i,
        mismatches=closeness.mismatches,
    )
