"""The golden cases of each subject and the checked-in golden files that hold their numbers.

For a fixed list of cases per subject (:data:`GOLDEN_SUBJECTS`), the golden file
``conformance/data/goldens/<subject>.json`` holds, per group
(:mod:`~conformance.cases.golden.groups`) and case: the float64 oracle value and its
elementwise bound (the pass criterion: any summation order is fine), plus the sha256 and
the leading values of the subject's reference built-in's output (information only:
bitwise identity depends on the jax line and the machine's kernels). The file also names
the versions it was recorded with (:func:`golden_versions`).
"""

from __future__ import annotations

import functools
import json
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from conformance.base.environment import versions
from conformance.cases import codec
from conformance.cases.golden.groups import GROUPS, GROUPS_BY_NAME
from strategies.arrays import np_dtype
from strategies.kinds import KindedArray

Args = dict[str, Any]

SCHEMA = "nnx-conformance/golden/1"
#: Where the checked-in golden files live.
GOLDEN_DIR = Path(__file__).resolve().parents[2] / "data" / "goldens"
#: How many leading values of the reference output a golden keeps for people to read.
LEADING = 4


class GoldenError(Exception):
    """A golden file is missing, corrupt, stale, or does not know the case asked for."""


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
    #: terms per output element of the affine map (for
    #: :func:`~conformance.cases.golden.verdict.tolerance_scale`)
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


def golden_subject(subject: str) -> GoldenSubject:
    """The golden cases of ``subject`` (:class:`GoldenError` if it has none)."""
    if subject not in GOLDEN_SUBJECTS:
        raise GoldenError(f"no golden cases for subject {subject!r}; known: {', '.join(GOLDEN_SUBJECTS)}")
    return GOLDEN_SUBJECTS[subject]


def case_ids(subject: str) -> list[str]:
    """The ids of ``subject``'s golden cases, in their fixed order."""
    return [c.id for c in golden_subject(subject).cases]


def golden_args(subject: str, case_id: str) -> Args:
    """The arguments of one golden case (``x_batch`` a numpy-kind :class:`KindedArray`)."""
    for c in golden_subject(subject).cases:
        if c.id == case_id:
            return dict(c.args)
    raise GoldenError(f"{subject} has no golden case {case_id!r}")


def golden_path(subject: str, directory: Path | None = None) -> Path:
    """The golden file of ``subject`` in ``directory`` (default: the checked-in :data:`GOLDEN_DIR`)."""
    return Path(directory or GOLDEN_DIR) / f"{subject}.json"


def has_goldens(subject: str, directory: Path | None = None) -> bool:
    """Whether ``subject`` has golden cases and a golden file."""
    return subject in GOLDEN_SUBJECTS and golden_path(subject, directory).is_file()


# --------------------------------------------------------------------------- the files


@dataclass(frozen=True)
class GoldenFile:
    """A golden file as read, its groups checked against :data:`~conformance.cases.golden.groups.GROUPS`."""

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
    spec = golden_subject(subject)
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


@functools.lru_cache(maxsize=1)
def golden_versions() -> dict[str, str]:
    """The versions a golden file records: this process's jax, jaxlib, flax, numpy, ml_dtypes."""
    return versions(("jax", "jaxlib", "flax", "numpy", "ml_dtypes"))
