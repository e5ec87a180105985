"""The compatibility table: the JAX/Flax matrix's JSON files as one Markdown page.

    python -m conformance.tools.compat_table FILE_OR_DIR... [--out docs/compatibility.md] [--note TEXT]

It reads three kinds of JSON file (a directory stands for the ``*.json`` files in it):

* a conformance report (``check --json``, schema ``nnx-conformance/report/N``): one
  subject on one JAX/Flax line, every implementation x property cell;
* tox's own result file (``tox --result-json``): per matrix env, whether it
  installed (and the installer's error if not), the exit code and summary line of
  the suite's own tests, the check's exit code, and how long each step took;
* a line stub (schema ``nnx-conformance/matrix-line/1``) for a line tried outside
  tox, or one whose failure tox did not record::

      {"schema": "nnx-conformance/matrix-line/1", "env": "jax0431-flax085",
       "jax": "0.4.31", "flax": "0.8.5", "stage": "install" | "run",
       "error": "the error, verbatim"}

Everything is joined on the (jax, flax) versions: a column is one line. The page
shows only what the files say: a cell is the status a report recorded, never a
guess. The package imports neither JAX nor Flax, so any Python runs it.

Its modules, in the order the data flows: :mod:`.lines` (a column of the table),
:mod:`.reading` (the files into lines), :mod:`.cells` (what each cell says),
:mod:`.render` (the Markdown page) and :mod:`.command` (the command line).
"""

from conformance.tools.compat_table.cells import (
    ABSENT,
    EVIDENCE,
    NNX_MODES,
    NNX_MODES_PREFIX,
    NO_REPORT,
    NOT_INSTALLED,
    STATUS_TEXT,
    VERDICT_TEXT,
    cell,
    changes,
    group_cell,
    nnx_modes_rows,
    nnx_modes_text,
    rows,
    tests_cell,
    verdict,
)
from conformance.tools.compat_table.command import main
from conformance.tools.compat_table.lines import InputError, Line, ToxRun, version_key
from conformance.tools.compat_table.reading import STUB_SCHEMA, expand, load, parse_tox_result
from conformance.tools.compat_table.render import render

__all__ = [
    "ABSENT",
    "EVIDENCE",
    "NNX_MODES",
    "NNX_MODES_PREFIX",
    "NOT_INSTALLED",
    "NO_REPORT",
    "STATUS_TEXT",
    "STUB_SCHEMA",
    "VERDICT_TEXT",
    "InputError",
    "Line",
    "ToxRun",
    "cell",
    "changes",
    "expand",
    "group_cell",
    "load",
    "main",
    "nnx_modes_rows",
    "nnx_modes_text",
    "parse_tox_result",
    "render",
    "rows",
    "tests_cell",
    "verdict",
    "version_key",
]
