"""Fail closed (issue 13): while records cannot be written nobody new enters a session, and what lets
people out still works. Signaling state only; tests/adversarial/test_server_records.py does it on a
real full disk."""

from __future__ import annotations

import pytest

from signaling.errors import ProtocolError
from signaling.records import RECORDS_UNAVAILABLE, NullRecords, require_writable
from signaling.sessions import Sessions
from tests.unit.test_session import POLICY, Harness, admitted_group


@pytest.fixture
async def harness():
    h = Harness()
    yield h
    await h.close()


async def test_nobody_joins_while_records_are_unwritable(harness) -> None:
    await admitted_group(harness, "ana")
    harness.records.writable = False
    with pytest.raises(ProtocolError) as refused:
        await harness.join("ben")
    assert refused.value.code == RECORDS_UNAVAILABLE
    assert "ben" not in harness.session.room.participants and "ben" not in harness.session.connections
    harness.records.writable = True
    assert (await harness.join("ben"))["state"] == "waiting"


async def test_a_reconnect_is_refused_too_and_the_old_connection_stays(harness) -> None:
    await admitted_group(harness, "ana")
    first = harness.outboxes["ana"]
    harness.records.writable = False
    with pytest.raises(ProtocolError):
        await harness.join("ana")
    assert harness.session.connections["ana"] is first and first.closed is None


@pytest.mark.parametrize("kind", ["admit", "admit-all"])
async def test_no_one_is_admitted_while_records_are_unwritable(harness, kind: str) -> None:
    await harness.join("host", "host")
    await harness.join("ana")
    harness.records.writable = False
    fields = {"participant_id": "ana"} if kind == "admit" else {}
    with pytest.raises(ProtocolError) as refused:
        await harness.request("host", kind, **fields)
    assert refused.value.code == RECORDS_UNAVAILABLE
    assert not harness.session.room.participants["ana"].admitted
    assert not harness.outboxes["ana"].of_type("admitted")


async def test_removing_and_sending_back_still_work_while_records_are_unwritable(harness) -> None:
    await admitted_group(harness, "ana", "ben")
    harness.records.writable = False
    await harness.request("host", "send-to-waiting", participant_id="ben")
    await harness.request("host", "remove", participant_id="ana")
    assert harness.outboxes["ana"].of_type("removed")
    assert harness.outboxes["ben"].of_type("sent-to-waiting")


async def test_no_new_session_starts_while_records_are_unwritable() -> None:
    records = NullRecords()
    records.writable = False
    sessions = Sessions(POLICY, lambda name, listener: None, records)
    with pytest.raises(ProtocolError) as refused:
        sessions.get_or_create("group")
    assert refused.value.code == RECORDS_UNAVAILABLE and not sessions.live


def test_require_writable_passes_when_records_are_writable() -> None:
    require_writable(NullRecords())
