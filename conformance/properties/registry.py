"""The one registry of properties: :func:`prop` registers a check as a property named after it.

A property is one short function named after its claim; the first line of its docstring is the
claim. Its group is one of :data:`conformance.base.catalogue.GROUPS`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from conformance.base.catalogue import GROUPS
from conformance.properties.context import Context
from conformance.subjects import StrategyConfig, Subject

Case = dict[str, Any]


@dataclass(frozen=True)
class Property:
    name: str
    #: raises PropertyFailure (or PropertySkip: not checkable in this run); may return a note
    #: on what it checked, which a passing cell carries as its message
    check: Callable[[Context, Case], str | None]
    cases: Callable[[Subject, StrategyConfig], st.SearchStrategy[Case]]
    #: "always", or "strict": external implementations are checked only with --strict
    external: str = "always"
    #: cases every run checks first, whatever it draws: (subject, x64) -> cases
    fixed: Callable[[Subject, bool], list[Case]] | None = None
    #: whether the profile's per-edge searches apply (not for fixed, checked-in cases); a tuple
    #: of edge names: only those (a costly property that must still reach them by construction)
    edges: bool | tuple[str, ...] = True
    #: "forward" (claims about calling it) or "transform" (under jit, grad, vmap, sharding, modes)
    group: str = "forward"
    #: the share of the profile's examples its search over the whole domain runs (at least one):
    #: less than 1 for a property whose every new shape costs a compilation of a transform
    share: float = 1.0
    #: the claim needs input with signal: the subject's silent edges are out of its reach
    needs_signal: bool = False
    #: the profile's tile edges (sizes just below and above common tile sizes) apply too:
    #: each is a new, large shape, so only a claim on every value opts in
    tiles: bool = False

    @property
    def claim(self) -> str:
        return (self.check.__doc__ or "").strip().splitlines()[0]


PROPERTIES: dict[str, Property] = {}


def prop(
    cases: Callable[[Subject, StrategyConfig], st.SearchStrategy[Case]],
    external: str = "always",
    fixed: Callable[[Subject, bool], list[Case]] | None = None,
    group: str = "forward",
    edges: bool | tuple[str, ...] | None = None,
    share: float = 1.0,
    needs_signal: bool = False,
    tiles: bool = False,
) -> Callable[[Callable[[Context, Case], None]], Callable[[Context, Case], None]]:
    """Register the decorated check as a property named after it (its docstring's first line
    is the claim). ``edges``: whether the per-edge searches apply (default: unless ``fixed``),
    or the names of the only edges searched; ``share``: of the profile's examples; ``tiles``:
    the tile edges too."""
    assert group in GROUPS, f"unknown group {group!r}; the groups are conformance.base.catalogue.GROUPS"

    def register(fn: Callable[[Context, Case], None]) -> Callable[[Context, Case], None]:
        use_edges = fixed is None if edges is None else edges
        PROPERTIES[fn.__name__] = Property(
            fn.__name__,
            fn,
            cases,
            external,
            fixed,
            use_edges,
            group,
            share=share,
            needs_signal=needs_signal,
            tiles=tiles,
        )
        return fn

    return register
