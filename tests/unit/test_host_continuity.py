"""Host continuity (signaling/parts/continuity.py): the session while no host is present, with fake Routers."""

from __future__ import annotations

import dataclasses

import pytest

from signaling.codes import LeaveReason
from signaling.resume import Claim
from signaling.room import Participant
from signaling.session import Session
from tests.support.clock import Clock
from tests.support.fakes import FakeOutbox, FakeRouters, MemoryRecords
from tests.unit.test_session import POLICY


class Harness:
    def __init__(self, **policy) -> None:
        self.routers = FakeRouters()
        self.clock = Clock()
        self.session = Session("group", dataclasses.replace(POLICY, **policy), MemoryRecords(), self.routers,
                               lambda s: None, clock=self.clock)
        self.outboxes: dict[str, FakeOutbox] = {}

    async def join(self, pid: str, role: str = "participant", claim: Claim | None = None) -> dict:
        outbox = self.outboxes[pid] = FakeOutbox(self.routers.journal)
        return await self.session.join(outbox, Participant(pid, pid.upper(), role), claim or Claim())

    async def request(self, pid: str, kind: str, **fields) -> dict:
        return await self.session.handle(pid, kind, fields)

    async def leave(self, pid: str, reason: LeaveReason = LeaveReason.LEFT) -> None:
        await self.session.leave(self.outboxes[pid], reason)

    def room_state(self, pid: str) -> dict:
        return self.outboxes[pid].of_type("room-state")[-1]["room"]


@pytest.fixture
async def group():
    """A host and two admitted members, Ana and Ben."""
    h = Harness()
    await h.join("host", "host")
    for pid in ("ana", "ben"):
        await h.join(pid)
        await h.request("host", "admit", participant_id=pid)
    yield h
    await h.session.close("test")


async def test_members_are_told_at_once_that_the_host_stepped_out_and_their_media_pauses(group) -> None:
    group.clock.now = 1_060.0
    await group.leave("host")
    away = group.room_state("ana")["host_away"]
    assert away == {"since": 1_060_000, "reason": "left", "ends_at": 1_660_000, "media_paused": True}
    assert group.room_state("ana")["host_present"] is False
    assert group.routers.flows("ana") == {"main": False} and group.routers.flows("ben") == {"main": False}


async def test_a_dropped_host_connection_says_disconnected(group) -> None:
    await group.leave("host", LeaveReason.TIMEOUT)
    assert group.room_state("ben")["host_away"]["reason"] == "disconnected"


async def test_members_media_goes_on_when_the_host_allowed_it(group) -> None:
    await group.request("host", "set-room", members_media_without_host=True)
    await group.leave("host")
    assert group.room_state("ana")["host_away"]["media_paused"] is False
    assert group.routers.flows("ana") == {"main": True}


async def test_allowing_members_media_while_the_host_is_away_resumes_it_at_once() -> None:
    h = Harness()
    await h.join("host", "host")
    await h.join("cal", "host")
    await h.join("ana")
    await h.request("host", "admit", participant_id="ana")
    await h.request("cal", "set-room", members_media_without_host=False)
    await h.leave("host")
    assert h.routers.flows("ana") == {"main": True}  # Cal is still a host here: nothing pauses
    assert h.room_state("ana")["host_away"] is None
    await h.session.close("test")


async def test_a_cohost_who_stays_keeps_the_session_running(group) -> None:
    await group.request("host", "set-role", participant_id="ana", role="cohost")
    await group.leave("host")
    assert group.room_state("ben")["host_present"] is True
    assert group.room_state("ben")["host_away"] is None
    assert group.routers.flows("ben") == {"main": True}


async def test_nobody_is_admitted_while_the_host_is_away_even_without_a_waiting_room() -> None:
    h = Harness(waiting_room=False)
    await h.join("host", "host")
    await h.join("ana")
    await h.leave("host")
    entry = await h.join("ben")
    assert entry["state"] == "waiting"
    assert h.routers.flows("ben") == {"main": False}
    await h.session.close("test")


async def test_the_returning_host_is_told_how_long_they_were_away_and_media_flows_again(group) -> None:
    credential = Claim(resume_session=group.session.session_id)
    group.clock.now = 1_100.0
    await group.leave("host")
    group.clock.now = 1_280.0
    entry = await group.join("host", "host", credential)
    assert entry["host_absence"] == {"since": 1_100_000, "returned_at": 1_280_000, "ends_at": 1_700_000,
                                     "media_paused": True}
    assert group.room_state("ana")["host_away"] is None
    assert group.routers.flows("ana") == {"main": True} and group.routers.flows("ben") == {"main": True}


async def test_a_host_reconnecting_from_elsewhere_is_not_an_absence(group) -> None:
    credential = Claim(resume_session=group.session.session_id)
    entry = await group.join("host", "host", credential)
    assert "host_absence" not in entry
    assert all(state["room"]["host_away"] is None for state in group.outboxes["ana"].of_type("room-state"))
