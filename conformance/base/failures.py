"""How a property says what it found: it failed, or it cannot be checked in this run."""

from __future__ import annotations

from typing import Any


class PropertyFailure(AssertionError):
    """The implementation broke the property; ``details`` go into the report."""

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class PropertySkip(Exception):
    """The property cannot be checked in this run (one device, no NNX modes): the cell is a skip
    whose message says why, never a silent pass."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


#: The exception a per-sample subject's worker raises when the declaration's ``make`` fails while
#: building the model handed to a ``(model, x_batch)`` implementation: the call never reached the
#: implementation. A worker's word is not trusted: the runner has the oracle worker build the
#: same model before it blames the declaration.
MAKE_FAILED = "MakeFailed"


class OracleError(Exception):
    """The subject's oracle could not answer: the code of a user's per-sample declaration raised,
    hung or died in its worker. The cell is ``incomplete``, marked ``declaration_failed``: no
    verdict on the implementation under test, and the run exits 2."""
