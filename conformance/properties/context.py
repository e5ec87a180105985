"""What a property sees: the implementation under test, the oracle, the reference panel.

Results that do not depend on the implementation under test (the oracle's
answer, the built-in panel's outputs) are cached in a :class:`SharedCache`
and shared by every implementation and property of a run.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import numpy as np

from conformance.base.failures import MAKE_FAILED, PropertyFailure
from conformance.boundary.calls import CallResult
from conformance.subjects import Args, Expected, Subject, args_key
from impl.registry import Implementation


class Executor(Protocol):
    impl: Implementation

    @property
    def given_up(self) -> bool:
        """Its later calls fail at once, with :attr:`evidence` (it hung or died too often)."""
        ...

    @property
    def evidence(self) -> str:
        """Why it gave up: the first dead call, described ("" while it has not)."""
        ...

    @property
    def healthy(self) -> bool:
        """A second executor of the same implementation may help it (conformance.run.scheduling)."""
        ...

    def start(self) -> None: ...

    def call(self, args: Args, transform: dict[str, Any] | None = None) -> CallResult: ...

    def close(self) -> None: ...


class _LRU(OrderedDict):
    """A small least-recently-stored cache, safe to share between threads."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size
        self.lock = threading.Lock()

    def lookup(self, key: str) -> Any:
        with self.lock:
            return self.get(key)

    def remember(self, key: str, value: Any) -> Any:
        with self.lock:
            self[key] = value
            if len(self) > self.size:
                self.popitem(last=False)
        return value


@dataclass
class SharedCache:
    """Oracle answers and reference-panel outputs, keyed by exact arguments.

    Shared by implementations checked at the same time in several threads: the work
    done in this process (Flax building the oracle's parameters, the panel's calls)
    runs under ``lock``, one at a time; the implementations run in their workers.
    """

    expected: _LRU = field(default_factory=lambda: _LRU(4096))
    panel: _LRU = field(default_factory=lambda: _LRU(4096))
    lock: threading.RLock = field(default_factory=threading.RLock)


@dataclass
class Context:
    subject: Subject
    executor: Executor
    #: trusted reference implementations (the subject's built-ins, minus the one under test)
    panel: dict[str, Executor]
    x64: bool = False
    strict: bool = False
    cache: SharedCache = field(default_factory=SharedCache)
    #: the error model the numeric properties enforce: "rigorous" or "probabilistic"
    #: (conformance.numerics.tolerance.TOLERANCES); the cache holds both bounds, so runs share it
    tolerance: str = "rigorous"
    calls: int = 0
    #: this implementation's results by exact arguments: properties drawing the same
    #: examples share one call (properties about repeated calls ask for ``fresh`` ones)
    memo: _LRU = field(default_factory=lambda: _LRU(512))

    @property
    def impl(self) -> Implementation:
        return self.executor.impl

    def call(self, args: Args, fresh: bool = False, transform: dict[str, Any] | None = None) -> CallResult:
        """One call of the implementation (under ``transform``, plain data, if given), memoized."""
        key = args_key(args) + (json.dumps(transform, sort_keys=True, default=str) if transform else "")
        known = None if fresh else self.memo.lookup(key)
        if known is None:
            self.calls += 1
            ordered = self.subject.ordered(args)
            result = self.executor.call(ordered, transform) if transform else self.executor.call(ordered)
            known = self.memo.remember(key, result)
        if known.status == "raised" and known.error_type == MAKE_FAILED and self.subject.confirm_make:
            # the worker says the declaration's make failed before the implementation ran: if the
            # oracle worker's make fails too, OracleError (no verdict); if not, the failure stands
            self.subject.confirm_make(args)
        return known

    def expected(self, args: Args) -> Expected:
        # The subject is part of the key: a run over several subjects shares one cache, and the
        # same arguments mean other things to vmap_over_batch and vmap_anchored.
        key = f"{self.subject.name}:{args_key(args)}"
        known = self.cache.expected.lookup(key)
        if known is None:
            with self.cache.lock:
                known = self.cache.expected.remember(key, self.subject.expected(args, self.x64))
        return self.tolerated(known)

    def tolerated(self, expected: Expected) -> Expected:
        """``expected`` with the bound of this run's tolerance (the oracles give both)."""
        if self.tolerance == "rigorous" or expected.probable is None:
            return expected
        return replace(expected, bound=expected.probable)

    def panel_output(self, name: str, args: Args) -> CallResult:
        key = f"{self.subject.name}:{name}:{args_key(args)}"
        known = self.cache.panel.lookup(key)
        if known is not None:
            return known
        with self.cache.lock:
            result = self.panel[name].call(self.subject.ordered(args))
        return self.cache.panel.remember(key, result)

    def output(self, args: Args, what: str = "the call", fresh: bool = False) -> np.ndarray:
        """The flat output of a call, or a :class:`PropertyFailure` saying why there is none."""
        result = self.call(args, fresh)
        return usable_output(result, self.expected(args), what)


def usable_output(result: CallResult, expected: Expected, what: str = "the call") -> np.ndarray:
    if result.status != "ok" or result.output is None:
        raise PropertyFailure(f"{what} {result.describe_failure()}", call=result.status)
    out = result.output
    if out.shape != expected.shape:
        raise PropertyFailure(
            f"{what} returned shape {out.shape}, expected {expected.shape} (see output_contract)"
        )
    if not (np.issubdtype(out.dtype, np.number) or out.dtype.name == "bfloat16"):
        raise PropertyFailure(f"{what} returned dtype {out.dtype}, not a number")
    return out.reshape(-1)


# --------------------------------------------------------------------------- helpers of the checks


def typical_bound(expected: Any, times: float = 1.0) -> np.ndarray | None:
    """``times`` the probabilistic model's bound of ``expected``, for the headroom probe only
    (``assert_close(typical=...)``): a pass beyond it gets a warning, never a failure."""
    probable = getattr(expected, "probable", None)
    return None if probable is None else times * probable


def locator(subject: Subject, args: Args) -> Callable[[int], str]:
    return lambda i: subject.locate(i, args)


def row_locator(subject: Subject, args: Args, axis: str = "row", offset: int = 0) -> Callable[[int], str]:
    """For outputs viewed as (``axis``, rest), e.g. :meth:`Subject.output_rows`."""
    return lambda i: subject.locate_in(axis, offset + i, args)


def check_that(what: str, assertion: Callable[[], None]) -> None:
    try:
        assertion()
    except AssertionError as e:
        text = " ".join(str(e).replace("[Chex]", "").split())
        raise PropertyFailure(f"{what}: {text}") from None
