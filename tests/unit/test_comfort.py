"""Taking part at one's own comfort: a check-in typed into the round, and quiet reactions (docs/protocol.md
9.5 and 9.11), with fake Routers and outboxes."""

from __future__ import annotations

import pytest

from signaling.errors import ProtocolError
from tests.unit.test_session import Harness, admitted_group


@pytest.fixture
async def harness():
    h = Harness()
    await admitted_group(h, "ana", "ben")
    yield h
    await h.close()


def texts(h: Harness, pid: str) -> list[dict]:
    return h.outboxes[pid].of_type("checkin-text")


async def test_a_typed_check_in_reaches_only_the_hosts_by_default(harness) -> None:
    await harness.request("host", "checkin-start", order=["ana", "ben"])
    await harness.request("ana", "checkin-text", text="  Tired, but glad to be here.  ")
    expected = [{"type": "checkin-text", "participant_id": "ana", "text": "Tired, but glad to be here."}]
    assert texts(harness, "host") == expected and texts(harness, "ana") == expected
    assert texts(harness, "ben") == []


async def test_a_typed_check_in_reaches_everyone_when_the_hosts_allow_it(harness) -> None:
    await harness.request("host", "set-room", checkin_text_visible=True)
    await harness.request("host", "checkin-start", order=["ana", "ben"])
    await harness.request("ana", "checkin-text", text="Okay today.")
    assert texts(harness, "ben")[0]["text"] == "Okay today."


async def test_only_the_current_speaker_can_type_a_check_in(harness) -> None:
    with pytest.raises(ProtocolError) as refused:
        await harness.request("ana", "checkin-text", text="hello")
    assert refused.value.code == "no-checkin"
    await harness.request("host", "checkin-start", order=["ana", "ben"])
    with pytest.raises(ProtocolError) as refused:
        await harness.request("ben", "checkin-text", text="me first")
    assert refused.value.code == "not-permitted"
    with pytest.raises(ProtocolError) as refused:
        await harness.request("ana", "checkin-text", text="   ")
    assert refused.value.code == "bad-request"


async def test_a_reaction_reaches_the_room_and_is_kept_nowhere(harness) -> None:
    await harness.request("ben", "react", reaction="heart")
    for pid in ("host", "ana", "ben"):
        assert harness.outboxes[pid].of_type("reaction") == [
            {"type": "reaction", "participant_id": "ben", "reaction": "heart"}]
    assert "heart" not in str(harness.session.room.state_for(harness.session.room.participants["ana"]))
