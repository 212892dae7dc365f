"""A practice group's rooms show its own agreement and start from its default agenda (practice/group_rooms.py)."""

from __future__ import annotations

import pytest

from server.practice.group_rooms import GroupRooms, parse_agenda

GROUP = "g-0123456789abcdef"


def test_an_agenda_is_one_phase_per_line_title_then_minutes() -> None:
    text = "Check-in 10\n\nSkills practice, 20\nOpen discussion: 25 min\n  Closing & homework — 5 minutes  \n"
    assert parse_agenda(text) == [
        {"title": "Check-in", "minutes": 10}, {"title": "Skills practice", "minutes": 20},
        {"title": "Open discussion", "minutes": 25}, {"title": "Closing & homework", "minutes": 5}]
    assert parse_agenda("") == [] and parse_agenda("\n  \n") == []


@pytest.mark.parametrize("text, says", [
    ("Check-in\nTopic 20", "line 1"),
    ("Check-in 10\n20", "line 2"),
    ("Check-in 0", "minutes"),
    ("Check-in 9999", "minutes"),
    ("\n".join(f"Phase {i} 5" for i in range(40)), "phases"),
])
def test_a_wrong_agenda_says_what_is_wrong(text: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        parse_agenda(text)


def test_only_the_groups_own_rooms_show_its_agreement_and_agenda() -> None:
    rooms = GroupRooms()
    rooms.load([{"id": GROUP, "consent_text": "Ours.", "agenda_template": "Check-in 10\nProcess 50"}])
    assert rooms.for_room(f"{GROUP}-20270104T1800") == "Ours."
    assert rooms.agenda_for(f"{GROUP}-20270104T1800") == [{"title": "Check-in", "minutes": 10},
                                                           {"title": "Process", "minutes": 50}]
    assert rooms.for_room("tuesday-group") is None and rooms.agenda_for("tuesday-group") is None
    rooms.update({"id": GROUP, "consent_text": "Ours.", "agenda_template": ""})
    assert rooms.agenda_for(f"{GROUP}-20270104T1800") is None  # none set: the server's templates apply


def test_a_groups_rooms_follow_its_emergency_information_rule() -> None:
    rooms = GroupRooms()
    rooms.load([{"id": GROUP, "consent_text": "Ours.", "agenda_template": "", "emergency_info": 0}])
    assert rooms.emergency_for(f"{GROUP}-20270104T1800") is False
    rooms.update({"id": GROUP, "consent_text": "Ours.", "agenda_template": "", "emergency_info": 1})
    assert rooms.emergency_for(f"{GROUP}-20270104T1800") is True
    assert rooms.emergency_for("tuesday-group") is None  # not a group's room: the server's rule applies
