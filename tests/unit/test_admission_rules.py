"""Admission by identity (issue 13): the Room and Session rules, resume credentials, and the Connection's
refusal closes, with fake Routers, outboxes and sockets."""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace

import pytest

from server.auth import TokenError, TokenIssuer
from signaling.codes import CloseCode, LeaveReason
from signaling.connection import Connection
from signaling.errors import ProtocolError
from signaling.resume import Claim, MemoryLedger, ResumeKeys
from signaling.room import Participant
from signaling.session import Session, SessionPolicy
from signaling.sessions import Sessions
from tests.support.fakes import FakeOutbox, FakeRouters, MemoryRecords
from tests.unit.test_connection import SETTINGS, FakeSocket
from tests.unit.test_session import POLICY

KEY = b"k" * 32


class Harness:
    def __init__(self, policy: SessionPolicy = POLICY) -> None:
        self.routers = FakeRouters()
        self.session = Session("group", policy, MemoryRecords(), self.routers, lambda s: None)
        self.outboxes: dict[str, list[FakeOutbox]] = {}

    async def join(self, pid: str, role: str = "participant", claim: Claim | None = None) -> dict:
        outbox = FakeOutbox(self.routers.journal)
        self.outboxes.setdefault(pid, []).append(outbox)
        participant = Participant(pid, pid.upper(), role)
        if claim is None:  # the plain form, as a join without a resume credential or a used token
            return await self.session.join(outbox, participant)
        return await self.session.join(outbox, participant, claim)

    def resume(self) -> Claim:
        return Claim(resume_session=self.session.session_id)

    def outbox(self, pid: str) -> FakeOutbox:
        return self.outboxes[pid][-1]

    async def request(self, pid: str, kind: str, **fields) -> dict:
        return await self.session.handle(pid, kind, fields)

    async def lose(self, pid: str, reason: LeaveReason) -> None:
        await self.session.leave(self.outbox(pid), reason)


@pytest.fixture
async def h():
    harness = Harness()
    yield harness
    await harness.session.close("test")


async def admitted(h: Harness, *pids: str) -> None:
    await h.join("host", "host")
    for pid in pids:
        await h.join(pid)
        await h.request("host", "admit", participant_id=pid)


# -- 1. admission by identity ---------------------------------------------------------------------

async def test_a_second_holder_of_a_connected_identity_waits_and_the_first_keeps_their_place(h) -> None:
    await admitted(h, "ana")
    entry = await h.join("ana")  # the same identity again, with no resume credential
    assert entry["state"] == "waiting" and entry["self"]["id"].startswith("ana~")
    assert h.outboxes["ana"][0].closed is None, "the first connection was replaced"
    assert h.session.room.participants["ana"].admitted
    warning = h.outbox("host").of_type("duplicate-join")
    assert warning == [{"type": "duplicate-join", "participant_id": entry["self"]["id"], "original_id": "ana",
                        "original_present": True}]
    assert not h.session.resumable(entry["self"]["id"])
    copy_of_host = await h.join("host", "host")
    assert copy_of_host["state"] == "waiting" and copy_of_host["self"]["role"] == "participant"


async def test_one_copy_of_an_identity_waits_at_a_time(h) -> None:
    await admitted(h, "ana")
    first_copy = await h.join("ana")
    second_copy = await h.join("ana")
    assert h.outboxes["ana"][1].closed is not None and h.outboxes["ana"][1].closed[0] == CloseCode.REPLACED
    assert [p.id for p in h.session.room.waiting()] == [second_copy["self"]["id"]]
    assert first_copy["self"]["id"] not in h.session.room.participants
    assert h.outboxes["ana"][0].closed is None and h.session.room.participants["ana"].admitted


async def test_a_reused_token_waits_even_for_a_member_admitted_before(h) -> None:
    await admitted(h, "ana")
    await h.lose("ana", LeaveReason.DISCONNECTED)
    entry = await h.join("ana", claim=Claim(reused=True))
    assert entry["state"] == "waiting" and entry["self"]["id"] == "ana"
    assert h.outbox("host").of_type("duplicate-join")[-1]["original_present"] is False


async def test_a_resume_takes_back_the_place_with_its_role_and_breakout(h) -> None:
    await admitted(h, "ana", "ben")
    await h.request("host", "set-role", participant_id="ana", role="cohost")
    await h.request("host", "breakout-create", names=["A"])
    await h.request("host", "breakout-assign", participant_id="ana", room="A")
    await h.request("host", "breakout-open")
    entry = await h.join("ana", claim=h.resume())  # the old socket is still open: it is replaced
    assert h.outboxes["ana"][0].closed is not None and h.outboxes["ana"][0].closed[0] == CloseCode.REPLACED
    assert entry["state"] == "admitted" and entry["self"]["role"] == "cohost"
    assert entry["room"]["location"] == "A" and h.routers.flows("ana") == {"A": True}


async def test_a_resume_after_a_lost_socket_is_admitted_at_once(h) -> None:
    await admitted(h, "ana")
    await h.lose("ana", LeaveReason.DISCONNECTED)
    assert (await h.join("ana", claim=h.resume()))["state"] == "admitted"


async def test_a_resume_for_another_session_enters_as_a_newcomer(h) -> None:
    await admitted(h, "ana")
    await h.lose("ana", LeaveReason.DISCONNECTED)
    assert (await h.join("ana", claim=Claim(resume_session="s-old")))["state"] == "waiting"


async def test_a_member_removed_without_a_ban_always_waits(h) -> None:
    await admitted(h, "ana")
    await h.request("host", "remove", participant_id="ana")
    await h.lose("ana", LeaveReason.REMOVED)
    await h.request("host", "set-room", waiting_room=False)
    assert (await h.join("ana"))["state"] == "waiting"  # a fresh link
    await h.lose("ana", LeaveReason.DISCONNECTED)
    assert (await h.join("ana", claim=h.resume()))["state"] == "waiting"  # nor a resume
    await h.request("host", "admit", participant_id="ana")  # readmitted: the mark is gone
    await h.lose("ana", LeaveReason.DISCONNECTED)
    assert (await h.join("ana", claim=h.resume()))["state"] == "admitted"


async def test_a_timed_out_member_waits_unless_the_hosts_readmit_after_timeout(h) -> None:
    await admitted(h, "ana")
    await h.lose("ana", LeaveReason.TIMEOUT)
    assert (await h.join("ana", claim=h.resume()))["state"] == "waiting"
    await h.request("host", "admit", participant_id="ana")
    await h.request("host", "set-room", readmit_after_timeout=True)
    assert h.outbox("host").of_type("room-state")[-1]["room"]["readmit_after_timeout"] is True
    await h.lose("ana", LeaveReason.TIMEOUT)
    assert (await h.join("ana", claim=h.resume()))["state"] == "admitted"


async def test_a_host_or_co_host_who_lost_the_network_comes_back_admitted(h) -> None:
    await admitted(h, "ana", "ben")
    await h.request("host", "set-role", participant_id="ana", role="cohost")
    for pid in ("ana", "host"):
        await h.lose(pid, LeaveReason.TIMEOUT)
    assert (await h.join("host", "host", claim=h.resume()))["state"] == "admitted"
    back = await h.join("ana", claim=h.resume())
    assert back["state"] == "admitted" and back["self"]["role"] == "cohost"


async def test_a_returning_member_without_a_resume_is_not_admitted_automatically(h) -> None:
    await admitted(h, "ana")
    await h.lose("ana", LeaveReason.TIMEOUT)
    assert (await h.join("ana"))["state"] == "waiting"


# -- 2. signaling gaps ------------------------------------------------------------------------------

async def test_role_changed_is_scoped_like_roster_events() -> None:
    h = Harness()
    try:
        await admitted(h, "ana", "ben", "cleo")
        await h.request("host", "breakout-create", names=["A", "B"])
        await h.request("host", "breakout-assign", participant_id="ana", room="A")
        await h.request("host", "breakout-assign", participant_id="cleo", room="A")
        await h.request("host", "breakout-assign", participant_id="ben", room="B")
        await h.request("host", "breakout-open")
        await h.request("host", "set-role", participant_id="ana", role="cohost")
        assert h.outbox("ben").of_type("role-changed") == [], "role-changed crossed into another breakout"
        assert h.outbox("cleo").of_type("role-changed") and h.outbox("ana").of_type("role-changed")
        assert h.outbox("host").of_type("role-changed")  # hosts see every role, wherever they are
    finally:
        await h.session.close("test")


async def test_a_flood_of_waiting_joins_keeps_no_host_out() -> None:
    from dataclasses import replace

    small = replace(POLICY, max_participants=3)
    h = Harness(small)
    try:
        await h.join("host", "host")
        for n in range(3):
            assert (await h.join(f"flood{n}"))["state"] == "waiting"
        with pytest.raises(ProtocolError) as refused:
            await h.join("flood3")
        assert refused.value.code == "room-full"  # the waiting room has its own cap
        assert (await h.join("cotherapist", "host"))["state"] == "admitted"
        await h.request("host", "admit", participant_id="flood0")  # the room itself still has space
    finally:
        await h.session.close("test")


def grant(sub: str = "ana", role: str = "participant") -> SimpleNamespace:
    return SimpleNamespace(sub=sub, name=sub.title(), room="group", role=role, starts_at=None, jti="j-1",
                           expires_at=time.time() + 600)


async def run_connection(socket, sessions, **kwargs) -> asyncio.Task[None]:
    def verify(token: str, room: str | None) -> SimpleNamespace:
        return grant(token, "host" if token == "host" else "participant")

    return asyncio.ensure_future(Connection(socket, sessions, SETTINGS, verify, **kwargs).run())


async def test_a_banned_refusal_closes_the_socket_4403() -> None:
    sessions = Sessions(POLICY, FakeRouters())
    sessions.get_or_create("group").room.ban("ana")
    socket = FakeSocket()
    task = await run_connection(socket, sessions)
    socket.frames.put_nowait('{"type":"hello","id":1,"version":1,"token":"ana"}')
    socket.frames.put_nowait(f'{{"type":"join","id":2,"consent_version":"{POLICY.consent_version}"}}')
    assert (await socket.reply(2))["code"] == "banned"
    for _ in range(100):
        if socket.closed:
            break
        await asyncio.sleep(0.02)
    assert socket.closed is not None and socket.closed[0] == CloseCode.REMOVED
    await asyncio.wait_for(task, 3)
    await sessions.close()


class DeafSocket(FakeSocket):
    """A peer that stopped reading: sending the close frame never completes."""

    async def close(self, code: int = 1000, reason: str = "") -> None:
        self.closed = (code, reason)
        await asyncio.sleep(30)  # far beyond any deadline (bounded, so a failing run still ends)


async def test_a_client_whose_close_hangs_is_removed_from_roster_and_attendance() -> None:
    records = MemoryRecords()
    sessions = Sessions(POLICY, FakeRouters(), records)
    socket = DeafSocket()
    task = await run_connection(socket, sessions)
    socket.frames.put_nowait('{"type":"hello","id":1,"version":1,"token":"ana"}')
    socket.frames.put_nowait(f'{{"type":"join","id":2,"consent_version":"{POLICY.consent_version}"}}')
    assert "data" in await socket.reply(2)
    connection_of = sessions.live["group"].connections["ana"]
    connection_of.close_soon(CloseCode.TIMEOUT, "heartbeat timeout")
    for _ in range(300):
        if "group" not in sessions.live:
            break
        await asyncio.sleep(0.02)
    assert "group" not in sessions.live, "the participant stayed in the roster while the close hung"
    assert records.attendance_events[-1] == ("ana", "disconnected")  # attendance closed (timeout counts so)
    await asyncio.wait_for(task, 5)


async def test_the_join_result_carries_a_resume_credential_that_resumes_and_a_reused_token_waits() -> None:
    sessions = Sessions(POLICY, FakeRouters())
    ledger, keys = MemoryLedger(), ResumeKeys(KEY)
    host = FakeSocket()
    tasks = [await run_connection(host, sessions, ledger=ledger, resume=keys)]
    host.frames.put_nowait('{"type":"hello","id":1,"version":1,"token":"host"}')
    host.frames.put_nowait(f'{{"type":"join","id":2,"consent_version":"{POLICY.consent_version}"}}')
    await host.reply(2)

    first = FakeSocket()
    tasks.append(await run_connection(first, sessions, ledger=MemoryLedger(), resume=keys))
    first.frames.put_nowait('{"type":"hello","id":1,"version":1,"token":"ana"}')
    first.frames.put_nowait(f'{{"type":"join","id":2,"consent_version":"{POLICY.consent_version}"}}')
    joined = (await first.reply(2))["data"]
    credential = joined["resume"]["credential"]
    assert joined["resume"]["expires_at"] > time.time() * 1000
    assert keys.session_of(credential, "ana", "group") == sessions.live["group"].session_id
    await sessions.live["group"].handle("host", "admit", {"participant_id": "ana"})
    first.frames.put_nowait(None)  # the socket is lost
    await asyncio.wait_for(tasks[-1], 3)
    back = FakeSocket()
    tasks.append(await run_connection(back, sessions, ledger=ledger, resume=keys))
    back.frames.put_nowait(f'{{"type":"hello","id":1,"version":1,"token":"ana","resume":"{credential}"}}')
    back.frames.put_nowait(f'{{"type":"join","id":2,"consent_version":"{POLICY.consent_version}"}}')
    assert (await back.reply(2))["data"]["state"] == "admitted"
    for socket in (host, back):
        socket.frames.put_nowait(None)
    await asyncio.wait_for(asyncio.gather(*tasks), 5)
    await sessions.close()


async def test_the_ledger_spends_a_token_once() -> None:
    ledger = MemoryLedger()
    assert await ledger.spend("j", time.time() + 60)
    assert not await ledger.spend("j", time.time() + 60)
    assert await ledger.spend("old", time.time() - 1)  # expired entries are forgotten
    assert await ledger.spend("other", time.time() + 60)


# -- resume credentials and tokens ------------------------------------------------------------------

def test_a_resume_credential_is_bound_signed_short_lived_and_survives_a_new_instance() -> None:
    keys = ResumeKeys(KEY, ttl=60)
    credential = keys.issue("ana", "group", "s-1").value
    assert ResumeKeys(KEY).session_of(credential, "ana", "group") == "s-1"  # e.g. after a restart
    assert keys.session_of(credential, "ben", "group") is None
    assert keys.session_of(credential, "ana", "other") is None
    assert ResumeKeys(b"x" * 32).session_of(credential, "ana", "group") is None
    body, signature = credential.split(".")
    assert keys.session_of(body[:-2] + "AA." + signature, "ana", "group") is None
    assert keys.session_of("garbage", "ana", "group") is None and keys.session_of(None, "ana", "group") is None
    expired = ResumeKeys(KEY, ttl=60, clock=lambda: time.time() - 61).issue("ana", "group", "s-1").value
    assert keys.session_of(expired, "ana", "group") is None


SECRET = b"s" * 40


def test_tokens_beyond_the_lifetime_cap_or_issued_in_the_future_are_refused() -> None:
    import jwt

    issuer = TokenIssuer(SECRET, "haven", "haven", max_ttl=3600)
    with pytest.raises(ValueError):
        issuer.issue("group", "Ana", "participant", 7200)
    now = int(time.time())
    base = {"sub": "ana", "name": "Ana", "room": "group", "role": "participant", "jti": "j", "aud": "haven",
            "iss": "haven", "iat": now, "nbf": now, "exp": now + 600}
    issuer.verify(jwt.encode(base, SECRET, "HS256"))
    with pytest.raises(TokenError) as too_long:
        issuer.verify(jwt.encode({**base, "exp": now + 7200}, SECRET, "HS256"))
    assert too_long.value.code == "token-invalid-claim"
    with pytest.raises(TokenError) as future:
        issuer.verify(jwt.encode({**base, "iat": now + 300}, SECRET, "HS256"))
    assert future.value.code == "token-not-yet-valid"
    issuer.verify(jwt.encode({**base, "iat": now + 3}, SECRET, "HS256"))  # within the leeway
    with pytest.raises(TokenError) as marked:
        issuer.verify(jwt.encode({**base, "sub": "ana~1"}, SECRET, "HS256"))
    assert marked.value.code == "token-invalid-claim"


async def test_a_duplicate_refused_by_a_full_waiting_room_leaves_nothing_behind() -> None:
    from dataclasses import replace

    h = Harness(replace(POLICY, max_participants=2))
    try:
        await admitted(h, "ana")
        await h.join("w1")
        await h.join("w2")
        with pytest.raises(ProtocolError) as refused:
            await h.join("ana")
        assert refused.value.code == "room-full"
        assert h.session.duplicates == {} and set(h.session.connections) == {"host", "ana", "w1", "w2"}
    finally:
        await h.session.close("test")


async def test_used_token_ids_are_kept_in_sqlite_across_a_restart_until_they_expire(tmp_path) -> None:
    from server.storage import Storage

    path = str(tmp_path / "haven.db")
    storage = Storage(path)
    assert await storage.spend("jti-1", time.time() + 600)
    assert not await storage.spend("jti-1", time.time() + 600)
    assert await storage.spend("jti-old", time.time() - 1)
    storage.close()
    reopened = Storage(path)  # the server restarted
    try:
        assert not await reopened.spend("jti-1", time.time() + 600), "a used token was forgotten by a restart"
        assert await reopened.spend("jti-old", time.time() + 600)  # expired entries are pruned
    finally:
        reopened.close()
