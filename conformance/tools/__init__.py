"""Tooling on top of the engine: ``bench``, the compatibility table, golden regeneration, ``pin``.

Each depends on the engine (or on what it reads); nothing in the engine imports these.
"""
