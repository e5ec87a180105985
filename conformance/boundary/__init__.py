"""The process boundary: implementations run in workers, never in the runner.

Runner side: :mod:`~conformance.boundary.executors` (spawning, the pool, bounded waits),
:mod:`~conformance.boundary.lifecycle` (ending a worker and all it started) and
:mod:`~conformance.boundary.calls` (a call's observed result). Worker side:
:mod:`~conformance.boundary.worker` (the worker's loop), :mod:`~conformance.boundary.processes`
(killing what a call leaves behind), :mod:`~conformance.boundary.transforms` and
:mod:`~conformance.boundary.gradients` (calls under JAX transforms),
:mod:`~conformance.boundary.arrays`, and :mod:`~conformance.boundary.per_sample` (a user's
per-sample subject: its references and oracle). Both sides speak
:mod:`~conformance.boundary.protocol`.
"""
