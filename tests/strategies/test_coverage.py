"""The real ``ci`` run calls implementations on every edge of the domain, for every property.

The strategies' own coverage is tested in ``test_strategies.py``; this records
what each property actually hands to the implementation during ``check
--profile ci`` (same seeds, same budget), so a change to a property's cases or
to the profile cannot silently drop an edge.
"""

from __future__ import annotations

from typing import Any

import pytest

from conformance.properties import PROPERTIES
from conformance.properties.context import Context
from conformance.subjects import VMAP_OVER_BATCH
from tests.helpers import check
from tests.strategies.helpers import all_edges, edges

#: Edges a property cannot reach by design.
UNREACHABLE = {
    "batch_independence": {"B == 0"},  # it needs a row to move
    "seed_sensitivity": {"B == 0", "family zeros"},  # zero input hides the seed
}


#: Properties that draw from the whole domain (invalid input and the fixed golden cases do not,
#: nor the gradient properties: float32 input and the edge B > 64 only, see their docstrings).
DOMAIN_PROPERTIES = [
    p for p in VMAP_OVER_BATCH.properties if PROPERTIES[p].edges is True and p != "invalid_input_rejected"
]


@pytest.mark.parametrize("prop", DOMAIN_PROPERTIES)
def test_ci_run_calls_the_implementation_on_every_edge(prop: str, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: set[str] = set()
    call = Context.call

    def recording(self: Context, args: dict[str, Any], fresh: bool = False) -> Any:
        seen.update(edges(args))
        return call(self, args, fresh)

    monkeypatch.setattr(Context, "call", recording)
    result = check("tests.zoo.correct:float64_compute", (prop,))
    assert result.passed
    missing = all_edges(x64=False) - UNREACHABLE.get(prop, set()) - seen
    assert not missing, f"{prop} under --profile ci never calls the implementation with {sorted(missing)}"
