"""The slots of a run (conformance/run/scheduling.py): owners go from the front of an
implementation's properties, helpers (a second worker of it) from the back; no property is
checked twice or left out; implementations side by side go through the properties in
different orders (``property_order``)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import pytest

from conformance.run.scheduling import HELP_MIN, Spread, property_order
from impl.registry import ImplementationLoadError

PROPS = [f"p{i}" for i in range(10)]


@dataclass
class Fake:
    """Contexts are strings ("name/owner", "name/helper"); cells are (target, context, property)."""

    unhealthy: set[str] = field(default_factory=set)
    cannot_load: set[str] = field(default_factory=set)
    no_helper: set[str] = field(default_factory=set)
    halt_on: set[str] = field(default_factory=set)
    opened: list[str] = field(default_factory=list)
    closed: list[str] = field(default_factory=list)
    helper_opened: threading.Event = field(default_factory=threading.Event)
    #: the owner waits for a helper before its first cell (so that one joins, whatever the timing)
    wait_for_helper: bool = False

    def open(self, target: str, helper: bool) -> str:
        if target in self.cannot_load or (helper and target in self.no_helper):
            if helper:
                self.helper_opened.set()
            raise ImplementationLoadError(f"{target} does not load")
        ctx = f"{target}/{'helper' if helper else 'owner'}"
        self.opened.append(ctx)
        if helper:
            self.helper_opened.set()
        return ctx

    def check(self, target: str, ctx: str, prop: str) -> tuple[str, str, str]:
        if self.wait_for_helper and ctx.endswith("owner"):
            self.helper_opened.wait(10)
        return (target, ctx, prop)

    def spread(self) -> Spread[str, str, str, Any]:
        return Spread(
            open=self.open,
            close=lambda target, ctx, helper: self.closed.append(ctx),
            check=self.check,
            healthy=lambda ctx: ctx.split("/")[0] not in self.unhealthy,
            halts=lambda cell: cell[2] in self.halt_on,
            stopping=threading.Event(),
        )


def _props(lane: Any) -> list[str]:
    return sorted((cell[2] for cell in lane.cells), key=PROPS.index)


def test_a_lone_implementation_is_helped_from_the_back_and_every_property_runs_once() -> None:
    fake = Fake(wait_for_helper=True)
    (lane,) = fake.spread().run(["a"], PROPS, 2)
    assert _props(lane) == PROPS  # each exactly once
    by = {ctx: [c[2] for c in lane.cells if c[1] == ctx] for ctx in ("a/owner", "a/helper")}
    assert by["a/owner"] and by["a/helper"]
    assert by["a/owner"] == sorted(by["a/owner"], key=PROPS.index)  # the owner from the front
    assert by["a/helper"] == sorted(by["a/helper"], key=PROPS.index, reverse=True)  # the helper from the back
    assert lane.helpers == 1 and lane.load_error is None and lane.context == "a/owner"
    assert sorted(fake.closed) == sorted(fake.opened) == ["a/helper", "a/owner"]


def test_an_implementation_that_hung_gets_no_second_worker() -> None:
    fake = Fake(unhealthy={"a"})
    (lane,) = fake.spread().run(["a"], PROPS, 2)
    assert _props(lane) == PROPS
    assert fake.opened == ["a/owner"] and lane.helpers == 0


def test_no_helper_for_fewer_than_help_min_properties() -> None:
    fake = Fake()
    (lane,) = fake.spread().run(["a"], PROPS[: HELP_MIN - 1], 2)
    assert _props(lane) == PROPS[: HELP_MIN - 1]
    assert fake.opened == ["a/owner"]


def test_a_load_error_is_kept_and_the_others_still_run() -> None:
    fake = Fake(cannot_load={"b"})
    lanes = fake.spread().run(["a", "b", "c"], PROPS, 2)
    assert [lane.target for lane in lanes] == ["a", "b", "c"]  # the targets' order
    assert lanes[1].load_error == "b does not load" and lanes[1].cells == [] and lanes[1].context is None
    assert _props(lanes[0]) == _props(lanes[2]) == PROPS
    assert not any(ctx.startswith("b/") for ctx in fake.opened)


def test_a_helper_that_cannot_load_leaves_the_owner_to_finish() -> None:
    fake = Fake(no_helper={"a"}, wait_for_helper=True)
    (lane,) = fake.spread().run(["a"], PROPS, 2)
    assert _props(lane) == PROPS and {c[1] for c in lane.cells} == {"a/owner"}
    assert lane.load_error is None


@pytest.mark.parametrize("slots", [1, 2])
def test_halting_stops_owner_and_helper(slots: int) -> None:
    fake = Fake(halt_on={"p0"})
    (lane,) = fake.spread().run(["a"], PROPS, slots)
    assert "p0" in _props(lane)
    assert len(lane.cells) < len(PROPS)


def test_second_owner_goes_backward_and_as_slot_picks_an_order() -> None:
    fake = Fake(unhealthy={"a", "b"})  # no helpers: each lane is its owner's alone
    lanes = fake.spread().run(["a"], PROPS, 1, as_slot=(1, 2))
    assert [c[2] for c in lanes[0].cells] == PROPS[::-1]
    lanes = Fake(unhealthy={"a", "b"}).spread().run(["a", "b"], PROPS, 1)
    assert [c[2] for c in lanes[1].cells] == PROPS  # one slot: every lane forward


def test_stopping_starts_nothing_new() -> None:
    fake = Fake()
    spread = fake.spread()
    spread.stopping.set()
    lanes = spread.run(["a", "b"], PROPS, 2)
    assert all(not lane.cells for lane in lanes) and fake.opened == []


def test_a_helper_joins_once_the_owner_has_answered() -> None:
    """Health comes late (the first answer): an idle slot keeps looking until it does."""
    fake = Fake()
    answered: list[str] = []

    def check(target: str, ctx: str, prop: str) -> tuple[str, str, str]:
        if ctx.endswith("owner"):
            threading.Event().wait(0.2)  # a slow implementation: the helper has time to join
        answered.append(prop)
        return (target, ctx, prop)

    spread = fake.spread()
    spread.check = check
    spread.healthy = lambda ctx: bool(answered)
    (lane,) = spread.run(["a"], PROPS, 2)
    assert _props(lane) == PROPS
    assert lane.helpers == 1
    assert [c[2] for c in lane.cells if c[1] == "a/owner"][0] == "p0"  # answered before the helper came


@pytest.mark.parametrize("where", ["open", "check"])
def test_the_suites_own_error_ends_the_run_instead_of_hanging_it(where: str) -> None:
    """An error that is not the implementation's (not a load error) propagates; the other slot
    must not wait forever for a lane that will never load or finish."""
    fake = Fake()
    spread = fake.spread()

    def broken_open(target: str, helper: bool) -> str:
        if target == "a" and not helper:
            raise RuntimeError("the suite broke")
        return fake.open(target, helper)

    def broken_check(target: str, ctx: str, prop: str) -> tuple[str, str, str]:
        if target == "a" and prop == "p1":
            raise RuntimeError("the suite broke")
        return (target, ctx, prop)

    if where == "open":
        spread.open = broken_open
    else:
        spread.check = broken_check
    done: list[BaseException] = []

    def go() -> None:
        try:
            spread.run(["a", "b"], PROPS, 2)
        except RuntimeError as e:
            done.append(e)

    thread = threading.Thread(target=go, daemon=True)
    thread.start()
    thread.join(20)
    assert not thread.is_alive(), "the run hung"
    assert [str(e) for e in done] == ["the suite broke"]
    assert sorted(fake.closed) == sorted(fake.opened)  # every worker opened was ended


def test_seconds_run_from_the_owners_start_to_the_last_cell() -> None:
    fake = Fake(wait_for_helper=True)
    spread = fake.spread()
    spread.check = lambda target, ctx, prop: threading.Event().wait(0.01) or (target, ctx, prop)
    (lane,) = spread.run(["a"], PROPS, 2)
    assert lane.active == 0 and len(lane.cells) == len(PROPS)
    assert 0.05 <= lane.seconds < 5  # ten cells of 10 ms, on one or two workers


def test_implementations_side_by_side_go_through_the_properties_in_different_orders() -> None:
    props = list("abcdefgh")
    assert property_order(props, 0, 1) == props
    assert property_order(props, 0, 2) == props
    assert property_order(props, 1, 2) == props[::-1]  # the costly first shapes come last
    assert property_order(props, 2, 4) == list("efghabcd")
    for slot in range(4):
        assert sorted(property_order(props, slot, 4)) == props
