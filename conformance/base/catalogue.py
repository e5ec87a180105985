"""The property catalogue: every property's name, group and claim, readable without importing JAX.

The properties themselves (:mod:`conformance.properties`) are the one source: this module
reads their names, groups and claims (the first line of each docstring) from the source
files, so a report, a summary or a compatibility table can name them in a process that never
imports JAX.
"""

from __future__ import annotations

#: The groups of properties, in report order, with what they claim.
GROUPS = {
    "forward": "claims about calling the implementation (values, shapes, seeds, inputs)",
    "transform": "claims under JAX transforms (jit, grad, vmap, sharding, compilation, NNX modes)",
}
