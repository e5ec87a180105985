"""A property-based conformance suite for batched Flax NNX code.

* :mod:`conformance.properties` -- the claims, one function each
* :mod:`conformance.subjects`   -- the functions under test, described as data
* :mod:`conformance.oracle` and :mod:`conformance.tolerance` -- the float64 answer and its error bound
* :mod:`conformance.runner`     -- joins implementations, strategies and properties
* :mod:`conformance.cli`, :mod:`conformance.pytest_plugin` -- the two ways to run it
"""

__version__ = "0.1.0"
