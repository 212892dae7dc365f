"""Session: one participant's WebSocket — reader loop, bounded writer queue, heartbeat, dispatch.

Identity and role come only from the token accepted in ``hello``; every later request acts as that
participant. Whatever a client sends, the worst outcome is an error reply or this socket closing.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any, Callable

import structlog
from aiohttp import WSMsgType, web

from .protocol import (
    PROTOCOL_VERSION,
    SUPPORTED_VERSIONS,
    Pong,
    ProtocolError,
    Request,
    encode,
    error,
    parse_message,
    result,
)
from .agenda import describe_templates
from .limits import protocol_limits
from .ratelimit import TokenBucket
from .room import Participant
from .rooms import LiveRoom, Rooms

log = structlog.get_logger("haven.session")

HELLO_TIMEOUT = 10.0
OUTBOX_SIZE = 512  # messages queued for a client that reads too slowly, before we give up on it
MAX_BAD_REQUESTS = 10
SERVER_NAME = "haven/0.1.0"


@dataclass(frozen=True)
class SessionSettings:
    """Limits and timings that apply to every session."""

    max_message_bytes: int = 131072
    messages_per_second: float = 20.0
    message_burst: int = 60
    heartbeat_interval: float = 10.0
    heartbeat_timeout: float = 25.0
    ice_servers: tuple[dict, ...] = ()
    consent_text: str = ""
    consent_version: str = ""
    support_text: str = ""
    max_chat_chars: int = 1000
    max_participants: int = 20


class Session:
    """Serves one WebSocket until it closes, then removes the participant from its room."""

    def __init__(
        self,
        ws: web.WebSocketResponse,
        rooms: Rooms,
        settings: SessionSettings,
        verify_token: Callable[[str, str | None], Any],
    ) -> None:
        self.ws = ws
        self.rooms = rooms
        self.settings = settings
        self._verify_token = verify_token
        # The accepted token's claims (sub, name, room, role); set by hello.
        self.grant: Any = None
        self.participant_id: str | None = None
        self.live: LiveRoom | None = None
        self.closing = False
        self.close_reason = "disconnected"
        self._outbox: asyncio.Queue[str | None] = asyncio.Queue(OUTBOX_SIZE)
        self._bucket = TokenBucket(settings.messages_per_second, settings.message_burst, time.monotonic())
        self._bad_requests = 0
        self._last_heard = time.monotonic()
        self._tasks: list[asyncio.Task[None]] = []

    # -- lifecycle --------------------------------------------------------------------------------

    async def run(self) -> None:
        """Read and answer messages until the socket closes; always cleans up."""
        self._tasks = [asyncio.ensure_future(self._write_loop()), asyncio.ensure_future(self._watchdog())]
        try:
            await self._read_loop()
        finally:
            for task in self._tasks:
                task.cancel()
            # aiohttp may cancel this handler once the socket is gone; leaving the room must still
            # complete, so it runs in its own task that a cancellation here does not reach.
            cleanup = asyncio.ensure_future(self._cleanup())
            try:
                await asyncio.shield(cleanup)
            except asyncio.CancelledError:
                self.rooms.keep_until_done(cleanup)
                raise

    async def _cleanup(self) -> None:
        if self.live is not None:
            live, self.live = self.live, None
            try:
                await live.leave(self, self.close_reason)
            except Exception:
                log.exception("leave_failed", room=live.id)
        if not self.ws.closed:
            await self.ws.close()

    def close_soon(self, code: int, reason: str, leave_reason: str | None = None) -> None:
        """Close the socket with a code from docs/protocol.md section 4, from any context."""
        if self.closing:
            return
        self.closing = True
        self.close_reason = leave_reason or {4408: "timeout", 4409: "replaced", 4410: "media-failed"}.get(
            code, self.close_reason)
        if code == 4409:
            # The newer connection has already taken this participant's place in the room.
            self.live = None
        asyncio.ensure_future(self._close(code, reason))

    async def _close(self, code: int, reason: str) -> None:
        try:
            await asyncio.wait_for(self._outbox_drained(), 1.0)
        except asyncio.TimeoutError:
            pass
        await self.ws.close(code=code, message=reason.encode()[:120])

    async def _outbox_drained(self) -> None:
        while not self._outbox.empty():
            await asyncio.sleep(0.01)

    def send(self, message: dict) -> None:
        """Queue a message; a client too slow to read OUTBOX_SIZE messages is disconnected."""
        if self.closing and message.get("type") not in ("error", "result", "removed", "session-ended"):
            return
        try:
            self._outbox.put_nowait(encode(message))
        except asyncio.QueueFull:
            log.warning("client_too_slow", participant=self.participant_id)
            self.close_soon(4400, "too slow to read")

    async def _write_loop(self) -> None:
        while True:
            text = await self._outbox.get()
            try:
                await self.ws.send_str(text)
            except (ConnectionError, RuntimeError):
                return

    async def _watchdog(self) -> None:
        started = time.monotonic()
        next_ping = started + self.settings.heartbeat_interval
        while True:
            await asyncio.sleep(min(1.0, self.settings.heartbeat_interval))
            now = time.monotonic()
            if self.grant is None and now - started > HELLO_TIMEOUT:
                self.close_soon(4401, "hello timeout")
                return
            if now - self._last_heard > self.settings.heartbeat_timeout:
                log.info("heartbeat_timeout", participant=self.participant_id)
                self.close_soon(4408, "heartbeat timeout")
                return
            if now >= next_ping:
                next_ping = now + self.settings.heartbeat_interval
                self.send({"type": "ping", "ts": int(time.time() * 1000)})

    # -- reading ----------------------------------------------------------------------------------

    async def _read_loop(self) -> None:
        async for message in self.ws:
            self._last_heard = time.monotonic()
            if message.type == WSMsgType.TEXT:
                if self.closing:
                    continue
                await self._on_text(message.data)
            elif message.type == WSMsgType.BINARY:
                self.send(error(None, "bad-request", "binary frames are not part of the protocol"))
                self.close_soon(4400, "binary frame")
            elif message.type == WSMsgType.ERROR:
                break

    async def _on_text(self, text: str) -> None:
        if len(text) > self.settings.max_message_bytes or len(text.encode()) > self.settings.max_message_bytes:
            self.send(error(None, "message-too-large",
                            f"messages are limited to {self.settings.max_message_bytes} bytes"))
            self.close_soon(1009, "message too large")
            return
        if not self._bucket.take(time.monotonic()):
            if self._bucket.abusive():
                self.close_soon(4429, "rate limit")
            else:
                self.send(error(None, "rate-limited", "too many messages; slow down"))
            return
        try:
            request = parse_message(text)
        except ProtocolError as exc:
            self._refuse(exc)
            return
        if isinstance(request, Pong):
            return
        try:
            data = await self._dispatch(request)
        except ProtocolError as exc:
            exc.request_id = request.id
            self._refuse(exc)
            if exc.code.startswith("token-"):
                log.info("token_refused", code=exc.code)
                self.close_soon(4401, exc.code)
        except Exception:
            log.exception("request_failed", type=request.type)
            self.send(error(request.id, "internal-error", "the server failed to handle this request"))
        else:
            self.send(result(request.id, data))

    def _refuse(self, exc: ProtocolError) -> None:
        self.send(error(exc.request_id, exc.code, exc.message))
        if exc.code == "bad-request":
            self._bad_requests += 1
            if self._bad_requests > MAX_BAD_REQUESTS:
                self.close_soon(4400, "too many malformed messages")

    # -- requests ---------------------------------------------------------------------------------

    async def _dispatch(self, request: Request) -> dict:
        kind, fields = request.type, request.fields
        if kind == "hello":
            return self._hello(fields)
        if self.grant is None:
            raise ProtocolError("not-authenticated", "send hello first")
        if kind == "join":
            return await self._join(fields.get("consent_version"))
        live, pid = self.live, self.participant_id
        if live is None or pid is None:
            raise ProtocolError("not-joined", "join the room first")
        if kind == "leave":
            self.close_soon(1000, "left", leave_reason="left")
            return {}
        return await live.handle(pid, kind, fields)

    def _hello(self, fields: dict[str, Any]) -> dict:
        if self.grant is not None:
            raise ProtocolError("already-authenticated", "hello was already accepted")
        if fields["version"] not in SUPPORTED_VERSIONS:
            raise ProtocolError("unsupported-version",
                                f"supported protocol versions: {', '.join(map(str, SUPPORTED_VERSIONS))}")
        grant = self._verify_token(fields["token"], fields.get("room"))  # raises ProtocolError("token-…")
        self.grant = grant
        return {
            "version": PROTOCOL_VERSION,
            "server": SERVER_NAME,
            "participant": {"id": grant.sub, "name": grant.name, "role": grant.role},
            "room": grant.room,
            "heartbeat_interval_ms": int(self.settings.heartbeat_interval * 1000),
            "limits": {"max_message_bytes": self.settings.max_message_bytes,
                       "max_chat_chars": self.settings.max_chat_chars,
                       "max_participants": self.settings.max_participants, **protocol_limits()},
            "agenda_templates": describe_templates(),
            "ice_servers": list(self.settings.ice_servers),
            "consent": {"text": self.settings.consent_text, "version": self.settings.consent_version},
            "support_text": self.settings.support_text,
            "starts_at": int(grant.starts_at * 1000) if getattr(grant, "starts_at", None) else None,
        }

    async def _join(self, consent_version: str | None) -> dict:
        if self.live is not None:
            raise ProtocolError("already-joined", "this connection has joined already")
        if consent_version != self.settings.consent_version:
            raise ProtocolError("consent-required", "accept the group's confidentiality agreement to join")
        grant = self.grant
        assert grant is not None
        participant = Participant(grant.sub, grant.name, grant.role)
        self.participant_id = grant.sub
        live, data = await self.rooms.join(grant.room, self, participant)
        if self.closing:
            await live.leave(self, self.close_reason)
            raise ProtocolError("not-joined", "the connection is closing")
        self.live = live
        return data
