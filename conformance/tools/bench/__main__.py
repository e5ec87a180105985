"""``python -m conformance.tools.bench ARGS``: the same as ``python -m conformance bench ARGS``."""

import sys

from conformance.tools.bench.command import main_bench

sys.exit(main_bench())
