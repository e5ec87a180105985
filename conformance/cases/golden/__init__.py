"""Golden fingerprints: checked-in reference numbers per JAX line group, and why numbers move.

The same call gives different numbers on different JAX lines and settings: the PRNG
implementation, ``jax_threefry_partitionable`` and ``jax_enable_x64`` decide which
parameters a seed draws. Each combination is a *group*. For a fixed list of cases per
subject, a checked-in golden file holds the float64 oracle value and bound of every case in
every group, so that an implementation's output can be compared with the goldens of the
group it runs in, and a mismatch that matches another group can name the setting that moved
the numbers.

* :mod:`~conformance.cases.golden.groups` -- the groups and the causes that separate them
* :mod:`~conformance.cases.golden.files` -- the golden cases per subject and the checked-in files
* :mod:`~conformance.cases.golden.verdict` -- fingerprints, the bound, and the comparison

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

from conformance.cases.golden.files import (
    DTYPES,
    GOLDEN_DIR,
    GOLDEN_SUBJECTS,
    LEADING,
    SCHEMA,
    SEEDS,
    SHAPES,
    GoldenCase,
    GoldenError,
    GoldenFile,
    GoldenSubject,
    case_ids,
    golden_args,
    golden_case,
    golden_path,
    golden_subject,
    golden_values,
    golden_versions,
    has_goldens,
    load_goldens,
)
from conformance.cases.golden.groups import (
    BACKEND_DEFINED,
    CAUSES,
    DEFAULT_PRNG_IMPL,
    GROUPS,
    GROUPS_BY_NAME,
    PARTITIONABLE_SINCE,
    PRNG_IMPLS,
    Group,
    cause_keys,
    cause_texts,
    current_group,
    default_partitionable,
    distance,
    flag_note,
    group_name,
    prng_impl,
    process_group,
)
from conformance.cases.golden.verdict import (
    PARAM_ULPS,
    GoldenVerdict,
    as_float64,
    compare,
    fingerprint,
    not_applicable,
    platform_scale,
    tolerance_scale,
)

__all__ = [
    "BACKEND_DEFINED",
    "CAUSES",
    "DEFAULT_PRNG_IMPL",
    "DTYPES",
    "GOLDEN_DIR",
    "GOLDEN_SUBJECTS",
    "GROUPS",
    "GROUPS_BY_NAME",
    "LEADING",
    "PARAM_ULPS",
    "PARTITIONABLE_SINCE",
    "PRNG_IMPLS",
    "SCHEMA",
    "SEEDS",
    "SHAPES",
    "GoldenCase",
    "GoldenError",
    "GoldenFile",
    "GoldenSubject",
    "GoldenVerdict",
    "Group",
    "as_float64",
    "case_ids",
    "cause_keys",
    "cause_texts",
    "compare",
    "current_group",
    "default_partitionable",
    "distance",
    "fingerprint",
    "flag_note",
    "golden_args",
    "golden_case",
    "golden_path",
    "golden_subject",
    "golden_values",
    "golden_versions",
    "group_name",
    "has_goldens",
    "load_goldens",
    "not_applicable",
    "platform_scale",
    "prng_impl",
    "process_group",
    "tolerance_scale",
]
