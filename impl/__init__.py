"""Implementations of the subjects, and the registry that names them.

This package knows nothing of properties or strategies.
"""

from impl.registry import (
    DEFAULT_SUBJECT,
    ENTRY_POINT_GROUP,
    Implementation,
    ImplementationLoadError,
    discover,
    get,
    load,
    names,
    register,
)

__all__ = [
    "DEFAULT_SUBJECT",
    "ENTRY_POINT_GROUP",
    "Implementation",
    "ImplementationLoadError",
    "discover",
    "get",
    "load",
    "names",
    "register",
]
