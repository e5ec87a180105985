"""``python -m conformance bench``: how fast each implementation is, and how far from this machine's limit.

The benchmark command, one module per concern:

* :mod:`.timing`: the per-subject calling conventions (:data:`BENCH_SUBJECTS`), the
  float32 GEMM peak measurement (:func:`measure_peak`, :func:`best_peak`) and the timing
  of one implementation at one grid point (:func:`time_point`);
* :mod:`.settings`: the grid and its defaults, and the validation of the command line
  (:class:`UsageError`);
* :mod:`.running`: the run over the grid (:func:`run_bench`), which returns the JSON
  document (schema :data:`SCHEMA`);
* :mod:`.render`: the outputs drawn from that document: a rich table
  (:func:`print_table`) and a PNG plot (:func:`write_plot`);
* :mod:`.command`: the argument parser (:func:`add_parser`), the handler
  (:func:`cmd_bench`), and :func:`main_bench` to run it from an argument list.

What it measures, and its exit codes, are in :data:`DESCRIPTION` (plain text: it is
what ``bench --help`` prints).
"""

from conformance.tools.bench.command import (
    DESCRIPTION,
    EXIT_OK,
    EXIT_USAGE,
    add_parser,
    cmd_bench,
    main_bench,
)
from conformance.tools.bench.render import MAX_PLOT_PANELS, MODES, print_table, write_plot
from conformance.tools.bench.running import SCHEMA, run_bench
from conformance.tools.bench.settings import (
    DEFAULT_BATCH,
    DEFAULT_D_IN,
    DEFAULT_FEATURES,
    DEFAULT_OUT,
    DEFAULT_PEAK_BUDGET_S,
    DEFAULT_REPEATS,
    QUICK_BATCH,
    QUICK_D_IN,
    QUICK_FEATURES,
    QUICK_PEAK_BUDGET_S,
    QUICK_PEAK_SIZES,
    QUICK_REPEATS,
    Settings,
    UsageError,
    parse_int_list,
)
from conformance.tools.bench.timing import (
    BENCH_SUBJECTS,
    DEFAULT_PEAK_SIZES,
    ENSEMBLE_MEMBERS,
    ERROR_LIMIT,
    SEED,
    BenchSubject,
    Peak,
    Row,
    best_peak,
    fraction,
    gflops,
    measure_peak,
    time_point,
)

__all__ = [
    "BENCH_SUBJECTS",
    "DEFAULT_BATCH",
    "DEFAULT_D_IN",
    "DEFAULT_FEATURES",
    "DEFAULT_OUT",
    "DEFAULT_PEAK_BUDGET_S",
    "DEFAULT_PEAK_SIZES",
    "DEFAULT_REPEATS",
    "DESCRIPTION",
    "ENSEMBLE_MEMBERS",
    "ERROR_LIMIT",
    "EXIT_OK",
    "EXIT_USAGE",
    "MAX_PLOT_PANELS",
    "MODES",
    "QUICK_BATCH",
    "QUICK_D_IN",
    "QUICK_FEATURES",
    "QUICK_PEAK_BUDGET_S",
    "QUICK_PEAK_SIZES",
    "QUICK_REPEATS",
    "SCHEMA",
    "SEED",
    "BenchSubject",
    "Peak",
    "Row",
    "Settings",
    "UsageError",
    "add_parser",
    "best_peak",
    "cmd_bench",
    "fraction",
    "gflops",
    "main_bench",
    "measure_peak",
    "parse_int_list",
    "print_table",
    "run_bench",
    "time_point",
    "write_plot",
]
