"""Tests for signaling.checkin: the talking order, turns, passes, and people leaving mid-round."""

from __future__ import annotations

import random

import pytest

from signaling.checkin import CheckinRound
from signaling.protocol import ProtocolError

ELIGIBLE = ["a", "b", "c", "d"]


class ReversingRandom(random.Random):
    """A random generator whose shuffle reverses, so a test can see that the round used it."""

    def __init__(self) -> None:
        super().__init__(0)
        self.shuffles = 0

    def shuffle(self, x: list) -> None:  # type: ignore[override]
        self.shuffles += 1
        x.reverse()


def round_of(*order: str) -> CheckinRound:
    return CheckinRound.start(ELIGIBLE, list(order), shuffle=False, rng=random.Random(0))


# -- starting -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("order", "expected"),
    [
        (["c", "a"], ["c", "a"]),
        (["d", "c", "b", "a"], ["d", "c", "b", "a"]),
        (["b", "a", "b"], ["b", "a"]),
    ],
    ids=["a subset", "everyone reversed", "a repeated name speaks once"],
)
def test_a_given_order_is_the_talking_order(order: list[str], expected: list[str]) -> None:
    checkin = CheckinRound.start(ELIGIBLE, order, shuffle=False, rng=random.Random(0))
    assert checkin.describe() == {"order": expected, "current": expected[0], "done": [], "passed": []}


def test_a_given_order_wins_over_random() -> None:
    rng = ReversingRandom()
    checkin = CheckinRound.start(ELIGIBLE, ["b", "a"], shuffle=True, rng=rng)
    assert (checkin.order, rng.shuffles) == (["b", "a"], 0)


@pytest.mark.parametrize(
    "order", [["a", "zed"], ["zed"], ["host"]], ids=["one stranger", "only a stranger", "someone not eligible"])
def test_an_order_naming_someone_not_eligible_is_refused(order: list[str]) -> None:
    with pytest.raises(ProtocolError) as caught:
        CheckinRound.start(ELIGIBLE, order, shuffle=False, rng=random.Random(0))
    assert caught.value.code == "unknown-participant"


@pytest.mark.parametrize(
    ("eligible", "order"), [([], None), (ELIGIBLE, [])], ids=["nobody eligible", "an empty order"])
def test_a_round_needs_at_least_one_speaker(eligible: list[str], order: list[str] | None) -> None:
    with pytest.raises(ProtocolError) as caught:
        CheckinRound.start(eligible, order, shuffle=False, rng=random.Random(0))
    assert (caught.value.code, caught.value.message) == (
        "bad-request", "a check-in round needs at least one participant")


def test_without_an_order_the_round_follows_arrival_order() -> None:
    rng = ReversingRandom()
    checkin = CheckinRound.start(ELIGIBLE, None, shuffle=False, rng=rng)
    assert (checkin.order, checkin.current, rng.shuffles) == (ELIGIBLE, "a", 0)


def test_a_random_round_is_shuffled_by_the_given_generator() -> None:
    rng = ReversingRandom()
    checkin = CheckinRound.start(ELIGIBLE, None, shuffle=True, rng=rng)
    assert (checkin.order, checkin.current, rng.shuffles) == (["d", "c", "b", "a"], "d", 1)


@pytest.mark.parametrize("seed", [1, 7, 2024])
def test_a_random_round_is_reproducible_from_a_seed(seed: int) -> None:
    people = [f"p{i}" for i in range(10)]
    expected = list(people)
    random.Random(seed).shuffle(expected)
    checkin = CheckinRound.start(people, None, shuffle=True, rng=random.Random(seed))
    assert checkin.order == expected
    assert sorted(checkin.order) == sorted(people)


def test_starting_a_round_does_not_reorder_the_eligible_list() -> None:
    eligible = list(ELIGIBLE)
    CheckinRound.start(eligible, None, shuffle=True, rng=random.Random(3))
    assert eligible == ELIGIBLE


# -- turns ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("turns", "expected"),
    [
        ([], {"current": "a", "done": [], "passed": []}),
        (["next"], {"current": "b", "done": ["a"], "passed": []}),
        (["pass"], {"current": "b", "done": [], "passed": ["a"]}),
        (["next", "pass", "next"], {"current": None, "done": ["a", "c"], "passed": ["b"]}),
        (["pass", "pass", "pass"], {"current": None, "done": [], "passed": ["a", "b", "c"]}),
        (["next", "next", "next", "next", "pass"], {"current": None, "done": ["a", "b", "c"], "passed": []}),
    ],
    ids=["nobody spoke yet", "the first spoke", "the first passed", "a mixed round ends", "everyone passed",
         "turns after the end change nothing"],
)
def test_each_turn_ends_as_done_or_passed(turns: list[str], expected: dict) -> None:
    checkin = round_of("a", "b", "c")
    for turn in turns:
        checkin.advance(passed=turn == "pass")
    assert checkin.describe() == {"order": ["a", "b", "c"], **expected}


def test_advance_returns_the_next_speaker_then_none_at_the_end() -> None:
    checkin = round_of("a", "b")
    assert [checkin.advance(), checkin.advance(passed=True), checkin.advance()] == ["b", None, None]


# -- people leaving -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spoken", "leaver", "expected"),
    [
        (0, "a", {"order": ["b", "c"], "current": "b", "done": [], "passed": []}),
        (1, "b", {"order": ["a", "c"], "current": "c", "done": ["a"], "passed": []}),
        (2, "c", {"order": ["a", "b"], "current": None, "done": ["a", "b"], "passed": []}),
        (0, "c", {"order": ["a", "b"], "current": "a", "done": [], "passed": []}),
        (1, "c", {"order": ["a", "b"], "current": "b", "done": ["a"], "passed": []}),
        (1, "a", {"order": ["a", "b", "c"], "current": "b", "done": ["a"], "passed": []}),
        (1, "zed", {"order": ["a", "b", "c"], "current": "b", "done": ["a"], "passed": []}),
        (3, "b", {"order": ["a", "b", "c"], "current": None, "done": ["a", "b", "c"], "passed": []}),
    ],
    ids=[
        "the first speaker leaves while speaking",
        "a middle speaker leaves while speaking",
        "the last speaker leaves while speaking",
        "a future speaker leaves before the round starts",
        "a future speaker leaves mid-round",
        "someone who already spoke leaves",
        "someone not in the round leaves",
        "someone leaves after the round ended",
    ],
)
def test_forgetting_someone_keeps_the_round_consistent(spoken: int, leaver: str, expected: dict) -> None:
    checkin = round_of("a", "b", "c")
    for _ in range(spoken):
        checkin.advance()
    checkin.forget(leaver)
    assert checkin.describe() == expected


def test_someone_who_passed_and_left_stays_in_the_record() -> None:
    checkin = round_of("a", "b")
    checkin.advance(passed=True)
    checkin.forget("a")
    assert checkin.describe() == {"order": ["a", "b"], "current": "b", "done": [], "passed": ["a"]}


def test_the_round_continues_after_the_speaker_left() -> None:
    checkin = round_of("a", "b", "c")
    checkin.forget("a")
    assert [checkin.advance(), checkin.advance()] == ["c", None]
    assert checkin.describe() == {"order": ["b", "c"], "current": None, "done": ["b", "c"], "passed": []}


def test_the_only_speaker_leaving_ends_the_round() -> None:
    checkin = round_of("a")
    checkin.forget("a")
    assert checkin.describe() == {"order": [], "current": None, "done": [], "passed": []}
    assert checkin.advance() is None
