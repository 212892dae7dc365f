"""Tests for signaling.chat: who may write to whom, who receives a message, and who may read the history."""

from __future__ import annotations

from typing import Any

import pytest

from signaling.chat import HISTORY, ChatLog, ChatMessage
from signaling.protocol import ProtocolError
from signaling.room import Participant, Room, Settings

MAX_CHARS = 20
T0 = 1_764_263_000.0


def make_room(**settings: bool) -> Room:
    """Host h, cohost co, participants a and b admitted; w waiting."""
    room = Room("group", 20, session_id="s-1", settings=Settings(waiting_room=False), now=T0)
    room.enter(Participant("h", "Harriet", "host"), T0)
    for pid in ("co", "a", "b"):
        room.enter(Participant(pid, pid.upper(), "participant"), T0)
    room.set_role("co", "cohost")
    room.change_settings({"waiting_room": True, **settings})
    room.enter(Participant("w", "W", "participant"), T0)
    return room


def post(log: ChatLog, room: Room, sender: str, to: str, text: Any = "hello") -> ChatMessage:
    return log.post(room, room.participants[sender], to, text, T0)


@pytest.fixture
def log() -> ChatLog:
    return ChatLog(max_chars=MAX_CHARS)


# -- posting --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sender", "to", "text", "settings", "expected"),
    [
        ("a", "room", "hello", {}, None),
        ("a", "hosts", "hello", {}, None),
        ("a", "h", "hello", {}, None),
        ("a", "co", "hello", {}, None),
        ("h", "a", "hello", {}, None),
        ("co", "b", "hello", {}, None),
        ("a", "b", "hello", {"private_chat": True}, None),
        ("h", "room", "hello", {"chat_enabled": False}, None),
        ("co", "a", "hello", {"chat_enabled": False}, None),
        ("a", "room", "x" * MAX_CHARS, {}, None),
        ("a", "room", "  " + "x" * MAX_CHARS + "\n", {}, None),
        ("w", "room", "hello", {}, "not-permitted"),
        ("w", "h", "hello", {}, "not-permitted"),
        ("a", "b", "hello", {}, "not-permitted"),
        ("a", "room", "hello", {"chat_enabled": False}, "chat-disabled"),
        ("a", "hosts", "hello", {"chat_enabled": False}, "chat-disabled"),
        ("a", "room", "   ", {"chat_enabled": False}, "chat-disabled"),
        ("a", "room", "", {}, "bad-request"),
        ("a", "room", " \t\n ", {}, "bad-request"),
        ("a", "room", "x" * (MAX_CHARS + 1), {}, "bad-request"),
        ("a", "room", None, {}, "bad-request"),
        ("a", "room", 42, {}, "bad-request"),
        ("a", "zed", "hello", {}, "unknown-participant"),
        ("a", "w", "hello", {"private_chat": True}, "unknown-participant"),
        ("h", "w", "hello", {}, "unknown-participant"),
        ("a", "a", "hello", {"private_chat": True}, "unknown-participant"),
        ("a", "zed", "", {}, "bad-request"),
    ],
    ids=[
        "a participant writes to the room",
        "a participant writes to the hosts",
        "a participant writes to the host",
        "a participant writes to a cohost",
        "a host writes to a participant",
        "a cohost writes to a participant",
        "participants write privately when private chat is on",
        "a host writes while chat is off",
        "a cohost writes while chat is off",
        "the longest message",
        "length counts after trimming",
        "a waiting participant cannot chat",
        "a waiting participant cannot write to the host",
        "participants cannot write privately by default",
        "a participant cannot write while chat is off",
        "a participant cannot write to the hosts while chat is off",
        "chat being off is reported before the text",
        "an empty message",
        "a blank message",
        "a message one character too long",
        "a missing text",
        "a numeric text",
        "an unknown recipient",
        "a waiting recipient",
        "a host cannot write to someone waiting",
        "nobody writes privately to themselves",
        "the text is checked before the recipient",
    ],
)
def test_posting_follows_the_chat_rules(log: ChatLog, sender: str, to: str, text: Any, settings: dict,
                                        expected: str | None) -> None:
    room = make_room(**settings)
    if expected is None:
        message = post(log, room, sender, to, text)
        assert (message.sender_id, message.to, message.text) == (sender, to, text.strip())
        assert list(log.history) == [message]
    else:
        with pytest.raises(ProtocolError) as caught:
            post(log, room, sender, to, text)
        assert caught.value.code == expected
        assert list(log.history) == []


def test_a_message_has_a_session_unique_id_and_the_protocol_form(log: ChatLog) -> None:
    room = make_room()
    first = post(log, room, "a", "room", "  Thank you all ")
    second = log.post(room, room.participants["h"], "a", "You're welcome", T0 + 1.5)
    assert (first.id, second.id) == ("m-1", "m-2")
    assert second.describe() == {"id": "m-2", "from": {"id": "h", "name": "Harriet"}, "to": "a",
                                 "text": "You're welcome", "ts": 1_764_263_001_500}


# -- recipients -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sender", "to", "settings", "expected"),
    [
        ("a", "room", {}, ["h", "co", "a", "b"]),
        ("a", "hosts", {}, ["a", "co", "h"]),
        ("h", "hosts", {}, ["co", "h"]),
        ("a", "h", {}, ["a", "h"]),
        ("h", "b", {}, ["b", "h"]),
        ("a", "b", {"private_chat": True}, ["a", "b"]),
    ],
    ids=["the room reaches every admitted member", "the hosts and the sender",
         "a host writing to the hosts", "a participant to the host", "a host to a participant",
         "participant to participant"],
)
def test_a_message_reaches_its_recipients_and_the_sender(log: ChatLog, sender: str, to: str, settings: dict,
                                                         expected: list[str]) -> None:
    room = make_room(**settings)
    message = post(log, room, sender, to)
    recipients = ChatLog.recipients(room, message)
    if to == "room":
        assert recipients == expected
    else:
        assert sorted(recipients) == sorted(expected)
    assert "w" not in recipients


def test_nobody_who_left_receives_a_message(log: ChatLog) -> None:
    room = make_room()
    message = post(log, room, "a", "h")
    room.remove("h", T0)
    assert ChatLog.recipients(room, message) == ["a"]


def test_someone_sent_to_the_waiting_room_receives_nothing(log: ChatLog) -> None:
    room = make_room()
    message = post(log, room, "a", "room")
    room.send_to_waiting("b", T0)
    assert ChatLog.recipients(room, message) == ["h", "co", "a"]


# -- history --------------------------------------------------------------------------------------


def history_for(log: ChatLog, room: Room) -> dict[str, list[str]]:
    return {pid: [m["text"] for m in log.visible_to(room, room.participants[pid])] for pid in ("h", "co", "a", "b")}


def test_history_shows_room_messages_and_only_ones_own_private_conversations(log: ChatLog) -> None:
    room = make_room(private_chat=True)
    post(log, room, "a", "room", "a-room")
    post(log, room, "a", "hosts", "a-hosts")
    post(log, room, "b", "hosts", "b-hosts")
    post(log, room, "a", "b", "a-b")
    post(log, room, "h", "b", "h-b")
    post(log, room, "co", "h", "co-h")
    post(log, room, "h", "hosts", "h-hosts")
    assert history_for(log, room) == {
        "h": ["a-room", "a-hosts", "b-hosts", "h-b", "co-h", "h-hosts"],
        "co": ["a-room", "a-hosts", "b-hosts", "co-h", "h-hosts"],
        "a": ["a-room", "a-hosts", "a-b"],
        "b": ["a-room", "b-hosts", "a-b", "h-b"],
    }


def test_a_promoted_cohost_reads_earlier_messages_to_the_hosts(log: ChatLog) -> None:
    room = make_room()
    post(log, room, "a", "hosts", "a-hosts")
    assert history_for(log, room)["b"] == []
    room.set_role("b", "cohost")
    assert history_for(log, room)["b"] == ["a-hosts"]


def test_history_keeps_only_the_latest_messages(log: ChatLog) -> None:
    room = make_room()
    for i in range(HISTORY + 5):
        post(log, room, "a", "room", f"n{i}")
    visible = log.visible_to(room, room.participants["b"])
    assert len(visible) == HISTORY
    assert (visible[0]["id"], visible[0]["text"]) == ("m-6", "n5")
    assert visible[-1]["id"] == f"m-{HISTORY + 5}"


def test_a_participant_whose_id_is_hosts_cannot_read_messages_to_the_hosts(log: ChatLog) -> None:
    room = make_room()
    room.change_settings({"waiting_room": False})
    room.enter(Participant("hosts", "Mallory", "participant"), T0)
    post(log, room, "a", "hosts", "for hosts only")
    assert log.visible_to(room, room.participants["hosts"]) == []


def test_a_senders_own_breakout_messages_stay_in_the_breakout_when_they_return() -> None:
    room = Room("g", 10, "s-1")
    host = Participant("h", "Host", "host")
    ben = Participant("ben", "Ben", "participant")
    room.enter(host, 0.0)
    room.enter(ben, 0.0)
    room.admit("ben")
    log = ChatLog(1000)
    ben.location = "Room 2"
    log.post(room, ben, "room", "hello room 2", 1.0)
    ben.location = "main"
    assert log.visible_to(room, ben) == []
