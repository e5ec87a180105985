"""``python -m conformance.tools.mutate ARGS``: the same as ``python -m conformance mutate ARGS``."""

import sys

from conformance.tools.mutate.command import main

sys.exit(main())
