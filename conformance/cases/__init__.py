"""Cases kept outside a run: their exact encoding, pinned counterexamples, goldens, expected failures.

* :mod:`~conformance.cases.codec` -- values to JSON and back, exactly
* :mod:`~conformance.cases.corpus` -- counterexamples pinned for every later run
* :mod:`~conformance.cases.golden` -- checked-in fingerprints per JAX line
* :mod:`~conformance.cases.expectations` -- the user's expected-failures file
"""
