"""plan(): the Router operations between two placements, and MediaPlacement carrying them out."""

from __future__ import annotations

import pytest

from media.api import MediaError
from signaling.placement import (
    MAIN_ROOM,
    WAITING_ROOM,
    Add,
    MediaPlacement,
    Move,
    Placement,
    SetMedia,
    plan,
)
from tests.support.fakes import FakeRouters

IN_A = Placement(admitted=True, location="A")
IN_B = Placement(admitted=True, location="B")
CUT_IN_A = Placement(admitted=True, location="A", cut=True)


@pytest.mark.parametrize(("old", "new", "steps"), [
    (None, WAITING_ROOM, [Add("main", False)]),
    (None, MAIN_ROOM, [Add("main", True)]),
    (WAITING_ROOM, MAIN_ROOM, [SetMedia("main", True)]),
    (MAIN_ROOM, WAITING_ROOM, [SetMedia("main", False)]),
    (MAIN_ROOM, IN_A, [Move("main", "A")]),
    (IN_A, IN_B, [Move("A", "B")]),
    (IN_A, MAIN_ROOM, [Move("A", "main")]),
    # Media stops in the breakout before the move, so the main room never hears them.
    (IN_A, WAITING_ROOM, [SetMedia("A", False), Move("A", "main")]),
    (IN_A, CUT_IN_A, [SetMedia("A", False)]),
    (MAIN_ROOM, MAIN_ROOM, []),
    (WAITING_ROOM, WAITING_ROOM, []),
    (CUT_IN_A, CUT_IN_A, []),
    # A waiting participant's placement keeps them in the main room's Router whatever their location says.
    (Placement(admitted=False, location="A"), WAITING_ROOM, []),
])
def test_plan_derives_router_operations_from_the_two_placements(old, new, steps) -> None:
    assert plan(old, new) == steps


async def test_media_placement_creates_a_breakout_router_on_first_use_and_drops_it_when_empty() -> None:
    routers = FakeRouters()
    placement = MediaPlacement(routers, listener=None)  # type: ignore[arg-type]
    placement.apply("ana", MAIN_ROOM)
    placement.apply("ana", IN_A)
    assert routers.flows("ana") == {"A": True}
    await placement.drop_router("A")  # ana is still there: kept
    assert not routers.made["A"].closed
    placement.apply("ana", MAIN_ROOM)
    await placement.drop_router("A")
    assert routers.made["A"].closed and set(placement.routers) == {"main"}
    await placement.remove("ana")
    assert "ana" not in routers.made["main"].members
    await placement.close()


def test_router_of_someone_never_placed_is_a_media_refusal() -> None:
    placement = MediaPlacement(FakeRouters(), listener=None)  # type: ignore[arg-type]
    with pytest.raises(MediaError):
        placement.router_of("nobody")
