"""Tests for signaling.room: admission, the size limit, removal and arrival order."""

from __future__ import annotations

import pytest

from signaling.room import Participant, Room, RoomFull, Track


def person(pid: str, role: str = "participant") -> Participant:
    return Participant(id=pid, name=pid.title(), role=role, joined_at=0.0)


def test_admitted_participants_are_listed_in_order_of_arrival() -> None:
    room = Room("group", max_participants=5)
    for pid in ("ann", "bob", "cat", "dan"):
        room.admit(person(pid))
    assert [p.id for p in room.others("bob")] == ["ann", "cat", "dan"]
    assert [p.id for p in room.others("nobody")] == ["ann", "bob", "cat", "dan"]


def test_a_full_room_refuses_a_newcomer_with_its_id() -> None:
    room = Room("group", max_participants=2)
    room.admit(person("ann"))
    room.admit(person("bob"))
    with pytest.raises(RoomFull) as info:
        room.admit(person("cat"))
    assert info.value.args == ("group",)
    assert list(room.participants) == ["ann", "bob"]


def test_a_returning_participant_fits_in_a_full_room_and_replaces_the_old_entry() -> None:
    room = Room("group", max_participants=2)
    room.admit(person("ann"))
    room.admit(person("bob"))
    again = Participant(id="ann", name="Ann again", role="host", joined_at=5.0)
    room.admit(again)
    assert room.participants["ann"] is again
    assert len(room.participants) == 2


def test_remove_returns_the_participant_once() -> None:
    room = Room("group", max_participants=2)
    ann = person("ann")
    room.admit(ann)
    assert room.remove("ann") is ann
    assert room.remove("ann") is None
    assert room.is_empty()


def test_a_place_freed_by_removal_can_be_taken() -> None:
    room = Room("group", max_participants=1)
    room.admit(person("ann"))
    room.remove("ann")
    room.admit(person("bob"))
    assert list(room.participants) == ["bob"]


def test_a_room_with_no_place_refuses_everyone() -> None:
    with pytest.raises(RoomFull):
        Room("closed", max_participants=0).admit(person("ann"))


def test_a_new_room_is_empty() -> None:
    room = Room("group", max_participants=3)
    assert room.is_empty() and room.others("ann") == []


def test_participant_describes_itself_with_its_tracks() -> None:
    ann = person("ann", role="host")
    ann.tracks["t-1"] = Track("t-1", "video", "camera")
    ann.tracks["t-2"] = Track("t-2", "audio", "microphone", muted=True)
    assert ann.describe() == {
        "id": "ann",
        "name": "Ann",
        "role": "host",
        "tracks": [
            {"track_id": "t-1", "kind": "video", "label": "camera", "muted": False},
            {"track_id": "t-2", "kind": "audio", "label": "microphone", "muted": True},
        ],
    }
