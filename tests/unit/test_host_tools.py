"""Host tools for the whole room: mute all (members unmute themselves) and asking everyone to turn a camera on."""

from __future__ import annotations

import pytest

from signaling.errors import ProtocolError
from tests.unit.test_session import Harness, admitted_group


@pytest.fixture
async def harness():
    h = Harness()
    yield h
    await h.close()


async def publish(h: Harness, pid: str) -> dict[str, str]:
    result = await h.request(pid, "publish", sdp="o", tracks=[{"mid": "0", "label": "camera"},
                                                               {"mid": "1", "label": "microphone"}])
    return {t["label"]: t["track_id"] for t in result["tracks"]}


async def test_mute_all_mutes_every_member_microphone_but_not_the_hosts(harness) -> None:
    await admitted_group(harness, "ana", "ben")
    for pid in ("host", "ana", "ben"):
        await publish(harness, pid)
    assert await harness.request("host", "mute-all") == {"muted": 2}
    for pid in ("ana", "ben"):
        assert harness.outboxes[pid].of_type("muted-by-host") == [{"type": "muted-by-host", "label": "microphone"}]
    assert harness.outboxes["host"].of_type("muted-by-host") == []
    muted = {(e["participant_id"], e["muted"]) for e in harness.outboxes["host"].of_type("track-muted")}
    assert muted == {("ana", True), ("ben", True)}
    # Nobody is unmuted by anyone but themselves; a second mute-all finds no one to mute.
    assert await harness.request("host", "mute-all") == {"muted": 0}


async def test_asking_everyone_to_turn_the_camera_on_asks_only_those_whose_camera_is_off(harness) -> None:
    await admitted_group(harness, "ana", "ben")
    tracks = {pid: await publish(harness, pid) for pid in ("ana", "ben")}
    await harness.request("ana", "mute", track_id=tracks["ana"]["camera"], muted=True)
    assert await harness.request("host", "ask-all-unmute", label="camera") == {"asked": 1}
    assert harness.outboxes["ana"].of_type("unmute-requested") == [
        {"type": "unmute-requested", "label": "camera", "by": "host"}]
    assert harness.outboxes["ben"].of_type("unmute-requested") == []


async def test_members_cannot_mute_everyone(harness) -> None:
    await admitted_group(harness, "ana")
    with pytest.raises(ProtocolError) as refused:
        await harness.request("ana", "mute-all")
    assert refused.value.code == "not-permitted"
    with pytest.raises(ProtocolError):
        await harness.request("host", "ask-all-unmute", label="screen")
