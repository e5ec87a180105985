"""The property catalogue (conformance/base/catalogue.py): names, groups and claims read from the
property modules' source, the same as the registry holds, without importing JAX."""

from __future__ import annotations

import subprocess
import sys

from conformance.base import catalogue


def test_the_catalogue_is_the_registry_read_without_importing_it() -> None:
    from conformance.properties import GROUPS, PROPERTIES

    entries = catalogue.catalogue()
    assert GROUPS is catalogue.GROUPS
    assert list(entries) == list(PROPERTIES)
    assert {n: (e.group, e.claim) for n, e in entries.items()} == {
        n: (p.group, p.claim) for n, p in PROPERTIES.items()
    }
    assert {"jit_agrees_with_oracle", "nnx_modes", "vjp_agrees_with_oracle"} <= {
        n for n, e in entries.items() if e.group == "transform"
    }


def test_reading_the_catalogue_imports_no_jax() -> None:
    code = (
        "import sys; from conformance.base import catalogue; n = len(catalogue.catalogue()); "
        "print(n, sorted(m for m in sys.modules if m.split('.')[0] in ('jax', 'flax', 'numpy')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    count, heavy = done.stdout.split(" ", 1)
    assert int(count) > 10 and heavy.strip() == "[]", done.stdout


def test_reading_follows_the_decorator_and_the_docstring(tmp_path) -> None:
    source = tmp_path / "props.py"
    source.write_text(
        "@prop(one_call)\ndef plain(ctx, case):\n    '''Plain claim.\n\n    More.'''\n"
        '@prop(calls, group="transform", edges=False)\ndef traced(ctx, case): ...\n'
        "def helper(): ...\n"
    )
    entries = catalogue.read([source])
    assert entries == {
        "plain": catalogue.Entry("plain", "forward", "Plain claim."),
        "traced": catalogue.Entry("traced", "transform", ""),
    }


def test_a_cell_naming_its_group_wins_and_an_unknown_property_goes_last() -> None:
    assert catalogue.group_of("output_contract") == "forward"
    assert catalogue.group_of("jit_agrees_with_oracle") == "transform"
    assert catalogue.group_of("output_contract", {"group": "transform"}) == "transform"
    assert catalogue.group_of("a_property_from_the_future") == list(catalogue.GROUPS)[-1]
    sections = catalogue.by_group(["nnx_modes", "output_contract", "vmap_composes", "golden"])
    assert list(sections) == ["forward", "transform"]
    assert sections["transform"] == ["nnx_modes", "vmap_composes"]
    assert sections["forward"] == ["output_contract", "golden"]
