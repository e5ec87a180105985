"""The property catalogue: every property's name, group and claim, readable without importing JAX.

The property modules are the one source: each property is a function decorated with
``@prop(..., group=...)`` whose docstring's first line is its claim. This module reads
them from the source files instead of importing them (they import JAX), so a report, a
summary or a compatibility table can name and group the properties in a process that
never imports JAX; :mod:`conformance.properties.registry` accepts only the groups below.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: The groups of properties, in report order, with what they claim.
GROUPS = {
    "forward": "claims about calling the implementation (values, shapes, seeds, inputs)",
    "transform": "claims under JAX transforms (jit, grad, vmap, sharding, compilation, NNX modes)",
}

#: The modules that declare the properties, in catalogue order.
SOURCES = tuple(
    Path(__file__).resolve().parents[1] / "properties" / f for f in ("forward.py", "transforms.py")
)


@dataclass(frozen=True)
class Entry:
    name: str
    group: str
    claim: str


def read(files: Sequence[Path | str]) -> dict[str, Entry]:
    """Every ``@prop``-decorated function of ``files``: name -> :class:`Entry`, in source order."""
    out: dict[str, Entry] = {}
    for f in files:
        for node in ast.parse(Path(f).read_text()).body:
            if not isinstance(node, ast.FunctionDef):
                continue
            for deco in node.decorator_list:
                if isinstance(deco, ast.Call) and isinstance(deco.func, ast.Name) and deco.func.id == "prop":
                    group = next(
                        (str(ast.literal_eval(k.value)) for k in deco.keywords if k.arg == "group"), "forward"
                    )
                    claim = (ast.get_docstring(node) or "").strip().splitlines()
                    out[node.name] = Entry(node.name, group, claim[0] if claim else "")
    return out


@functools.cache
def catalogue() -> dict[str, Entry]:
    """The suite's properties: name -> :class:`Entry`, forward group first."""
    return read(SOURCES)


def group_of(prop: str, cell: Mapping[str, Any] | None = None) -> str:
    """A property's group: its cell's, if the cell names one (a report from another version),
    else the catalogue's; a property the catalogue does not know goes in the last group."""
    if cell and cell.get("group"):
        return str(cell["group"])
    entry = catalogue().get(prop)
    return entry.group if entry else list(GROUPS)[-1]


def by_group(
    props: Sequence[str], cells: Mapping[str, Mapping[str, Any]] | None = None
) -> dict[str, list[str]]:
    """``props`` in sections, one per group in :data:`GROUPS` order (groups it does not know
    last), each in the given order; empty groups left out."""
    order = list(GROUPS)
    out: dict[str, list[str]] = {}
    for p in props:
        out.setdefault(group_of(p, (cells or {}).get(p)), []).append(p)
    return dict(sorted(out.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else len(order)))
