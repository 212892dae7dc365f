"""signaling/snapshot.py: a session's structure survives a restart, and nothing personal beyond ids is in it."""

from __future__ import annotations

import json
import random

from signaling.agenda import Agenda
from signaling.breakouts import Breakouts
from signaling.room import Participant, Room
from signaling.snapshot import restore, take

START = 1_000.0


def live_room() -> tuple[Room, Breakouts]:
    room = Room("group", 20, "s-1", now=START, rng=random.Random(1))
    for pid, role in (("h", "host"), ("a", "participant"), ("b", "participant"), ("c", "participant")):
        room.enter(Participant(pid, pid.upper(), role), START)
        if not room.participants[pid].admitted:
            room.admit(pid)
    room.enter(Participant("w", "Waiting Wendy", "participant"), START)  # waiting: not admitted
    room.agenda = Agenda.from_template("default", START + 5)
    room.agenda.next(START + 60)
    room.start_checkin(["a", "b", "c"], False)
    room.advance_checkin(passed=True)
    room.raise_hand("c")
    room.give_floor("b")
    room.set_role("a", "cohost")
    room.homework = ("Three good moments", START + 90)
    breakouts = Breakouts()
    breakouts.create(["A", "B"], None)
    breakouts.plan("b", "A")
    breakouts.start(START + 100, 10)
    room.move("b", "A")
    return room, breakouts


def test_a_restored_room_has_the_agenda_check_in_hands_floor_and_breakouts_it_had() -> None:
    room, breakouts = live_room()
    data = json.loads(json.dumps(take(room, breakouts, START + 120)))  # as stored: JSON
    fresh, fresh_breakouts = Room("group", 20, "s-new", now=START + 200), Breakouts()
    restore(fresh, fresh_breakouts, data, START + 200)
    viewer = Participant("x", "X", "host")
    assert fresh.session_id == "s-1"
    for key in ("agenda", "checkin", "hands", "floor", "homework", "started_at"):
        assert fresh.state_for(viewer)[key] == room.state_for(viewer)[key], key
    assert fresh_breakouts.open and fresh_breakouts.ends_at == breakouts.ends_at
    assert fresh_breakouts.planned_room("b") == "A"


def test_admitted_members_return_where_they_were_and_the_waiting_still_wait() -> None:
    from signaling.resume import Claim

    room, breakouts = live_room()
    data = take(room, breakouts, START + 120)
    fresh, fresh_breakouts = Room("group", 20, "s-new", now=START + 200), Breakouts()
    restore(fresh, fresh_breakouts, data, START + 200)
    back = Claim(resume_session="s-1")
    # No host is back yet: Ben still returns admitted, to breakout A; Ana keeps her co-host role.
    assert fresh.enter(Participant("b", "B", "participant"), START + 210, back) == "admitted"
    assert fresh.participants["b"].location == "A"
    fresh.enter(Participant("a", "A", "participant"), START + 211, back)
    assert fresh.participants["a"].role == "cohost"
    # Someone who was waiting, or is new, waits.
    assert fresh.enter(Participant("w", "W", "participant"), START + 212, back) == "waiting"
    assert fresh.enter(Participant("n", "N", "participant"), START + 213) == "waiting"


def test_a_snapshot_holds_ids_but_no_names_and_no_chat() -> None:
    room, breakouts = live_room()
    data = take(room, breakouts, START + 120)
    assert "Waiting Wendy" not in json.dumps(data)
    assert set(data) == {"version", "saved_at", "session_id", "started_at", "settings", "agenda", "checkin", "hands",
                         "floor", "spotlight", "homework", "screen_allowed", "banned", "sent_away", "admitted",
                         "host_was_present", "breakouts"}
    assert data["admitted"]["b"] == {"role": "participant", "location": "A"}


async def test_a_damaged_snapshot_starts_a_fresh_session_instead_of_breaking_the_room() -> None:
    from signaling.session import Session
    from tests.support.fakes import FakeRouters, MemoryRecords
    from tests.unit.test_session import POLICY

    class Store:
        def __init__(self, data) -> None:
            self.data = data

        def save_snapshot(self, room, snapshot) -> None:
            self.data = snapshot

        def load_snapshot(self, room):
            return self.data

        def drop_snapshot(self, room) -> None:
            self.data = None

    for damaged in ({"version": 1, "saved_at": 1e12, "session_id": "s-old"}, ["not", "a", "dict"],
                    {"version": 1, "saved_at": 1e12, "session_id": "s-old", "started_at": 1, "settings": {},
                     "checkin": {"order": []}}):
        session = Session("group", POLICY, MemoryRecords(), FakeRouters(), lambda s: None, clock=lambda: 1e12,
                          snapshots=Store(damaged))
        try:
            assert session.session_id != "s-old" and session.room.checkin is None
        finally:
            await session.close("test")
