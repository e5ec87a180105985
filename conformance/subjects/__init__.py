"""Subjects: the functions under test, each described as data (:mod:`~conformance.subjects.subject`).

* :mod:`~conformance.subjects.subject` -- :class:`Subject` and what it is made of: the
  arguments, the oracle's :class:`Expected`, the properties that apply (:func:`applicable`)
* :mod:`~conformance.subjects.builtin` -- the built-in subjects, lifts of ``nnx.Linear``:
  ``vmap_over_batch``, ``vmap_over_ensemble``, ``vmap_anchored``

Another kind of subject gets a module of its own next to :mod:`~conformance.subjects.builtin`
and joins :data:`SUBJECTS` here.
"""

from __future__ import annotations

from conformance.subjects.builtin import BUILTINS, VMAP_ANCHORED, VMAP_OVER_BATCH, VMAP_OVER_ENSEMBLE
from conformance.subjects.subject import (
    COMMON_PROPERTIES,
    FORWARD_TRANSFORM_PROPERTIES,
    GRADIENT_ORACLES,
    GRADIENT_PROPERTIES,
    OPT_IN,
    Args,
    Expected,
    StrategyConfig,
    Subject,
    applicable,
    args_key,
    output_dtype,
)

#: Every subject by name, in report order.
SUBJECTS: dict[str, Subject] = {s.name: s for s in BUILTINS}


def get_subject(name: str) -> Subject:
    if name not in SUBJECTS:
        raise KeyError(f"unknown subject {name!r}; known: {', '.join(SUBJECTS)}")
    return SUBJECTS[name]


__all__ = [
    "BUILTINS",
    "COMMON_PROPERTIES",
    "FORWARD_TRANSFORM_PROPERTIES",
    "GRADIENT_ORACLES",
    "GRADIENT_PROPERTIES",
    "OPT_IN",
    "SUBJECTS",
    "VMAP_ANCHORED",
    "VMAP_OVER_BATCH",
    "VMAP_OVER_ENSEMBLE",
    "Args",
    "Expected",
    "StrategyConfig",
    "Subject",
    "applicable",
    "args_key",
    "get_subject",
    "output_dtype",
]
