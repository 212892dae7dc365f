"""Hosts see each participant's connection quality (docs/protocol.md 9.12): one word and the figures."""

from __future__ import annotations

import pytest

from media.api import LinkQuality
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


async def test_hosts_hear_of_quality_changes_and_members_never(harness) -> None:
    await admitted_group(harness, "ana", "ben")
    main = harness.routers.made["main"]
    main.quality["ana"] = LinkQuality(0.15, 0.0, 0.05, 300_000)
    harness.session._report_quality()
    [event] = harness.outboxes["host"].of_type("link-quality")
    assert {e["participant_id"]: e["quality"] for e in event["participants"]} == {
        "host": "unknown", "ana": "poor", "ben": "unknown"}
    assert harness.outboxes["ana"].of_type("link-quality") == []
    assert harness.outboxes["ben"].of_type("link-quality") == []
    harness.session._report_quality()  # nothing changed: nothing sent
    assert len(harness.outboxes["host"].of_type("link-quality")) == 1
    main.quality["ana"] = LinkQuality(0.0, 0.0, 0.05, 600_000)
    harness.session._report_quality()
    assert harness.outboxes["host"].of_type("link-quality")[-1]["participants"][1]["quality"] == "good"
