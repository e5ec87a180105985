"""The words every layer shares, importing nothing else of the suite.

* :mod:`~conformance.base.verdict` -- statuses, the verdict rule, exit codes, the report schema,
  the replay command
* :mod:`~conformance.base.failures` -- how a property fails or skips
* :mod:`~conformance.base.catalogue` -- every property's name, group and claim, readable without JAX
* :mod:`~conformance.base.causes` -- failures grouped by cause
* :mod:`~conformance.base.environment` -- the installed versions every report records
"""
