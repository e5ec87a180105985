"""Which worker checks which property: a subject's implementations spread over the slots.

Each implementation is a :class:`Lane`: its properties, in the order its owner goes through
them (:func:`property_order`). A slot takes the next implementation nobody has started and
becomes its owner: it starts the implementation's worker and checks properties from the
front of the lane. A slot with no implementation left to start helps the one with the most
properties left: it starts a second worker of that implementation and checks properties from
the back, until the two meet. So the last implementation of a run, or the only one, does not
leave a core idle.

A helper joins only a healthy lane (the owner's worker loaded and answered a call, and never
hung, crashed or broke the protocol) with at least :data:`HELP_MIN` properties left: a worker
costs about 2 s of start-up, and a hanging implementation must not get a second worker to
hang in.

Nothing here knows JAX, workers or properties: the engine passes in how to start, use and
end a context, and the tests drive it with plain objects.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from impl.registry import ImplementationLoadError

#: A lane gets a helper only with at least this many properties left. One property takes
#: 0.1 to 10 s under ``ci``; a second worker of the implementation, about 2 s to start.
HELP_MIN = 4
#: Seconds between two looks of an idle slot at the lanes it may help.
POLL = 0.25

T = TypeVar("T")  # what names an implementation (the engine's Target)
P = TypeVar("P")  # a property
C = TypeVar("C")  # a started context (a worker)
R = TypeVar("R")  # a cell's result


def property_order(props: Sequence[P], slot: int, slots: int) -> list[P]:
    """The order in which the ``slot``-th of ``slots`` implementations checked side by side
    goes through ``props``: the first forward, the second backward, any other from its own
    share of the list on. The costly new shapes (the first properties draw the pool, then the
    tile edges) are then compiled by one worker while the other runs properties it can take
    from the cache later, instead of both compiling the same programs at the same moment.
    """
    if slots <= 1 or slot == 0:
        return list(props)
    if slot == 1:
        return list(props[::-1])
    start = slot * len(props) // slots
    return list(props[start:]) + list(props[:start])


@dataclass(eq=False)
class Lane(Generic[T, C, R]):
    """One implementation's properties and what came of them."""

    target: T
    #: the owner's context, once loaded (None before, and when it could not load)
    context: C | None = None
    load_error: str | None = None
    #: the cells, in the order they finished
    cells: list[R] = field(default_factory=list)
    #: from the owner's start to the last cell
    seconds: float = 0.0
    #: how many helpers joined
    helpers: int = 0
    #: the properties nobody has taken yet
    pending: deque[Any] = field(default_factory=deque)
    started: bool = False
    halted: bool = False
    no_help: bool = False
    #: slots at work on this lane now (its owner and helpers)
    active: int = 0
    began: float = 0.0

    @property
    def loading(self) -> bool:
        """Its owner is still starting its worker (the lane may yet become one to help)."""
        return self.started and self.context is None and self.load_error is None and not self.halted


@dataclass
class Spread(Generic[T, P, C, R]):
    """How the engine starts, uses and ends a context; see the module docstring."""

    #: start a context of the target; ``helper`` is True for a second one. May raise
    #: ImplementationLoadError.
    open: Callable[[T, bool], C]
    #: end a context (``helper`` as given to ``open``)
    close: Callable[[T, C, bool], None]
    #: check one property in a context
    check: Callable[[T, C, P], R]
    #: may a second worker help this (owner's) context? (it never hung, crashed, ...)
    healthy: Callable[[C], bool]
    #: after this cell, check nothing more of the implementation (stop at the first failure)
    halts: Callable[[R], bool]
    #: set when the run is stopped: nothing new starts
    stopping: threading.Event
    #: called as each cell finishes, from the slot's thread
    on_cell: Callable[[T, R], None] | None = None

    def run(
        self, targets: Sequence[T], props: Sequence[P], slots: int, *, as_slot: tuple[int, int] | None = None
    ) -> list[Lane[T, C, R]]:
        """Every property of every target, over ``slots`` threads; the lanes in ``targets``' order.

        ``as_slot=(slot, of)``: one slot that goes through the properties as the ``slot``-th of
        ``of`` would (the order of :func:`property_order`).
        """
        lanes: list[Lane[T, C, R]] = [Lane(t) for t in targets]
        cond = threading.Condition()

        def take(slot: int) -> tuple[Lane[T, C, R], bool] | None:
            """The next lane to own (True) or to help (False); None when nothing is left."""
            with cond:
                while not self.stopping.is_set():
                    for lane in lanes:
                        if not lane.started:
                            lane.started, lane.active = True, 1
                            lane.pending = deque(property_order(props, *(as_slot or (slot, slots))))
                            lane.began = time.perf_counter()
                            return lane, True
                    helpable = [
                        lane for lane in lanes if self._open_to_help(lane) and self.healthy(lane.context)
                    ]
                    if helpable:
                        lane = max(helpable, key=lambda lane: len(lane.pending))
                        lane.active += 1
                        lane.helpers += 1
                        return lane, False
                    if not any(lane.loading or self._open_to_help(lane) for lane in lanes):
                        return None  # no lane can become helpable any more
                    cond.wait(POLL)  # a lane's health is not announced: look again
                return None

        def finish(lane: Lane[T, C, R]) -> None:
            with cond:
                lane.active -= 1
                if lane.active == 0:
                    lane.seconds = round(time.perf_counter() - lane.began, 3)
                cond.notify_all()

        def work(lane: Lane[T, C, R], ctx: C, front: bool) -> None:
            while True:
                with cond:
                    if lane.halted or self.stopping.is_set() or not lane.pending:
                        return
                    prop = lane.pending.popleft() if front else lane.pending.pop()
                cell = self.check(lane.target, ctx, prop)
                with cond:
                    lane.cells.append(cell)
                    if self.halts(cell):
                        lane.halted = True
                if self.on_cell:
                    self.on_cell(lane.target, cell)

        def own(lane: Lane[T, C, R]) -> None:
            try:
                ctx = self.open(lane.target, False)
            except ImplementationLoadError as e:
                with cond:
                    lane.load_error = str(e)
                    lane.pending.clear()
                finish(lane)
                return
            except BaseException:  # the suite's own error: nobody may wait for this lane
                with cond:
                    lane.halted = True
                finish(lane)
                raise
            with cond:
                lane.context = ctx
                cond.notify_all()
            run_in(lane, ctx, helper=False)

        def help_(lane: Lane[T, C, R]) -> None:
            try:
                ctx = self.open(lane.target, True)
            except ImplementationLoadError:  # the owner loaded it: let the owner finish alone
                with cond:
                    lane.no_help = True
                finish(lane)
                return
            except BaseException:
                finish(lane)
                raise
            run_in(lane, ctx, helper=True)

        def run_in(lane: Lane[T, C, R], ctx: C, helper: bool) -> None:
            try:
                work(lane, ctx, front=not helper)
            except BaseException:  # the suite's own error: the lane's other workers stop too
                with cond:
                    lane.halted = True
                raise
            finally:
                self.close(lane.target, ctx, helper)
                finish(lane)

        def slot_loop(slot: int) -> None:
            while (job := take(slot)) is not None:
                lane, owner = job
                (own if owner else help_)(lane)

        if slots <= 1:
            slot_loop(0)
        else:
            pool = ThreadPoolExecutor(max_workers=slots, thread_name_prefix="conformance")
            try:
                for future in [pool.submit(slot_loop, s) for s in range(slots)]:
                    future.result()
            finally:  # stopped (a signal): nothing new starts
                pool.shutdown(wait=True, cancel_futures=True)
        return lanes

    @staticmethod
    def _open_to_help(lane: Lane[T, C, R]) -> bool:
        """Loaded, still going, with enough left; a helper joins once it is healthy, too."""
        if lane.context is None or lane.halted or lane.no_help:
            return False
        return len(lane.pending) >= HELP_MIN
