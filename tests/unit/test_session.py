"""Session with fake Routers and outboxes: placement, permissions, moderation and breakouts, no sockets."""

from __future__ import annotations

import pytest

from signaling.codes import CloseCode, LeaveReason
from signaling.errors import ProtocolError
from signaling.resume import Claim
from signaling.room import Participant
from signaling.session import Session, SessionPolicy
from tests.support.fakes import FakeOutbox, FakeRouters, MemoryRecords

POLICY = SessionPolicy(max_rooms=10, max_participants=20, consent_text="Stays here.", support_text="Call us.",
                       waiting_room=True, chat_enabled=True, private_chat=False, hands_visible=False,
                       max_chat_chars=1000, host_grace=600.0)


class Harness:
    def __init__(self) -> None:
        self.routers = FakeRouters()
        self.records = MemoryRecords()
        self.closed: list[Session] = []
        self.session = Session("group", POLICY, self.records, self.routers, self.closed.append)
        self.outboxes: dict[str, FakeOutbox] = {}

    async def join(self, pid: str, role: str = "participant") -> dict:
        outbox = self.outboxes[pid] = FakeOutbox(self.routers.journal)
        return await self.session.join(outbox, Participant(pid, pid.upper(), role))

    async def request(self, pid: str, kind: str, **fields) -> dict:
        return await self.session.handle(pid, kind, fields)

    async def close(self) -> None:
        await self.session.close("test")


@pytest.fixture
async def harness():
    h = Harness()
    yield h
    await h.close()


async def admitted_group(h: Harness, *members: str) -> None:
    await h.join("host", "host")
    for pid in members:
        await h.join(pid)
        await h.request("host", "admit", participant_id=pid)


async def test_a_waiting_participant_is_in_the_main_router_with_no_media_flowing(harness) -> None:
    await harness.join("host", "host")
    entry = await harness.join("ana")
    assert entry["state"] == "waiting" and entry["participants"] == []
    assert harness.routers.flows("ana") == {"main": False}
    assert harness.routers.flows("host") == {"main": True}


async def test_admitting_starts_the_media_of_the_admitted_participant(harness) -> None:
    await admitted_group(harness, "ana")
    assert harness.routers.flows("ana") == {"main": True}
    assert harness.outboxes["ana"].of_type("admitted")[0]["state"] == "admitted"


async def test_a_member_moved_to_a_breakout_is_in_that_router_only(harness) -> None:
    await admitted_group(harness, "ana", "ben")
    await harness.request("host", "breakout-create", names=["A"])
    await harness.request("host", "breakout-assign", participant_id="ana", room="A")
    await harness.request("host", "breakout-open")
    assert harness.routers.flows("ana") == {"A": True}
    assert harness.routers.flows("ben") == {"main": True}
    assert harness.outboxes["ben"].of_type("participant-left")[-1]["reason"] == LeaveReason.MOVED


async def test_sending_someone_from_a_breakout_to_waiting_cuts_media_in_the_breakout_before_moving(harness) -> None:
    await admitted_group(harness, "ana")
    await harness.request("host", "breakout-create", names=["A"])
    await harness.request("host", "breakout-assign", participant_id="ana", room="A")
    await harness.request("host", "breakout-open")
    harness.routers.journal.clear()
    await harness.request("host", "send-to-waiting", participant_id="ana")
    assert harness.routers.flows("ana") == {"main": False}
    media_steps = [e for e in harness.routers.journal if e[0] in ("media", "move")]
    assert media_steps == [("media", "A", "ana", False), ("move", "A", "main", "ana")]


async def test_closing_a_breakout_brings_its_members_back_and_closes_its_router(harness) -> None:
    await admitted_group(harness, "ana")
    await harness.request("host", "breakout-create", names=["A", "B"])
    await harness.request("host", "breakout-assign", participant_id="ana", room="A")
    await harness.request("host", "breakout-open")
    await harness.request("host", "breakout-close", room="A")
    assert harness.routers.flows("ana") == {"main": True}
    assert harness.routers.made["A"].closed
    assert set(harness.session.routers) == {"main"}


async def test_removing_cuts_the_media_before_the_participant_is_told(harness) -> None:
    await admitted_group(harness, "ana")
    harness.routers.journal.clear()
    await harness.request("host", "remove", participant_id="ana", ban=True)
    assert harness.routers.journal[:2] == [("media", "main", "ana", False), ("send", "removed")]
    assert harness.outboxes["ana"].closed == (CloseCode.REMOVED, "removed", LeaveReason.REMOVED)


async def test_a_host_from_the_join_link_cannot_be_removed(harness) -> None:
    await harness.join("host", "host")
    await harness.join("co", "host")
    with pytest.raises(ProtocolError) as refused:
        await harness.request("co", "remove", participant_id="host")
    assert refused.value.code == "not-permitted"
    assert harness.routers.flows("host") == {"main": True}


async def test_a_host_request_from_a_member_is_refused_and_audited(harness) -> None:
    await admitted_group(harness, "ana")
    with pytest.raises(ProtocolError) as refused:
        await harness.request("ana", "end-session")
    assert (refused.value.code, refused.value.message) == ("not-permitted", "only the session's hosts can do this")
    assert harness.records.audits[-1]["action"] == "not-permitted"
    assert harness.records.audits[-1]["detail"] == {"request": "end-session"}
    assert not harness.session.ended


async def test_a_waiting_participant_cannot_raise_a_hand_or_chat(harness) -> None:
    await harness.join("host", "host")
    await harness.join("ana")
    for kind, fields in (("raise-hand", {}), ("chat", {"to": "room", "text": "hi"})):
        with pytest.raises(ProtocolError) as refused:
            await harness.request("ana", kind, **fields)
        assert refused.value.code == "not-permitted"
    assert harness.session.room.hands == []


async def test_ending_the_session_cuts_everyone_and_closes_every_connection(harness) -> None:
    await admitted_group(harness, "ana", "ben")
    await harness.request("host", "end-session")
    for pid in ("host", "ana", "ben"):
        assert harness.routers.flows(pid) == {"main": False}
        assert harness.outboxes[pid].closed == (CloseCode.SESSION_ENDED, "session-ended", LeaveReason.SESSION_ENDED)
    assert harness.records.ended == ["ended"]


async def test_leaving_removes_the_member_from_its_router_and_an_empty_session_closes(harness) -> None:
    await admitted_group(harness, "ana")
    await harness.session.leave(harness.outboxes["ana"], LeaveReason.LEFT)
    assert "ana" not in harness.routers.made["main"].members
    assert harness.outboxes["host"].of_type("participant-left")[-1]["reason"] == "left"
    await harness.session.leave(harness.outboxes["host"], LeaveReason.LEFT)
    assert harness.closed == [harness.session] and harness.routers.made["main"].closed


async def test_a_second_connection_with_a_resume_credential_replaces_the_first(harness) -> None:
    await admitted_group(harness, "ana")
    first = harness.outboxes["ana"]
    outbox = harness.outboxes["ana"] = FakeOutbox(harness.routers.journal)
    await harness.session.join(outbox, Participant("ana", "ANA", "participant"),
                               Claim(resume_session=harness.session.session_id))
    assert first.closed == (CloseCode.REPLACED, "replaced", None)
    assert harness.routers.flows("ana") == {"main": True}
    assert ("ana", "reconnect") in harness.records.attendance_events


async def test_publishing_a_screen_needs_permission_and_replacing_stops_the_other_share(harness) -> None:
    await admitted_group(harness, "ana", "ben")
    with pytest.raises(ProtocolError) as refused:
        await harness.request("ana", "publish", sdp="o", tracks=[{"mid": "0", "label": "screen"}])
    assert refused.value.code == "not-permitted"
    await harness.request("host", "allow-screen-share", participant_id="ana", allowed=True)
    await harness.request("host", "allow-screen-share", participant_id="ben", allowed=True)
    await harness.request("ana", "publish", sdp="o", tracks=[{"mid": "0", "label": "screen"}])
    with pytest.raises(ProtocolError) as busy:
        await harness.request("ben", "publish", sdp="o", tracks=[{"mid": "0", "label": "screen"}])
    assert busy.value.code == "screen-share-active"
    await harness.request("ben", "publish", sdp="o", tracks=[{"mid": "0", "label": "screen"}], replace_screen=True)
    assert harness.outboxes["ana"].of_type("screen-share-stopped")[-1]["reason"] == "replaced"
    assert harness.session.room.sharer("main").id == "ben"


async def test_an_unknown_request_is_refused(harness) -> None:
    await harness.join("host", "host")
    with pytest.raises(ProtocolError) as refused:
        await harness.request("host", "hello")
    assert refused.value.code == "unknown-type"
