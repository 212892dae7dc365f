"""Tests for media.speaker: the active-speaker state machine, tick by tick."""

from __future__ import annotations

import pytest

from media.speaker import SPEAKING_LOUDNESS, SWITCH_TICKS, ActiveSpeakerDetector

LOUD = 100.0
QUIET = 20.0

# Each case: ticks of {participant: loudness} and the expected (changed, current) after each tick.
SCENARIOS = [
    (
        "a speaker is chosen after two consecutive loudest ticks",
        [{"ann": LOUD, "bob": QUIET}, {"ann": LOUD, "bob": QUIET}],
        [(False, None), (True, "ann")],
    ),
    (
        "the loudest of several is chosen",
        [{"ann": 80, "bob": 95, "cat": 90}, {"ann": 80, "bob": 95, "cat": 90}],
        [(False, None), (True, "bob")],
    ),
    (
        "silence keeps the last speaker",
        [{"ann": LOUD}, {"ann": LOUD}, {"ann": 0, "bob": 0}, {"ann": QUIET, "bob": QUIET}],
        [(False, None), (True, "ann"), (False, "ann"), (False, "ann")],
    ),
    (
        "one loud tick of another participant does not switch",
        [{"ann": LOUD}, {"ann": LOUD}, {"ann": 80, "bob": LOUD}, {"ann": LOUD, "bob": 80}, {"ann": 80, "bob": LOUD}],
        [(False, None), (True, "ann"), (False, "ann"), (False, "ann"), (False, "ann")],
    ),
    (
        "two loud ticks of another participant switch",
        [{"ann": LOUD}, {"ann": LOUD}, {"ann": 80, "bob": LOUD}, {"ann": 80, "bob": LOUD}],
        [(False, None), (True, "ann"), (False, "ann"), (True, "bob")],
    ),
    (
        "silence between two loud ticks resets the streak",
        [{"ann": LOUD}, {"ann": LOUD}, {"ann": 0, "bob": LOUD}, {"ann": 0, "bob": 0}, {"ann": 0, "bob": LOUD},
         {"ann": 0, "bob": LOUD}],
        [(False, None), (True, "ann"), (False, "ann"), (False, "ann"), (False, "ann"), (True, "bob")],
    ),
    (
        "a new candidate restarts the streak",
        [{"bob": LOUD, "cat": QUIET}, {"bob": QUIET, "cat": LOUD}, {"bob": QUIET, "cat": LOUD}],
        [(False, None), (False, None), (True, "cat")],
    ),
    (
        "the speaker leaving resets to nobody",
        [{"ann": LOUD}, {"ann": LOUD}, {"bob": LOUD}],
        [(False, None), (True, "ann"), (True, None)],
    ),
    (
        "after the speaker left the next one still needs two ticks",
        [{"ann": LOUD}, {"ann": LOUD}, {"bob": LOUD}, {"bob": LOUD}, {"bob": LOUD}],
        [(False, None), (True, "ann"), (True, None), (False, None), (True, "bob")],
    ),
    (
        "nobody speaking, nobody chosen",
        [{}, {"ann": 0}, {"ann": SPEAKING_LOUDNESS - 1}, {"ann": SPEAKING_LOUDNESS - 1}],
        [(False, None), (False, None), (False, None), (False, None)],
    ),
    (
        "the threshold itself counts as speaking",
        [{"ann": SPEAKING_LOUDNESS}, {"ann": SPEAKING_LOUDNESS}],
        [(False, None), (True, "ann")],
    ),
    (
        "the current speaker being loudest again changes nothing",
        [{"ann": LOUD}, {"ann": LOUD}, {"ann": LOUD}, {"ann": LOUD}],
        [(False, None), (True, "ann"), (False, "ann"), (False, "ann")],
    ),
]


@pytest.mark.parametrize(("name", "ticks", "expected"), SCENARIOS, ids=[s[0] for s in SCENARIOS])
def test_active_speaker_scenario(name: str, ticks: list[dict[str, float]], expected: list[tuple]) -> None:
    detector = ActiveSpeakerDetector()
    assert [detector.tick(t) for t in ticks] == expected


def test_the_defaults_switch_after_two_ticks_at_77() -> None:
    detector = ActiveSpeakerDetector()
    assert (SWITCH_TICKS, SPEAKING_LOUDNESS) == (2, 77)
    assert (detector.threshold, detector.switch_ticks, detector.current) == (77, 2, None)


def test_a_custom_threshold_decides_who_is_speaking() -> None:
    detector = ActiveSpeakerDetector(threshold=30, switch_ticks=1)
    assert detector.tick({"ann": 29}) == (False, None)
    assert detector.tick({"ann": 30}) == (True, "ann")


def test_one_switch_tick_switches_at_once() -> None:
    detector = ActiveSpeakerDetector(switch_ticks=1)
    assert detector.tick({"ann": LOUD}) == (True, "ann")
    assert detector.tick({"ann": 80, "bob": LOUD}) == (True, "bob")


def test_three_switch_ticks_need_three_in_a_row() -> None:
    detector = ActiveSpeakerDetector(switch_ticks=3)
    assert [detector.tick({"ann": LOUD}) for _ in range(3)] == [(False, None), (False, None), (True, "ann")]


def test_an_equally_loud_participant_does_not_take_over_from_the_current_speaker() -> None:
    detector = ActiveSpeakerDetector()
    detector.tick({"ann": LOUD})
    detector.tick({"ann": LOUD})
    assert detector.tick({"ann": LOUD, "bob": LOUD}) == (False, "ann")
    assert detector.tick({"ann": LOUD, "bob": LOUD}) == (False, "ann")
