"""Golden fingerprints: checked-in reference numbers per JAX line group, and why numbers move.

The same call gives different numbers on different JAX lines and settings. On the
supported range (jax 0.4.31 .. 0.10.2) three settings decide which numbers
``nnx.Linear(..., rngs=nnx.Rngs(seed))`` draws:

* the PRNG implementation, ``jax_default_prng_impl`` (env ``JAX_DEFAULT_PRNG_IMPL``):
  ``threefry2x32`` (the default on every line), ``rbg`` or ``unsafe_rbg`` (common on TPUs).
  Each draws other parameters for the same seed. ``rbg`` and ``unsafe_rbg`` take their
  bits from XLA's RngBitGenerator, whose algorithm XLA defines per backend and does not
  promise across compiler versions: their goldens are recorded on CPU (see
  :data:`BACKEND_DEFINED`; measured deterministic there, run to run).
* ``jax_threefry_partitionable``: False by default before jax 0.5.0, True since. The same
  seed then draws other initial parameters (with ``threefry2x32``; with ``rbg`` too, whose
  key split is threefry's, so ensembles move; ``unsafe_rbg`` ignores the flag).
  ``JAX_THREEFRY_PARTITIONABLE=0`` (or ``1``) set before importing jax reproduces either
  side (bit for bit within one jax; between jax lines a few parameters differ by 1-2
  ulps, see :data:`PARAM_ULPS`).
* ``jax_enable_x64``: without it ``nnx.Rngs`` reduces a seed modulo 2**32 (``Rngs(2**32 + 7)
  == Rngs(7)``, ``Rngs(-1) == Rngs(2**32 - 1)``); with it the whole int64 seed counts, so
  seeds outside ``[0, 2**32)`` draw other parameters.

A *group* is one combination of the three: ``threefry_partitionable/x32``,
``threefry_partitionable/x64``, ``threefry_legacy/x32``, ``threefry_legacy/x64``, the same
four with ``rbg`` in place of ``threefry`` (``rbg_legacy/x32`` ...), and ``unsafe_rbg/x32``,
``unsafe_rbg/x64``.

For a fixed list of cases per subject (:data:`GOLDEN_SUBJECTS`), the golden file
``conformance/data/goldens/<subject>.json`` holds, per group and case: the float64
oracle value and its elementwise bound (the pass criterion: any summation order is
fine), plus the sha256 and the leading values of the subject's reference built-in's
output (information only: bitwise identity depends on the jax line and the machine's
kernels; measured, jax 0.4.31-0.7.2 reproduce half of the golden hashes, 0.8.3-0.10.2 all).

Public API::

    current_group() -> str     (the group to compare with here; process_group(): the one this process draws)
    case_ids(subject) -> list[str]
    golden_args(subject, case_id) -> dict          # the args dict the suite uses (KindedArray x_batch)
    compare(subject, case_id, output, group=None) -> GoldenVerdict
        # .matched (the pass criterion), .comparable (False: no goldens apply here, see
        # BACKEND_DEFINED), .bitwise (information), .matched_group, .causes,
        # .explanation (the text for a report), .details (index, location, got, expected, allowed)
    has_goldens(subject) -> bool
    GOLDEN_SUBJECTS: dict[str, GoldenSubject]       # the case table: one entry per subject

Maintainers regenerate the files with the tool :mod:`conformance.tools.goldens` (every group
in a fresh subprocess; it prints the diff, or only checks)::

    python -m conformance.tools.goldens --regenerate [--subject NAME]
    python -m conformance.tools.goldens --check [--subject NAME]     # exit 1 if anything would change
"""

from __future__ import annotations

import functools
import hashlib
import json
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jax
import numpy as np

from conformance.base.environment import versions
from conformance.cases import codec
from conformance.numerics.tolerance import UNIT_ROUNDOFF, Closeness, observe, relative_error
from conformance.numerics.tolerance import compare as compare_close
from conformance.subjects import get_subject
from strategies.arrays import np_dtype
from strategies.kinds import KindedArray

Args = dict[str, Any]

SCHEMA = "nnx-conformance/golden/1"
#: Where the checked-in golden files live.
GOLDEN_DIR = Path(__file__).resolve().parents[1] / "data" / "goldens"
#: How many leading values of the reference output a golden keeps for people to read.
LEADING = 4


class GoldenError(Exception):
    """A golden file is missing, corrupt, stale, or does not know the case asked for."""


# --------------------------------------------------------------------------- groups and causes

#: The PRNG implementation jax uses unless ``jax_default_prng_impl`` says otherwise (every line).
DEFAULT_PRNG_IMPL = "threefry2x32"
#: The PRNG implementations with goldens, and whether ``jax_threefry_partitionable`` changes
#: their numbers: ``rbg`` splits keys with threefry's split (an ensemble's members move with
#: the flag), ``unsafe_rbg`` with RngBitGenerator itself (measured: the flag moves nothing).
PRNG_IMPLS: dict[str, bool] = {"threefry2x32": True, "rbg": True, "unsafe_rbg": False}
#: PRNG implementations whose bits come from XLA's RngBitGenerator. XLA defines its algorithm
#: per backend (TPUs have their own) and does not promise it across compiler versions, so
#: these goldens are recorded on CPU, with the jax and jaxlib named in the golden file
#: (measured there: bit for bit the same, run to run). On another backend or another jax
#: line an output that matches no group is not held against the implementation: the
#: verdict says the goldens do not apply (``comparable=False``) and why, and the ``golden``
#: property checks the case against the oracle of the parameters drawn in its process instead.
BACKEND_DEFINED: frozenset[str] = frozenset({"rbg", "unsafe_rbg"})


@dataclass(frozen=True)
class Group:
    """One group: a setting of the switches that decide the numbers."""

    name: str
    #: None when the flag does not change this group's PRNG implementation (``unsafe_rbg``)
    threefry_partitionable: bool | None
    x64: bool
    #: where this group is what you get without setting anything else
    default_on: str
    prng_impl: str = DEFAULT_PRNG_IMPL

    @property
    def env(self) -> dict[str, str]:
        """Environment that reproduces this group (set before importing jax)."""
        env = {} if self.prng_impl == DEFAULT_PRNG_IMPL else {"JAX_DEFAULT_PRNG_IMPL": self.prng_impl}
        if self.threefry_partitionable is not None:
            env["JAX_THREEFRY_PARTITIONABLE"] = "1" if self.threefry_partitionable else "0"
        env["JAX_ENABLE_X64"] = "1" if self.x64 else "0"
        return env


def _group_name(partitionable: bool | None, x64: bool, prng_impl: str = DEFAULT_PRNG_IMPL) -> str:
    stem = "threefry" if prng_impl == DEFAULT_PRNG_IMPL else prng_impl
    if PRNG_IMPLS.get(prng_impl, True):
        stem += "_partitionable" if partitionable else "_legacy"
    return f"{stem}/{'x64' if x64 else 'x32'}"


def _make_group(prng_impl: str, partitionable: bool, x64: bool) -> Group:
    flag = partitionable if PRNG_IMPLS[prng_impl] else None
    where = "every jax" if flag is None else ("jax>=0.5.0" if flag else "jax>=0.4.31,<0.5.0")
    if prng_impl != DEFAULT_PRNG_IMPL:
        where += f" with JAX_DEFAULT_PRNG_IMPL={prng_impl}"
        where += " and jax_enable_x64 (--x64)" if x64 else ", without jax_enable_x64"
    else:
        where += " with jax_enable_x64 (--x64)" if x64 else " without jax_enable_x64"
    return Group(_group_name(flag, x64, prng_impl), flag, x64, where, prng_impl)


GROUPS: tuple[Group, ...] = tuple(
    _make_group(impl, p, x)
    for impl, uses_flag in PRNG_IMPLS.items()
    for p in ((True, False) if uses_flag else (True,))
    for x in (False, True)
)
GROUPS_BY_NAME: dict[str, Group] = {g.name: g for g in GROUPS}

#: Why numbers differ between groups, one text per switch.
CAUSES: dict[str, str] = {
    "prng": (
        "the PRNG implementation is {drawn}, these goldens were recorded with {recorded}: each PRNG "
        "implementation draws other initial parameters for the same seed (the suite compares with the "
        "goldens of its own jax_default_prng_impl); set JAX_DEFAULT_PRNG_IMPL={drawn} before importing "
        "jax (or jax.config.update('jax_default_prng_impl', '{drawn}')) to compare with the goldens of "
        "{drawn}, or let the implementation draw with the process's PRNG implementation"
    ),
    "threefry": (
        "jax's default jax_threefry_partitionable changed (False before jax 0.5.0, True since), so the "
        "same seed draws other initial parameters; set JAX_THREEFRY_PARTITIONABLE={other} before "
        "importing jax (or jax.config.update('jax_threefry_partitionable', {other_bool})) to reproduce "
        "the other side"
    ),
    "x64": (
        "jax_enable_x64 differs: without it nnx.Rngs reduces a seed modulo 2**32, with it the whole "
        "int64 seed counts, so seeds outside [0, 2**32) draw other parameters; set JAX_ENABLE_X64={other} "
        "({flag}) to reproduce the other side"
    ),
}


#: The first JAX release whose default ``jax_threefry_partitionable`` is True.
PARTITIONABLE_SINCE = (0, 5, 0)


def _jax_version() -> tuple[int, ...]:
    return tuple(int(p) for p in jax.__version__.split(".")[:3] if p.isdigit())


def default_partitionable() -> bool:
    """This JAX line's default for ``jax_threefry_partitionable``."""
    return _jax_version() >= PARTITIONABLE_SINCE


def prng_impl() -> str:
    """This process's PRNG implementation (``jax_default_prng_impl``, env ``JAX_DEFAULT_PRNG_IMPL``)."""
    return str(getattr(jax.config, "jax_default_prng_impl", None) or DEFAULT_PRNG_IMPL)


def current_group() -> str:
    """The group to compare with: this process's PRNG implementation and x64, its JAX line's threefry default.

    The golden to match is the one of the running *version*: a process that flips
    ``jax_threefry_partitionable`` by hand draws other numbers than its JAX line does,
    and :func:`flag_note` says so. The PRNG implementation, like x64, is a setting of
    the process: its goldens are the ones to match.
    """
    return _group_name(default_partitionable(), bool(jax.config.jax_enable_x64), prng_impl())


def process_group() -> str:
    """The group this process actually draws from: its own PRNG, threefry and x64 settings."""
    partitionable = bool(getattr(jax.config, "jax_threefry_partitionable", False))
    return _group_name(partitionable, bool(jax.config.jax_enable_x64), prng_impl())


def flag_note() -> str:
    """A sentence when this process's threefry setting is not its JAX line's default, else ''."""
    actual = bool(getattr(jax.config, "jax_threefry_partitionable", False))
    default = default_partitionable()
    if actual == default or not PRNG_IMPLS.get(prng_impl(), True):
        return ""
    return (
        f" This process runs with jax_threefry_partitionable={actual}, while the default of jax "
        f"{jax.__version__} is {default} (was JAX_THREEFRY_PARTITIONABLE set by hand?); unset it to "
        "compare with the goldens of this jax line."
    )


def _cause_keys(a: Group, b: Group) -> tuple[str, ...]:
    """The switches (keys of :data:`CAUSES`) whose settings separate groups ``a`` and ``b``."""
    flags = (a.threefry_partitionable, b.threefry_partitionable)
    differs = {
        "prng": a.prng_impl != b.prng_impl,
        "threefry": None not in flags and flags[0] != flags[1],
        "x64": a.x64 != b.x64,
    }
    return tuple(k for k in CAUSES if differs[k])


def _causes(current: Group, other: Group) -> list[str]:
    """The known causes that separate ``other`` from ``current``, as sentences."""
    out = []
    for key in _cause_keys(current, other):
        if key == "prng":
            out.append(CAUSES["prng"].format(drawn=other.prng_impl, recorded=current.prng_impl))
        elif key == "threefry":
            v = bool(other.threefry_partitionable)
            out.append(CAUSES["threefry"].format(other=int(v), other_bool=v))
        else:
            flag = "the suite's --x64" if other.x64 else "no --x64"
            out.append(CAUSES["x64"].format(other=int(other.x64), flag=flag))
    return out


def _distance(a: Group, b: Group) -> int:
    return len(_cause_keys(a, b))


# --------------------------------------------------------------------------- the cases


@dataclass(frozen=True)
class GoldenCase:
    """One fixed call: a stable id and the arguments, built the way the suite builds them."""

    id: str
    args: Args


def golden_values(shape: tuple[int, int], dtype: str, stream: str) -> np.ndarray:
    """Deterministic values for ``x_batch``, the same on every machine.

    A 64-bit LCG in Python integers gives multiples of 2**-18 in [-2, 2) (exact in
    float32); bfloat16 and float16 round them to nearest even, which is deterministic too.
    """
    state = zlib.crc32(stream.encode()) | 1
    flat = []
    for _ in range(int(np.prod(shape))):
        state = (state * 6364136223846793005 + 1442695040888963407) % 2**64
        flat.append(((state >> 33) % 2**20 - 2**19) / 2**18)
    return np.asarray(flat, dtype=np.float64).reshape(shape).astype(np_dtype(dtype))


def golden_case(seed: int, shape: tuple[int, int], features: int, dtype: str, **extra: int) -> GoldenCase:
    """A case of a subject whose arguments are ``seed, x_batch, features`` plus ``extra`` ints.

    The id names everything, e.g. ``float32_2x3to4_seed0`` or ``float32_2x3to4_n_models3_seed-1``.
    """
    batch, d_in = shape
    more = "".join(f"_{k}{v}" for k, v in extra.items())
    case_id = f"{dtype}_{batch}x{d_in}to{features}{more}_seed{seed}"
    x = KindedArray(golden_values(shape, dtype, case_id), "numpy", "golden")
    return GoldenCase(case_id, {"seed": int(seed), "x_batch": x, "features": int(features), **extra})


@dataclass(frozen=True)
class GoldenSubject:
    """The golden cases of one subject and the built-in whose outputs are fingerprinted."""

    subject: str
    cases: tuple[GoldenCase, ...]
    reference: str = "nnx_vmap"
    #: terms per output element of the affine map (for :func:`tolerance_scale`)
    n_terms: Callable[[Args], int] = field(default=lambda args: args["x_batch"].shape[1] + 1)


SEEDS = (0, 1, 2**31 - 1, 2**32 + 7, -1, -(2**40), 2**63 - 1)
#: (B, D_in) -> features
SHAPES = (((1, 1), 1), ((2, 3), 4), ((3, 16), 5), ((5, 129), 2))
DTYPES = ("float32", "bfloat16", "float16")


def _grid(**extra: int) -> tuple[GoldenCase, ...]:
    """Every seed on every shape; the dtype rotates, so each (shape, dtype) pair occurs 2-3 times."""
    return tuple(
        golden_case(seed, shape, features, DTYPES[(i + j) % len(DTYPES)], **extra)
        for i, seed in enumerate(SEEDS)
        for j, (shape, features) in enumerate(SHAPES)
    )


#: One entry per subject with goldens. A subject with more arguments adds them as ``extra``.
GOLDEN_SUBJECTS: dict[str, GoldenSubject] = {
    "vmap_over_batch": GoldenSubject("vmap_over_batch", _grid()),
    "vmap_over_ensemble": GoldenSubject("vmap_over_ensemble", _grid(n_models=3)),
}


def _spec(subject: str) -> GoldenSubject:
    if subject not in GOLDEN_SUBJECTS:
        raise GoldenError(f"no golden cases for subject {subject!r}; known: {', '.join(GOLDEN_SUBJECTS)}")
    return GOLDEN_SUBJECTS[subject]


def case_ids(subject: str) -> list[str]:
    """The ids of ``subject``'s golden cases, in their fixed order."""
    return [c.id for c in _spec(subject).cases]


def golden_args(subject: str, case_id: str) -> Args:
    """The arguments of one golden case (``x_batch`` a numpy-kind :class:`KindedArray`)."""
    for c in _spec(subject).cases:
        if c.id == case_id:
            return dict(c.args)
    raise GoldenError(f"{subject} has no golden case {case_id!r}")


def golden_path(subject: str, directory: Path | None = None) -> Path:
    return Path(directory or GOLDEN_DIR) / f"{subject}.json"


def has_goldens(subject: str, directory: Path | None = None) -> bool:
    """Whether ``subject`` has golden cases and a golden file."""
    return subject in GOLDEN_SUBJECTS and golden_path(subject, directory).is_file()


# --------------------------------------------------------------------------- fingerprints


def fingerprint(output: np.ndarray) -> str:
    """sha256 of the output's dtype, shape and little-endian bytes."""
    a = np.asarray(output)
    if a.dtype.byteorder == ">":
        a = a.astype(a.dtype.newbyteorder("<"))
    head = f"{a.dtype.name}{list(a.shape)}:".encode()
    return hashlib.sha256(head + np.ascontiguousarray(a).tobytes()).hexdigest()


def _as_float64(output: Any) -> np.ndarray:
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


#: Within one group, the initial parameters still differ by 1-2 ulps in rare elements
#: between jax lines (measured on the golden cases: about 1 element in 100-250 differs
#: between jax 0.4.31-0.6.2, 0.7.2 and 0.8.3-0.10.2; the flag flip itself is bit for bit
#: within one jax). The golden criterion allows this many ulps of every parameter.
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


# --------------------------------------------------------------------------- loading


@dataclass(frozen=True)
class GoldenFile:
    subject: str
    reference: str
    #: group name -> case id -> {"sha256", "dtype", "shape", "leading", "value", "bound"}
    groups: dict[str, dict[str, dict[str, Any]]]
    raw: dict[str, Any]


def _load_json(path: Path) -> dict[str, Any]:
    try:
        with open(path) as f:
            data = json.load(f)
    except FileNotFoundError:
        raise GoldenError(
            f"{path}: no golden file; create it with python -m conformance.tools.goldens --regenerate"
        ) from None
    except (OSError, json.JSONDecodeError) as e:
        raise GoldenError(f"{path}: not a readable golden file: {e}") from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise GoldenError(f"{path}: not a golden file of schema {SCHEMA}")
    return data


@functools.lru_cache(maxsize=16)
def _load_cached(subject: str, path: str, mtime: float) -> GoldenFile:
    spec = _spec(subject)
    data = _load_json(Path(path))
    regen = "; regenerate with python -m conformance.tools.goldens --regenerate --subject " + subject
    stored = data.get("cases", {})
    for c in spec.cases:
        if c.id not in stored:
            raise GoldenError(f"{path}: no golden for case {c.id}{regen}")
        if stored[c.id].get("args") != codec.encode(c.args):
            raise GoldenError(f"{path}: the arguments of case {c.id} changed{regen}")
    groups = data.get("groups", {})
    for g in GROUPS:
        missing = [c.id for c in spec.cases if c.id not in groups.get(g.name, {}).get("cases", {})]
        if missing:
            raise GoldenError(
                f"{path}: group {g.name} lacks {len(missing)} case(s), e.g. {missing[0]}{regen}"
            )
    return GoldenFile(
        subject,
        data.get("reference", spec.reference),
        {name: g["cases"] for name, g in groups.items() if name in GROUPS_BY_NAME},
        data,
    )


def load_goldens(subject: str, directory: Path | None = None) -> GoldenFile:
    """The golden file of ``subject``, checked against the case table (:class:`GoldenError` if stale)."""
    path = golden_path(subject, directory)
    try:
        mtime = path.stat().st_mtime
    except FileNotFoundError:
        mtime = -1.0
    return _load_cached(subject, str(path), mtime)


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
    #: the known causes separating ``group`` from ``matched_group`` (keys of :data:`CAUSES`)
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


@functools.lru_cache(maxsize=1)
def _versions() -> dict[str, str]:
    """The versions a golden file records (and :func:`not_applicable` compares)."""
    return versions(("jax", "jaxlib", "flax", "numpy", "ml_dtypes"))


def not_applicable(group: Group, goldens: GoldenFile, backend: str) -> str:
    """Why the goldens of ``group`` need not hold in this process (on ``backend``), or '' when they must.

    Only goldens of a :data:`BACKEND_DEFINED` PRNG implementation, off CPU or on another
    jax or jaxlib than the one that recorded them.
    """
    if group.prng_impl not in BACKEND_DEFINED:
        return ""
    made = goldens.raw.get("generated_with", {})
    now = _versions()
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

    ``group`` defaults to :func:`current_group`, ``backend`` (the platform the output was
    computed on) to jax's default backend. The output *matches* when every element lies
    within the golden bound (times :func:`tolerance_scale`: a few ulps of parameter drift
    between jax lines, and the platform's matmul precision off CPU) of the golden oracle
    value; ``bitwise`` says whether it is byte for byte the reference built-in's golden
    output. When it does not match, every other group is tried and the explanation names
    the nearest one that matches and the known cause. When none matches and the goldens
    of ``group`` need not hold here (:func:`not_applicable`), the verdict is not
    ``comparable`` and the explanation says why instead of blaming the implementation.
    """
    spec = _spec(subject)
    args = golden_args(subject, case_id)
    goldens = load_goldens(subject, directory)
    backend = backend or jax.default_backend()
    if group is None and prng_impl() not in PRNG_IMPLS:
        explanation = (
            f"no goldens are recorded for the PRNG implementation {prng_impl()} (only for "
            f"{', '.join(PRNG_IMPLS)}), so there is nothing to compare with; to compare with goldens, run "
            f"with JAX_DEFAULT_PRNG_IMPL={DEFAULT_PRNG_IMPL}"
        )
        return GoldenVerdict(
            subject, case_id, current_group(), False, False, None, (), (), explanation, {}, False
        )
    group = group or current_group()
    if group not in GROUPS_BY_NAME:
        raise GoldenError(f"unknown group {group!r}; known: {', '.join(GROUPS_BY_NAME)}")
    here = GROUPS_BY_NAME[group]
    n_terms = spec.n_terms(args)
    raw = np.asarray(output)
    out = _as_float64(raw)
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
        (g for g in GROUPS if g.name != group and within[g.name][0]), key=lambda g: _distance(here, g)
    )
    if others:
        other = others[0]
        same_bits = fingerprint(raw) == goldens.groups[other.name][case_id]["sha256"]
        explanation = (
            f"matches the golden of group {other.name} instead of {group} ({other.name} is the default "
            f"on {other.default_on}): the numbers moved because "
            + "; and because ".join(_causes(here, other))
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
            _cause_keys(here, other),
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
