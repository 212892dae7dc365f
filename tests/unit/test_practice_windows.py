"""Tests for server.practice.windows: when a member may join an occurrence, and which room it is held in."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from server.auth import is_valid_room
from server.practice.windows import room_for, window_state

UTC = datetime.UTC
WINDOW = 15 * 60


@dataclass(frozen=True)
class Occ:
    key: str
    start: datetime.datetime
    end: datetime.datetime
    cancelled: bool = False


def at(hour: int, minute: int = 0, day: int = 7) -> datetime.datetime:
    return datetime.datetime(2026, 12, day, hour, minute, tzinfo=UTC)


MONDAY = Occ("20261207T180000", at(18), at(19, 30))
WEDNESDAY = Occ("20261209T180000", at(18, day=9), at(19, 30, day=9))


def test_the_window_opens_join_window_before_the_start_and_closes_at_the_end() -> None:
    cases = [(at(17, 44), None), (at(17, 45), MONDAY), (at(18, 50), MONDAY), (at(19, 29), MONDAY), (at(19, 30), None)]
    for now, expected in cases:
        assert window_state([MONDAY, WEDNESDAY], now, WINDOW).open == expected, now


def test_outside_the_window_the_next_session_is_named() -> None:
    assert window_state([WEDNESDAY, MONDAY], at(12), WINDOW).next == MONDAY
    assert window_state([MONDAY, WEDNESDAY], at(19, 30), WINDOW).next == WEDNESDAY
    assert window_state([MONDAY], at(20), WINDOW).next is None


def test_a_cancelled_occurrence_never_opens_and_is_not_next() -> None:
    cancelled = Occ(MONDAY.key, MONDAY.start, MONDAY.end, cancelled=True)
    state = window_state([cancelled, WEDNESDAY], at(18), WINDOW)
    assert state.open is None and state.next == WEDNESDAY


def test_a_zero_window_opens_exactly_at_the_start() -> None:
    assert window_state([MONDAY], at(17, 59), 0).open is None
    assert window_state([MONDAY], at(18), 0).open == MONDAY


def test_each_occurrence_has_its_own_valid_room() -> None:
    rooms = {room_for("g-0123456789abcdef", o.key) for o in (MONDAY, WEDNESDAY)}
    assert len(rooms) == 2 and all(is_valid_room(r) for r in rooms)
    assert is_valid_room(room_for("g-0123456789abcdef", "2026-12-07T18:00:00+00:00/moved"))
