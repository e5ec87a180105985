"""What a correct answer is: the float64 oracle, the error bound, and how close each pass came to it.

* :mod:`~conformance.numerics.oracle` -- the float64 answer
* :mod:`~conformance.numerics.tolerance` -- the bound a correct float computation stays within
* :mod:`~conformance.numerics.headroom` -- each numeric cell's error-to-allowed ratios
"""
