"""Tests for signaling.room: who enters, who waits, who hosts, and the session's turns (docs/protocol.md §9)."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest

from signaling.agenda import Agenda
from signaling.breakouts import Breakouts
from signaling.protocol import ProtocolError
from signaling.room import ADMITTED, WAITING, Participant, Room, Settings, Track

START = 1_000.0


def person(pid: str, role: str = "participant") -> Participant:
    return Participant(pid, pid.upper(), role)


def make_room(max_participants: int = 10, rng: random.Random | None = None, **settings: bool) -> Room:
    return Room("group", max_participants, session_id="s-1", settings=Settings(**settings), now=START, rng=rng)


def refusal(action: Callable[[], Any]) -> str:
    with pytest.raises(ProtocolError) as caught:
        action()
    return caught.value.code


def hosted_room(*members: str, **settings: bool) -> Room:
    """A room with host "h" and the given participants admitted (waiting room off while they enter)."""
    room = make_room(waiting_room=False)
    room.enter(person("h", "host"), START)
    for pid in members:
        room.enter(person(pid), START)
    room.change_settings({"waiting_room": True, **settings})
    return room


# -- entering -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "host_in_room", "returning", "locked", "waiting_room", "expected"),
    [
        ("host", False, False, False, True, ADMITTED),
        ("host", False, False, True, True, ADMITTED),
        ("host", True, False, True, True, ADMITTED),
        ("cohost", False, False, True, True, ADMITTED),
        ("participant", True, False, False, True, WAITING),
        ("participant", True, False, False, False, ADMITTED),
        ("participant", False, False, False, False, WAITING),
        ("participant", False, False, False, True, WAITING),
        ("participant", True, True, False, True, WAITING),
        ("participant", True, True, True, True, WAITING),
        ("participant", False, True, False, False, WAITING),
        ("participant", False, True, True, True, WAITING),
        ("participant", True, False, True, False, "room-locked"),
        ("participant", False, False, True, True, "room-locked"),
    ],
    ids=[
        "a host is admitted into an empty room",
        "a host is admitted into a locked room",
        "a second host is admitted into a locked room",
        "a cohost from a token is admitted like a host",
        "a newcomer waits when the waiting room is on",
        "a newcomer is admitted when the waiting room is off and a host is present",
        "a newcomer waits while no host is present even with the waiting room off",
        "a newcomer waits while no host is present",
        "a returning participant without a resume credential waits",
        "a returning participant passes the lock but waits",
        "a returning participant waits while no host is present",
        "a returning participant waits in a locked room while no host is present",
        "a newcomer is refused by a locked room",
        "a newcomer is refused by a locked room without a host",
    ],
)
def test_entering_follows_the_admission_rules(role: str, host_in_room: bool, returning: bool, locked: bool,
                                              waiting_room: bool, expected: str) -> None:
    room = make_room(waiting_room=False)
    if returning:
        room.enter(person("setup-host", "host"), START)
        assert room.enter(person("p"), START) == ADMITTED
        room.remove("p", START)
        room.remove("setup-host", START)
    if host_in_room:
        room.enter(person("h", "host"), START)
    room.change_settings({"locked": locked, "waiting_room": waiting_room})
    newcomer = person("p", role)

    if expected in (ADMITTED, WAITING):
        assert room.enter(newcomer, START + 5) == expected
        assert newcomer.state == expected
        assert room.participants["p"] is newcomer
    else:
        assert refusal(lambda: room.enter(newcomer, START + 5)) == expected
        assert "p" not in room.participants


def test_a_waiting_participant_is_stamped_with_the_time_they_arrived() -> None:
    room = hosted_room()
    sam = person("sam")
    room.enter(sam, START + 42)
    assert (sam.state, sam.waiting_since) == (WAITING, START + 42)


def test_an_admitted_participant_is_remembered_as_admitted_once() -> None:
    room = hosted_room("a")
    assert room.admitted_ever == {"h", "a"}


@pytest.mark.parametrize("role", ["participant", "host"])
def test_a_banned_participant_is_refused_even_if_admitted_before(role: str) -> None:
    room = hosted_room("a")
    room.remove("a", START)
    room.ban("a")
    assert refusal(lambda: room.enter(person("a", role), START)) == "banned"


def test_a_ban_is_reported_before_a_full_room() -> None:
    room = make_room(max_participants=1)
    room.enter(person("h", "host"), START)
    room.ban("x")
    assert refusal(lambda: room.enter(person("x"), START)) == "banned"


@pytest.mark.parametrize(
    ("occupants", "newcomer_role", "expected"),
    [
        (["h"], "participant", WAITING),
        (["h", "a"], "participant", WAITING),
        (["h", "a", "w"], "participant", "room-full"),
        (["h", "a", "w"], "host", ADMITTED),
    ],
    ids=["a seat is free", "waiting people take no seat in the room", "the waiting room is full",
         "a host from the join link always gets in"],
)
def test_a_room_holds_at_most_max_participants(occupants: list[str], newcomer_role: str, expected: str) -> None:
    room = make_room(max_participants=2)
    for pid in occupants:
        room.enter(person(pid, "host" if pid == "h" else "participant"), START)
    newcomer = person("n", newcomer_role)
    if expected == "room-full":
        assert refusal(lambda: room.enter(newcomer, START)) == "room-full"
    else:
        assert room.enter(newcomer, START) == expected


def test_admitting_into_a_full_room_is_refused() -> None:
    room = make_room(max_participants=2)
    room.enter(person("h", "host"), START)
    for pid in ("a", "b"):
        room.enter(person(pid), START)
        room.admit(pid)
    room.enter(person("c"), START)
    assert refusal(lambda: room.admit("c")) == "room-full"


def test_a_seat_frees_up_when_someone_leaves() -> None:
    room = make_room(max_participants=2)
    room.enter(person("h", "host"), START)
    room.enter(person("a"), START)
    room.remove("a", START)
    assert room.enter(person("b"), START) == WAITING


def test_a_participant_already_in_the_room_is_not_counted_twice() -> None:
    room = make_room(max_participants=2)
    room.enter(person("h", "host"), START)
    room.enter(person("a"), START)
    assert room.enter(person("a"), START + 1) == WAITING


# -- waiting room ---------------------------------------------------------------------------------


def test_admitting_a_waiting_participant_admits_them() -> None:
    room = hosted_room()
    room.enter(person("a"), START)
    admitted = room.admit("a")
    assert (admitted.id, admitted.state) == ("a", ADMITTED)
    assert "a" in room.admitted_ever
    assert room.waiting() == []


@pytest.mark.parametrize("target", ["a", "h", "nobody"], ids=["admitted", "host", "unknown"])
def test_only_waiting_participants_can_be_admitted(target: str) -> None:
    room = hosted_room("a")
    assert refusal(lambda: room.admit(target)) == "not-waiting"


def test_the_waiting_list_is_in_arrival_order() -> None:
    room = hosted_room("c")
    room.enter(person("a"), START + 20)
    room.enter(person("b"), START + 10)
    room.send_to_waiting("c", START + 30)
    assert [p.id for p in room.waiting()] == ["b", "a", "c"]


def test_sending_to_the_waiting_room_stops_admission_and_clears_turns() -> None:
    room = hosted_room("a", "b")
    room.raise_hand("a")
    room.give_floor("a")
    room.raise_hand("a")
    room.start_checkin(["b", "a"], shuffle=False)

    sent = room.send_to_waiting("a", START + 60)

    assert (sent.state, sent.waiting_since) == (WAITING, START + 60)
    assert (room.hands, room.floor) == ([], None)
    assert room.checkin is not None and room.checkin.order == ["b"]
    assert [p.id for p in room.admitted()] == ["h", "b"]


@pytest.mark.parametrize(
    ("target", "expected"),
    [("h", "not-permitted"), ("w", "not-permitted"), ("co", "not-permitted"), ("nobody", "unknown-participant")],
    ids=["a host", "someone already waiting", "a cohost", "someone not in the room"],
)
def test_only_admitted_participants_who_are_not_hosts_can_be_sent_to_wait(target: str, expected: str) -> None:
    room = hosted_room("co")
    room.set_role("co", "cohost")
    room.enter(person("w"), START)
    assert refusal(lambda: room.send_to_waiting(target, START)) == expected


# -- hosts and roles ------------------------------------------------------------------------------


def test_require_host_returns_an_admitted_host_or_cohost() -> None:
    room = hosted_room("co")
    room.set_role("co", "cohost")
    assert room.require_host("h").id == "h"
    assert room.require_host("co").id == "co"


@pytest.mark.parametrize("pid", ["a", "w", "nobody"], ids=["a participant", "someone waiting", "someone unknown"])
def test_require_host_refuses_everyone_else(pid: str) -> None:
    room = hosted_room("a")
    room.enter(person("w"), START)
    assert refusal(lambda: room.require_host(pid)) == "not-permitted"


def test_promoting_a_participant_makes_them_a_host_and_lowers_their_hand() -> None:
    room = hosted_room("a")
    room.raise_hand("a")
    promoted = room.set_role("a", "cohost")
    assert (promoted.role, promoted.is_host) == ("cohost", True)
    assert room.hands == []


def test_demoting_a_cohost_makes_them_a_participant_again() -> None:
    room = hosted_room("a")
    room.set_role("a", "cohost")
    demoted = room.set_role("a", "participant")
    assert (demoted.role, demoted.is_host) == ("participant", False)
    assert refusal(lambda: room.require_host("a")) == "not-permitted"


@pytest.mark.parametrize(
    ("target", "role", "expected"),
    [
        ("h", "participant", "not-permitted"),
        ("h", "cohost", "not-permitted"),
        ("w", "cohost", "not-permitted"),
        ("a", "host", "bad-request"),
        ("a", "", "bad-request"),
        ("nobody", "cohost", "unknown-participant"),
    ],
    ids=[
        "a token host cannot be demoted",
        "a token host cannot become a cohost",
        "a waiting participant cannot be promoted before admission",
        "nobody can be made a token host",
        "the role must be named",
        "the participant must be in the room",
    ],
)
def test_role_changes_that_are_refused(target: str, role: str, expected: str) -> None:
    room = hosted_room("a")
    room.enter(person("w"), START)
    assert refusal(lambda: room.set_role(target, role)) == expected
    assert room.participants.get(target, person("x")).role != "cohost"


def test_a_cohost_keeps_the_room_hosted_after_the_host_leaves() -> None:
    room = hosted_room("co")
    room.set_role("co", "cohost")
    room.change_settings({"waiting_room": False})
    room.remove("h", START + 60)
    assert room.host_present is True
    assert room.no_host_since is None
    assert room.enter(person("n"), START + 61) == ADMITTED


def test_demoting_the_last_cohost_starts_the_no_host_clock() -> None:
    room = hosted_room("co")
    room.set_role("co", "cohost")
    room.remove("h", START + 60)
    room.set_role("co", "participant")
    assert room.host_present is False
    assert room.no_host_since is not None


# -- no host --------------------------------------------------------------------------------------


def test_a_new_room_has_had_no_host_since_it_started() -> None:
    room = make_room()
    assert (room.host_present, room.no_host_since) == (False, START)


def test_a_host_arriving_stops_the_no_host_clock() -> None:
    room = make_room()
    room.enter(person("h", "host"), START + 5)
    assert (room.host_present, room.no_host_since) == (True, None)


def test_the_last_host_leaving_starts_the_no_host_clock() -> None:
    room = hosted_room("a")
    room.enter(person("h2", "host"), START)
    room.remove("h", START + 100)
    assert room.no_host_since is None
    room.remove("h2", START + 200)
    assert (room.host_present, room.no_host_since) == (False, START + 200)


def test_a_participant_leaving_does_not_restart_the_no_host_clock() -> None:
    room = make_room()
    room.enter(person("a"), START + 1)
    room.remove("a", START + 50)
    assert room.no_host_since == START


def test_removing_someone_not_in_the_room_returns_none() -> None:
    room = hosted_room()
    assert room.remove("nobody", START) is None


def test_removing_a_participant_clears_their_hand_floor_and_checkin_turn() -> None:
    room = hosted_room("a", "b", "c")
    room.raise_hand("b")
    room.raise_hand("c")
    room.give_floor("b")
    room.raise_hand("b")
    room.start_checkin(["a", "b", "c"], shuffle=False)

    removed = room.remove("b", START + 10)

    assert removed is not None and removed.id == "b"
    assert (room.hands, room.floor) == (["c"], None)
    assert room.checkin is not None
    assert room.checkin.describe() == {"order": ["a", "c"], "current": "a", "done": [], "passed": []}


# -- turns ----------------------------------------------------------------------------------------


def test_hands_queue_in_the_order_they_were_raised_and_only_once() -> None:
    room = hosted_room("a", "b", "c")
    for pid in ["b", "a", "b", "c"]:
        room.raise_hand(pid)
    assert room.hands == ["b", "a", "c"]
    room.lower_hand("a")
    room.lower_hand("a")
    assert room.hands == ["b", "c"]


def test_giving_the_floor_lowers_that_hand_only() -> None:
    room = hosted_room("a", "b")
    room.raise_hand("a")
    room.raise_hand("b")
    room.give_floor("b")
    assert (room.floor, room.hands) == ("b", ["a"])


def test_giving_the_floor_to_nobody_takes_it_back() -> None:
    room = hosted_room("a")
    room.give_floor("a")
    room.give_floor(None)
    assert room.floor is None


def test_the_floor_cannot_go_to_someone_not_in_the_room() -> None:
    room = hosted_room("a")
    assert refusal(lambda: room.give_floor("nobody")) == "unknown-participant"
    assert room.floor is None


def test_a_checkin_round_covers_admitted_non_hosts_in_arrival_order() -> None:
    room = hosted_room("a", "b", "co")
    room.set_role("co", "cohost")
    room.enter(person("w"), START)
    checkin = room.start_checkin(None, shuffle=False)
    assert (checkin.order, checkin.current) == (["a", "b"], "a")


def test_a_random_checkin_round_uses_the_rooms_random_generator() -> None:
    room = make_room(waiting_room=False, rng=random.Random(1234))
    room.enter(person("h", "host"), START)
    members = [f"p{i}" for i in range(8)]
    for pid in members:
        room.enter(person(pid), START)
    expected = list(members)
    random.Random(1234).shuffle(expected)

    checkin = room.start_checkin(None, shuffle=True)

    assert checkin.order == expected
    assert checkin.order != members


def test_becoming_the_current_speaker_lowers_that_hand() -> None:
    room = hosted_room("a", "b", "c")
    for pid in ["a", "b", "c"]:
        room.raise_hand(pid)
    room.start_checkin(None, shuffle=False)
    assert room.hands == ["b", "c"]
    assert room.advance_checkin(passed=False) == "b"
    assert room.hands == ["c"]


def test_the_next_speaker_hand_is_lowered_when_the_current_speaker_leaves() -> None:
    room = hosted_room("a", "b")
    room.start_checkin(None, shuffle=False)
    room.raise_hand("b")
    room.remove("a", START + 10)
    assert room.checkin is not None and room.checkin.current == "b"
    assert room.hands == []


def test_advancing_without_a_checkin_round_is_refused() -> None:
    room = hosted_room("a")
    assert refusal(lambda: room.advance_checkin(passed=False)) == "no-checkin"


# -- views ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("viewer", "hands_visible", "expected"),
    [
        ("h", False, ["b", "a"]),
        ("co", False, ["b", "a"]),
        ("a", False, ["a"]),
        ("c", False, []),
        ("a", True, ["b", "a"]),
        ("c", True, ["b", "a"]),
    ],
    ids=[
        "a host sees the whole queue",
        "a cohost sees the whole queue",
        "a participant sees only their own hand",
        "a participant without a hand sees none",
        "a participant sees the queue when hands are visible",
        "anyone sees the queue when hands are visible",
    ],
)
def test_room_state_hides_other_hands_from_participants_unless_visible(viewer: str, hands_visible: bool,
                                                                        expected: list[str]) -> None:
    room = hosted_room("a", "b", "c", "co", hands_visible=hands_visible)
    room.set_role("co", "cohost")
    room.raise_hand("b")
    room.raise_hand("a")
    assert room.state_for(room.participants[viewer])["hands"] == expected


def test_room_state_has_every_field_of_the_protocol() -> None:
    room = hosted_room("a", locked=True)
    room.agenda = Agenda.from_template("process", START + 1)
    room.homework = ("Three good moments", START + 2.5)
    assert room.state_for(room.participants["a"]) == {
        "session_id": "s-1", "started_at": 1_000_000, "host_present": True, "hands": [], "floor": None,
        "spotlight": None,
        "agenda": {"phases": [{"title": "Check-in", "minutes": 15}, {"title": "Open process", "minutes": 45},
                              {"title": "Reflection", "minutes": 15}, {"title": "Closing", "minutes": 5}],
                   "current": 0, "phase_started_at": 1_001_000},
        "checkin": None, "homework": {"text": "Three good moments", "posted_at": 1_002_500},
        "locked": True, "waiting_room": True, "chat_enabled": True, "private_chat": False, "hands_visible": False,
        "readmit_after_timeout": False, "members_media_without_host": False, "checkin_text_visible": False,
        "host_away": None,
    }


def test_room_state_says_no_host_is_present_after_the_hosts_leave() -> None:
    room = hosted_room("a")
    room.remove("h", START)
    assert room.state_for(room.participants["a"])["host_present"] is False


# -- rules a client could try to bypass -------------------------------------------------------------


def share(room: Room, pid: str) -> None:
    room.participants[pid].tracks["t-" + pid] = Track("t-" + pid, "video", "screen")


def test_a_member_needs_a_hosts_permission_to_share_a_screen() -> None:
    room = hosted_room("ana")
    assert refusal(lambda: room.check_new_share(room.participants["ana"], replace=False)) == "not-permitted"
    room.screen_allowed.add("ana")
    assert room.check_new_share(room.participants["ana"], replace=False) is None


def test_only_one_screen_is_shared_per_room_unless_the_new_share_replaces_it() -> None:
    room = hosted_room("ana")
    room.screen_allowed.add("ana")
    share(room, "h")
    assert refusal(lambda: room.check_new_share(room.participants["ana"], replace=False)) == "screen-share-active"
    assert room.check_new_share(room.participants["ana"], replace=True) is room.participants["h"]
    assert room.check_new_share(room.participants["h"], replace=False) is None  # one's own share again


def test_a_share_in_a_breakout_does_not_block_one_in_the_main_room() -> None:
    room = hosted_room("ana", "ben")
    room.screen_allowed.update({"ana", "ben"})
    room.move("ana", "A")
    share(room, "ana")
    assert room.sharer("A") is room.participants["ana"] and room.sharer("main") is None
    assert room.check_new_share(room.participants["ben"], replace=False) is None


def test_a_waiting_participant_cannot_share_even_with_permission() -> None:
    room = hosted_room()
    room.enter(person("wes"), START)
    room.screen_allowed.add("wes")
    assert refusal(lambda: room.check_new_share(room.participants["wes"], replace=False)) == "not-permitted"


def test_only_the_current_check_in_speaker_can_pass() -> None:
    room = hosted_room("ana", "ben")
    assert refusal(lambda: room.pass_turn("ana")) == "no-checkin"
    room.start_checkin(["ana", "ben"], shuffle=False)
    assert refusal(lambda: room.pass_turn("ben")) == "not-permitted"
    assert room.pass_turn("ana") == "ben"
    assert room.checkin is not None and room.checkin.passed == ["ana"]


def test_a_host_from_the_join_link_and_oneself_cannot_be_removed_but_a_co_host_can() -> None:
    room = hosted_room("ana")
    room.set_role("ana", "cohost")
    host, cohost = room.participants["h"], room.participants["ana"]
    assert refusal(lambda: room.check_removable(cohost, host)) == "not-permitted"
    assert refusal(lambda: room.check_removable(host, host)) == "not-permitted"
    room.check_removable(host, cohost)


def test_only_hosts_lower_someone_elses_hand() -> None:
    room = hosted_room("ana", "ben")
    room.raise_hand("ana")
    room.raise_hand("ben")
    assert refusal(lambda: room.lower_hand("ana", by=room.participants["ben"])) == "not-permitted"
    room.lower_hand("ben", by=room.participants["ben"])
    room.lower_hand("ana", by=room.participants["h"])
    assert room.hands == []


def test_moving_needs_an_admitted_participant() -> None:
    room = hosted_room()
    room.enter(person("wes"), START)
    assert refusal(lambda: room.move("wes", "A")) == "unknown-participant"
    assert room.participants["wes"].location == "main"


def test_members_choose_a_breakout_only_when_breakouts_are_open_and_self_select_is_on() -> None:
    breakouts = Breakouts()
    breakouts.create(["A", "B"], None)
    assert refusal(lambda: breakouts.choose("ana", "A")) == "not-permitted"
    breakouts.start(START, None)
    assert refusal(lambda: breakouts.choose("ana", "A")) == "not-permitted"
    breakouts.self_select = True
    assert refusal(lambda: breakouts.choose("ana", "C")) == "unknown-breakout"
    breakouts.choose("ana", "B")
    assert breakouts.planned_room("ana") == "B"


@pytest.mark.parametrize("names", ["abc", {"A": 1, "B": 2}, 7])
def test_breakout_names_must_be_a_list(names) -> None:
    breakouts = Breakouts()
    assert refusal(lambda: breakouts.create(names, None)) == "bad-request"
    assert breakouts.rooms == {}
