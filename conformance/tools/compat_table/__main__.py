"""``python -m conformance.tools.compat_table FILE_OR_DIR... [--out PATH] [--note TEXT]``."""

import sys

from conformance.tools.compat_table.command import main

sys.exit(main())
