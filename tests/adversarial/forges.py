"""Implementations that write to the worker's answer pipe themselves.

The worker's write descriptor is on its command line (``--write-fd N``); code under
test can find it as easily as walking the stack. Before the protocol was plain data,
a pickle sent this way ran code in the runner.
"""

from __future__ import annotations

import os
import pickle
import struct
import sys
from typing import Any

from tests.adversarial.common import right

#: Where the forged pickle would leave its mark if the runner unpickled it.
MARKER_ENV = "CONFORMANCE_TEST_PWNED"


def _fd() -> int:
    return int(sys.argv[sys.argv.index("--write-fd") + 1])


def _frame(data: bytes) -> bytes:
    return struct.pack("!Q", len(data)) + data


class _Payload:
    def __reduce__(self) -> Any:
        path = os.environ.get(MARKER_ENV, "/tmp/conformance-pwned")
        return (open, (path, "w"))


def sends_pickle(seed: Any, x_batch: Any, features: Any) -> Any:
    """Sends a pickle whose loading would create a file, then answers correctly."""
    os.write(_fd(), _frame(pickle.dumps(_Payload())))
    return right(seed, x_batch, features)


def sends_forged_result(seed: Any, x_batch: Any, features: Any) -> Any:
    """Sends a well-formed result for another call, then answers correctly."""
    message = (
        b'{"kind":"result","id":999999,"status":"ok","output":null,"output_type":"x","error_type":"",'
        b'"error_bases":[],"error_message":"","error_where":"","input_changes":[],"seconds":0,'
        b'"side_effects":[]}'
    )
    os.write(_fd(), _frame(message))
    return right(seed, x_batch, features)


def announces_huge_frame(seed: Any, x_batch: Any, features: Any) -> Any:
    """Announces a frame of a petabyte (the runner must not try to read it)."""
    os.write(_fd(), struct.pack("!Q", 1 << 50))
    return right(seed, x_batch, features)
