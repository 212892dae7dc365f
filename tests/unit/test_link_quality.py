"""Connection quality (docs/protocol.md 9.12): hosts see each participant's, one word and the figures; every
other participant learns their own only."""

from __future__ import annotations

import pytest

from media.api import LinkQuality
from signaling.codes import LeaveReason
from signaling.quality import describe, rate
from tests.unit.test_session import Harness, admitted_group

UNKNOWN = LinkQuality(-1.0, -1.0, -1.0, -1)


@pytest.mark.parametrize("quality, word", [
    (UNKNOWN, "unknown"),
    (LinkQuality(0.0, 0.0, 0.04, 600_000), "good"),
    (LinkQuality(0.029, -1.0, -1.0, 600_000), "good"),
    (LinkQuality(0.03, 0.0, 0.04, 600_000), "weak"),  # a few per cent lost on the way in
    (LinkQuality(-1.0, 0.05, 0.04, -1), "weak"),  # or on the way to them
    (LinkQuality(0.0, 0.0, 0.3, 600_000), "weak"),  # or a quarter-second round trip
    (LinkQuality(0.12, 0.0, 0.04, 600_000), "poor"),
    (LinkQuality(0.0, 0.0, 0.6, 600_000), "poor"),
])
def test_the_word_follows_the_worst_of_loss_both_ways_and_round_trip(quality: LinkQuality, word: str) -> None:
    assert rate(quality) == word


def test_an_entry_carries_the_figures_and_null_where_unknown() -> None:
    assert describe("ana", LinkQuality(0.0312, -1.0, 0.0456, 612_345)) == {
        "participant_id": "ana", "quality": "weak", "loss_in": 0.031, "loss_out": None, "rtt_ms": 46,
        "bitrate_in": 612_345}


@pytest.fixture
async def harness():
    h = Harness()
    yield h
    await h.close()


def own(harness, pid: str) -> list[list[dict]]:
    """The link-quality events a participant received, as the entries each held."""
    return [event["participants"] for event in harness.outboxes[pid].of_type("link-quality")]


async def test_hosts_hear_of_everyones_quality_changes_and_members_of_their_own_only(harness) -> None:
    await admitted_group(harness, "ana", "ben")
    main = harness.routers.made["main"]
    main.quality["ana"] = LinkQuality(0.15, 0.0, 0.05, 300_000)
    harness.session._report_quality()
    [event] = harness.outboxes["host"].of_type("link-quality")
    assert {e["participant_id"]: e["quality"] for e in event["participants"]} == {
        "host": "unknown", "ana": "poor", "ben": "unknown"}
    assert own(harness, "ana") == [[describe("ana", main.quality["ana"])]]
    assert [[e["participant_id"] for e in entries] for entries in own(harness, "ben")] == [["ben"]]
    harness.session._report_quality()  # nothing changed: nothing sent
    assert len(harness.outboxes["host"].of_type("link-quality")) == 1
    assert len(own(harness, "ana")) == 1 and len(own(harness, "ben")) == 1
    main.quality["ana"] = LinkQuality(0.0, 0.0, 0.05, 600_000)
    harness.session._report_quality()
    assert harness.outboxes["host"].of_type("link-quality")[-1]["participants"][1]["quality"] == "good"
    assert own(harness, "ana")[-1][0]["quality"] == "good"
    assert len(own(harness, "ben")) == 1  # Ben's own link did not change: he is not told again


async def test_a_member_is_told_of_their_own_link_while_no_host_is_present(harness) -> None:
    await admitted_group(harness, "ana")
    await harness.session.leave(harness.outboxes["host"], LeaveReason.LEFT)
    harness.routers.made["main"].quality["ana"] = LinkQuality(0.04, 0.0, 0.05, 300_000)
    harness.session._report_quality()
    assert [entries[0]["quality"] for entries in own(harness, "ana")] == ["weak"]


async def test_a_cohost_gets_the_whole_list_with_their_own_entry_in_it_and_nothing_besides(harness) -> None:
    await admitted_group(harness, "ana", "ben")
    await harness.request("host", "set-role", participant_id="ana", role="cohost")
    harness.routers.made["main"].quality["ana"] = LinkQuality(0.04, 0.0, 0.05, 300_000)
    harness.session._report_quality()
    assert [[e["participant_id"] for e in entries] for entries in own(harness, "ana")] == [["host", "ana", "ben"]]
    await harness.request("host", "set-role", participant_id="ana", role="participant")
    harness.session._report_quality()  # a member again: told of her own link afresh
    assert [[e["participant_id"] for e in entries] for entries in own(harness, "ana")][-1] == ["ana"]


async def test_a_waiting_participant_learns_nothing_of_any_link(harness) -> None:
    await harness.join("host", "host")
    await harness.join("dan")
    harness.routers.made["main"].quality["dan"] = LinkQuality(0.2, 0.0, 0.05, 300_000)
    harness.session._report_quality()
    assert own(harness, "dan") == []
    assert [e["participant_id"] for e in own(harness, "host")[-1]] == ["host"]
