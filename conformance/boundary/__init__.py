"""The process boundary: implementations run in workers, never in the runner.

Runner side: :mod:`~conformance.boundary.executors` (spawning, the pool, bounded waits)
and :mod:`~conformance.boundary.calls` (a call's observed result). Worker side:
:mod:`~conformance.boundary.worker` (the worker's loop), :mod:`~conformance.boundary.transforms`
and :mod:`~conformance.boundary.gradients` (calls under JAX transforms),
:mod:`~conformance.boundary.arrays`. Both sides speak :mod:`~conformance.boundary.protocol`.
"""
