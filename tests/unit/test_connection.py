"""Connection over a fake three-method socket: the protocol's refusals and a clean leave, with no aiohttp."""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace

from signaling.connection import Connection, ConnectionSettings
from signaling.errors import ProtocolError
from signaling.sessions import Sessions
from tests.support.fakes import FakeRouters
from tests.unit.test_session import POLICY

SETTINGS = ConnectionSettings(max_message_bytes=4096, messages_per_second=50.0, message_burst=50,
                              heartbeat_interval=10.0, heartbeat_timeout=25.0, ice_servers=(),
                              consent_text=POLICY.consent_text, consent_version=POLICY.consent_version,
                              support_text="", max_chat_chars=1000, max_participants=20)


class FakeSocket:
    """Frames queued by the test come out of receive(); what the Connection sends is kept."""

    def __init__(self) -> None:
        self.frames: asyncio.Queue[str | bytes | None] = asyncio.Queue()
        self.sent: list[dict] = []
        self.closed: tuple[int, str] | None = None

    async def receive(self) -> str | bytes | None:
        return None if self.closed else await self.frames.get()

    async def send(self, text: str) -> None:
        self.sent.append(json.loads(text))

    async def close(self, code: int = 1000, reason: str = "") -> None:
        if self.closed is None:
            self.closed = (code, reason)
            self.frames.put_nowait(None)

    async def reply(self, request_id: int) -> dict:
        for _ in range(200):
            for message in self.sent:
                if message.get("id") == request_id:
                    return message
            await asyncio.sleep(0.005)
        raise AssertionError(f"no answer to request {request_id}: {self.sent}")


def verify(token: str, room: str | None) -> SimpleNamespace:
    if token != "good":
        raise ProtocolError("token-expired", "the join link has expired")
    return SimpleNamespace(sub="ana", name="Ana", room="group", role="host", starts_at=None)


async def start() -> tuple[FakeSocket, Sessions, asyncio.Task[None]]:
    socket, sessions = FakeSocket(), Sessions(POLICY, FakeRouters())
    task = asyncio.ensure_future(Connection(socket, sessions, SETTINGS, verify).run())
    return socket, sessions, task


async def test_malformed_json_is_answered_with_bad_request_and_the_socket_stays_open() -> None:
    socket, _, task = await start()
    socket.frames.put_nowait("{not json")
    socket.frames.put_nowait(json.dumps({"type": "hello", "id": 1, "version": 1, "token": "good"}))
    assert (await socket.reply(1))["type"] == "result"
    assert socket.sent[0]["code"] == "bad-request" and socket.closed is None
    await socket.close()
    await task


async def test_a_binary_frame_closes_the_connection_with_4400() -> None:
    socket, _, task = await start()
    socket.frames.put_nowait(b"\x00\x01")
    await asyncio.wait_for(task, 5)
    assert socket.closed == (4400, "binary frame")


async def test_a_refused_token_closes_the_connection_with_4401() -> None:
    socket, _, task = await start()
    socket.frames.put_nowait(json.dumps({"type": "hello", "id": 1, "version": 1, "token": "stale"}))
    assert (await socket.reply(1))["code"] == "token-expired"
    await asyncio.wait_for(task, 5)
    assert socket.closed == (4401, "token-expired")


async def test_a_socket_that_goes_away_leaves_the_session_and_closes_it() -> None:
    socket, sessions, task = await start()
    socket.frames.put_nowait(json.dumps({"type": "hello", "id": 1, "version": 1, "token": "good"}))
    socket.frames.put_nowait(json.dumps({"type": "join", "id": 2, "consent_version": POLICY.consent_version}))
    assert (await socket.reply(2))["data"]["state"] == "admitted"
    assert set(sessions.live) == {"group"}
    socket.frames.put_nowait(None)  # the peer vanished
    await asyncio.wait_for(task, 5)
    assert sessions.live == {}


class PickySocket(FakeSocket):
    """A socket that cannot take one particular message (as aiohttp cannot encode a lone surrogate)."""

    async def send(self, text: str) -> None:
        if '"poison"' in text:
            raise UnicodeEncodeError("utf-8", "x", 0, 1, "surrogates not allowed")
        await super().send(text)


async def test_a_message_the_socket_cannot_send_is_skipped_and_later_ones_still_go_out() -> None:
    socket, sessions = PickySocket(), Sessions(POLICY, FakeRouters())
    connection = Connection(socket, sessions, SETTINGS, verify)
    task = asyncio.ensure_future(connection.run())
    connection.send({"type": "poison"})
    socket.frames.put_nowait(json.dumps({"type": "hello", "id": 1, "version": 1, "token": "good"}))
    assert (await socket.reply(1))["type"] == "result"
    assert all(m.get("type") != "poison" for m in socket.sent)
    await socket.close()
    await task
