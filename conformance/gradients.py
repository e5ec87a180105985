"""Gradients of an implementation (VJP, JVP with respect to ``x_batch``), in its worker.

Registers the transform kinds ``vjp`` and ``jvp`` with :mod:`conformance.transforms`.
"""

from __future__ import annotations
