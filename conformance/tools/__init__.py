"""Tooling on top of the engine, one module or subpackage per tool:

* :mod:`.bench` -- ``python -m conformance bench``: time each implementation over a grid of
  sizes and compare it with this machine's float32 GEMM peak (table, JSON, PNG).
* :mod:`.compat_table` -- ``python -m conformance.tools.compat_table``: the JAX/Flax
  matrix's JSON files (reports, tox results, line stubs) as one Markdown page.
* :mod:`.expect` -- ``python -m conformance expect``: write or refresh an expected-failures
  file from reports.
* :mod:`.goldens` -- ``python -m conformance.tools.goldens``: regenerate or check the golden
  files, each group in a fresh interpreter.
* :mod:`.mutate` -- ``python -m conformance mutate``: mutation testing, the suite as the
  test, on an implementation's own source.
* :mod:`.pin` -- ``python -m conformance pin``: pin counterexamples of a report or a replay
  command into the regression corpus.
* :mod:`.plot` -- ``python -m conformance plot``: the error headroom of reports, drawn.

Each depends on the engine (or on what it reads); nothing in the engine imports these.
"""
