"""The properties: each a short function named after its claim, registered in one registry.

* :mod:`~conformance.properties.registry` -- :func:`prop`, :class:`Property`, ``PROPERTIES``
* :mod:`~conformance.properties.context` -- what a property sees, and the helpers of its checks
* :mod:`~conformance.properties.cases` -- the strategies of the forward properties' cases
* :mod:`~conformance.properties.forward` -- the forward group (calling the implementation)
* :mod:`~conformance.properties.transforms` -- the transform group (jit, grad, vmap, sharding, modes)
"""

from conformance.base.catalogue import GROUPS
from conformance.properties import forward, transforms  # noqa: F401  (each registers its group)
from conformance.properties.registry import PROPERTIES, Case, Property, prop

__all__ = ["GROUPS", "PROPERTIES", "Case", "Property", "prop"]
