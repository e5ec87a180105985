"""How an output compares with the goldens: fingerprints, the bound, and why numbers moved.

An output of a golden case *matches* a group when every element lies within the golden
bound of the group's float64 oracle value, widened by :func:`tolerance_scale` (a few ulps
of parameter drift between jax lines, and the platform's matmul precision off CPU).
Bitwise identity with the reference built-in's recorded output (:func:`fingerprint`) is
information only. When the output matches another group instead, the verdict names the
nearest one and the known cause (:data:`~conformance.cases.golden.groups.CAUSES`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jax
import numpy as np

from conformance.cases.golden import files, groups
from conformance.cases.golden.files import GoldenError, GoldenFile, golden_args, golden_subject, load_goldens
from conformance.cases.golden.groups import (
    BACKEND_DEFINED,
    DEFAULT_PRNG_IMPL,
    GROUPS,
    GROUPS_BY_NAME,
    PRNG_IMPLS,
    Group,
    cause_keys,
    cause_texts,
    distance,
)
from conformance.numerics.tolerance import UNIT_ROUNDOFF, Closeness, observe, relative_error
from conformance.numerics.tolerance import compare as compare_close
from conformance.subjects import get_subject

# --------------------------------------------------------------------------- fingerprints


def fingerprint(output: np.ndarray) -> str:
    """sha256 of the output's dtype, shape and little-endian bytes."""
    a = np.asarray(output)
    if a.dtype.byteorder == ">":
        a = a.astype(a.dtype.newbyteorder("<"))
    head = f"{a.dtype.name}{list(a.shape)}:".encode()
    return hashlib.sha256(head + np.ascontiguousarray(a).tobytes()).hexdigest()


def as_float64(output: Any) -> np.ndarray:
    """An output's values as float64 (every float dtype the suite meets converts exactly)."""
    return np.asarray(output).astype(np.float64)


def platform_scale(compute_dtype: str, n_terms: int, backend: str | None = None) -> float:
    """How much wider the bound is on this platform than on CPU (where goldens are made).

    1.0 on CPU; larger where the default matmul precision rounds float32 inputs
    (TF32 on GPUs, bfloat16 on TPUs) or ``jax_default_matmul_precision`` says so: the
    tolerance model's relative error here over the same without input rounding.
    ``backend`` defaults to jax's default backend.
    """
    if compute_dtype not in UNIT_ROUNDOFF:
        return 1.0
    here = relative_error(compute_dtype, n_terms, backend)
    return max(1.0, here / relative_error(compute_dtype, n_terms, backend, input_rounding=False))


#: Within one group, rare elements of the initial parameters differ by 1-2 ulps between jax
#: lines (the flag flip itself is bit for bit within one jax). The golden criterion allows
#: this many ulps of every parameter.
PARAM_ULPS = 4


def tolerance_scale(compute_dtype: str, n_terms: int, backend: str | None = None) -> float:
    """The factor on a golden bound: :func:`platform_scale` plus :data:`PARAM_ULPS` of the parameters.

    A float32 parameter moved by ``k`` ulps moves an output by at most ``2 k u32 M``
    (``M = sum |x_i W_i| + |b|``), and every bound is at least ``gamma_n M >= n u M``
    with ``u`` the compute dtype's unit roundoff, so ``2 k u32 / (n u)`` times the bound
    covers it.
    """
    u = UNIT_ROUNDOFF.get(compute_dtype, UNIT_ROUNDOFF["float32"])
    drift = 2 * PARAM_ULPS * UNIT_ROUNDOFF["float32"] / (n_terms * u)
    return platform_scale(compute_dtype, n_terms, backend) + drift


# --------------------------------------------------------------------------- comparing


@dataclass(frozen=True)
class GoldenVerdict:
    """How an output compares with the goldens of one case."""

    subject: str
    case_id: str
    #: the group the output was compared against (the running process's, unless given)
    group: str
    #: within the bound of the golden oracle values of ``group``: the pass criterion
    matched: bool
    #: bitwise identical to the golden reference built-in's output in ``group`` (information only)
    bitwise: bool
    #: when not matched: the nearest other group whose goldens the output does match, if any
    matched_group: str | None
    #: every group whose goldens the output matches (``group`` included when matched)
    groups_within: tuple[str, ...]
    #: the known causes separating ``group`` from ``matched_group`` (keys of
    #: :data:`~conformance.cases.golden.groups.CAUSES`)
    causes: tuple[str, ...]
    explanation: str
    #: where the output is worst against ``group``: index, location, got, expected, allowed
    details: dict[str, Any] = field(default_factory=dict)
    #: False when no goldens apply to this process (see :data:`BACKEND_DEFINED`): a mismatch
    #: then says nothing about the implementation
    comparable: bool = True

    def __str__(self) -> str:
        return self.explanation


def _within(
    out: np.ndarray, entry: dict[str, Any], scale: float
) -> tuple[bool, dict[str, Any], Closeness | None]:
    """``out`` against a golden entry's oracle value and bound (times ``scale``), by the suite's
    one comparison (:func:`conformance.numerics.tolerance.compare`, as ``assert_close`` does)."""
    value = np.asarray(entry["value"], dtype=np.float64)
    allowed = np.asarray(entry["bound"], dtype=np.float64) * scale
    if out.shape != value.shape:
        return False, {"shape": list(out.shape), "expected_shape": list(value.shape)}, None
    closeness = compare_close(out, value, allowed)
    if closeness.size == 0:
        return True, {}, closeness
    i = closeness.worst if closeness.within else closeness.first_mismatch
    assert i is not None
    details = {
        "index": i,
        "got": float(out[i]),
        "expected": float(value[i]),
        "allowed": float(allowed[i]),
        "mismatches": closeness.mismatches,
        "ratio": closeness.max_ratio,
    }
    return closeness.within, details, closeness


def not_applicable(group: Group, goldens: GoldenFile, backend: str) -> str:
    """Why the goldens of ``group`` need not hold in this process (on ``backend``), or '' when they must.

    Only goldens of a :data:`BACKEND_DEFINED` PRNG implementation, off CPU or on another
    jax or jaxlib than the one that recorded them.
    """
    if group.prng_impl not in BACKEND_DEFINED:
        return ""
    made = goldens.raw.get("generated_with", {})
    now = files.golden_versions()
    moved = [f"{name} {now[name]} (recorded with {made.get(name)})" for name in ("jax", "jaxlib")]
    moved = [m for m, name in zip(moved, ("jax", "jaxlib"), strict=True) if made.get(name) != now[name]]
    if backend == "cpu" and not moved:
        return ""
    here = ", ".join([f"on {backend}" if backend != "cpu" else "on CPU", *moved])
    return (
        f"with the PRNG implementation {group.prng_impl} the random bits come from XLA's RngBitGenerator, "
        "whose algorithm XLA defines per backend and does not promise across versions; these goldens were "
        f"recorded on CPU with jax {made.get('jax')}, this process runs {here}, so the same seed may draw "
        "other parameters here. To compare with goldens, run with JAX_DEFAULT_PRNG_IMPL=threefry2x32"
        + (" or on CPU (JAX_PLATFORMS=cpu)" if backend != "cpu" else "")
    )


def compare(
    subject: str,
    case_id: str,
    output: np.ndarray,
    group: str | None = None,
    directory: Path | None = None,
    backend: str | None = None,
) -> GoldenVerdict:
    """Compare ``output`` (flat) of golden case ``case_id`` with the goldens of ``group``.

    ``group`` defaults to :func:`~conformance.cases.golden.groups.current_group`, ``backend``
    (the platform the output was computed on) to jax's default backend. The output *matches*
    when every element lies within the golden bound (times :func:`tolerance_scale`: a few ulps
    of parameter drift between jax lines, and the platform's matmul precision off CPU) of the
    golden oracle value; ``bitwise`` says whether it is byte for byte the reference built-in's
    golden output. When it does not match, every other group is tried and the explanation
    names the nearest one that matches and the known cause. When none matches and the
    goldens of ``group`` need not hold here (:func:`not_applicable`), the verdict is not
    ``comparable`` and the explanation says why instead of blaming the implementation.
    """
    spec = golden_subject(subject)
    args = golden_args(subject, case_id)
    goldens = load_goldens(subject, directory)
    backend = backend or jax.default_backend()
    if group is None and groups.prng_impl() not in PRNG_IMPLS:
        explanation = (
            f"no goldens are recorded for the PRNG implementation {groups.prng_impl()} (only for "
            f"{', '.join(PRNG_IMPLS)}), so there is nothing to compare with; to compare with goldens, run "
            f"with JAX_DEFAULT_PRNG_IMPL={DEFAULT_PRNG_IMPL}"
        )
        return GoldenVerdict(
            subject, case_id, groups.current_group(), False, False, None, (), (), explanation, {}, False
        )
    group = group or groups.current_group()
    if group not in GROUPS_BY_NAME:
        raise GoldenError(f"unknown group {group!r}; known: {', '.join(GROUPS_BY_NAME)}")
    here = GROUPS_BY_NAME[group]
    n_terms = spec.n_terms(args)
    raw = np.asarray(output)
    out = as_float64(raw)
    within: dict[str, tuple[bool, dict[str, Any], Closeness | None]] = {}
    for g in GROUPS:
        entry = goldens.groups[g.name][case_id]
        within[g.name] = _within(out, entry, tolerance_scale(entry["dtype"], n_terms, backend))
    entry = goldens.groups[group][case_id]
    matched, details, closeness = within[group]
    if closeness is not None:  # the error headroom of the golden property (conformance.numerics.headroom)
        observe(closeness, f"golden of group {group}")
    bitwise = fingerprint(raw) == entry["sha256"]
    groups_within = tuple(g.name for g in GROUPS if within[g.name][0])
    if "index" in details:
        try:
            details["location"] = get_subject(subject).locate(details["index"], args)
        except Exception:  # a location is a nicety; the verdict stands without it
            pass
    ref = goldens.reference
    if matched:
        how = (
            f"bitwise identical to the golden reference {ref}"
            if bitwise
            else f"not bitwise identical to the golden reference {ref} (only the bound counts)"
        )
        explanation = f"matches the golden of group {group} (within the bound of its oracle values); {how}"
        return GoldenVerdict(
            subject, case_id, group, True, bitwise, None, groups_within, (), explanation, details
        )
    if "expected_shape" in details:
        worst = f"returned shape {tuple(details['shape'])}, the golden has {tuple(details['expected_shape'])}"
    else:
        where = f" ({details['location']})" if "location" in details else ""
        worst = (
            f"{details['mismatches']} of {out.size} elements outside the bound; first at index "
            f"{details['index']}{where}: got {details['got']!r}, expected {details['expected']!r} "
            f"+- {details['allowed']:.3g}"
        )
    others = sorted(
        (g for g in GROUPS if g.name != group and within[g.name][0]), key=lambda g: distance(here, g)
    )
    if others:
        other = others[0]
        same_bits = fingerprint(raw) == goldens.groups[other.name][case_id]["sha256"]
        explanation = (
            f"matches the golden of group {other.name} instead of {group} ({other.name} is the default "
            f"on {other.default_on}): the numbers moved because "
            + "; and because ".join(cause_texts(here, other))
            + (f". Bitwise identical to {ref}'s golden output of {other.name}" if same_bits else "")
            + f". Against {group}: {worst}"
        )
        return GoldenVerdict(
            subject,
            case_id,
            group,
            False,
            bitwise,
            other.name,
            groups_within,
            cause_keys(here, other),
            explanation,
            details,
        )
    why_not = not_applicable(here, goldens, backend)
    if why_not:
        explanation = (
            f"does not match the goldens of group {group}, and they need not hold here: {why_not}. This says "
            f"nothing about the implementation. Against {group}: {worst}"
        )
        return GoldenVerdict(
            subject, case_id, group, False, bitwise, None, groups_within, (), explanation, details, False
        )
    explanation = (
        f"matches the golden of no group: against {group}, {worst}. None of the known causes (the PRNG "
        "implementation, jax_threefry_partitionable, jax_enable_x64) explains it: the output matches the "
        "goldens of no other setting either. Either the implementation computes something else, or the "
        "parameters Flax draws for a seed changed in a way the suite does not know yet (e.g. a Flax release "
        "changed nnx.Linear's initialisers). If you know it is the latter, you can accept it for your "
        "versions: list the implementation, the property golden, your version range and the reason in an "
        "expectations file (--expect FILE; pytest: --conformance-expect)"
    )
    return GoldenVerdict(
        subject, case_id, group, False, bitwise, None, groups_within, (), explanation, details
    )
