"""Tests for signaling.agenda: templates, phase validation and the phase clock, driven by explicit times."""

from __future__ import annotations

from typing import Any

import pytest

from signaling.agenda import TEMPLATES, Agenda, Phase, parse_phases
from signaling.limits import MAX_AGENDA_PHASES
from signaling.protocol import ProtocolError

T0 = 1_764_262_800.0


def agenda_of(*minutes: int, now: float = T0) -> Agenda:
    return Agenda([Phase(f"Phase {i}", m) for i, m in enumerate(minutes)], now)


@pytest.mark.parametrize(
    ("name", "phases"),
    [
        ("default", [("Check-in", 10), ("Topic introduction", 10), ("Activities", 20), ("Open discussion", 20),
                     ("Closing & homework", 10)]),
        ("psychoeducational", [("Check-in", 10), ("Topic presentation", 20), ("Skills practice", 20),
                               ("Questions & discussion", 15), ("Closing & homework", 5)]),
        ("process", [("Check-in", 15), ("Open process", 45), ("Reflection", 15), ("Closing", 5)]),
        ("specialized", [("Check-in", 10), ("Focus topic", 15), ("Structured exercise", 25), ("Sharing", 15),
                         ("Closing & homework", 5)]),
        ("family", [("Check-in", 10), ("Communication exercise", 20), ("Guided discussion", 25),
                    ("Plan for the week", 10), ("Closing", 5)]),
    ],
)
def test_each_template_has_the_phases_the_protocol_lists(name: str, phases: list[tuple[str, int]]) -> None:
    agenda = Agenda.from_template(name, T0)
    assert [(p.title, p.minutes) for p in agenda.phases] == phases
    assert (agenda.current, agenda.phase_started_at) == (0, T0)


def test_the_protocol_lists_exactly_five_templates() -> None:
    assert list(TEMPLATES) == ["default", "psychoeducational", "process", "specialized", "family"]


def test_an_unknown_template_is_refused_with_the_known_names() -> None:
    with pytest.raises(ProtocolError) as caught:
        Agenda.from_template("cbt", T0)
    assert caught.value.code == "bad-request"
    assert caught.value.message == (
        "unknown template 'cbt'; one of default, psychoeducational, process, specialized, family")


# -- parse_phases ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ([{"title": "Check-in", "minutes": 10}], [Phase("Check-in", 10)]),
        ([{"title": "  Padded  ", "minutes": 1}], [Phase("Padded", 1)]),
        ([{"title": "x" * 60, "minutes": 240}], [Phase("x" * 60, 240)]),
        ([{"title": " " + "x" * 60 + " ", "minutes": 5}], [Phase("x" * 60, 5)]),
        ([{"title": f"P{i}", "minutes": i + 1} for i in range(MAX_AGENDA_PHASES)],
         [Phase(f"P{i}", i + 1) for i in range(MAX_AGENDA_PHASES)]),
        ([{"title": "Extra keys", "minutes": 3, "colour": "blue"}], [Phase("Extra keys", 3)]),
    ],
    ids=["one phase", "titles are trimmed", "the longest title and duration", "length counts after trimming",
         "twelve phases", "other keys are ignored"],
)
def test_valid_phase_lists_are_parsed(value: Any, expected: list[Phase]) -> None:
    assert parse_phases(value) == expected


LIST_MESSAGE = '"phases" must be a list of 1 to 12 phases'
ITEM_MESSAGE = 'each phase must be an object with "title" and "minutes"'
TITLE_MESSAGE = "a phase title must have 1 to 60 characters"
MINUTES_MESSAGE = "a phase must last 1 to 240 minutes"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (None, LIST_MESSAGE),
        ({"title": "Check-in", "minutes": 10}, LIST_MESSAGE),
        ([], LIST_MESSAGE),
        ([{"title": "P", "minutes": 1}] * (MAX_AGENDA_PHASES + 1), LIST_MESSAGE),
        (["Check-in"], ITEM_MESSAGE),
        ([{"title": "ok", "minutes": 1}, None], ITEM_MESSAGE),
        ([{"minutes": 10}], TITLE_MESSAGE),
        ([{"title": "", "minutes": 10}], TITLE_MESSAGE),
        ([{"title": "   ", "minutes": 10}], TITLE_MESSAGE),
        ([{"title": "x" * 61, "minutes": 10}], TITLE_MESSAGE),
        ([{"title": 7, "minutes": 10}], TITLE_MESSAGE),
        ([{"title": "Check-in"}], MINUTES_MESSAGE),
        ([{"title": "Check-in", "minutes": 0}], MINUTES_MESSAGE),
        ([{"title": "Check-in", "minutes": 241}], MINUTES_MESSAGE),
        ([{"title": "Check-in", "minutes": -5}], MINUTES_MESSAGE),
        ([{"title": "Check-in", "minutes": 10.0}], MINUTES_MESSAGE),
        ([{"title": "Check-in", "minutes": "10"}], MINUTES_MESSAGE),
        ([{"title": "Check-in", "minutes": True}], MINUTES_MESSAGE),
    ],
    ids=["not a list", "an object", "no phases", "thirteen phases", "a string phase", "a null phase",
         "no title", "an empty title", "a blank title", "a 61-character title", "a numeric title",
         "no minutes", "zero minutes", "241 minutes", "negative minutes", "fractional minutes",
         "minutes as text", "minutes as a boolean"],
)
def test_invalid_phase_lists_are_refused_with_a_precise_message(value: Any, message: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        parse_phases(value)
    assert (caught.value.code, caught.value.message) == ("bad-request", message)


# -- moving through the phases --------------------------------------------------------------------


def test_next_moves_to_the_following_phase_and_restarts_its_clock() -> None:
    agenda = agenda_of(10, 20, 30)
    agenda.next(T0 + 100)
    assert (agenda.current, agenda.phase_started_at) == (1, T0 + 100)


def test_next_on_the_last_phase_stays_on_the_last_phase() -> None:
    agenda = agenda_of(10, 20)
    agenda.next(T0 + 1)
    agenda.next(T0 + 2)
    agenda.next(T0 + 3)
    assert agenda.current == 1


@pytest.mark.parametrize("index", [0, 1, 2])
def test_set_phase_moves_to_any_existing_phase(index: int) -> None:
    agenda = agenda_of(10, 20, 30)
    agenda.set_phase(index, T0 + 50)
    assert (agenda.current, agenda.phase_started_at) == (index, T0 + 50)


@pytest.mark.parametrize("index", [-1, 3, 100])
def test_set_phase_refuses_an_index_outside_the_agenda(index: int) -> None:
    agenda = agenda_of(10, 20, 30)
    agenda.set_phase(1, T0 + 5)
    with pytest.raises(ProtocolError) as caught:
        agenda.set_phase(index, T0 + 50)
    assert (caught.value.code, caught.value.message) == ("bad-request", "the agenda has phases 0 to 2")
    assert (agenda.current, agenda.phase_started_at) == (1, T0 + 5)


@pytest.mark.parametrize(
    ("current", "new_count", "expected"),
    [(0, 1, 0), (2, 5, 2), (2, 3, 2), (4, 2, 1), (4, 1, 0)],
    ids=["first stays first", "more phases", "same number", "fewer phases clamp", "one phase clamps to 0"],
)
def test_update_keeps_the_current_index_clamped_and_the_phase_clock(current: int, new_count: int,
                                                                    expected: int) -> None:
    agenda = agenda_of(10, 10, 10, 10, 10)
    agenda.set_phase(current, T0 + 30)
    new_phases = [Phase(f"New {i}", 5) for i in range(new_count)]
    agenda.update(new_phases)
    assert (agenda.phases, agenda.current, agenda.phase_started_at) == (new_phases, expected, T0 + 30)


# -- overrun --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("elapsed", "overran"),
    [(0.0, False), (599.0, False), (600.0, False), (600.001, True), (3600.0, True)],
)
def test_a_phase_overruns_only_after_its_duration(elapsed: float, overran: bool) -> None:
    agenda = agenda_of(10)
    assert agenda.overran(T0 + elapsed) is overran


def test_an_overrun_is_reported_once_per_phase() -> None:
    agenda = agenda_of(10, 5)
    checks = [agenda.overran(T0 + s) for s in (601, 700, 1200)]
    agenda.next(T0 + 1200)
    checks += [agenda.overran(T0 + 1200 + s) for s in (300, 301, 302)]
    assert checks == [True, False, False, False, True, False]


def test_setting_a_phase_rearms_the_overrun_report() -> None:
    agenda = agenda_of(10, 10)
    assert agenda.overran(T0 + 601) is True
    agenda.set_phase(0, T0 + 601)
    assert agenda.overran(T0 + 1200) is False
    assert agenda.overran(T0 + 1202) is True


def test_update_measures_the_overrun_against_the_new_duration() -> None:
    agenda = agenda_of(30)
    assert agenda.overran(T0 + 700) is False
    agenda.update([Phase("Shorter", 10)])
    assert agenda.overran(T0 + 700) is True


def test_describe_gives_milliseconds_since_the_epoch() -> None:
    agenda = agenda_of(10, 20, now=T0 + 0.25)
    assert agenda.describe() == {"phases": [{"title": "Phase 0", "minutes": 10}, {"title": "Phase 1", "minutes": 20}],
                                 "current": 0, "phase_started_at": 1_764_262_800_250}
