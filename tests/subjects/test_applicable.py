"""Which properties apply to a subject: the catalogue's, less the opt-in ones it does not name.

The property names and groups come from the ``@prop`` declarations only
(:func:`conformance.base.catalogue.catalogue`); a subject states its differences.
"""

from __future__ import annotations

import dataclasses

import pytest

from conformance.base.catalogue import catalogue
from conformance.subjects import (
    COMMON_PROPERTIES,
    FORWARD_TRANSFORM_PROPERTIES,
    GRADIENT_ORACLES,
    GRADIENT_PROPERTIES,
    OPT_IN,
    SUBJECTS,
    VMAP_OVER_BATCH,
    applicable,
)

COMMON = (
    "output_contract",
    "agrees_with_oracle",
    "agrees_with_builtins",
    "batch_independence",
    "seed_determinism",
    "seed_sensitivity",
    "inputs_untouched",
)
TRANSFORMS = (
    "jit_agrees_with_oracle",
    "vmap_composes",
    "sharding_invariance",
    "bounded_compilation",
    "nnx_modes",
    "vjp_agrees_with_oracle",
    "jvp_agrees_with_oracle",
)
REJECTING = ("no_side_effects", "invalid_input_rejected")
MEMBERS = ("member_independence", "distinct_members")


def test_the_built_ins_properties_in_report_order() -> None:
    assert {name: s.properties for name, s in SUBJECTS.items()} == {
        "vmap_over_batch": COMMON + REJECTING + ("golden",) + TRANSFORMS,
        "vmap_over_ensemble": COMMON + MEMBERS + REJECTING + ("golden",) + TRANSFORMS,
        "vmap_anchored": COMMON + REJECTING + TRANSFORMS,
    }
    assert all(type(s.properties) is tuple for s in SUBJECTS.values())


def test_a_subject_has_every_catalogued_property_but_the_opt_in_ones_it_does_not_name() -> None:
    for subject in SUBJECTS.values():
        named = set(subject.properties) & set(OPT_IN)
        assert set(subject.properties) == (set(catalogue()) - set(OPT_IN)) | named, subject.name
        assert len(set(subject.properties)) == len(subject.properties)
    assert "member" in SUBJECTS["vmap_over_ensemble"].output_axes
    for subject in SUBJECTS.values():  # the member claims go with a member axis
        assert bool(set(MEMBERS) & set(subject.properties)) == ("member" in subject.output_axes)


def test_the_views_partition_the_catalogue_by_group() -> None:
    groups = {name: entry.group for name, entry in catalogue().items()}
    assert all(groups[p] == "forward" for p in (*COMMON_PROPERTIES, *OPT_IN))
    assert all(groups[p] == "transform" for p in (*FORWARD_TRANSFORM_PROPERTIES, *GRADIENT_PROPERTIES))
    views = COMMON_PROPERTIES + OPT_IN + FORWARD_TRANSFORM_PROPERTIES + GRADIENT_PROPERTIES
    assert sorted(views) == sorted(catalogue())
    assert GRADIENT_PROPERTIES == tuple(GRADIENT_ORACLES)
    assert applicable() == COMMON_PROPERTIES + FORWARD_TRANSFORM_PROPERTIES + GRADIENT_PROPERTIES


def test_applicable_opts_in_at_the_catalogue_place_or_after_another_property() -> None:
    everything = applicable(*OPT_IN)
    assert everything == tuple(catalogue())
    moved = applicable(after={"nnx_modes": ("golden",), "output_contract": ("seed_determinism",)})
    assert moved.index("golden") == moved.index("nnx_modes") + 1
    assert moved[:2] == ("output_contract", "seed_determinism")
    assert sorted(moved) == sorted((*applicable(), "golden"))
    with pytest.raises(ValueError, match="unknown properties"):
        applicable("goldne")
    with pytest.raises(ValueError, match="unknown properties"):
        applicable(after={"nowhere": ("golden",)})
    with pytest.raises(ValueError, match="cannot follow 'member_independence'"):
        applicable(after={"member_independence": ("golden",)})  # not opted in


def test_a_subject_without_a_gradient_oracle_lacks_that_property() -> None:
    plain = dataclasses.replace(VMAP_OVER_BATCH, properties=(), vjp_expected=None)
    assert "vjp_agrees_with_oracle" not in plain.properties
    assert plain.properties == tuple(p for p in applicable() if p != "vjp_agrees_with_oracle")
    with pytest.raises(ValueError, match="vjp_agrees_with_oracle needs the oracle vjp_expected"):
        dataclasses.replace(VMAP_OVER_BATCH, vjp_expected=None)
    with pytest.raises(ValueError, match="unknown properties"):
        dataclasses.replace(VMAP_OVER_BATCH, properties=("output_contract", "nonsense"))
