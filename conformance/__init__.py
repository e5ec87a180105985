"""A property-based conformance suite for batched Flax NNX code.

The layers, from the faces down (each imports only the layers below it; ``.importlinter``
states the contract):

* faces: :mod:`conformance.cli`, :mod:`conformance.pytest_plugin`, :mod:`conformance.suite`
* :mod:`conformance.tools` -- tooling on the engine (bench, mutate, expect, pin, plot, ...)
* :mod:`conformance.reporting` -- the terminal report and the Markdown summary
* :mod:`conformance.run` -- the one engine: options, scheduling, one cell's search
* :mod:`conformance.properties` -- the claims, one function each
* :mod:`conformance.boundary` -- the process boundary: implementations run in workers
* :mod:`conformance.cases` -- exact encoding, pinned counterexamples, goldens, expectations
* :mod:`conformance.subjects` -- the functions under test, described as data
* :mod:`conformance.numerics` -- the float64 oracle, the tolerance, the headroom
* :mod:`conformance.base` -- statuses, verdicts, causes, the property catalogue
"""

from conformance.base.declaration import dim, per_sample, tolerance

__version__ = "0.1.0"
__all__ = ["dim", "per_sample", "tolerance"]
