"""A run: the one engine that joins implementations, properties and strategies.

* :mod:`~conformance.run.options` -- every option of a run, declared once for both faces
* :mod:`~conformance.run.settings` -- a run's options, validated once, and the implementations they name
* :mod:`~conformance.run.engine` -- starts workers, runs and replays cells
* :mod:`~conformance.run.results` -- each implementation's cells and each subject's report, as JSON data
* :mod:`~conformance.run.scheduling` -- which worker checks which property
* :mod:`~conformance.run.runner` -- one cell: a bounded Hypothesis search
* :mod:`~conformance.run.profiles`, :mod:`~conformance.run.database`,
  :mod:`~conformance.run.compile_cache` -- how much to search, where examples are kept, compiled programs
"""
