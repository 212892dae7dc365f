"""Connection: one participant's WebSocket — reader loop, bounded writer queue, heartbeat, dispatch.

Identity and role come only from the token accepted in ``hello``; every later request acts as that
participant. Whatever a client sends, the worst outcome is an error reply or this socket closing.
The socket is reached through the three-method ``Socket`` interface, so no aiohttp type enters here.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import structlog

from .agenda import describe_templates
from .codes import LEAVE_REASON_OF_CLOSE, CloseCode, LeaveReason
from .emergency import EmergencyInfo
from .limits import protocol_limits
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
from .ratelimit import TokenBucket
from .resume import Claim, ResumeKeys, TokenLedger
from .room import Participant
from .session import Session
from .sessions import Sessions

log = structlog.get_logger("haven.connection")

HELLO_TIMEOUT = 10.0
DRAIN_DEADLINE = 1.0  # what is queued for a closing socket gets this long to go out
CLOSE_DEADLINE = 2.0  # then the close handshake this long; a client that does not read is dropped hard
OUTBOX_SIZE = 512  # messages queued for a client that reads too slowly, before we give up on it
MAX_BAD_REQUESTS = 10
SERVER_NAME = "haven/0.1.0"


class Socket(Protocol):
    """The WebSocket as a Connection uses it (server/websocket.py adapts aiohttp's)."""

    async def receive(self) -> str | bytes | None:
        """Return the next text or binary frame, or None once the socket is closed or broken."""
        ...

    async def send(self, text: str) -> None:
        """Send one text frame; raise ConnectionError if the socket is gone."""
        ...

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the socket (idempotent)."""
        ...


@dataclass(frozen=True)
class ConnectionSettings:
    """Limits and timings that apply to every connection (built from the [limits] and [session] config)."""

    max_message_bytes: int
    messages_per_second: float
    message_burst: int
    heartbeat_interval: float
    heartbeat_timeout: float
    ice_servers: tuple[dict[str, Any], ...]
    consent_text: str
    consent_version: str
    support_text: str
    max_chat_chars: int
    max_participants: int
    require_emergency_info: bool = False  # members confirm location and an emergency contact at each join
    # Called once per hello for ICE servers whose credentials are minted per connection (TURN REST,
    # server/turn.py); they follow the static ice_servers in the result.
    fresh_ice_servers: Callable[[], tuple[dict[str, Any], ...]] = field(default=lambda: ())
    # A room's own confidentiality agreement, when it has one (a practice group's, server/practice/group_rooms.py);
    # None: consent_text applies.
    consent_for: Callable[[str], str | None] = field(default=lambda room: None)
    # A room's own default agenda (a practice group's phases), offered to its hosts at hello; None: none.
    agenda_for: Callable[[str], list[dict[str, Any]] | None] = field(default=lambda room: None)
    # Whether a room's members confirm emergency information (a practice group's own setting); None:
    # require_emergency_info applies.
    emergency_for: Callable[[str], bool | None] = field(default=lambda room: None)

    def consent(self, room: str) -> tuple[str, str]:
        """Return the agreement shown in ``room`` and its version (the SHA-256 of its text)."""
        text = self.consent_for(room)
        if text is None or text == self.consent_text:
            return self.consent_text, self.consent_version
        return text, hashlib.sha256(text.encode()).hexdigest()


class Connection:
    """Serves one WebSocket until it closes, then removes the participant from its session."""

    def __init__(
        self,
        socket: Socket,
        sessions: Sessions,
        settings: ConnectionSettings,
        verify_token: Callable[[str, str | None], Any],
        ledger: TokenLedger | None = None,
        resume: ResumeKeys | None = None,
    ) -> None:
        self.socket = socket
        self.sessions = sessions
        self.settings = settings
        self._verify_token = verify_token
        self._ledger = ledger  # None: join tokens are not single-use (unit tests of other rules)
        self._resume = resume  # None: no resume credentials are issued
        self._resume_session: str | None = None  # the session a valid resume credential in hello names
        self._credential_at = 0.0
        self._hard_closed = asyncio.Event()
        # The accepted token's claims (sub, name, room, role); set by hello.
        self.grant: Any = None
        self.participant_id: str | None = None
        self.live: Session | None = None
        self.closing = False
        self.close_reason = LeaveReason.DISCONNECTED
        self._outbox: asyncio.Queue[str | None] = asyncio.Queue(OUTBOX_SIZE)
        self._bucket = TokenBucket(settings.messages_per_second, settings.message_burst, time.monotonic())
        self._bad_requests = 0
        self._last_heard = time.monotonic()
        self._tasks: list[asyncio.Task[None]] = []

    # -- lifecycle --------------------------------------------------------------------------------

    async def run(self) -> None:
        """Read and answer messages until the socket closes (or is dropped hard); always cleans up."""
        self._tasks = [asyncio.ensure_future(self._write_loop()), asyncio.ensure_future(self._watchdog())]
        reader = asyncio.ensure_future(self._read_loop())
        dropped = asyncio.ensure_future(self._hard_closed.wait())
        try:
            await asyncio.wait((reader, dropped), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (*self._tasks, reader, dropped):
                task.cancel()
            # aiohttp may cancel this handler once the socket is gone; leaving the room must still
            # complete, so it runs in its own task that a cancellation here does not reach.
            cleanup = asyncio.ensure_future(self._cleanup())
            try:
                await asyncio.shield(cleanup)
            except asyncio.CancelledError:
                self.sessions.keep_until_done(cleanup)
                raise

    async def _cleanup(self) -> None:
        await self._leave_session()
        await self._close_socket()

    async def _leave_session(self) -> None:
        if self.live is not None:
            live, self.live = self.live, None
            try:
                await live.leave(self, self.close_reason)
            except Exception:
                log.exception("leave_failed", room=live.id)

    async def _close_socket(self, code: int = 1000, reason: str = "") -> bool:
        """Close the socket within CLOSE_DEADLINE; return False if the close hung (the peer does not read)."""
        try:
            await asyncio.wait_for(self.socket.close(code, reason), CLOSE_DEADLINE)
        except TimeoutError:
            return False
        except (ConnectionError, RuntimeError):
            pass
        return True

    def close_soon(self, code: CloseCode, reason: str, leave_reason: LeaveReason | None = None) -> None:
        """Close the socket with a code from docs/protocol.md section 4, from any context."""
        if self.closing:
            return
        self.closing = True
        self.close_reason = leave_reason or LEAVE_REASON_OF_CLOSE.get(code, self.close_reason)
        if code == CloseCode.REPLACED:
            # The newer connection has already taken this participant's place in the room.
            self.live = None
        asyncio.ensure_future(self._close(code, reason))

    async def _close(self, code: int, reason: str) -> None:
        try:
            await asyncio.wait_for(self._outbox_drained(), DRAIN_DEADLINE)
        except TimeoutError:
            pass
        if not await self._close_socket(code, reason):
            # A client that stops reading must not keep its place: leave the room now and stop serving.
            log.info("close_hung", participant=self.participant_id)
            await self._leave_session()
            self._hard_closed.set()

    async def _outbox_drained(self) -> None:
        while not self._outbox.empty():
            await asyncio.sleep(0.01)

    def send(self, message: dict[str, Any]) -> None:
        """Queue a message; a client too slow to read OUTBOX_SIZE messages is disconnected."""
        if self.closing and message.get("type") not in ("error", "result", "removed", "session-ended"):
            return
        try:
            self._outbox.put_nowait(encode(message))
        except asyncio.QueueFull:
            log.warning("client_too_slow", participant=self.participant_id)
            self.close_soon(CloseCode.BAD_CLIENT, "too slow to read")

    async def _write_loop(self) -> None:
        while True:
            text = await self._outbox.get()
            if text is None:
                return
            try:
                await self.socket.send(text)
            except (ConnectionError, RuntimeError):
                return
            except Exception as exc:  # one message the socket cannot take must not end every later one
                log.warning("message_not_sent", participant=self.participant_id, error=type(exc).__name__)

    async def _watchdog(self) -> None:
        started = time.monotonic()
        next_ping = started + self.settings.heartbeat_interval
        while True:
            await asyncio.sleep(min(1.0, self.settings.heartbeat_interval))
            now = time.monotonic()
            if self.grant is None and now - started > HELLO_TIMEOUT:
                self.close_soon(CloseCode.NOT_AUTHENTICATED, "hello timeout")
                return
            if now - self._last_heard > self.settings.heartbeat_timeout:
                log.info("heartbeat_timeout", participant=self.participant_id)
                self.close_soon(CloseCode.TIMEOUT, "heartbeat timeout")
                return
            if now >= next_ping:
                next_ping = now + self.settings.heartbeat_interval
                self.send({"type": "ping", "ts": int(time.time() * 1000)})
            self._renew_credential(now)

    # -- reading ----------------------------------------------------------------------------------

    async def _read_loop(self) -> None:
        while (frame := await self.socket.receive()) is not None:
            self._last_heard = time.monotonic()
            if isinstance(frame, str):
                if not self.closing:
                    await self._on_text(frame)
            else:
                self.send(error(None, "bad-request", "binary frames are not part of the protocol"))
                self.close_soon(CloseCode.BAD_CLIENT, "binary frame")

    async def _on_text(self, text: str) -> None:
        if len(text) > self.settings.max_message_bytes or len(text.encode()) > self.settings.max_message_bytes:
            self.send(error(None, "message-too-large",
                            f"messages are limited to {self.settings.max_message_bytes} bytes"))
            self.close_soon(CloseCode.TOO_LARGE, "message too large")
            return
        if not self._bucket.take(time.monotonic()):
            if self._bucket.abusive():
                self.close_soon(CloseCode.RATE_LIMITED, "rate limit")
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
                self.close_soon(CloseCode.NOT_AUTHENTICATED, exc.code)
            elif exc.code == "banned":
                self.close_soon(CloseCode.REMOVED, "banned", leave_reason=LeaveReason.REMOVED)
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
                self.close_soon(CloseCode.BAD_CLIENT, "too many malformed messages")

    # -- requests ---------------------------------------------------------------------------------

    async def _dispatch(self, request: Request) -> dict[str, Any]:
        kind, fields = request.type, request.fields
        if kind == "hello":
            return self._hello(fields)
        if self.grant is None:
            raise ProtocolError("not-authenticated", "send hello first")
        if kind == "join":
            return await self._join(fields.get("consent_version"), fields.get("emergency_info"))
        live, pid = self.live, self.participant_id
        if live is None or pid is None:
            raise ProtocolError("not-joined", "join the room first")
        if kind == "leave":
            self.close_soon(CloseCode.NORMAL, "left", leave_reason=LeaveReason.LEFT)
            return {}
        return await live.handle(pid, kind, fields)

    def _hello(self, fields: dict[str, Any]) -> dict[str, Any]:
        if self.grant is not None:
            raise ProtocolError("already-authenticated", "hello was already accepted")
        if fields["version"] not in SUPPORTED_VERSIONS:
            raise ProtocolError("unsupported-version",
                                f"supported protocol versions: {', '.join(map(str, SUPPORTED_VERSIONS))}")
        grant = self._verify_token(fields["token"], fields.get("room"))  # raises ProtocolError("token-…")
        self.grant = grant
        consent_text, consent_version = self.settings.consent(grant.room)
        if self._resume is not None and "resume" in fields:
            # An invalid or expired credential is ignored: the join then goes as without one.
            self._resume_session = self._resume.session_of(fields["resume"], grant.sub, grant.room)
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
            "default_agenda": self.settings.agenda_for(grant.room) if grant.role == "host" else None,
            "ice_servers": [*self.settings.ice_servers, *self.settings.fresh_ice_servers()],
            "consent": {"text": consent_text, "version": consent_version},
            "support_text": self.settings.support_text,
            "starts_at": int(grant.starts_at * 1000) if getattr(grant, "starts_at", None) else None,
            "emergency_info_required": self._emergency_required(grant.role),
        }

    def _emergency_required(self, role: str) -> bool:
        """Members confirm their emergency information at each join where their group (or, outside the
        practice, the server) asks for it; hosts from a join link do not."""
        if role == "host" or self.grant is None:
            return False
        required = self.settings.emergency_for(self.grant.room)
        return self.settings.require_emergency_info if required is None else required

    async def _join(self, consent_version: str | None, emergency: Any = None) -> dict[str, Any]:
        if self.live is not None:
            raise ProtocolError("already-joined", "this connection has joined already")
        grant = self.grant
        assert grant is not None
        shown = self.settings.consent(grant.room)[1]
        if consent_version != shown:
            raise ProtocolError("consent-required", "accept the group's confidentiality agreement to join")
        info = EmergencyInfo.parse(emergency, time.time()) if emergency is not None else None
        if info is None and self._emergency_required(grant.role):
            raise ProtocolError("emergency-info-required",
                                "confirm where you are and an emergency contact to join this group")
        participant = Participant(grant.sub, grant.name, grant.role, starts_at=getattr(grant, "starts_at", None),
                                  emergency=info, consent_version=shown)
        self.participant_id = grant.sub
        first_use = True
        jti = getattr(grant, "jti", None)
        if self._ledger is not None and jti:
            first_use = await self._ledger.spend(jti, float(getattr(grant, "expires_at", 0.0)))
        if not first_use and self._resume_session is None and getattr(grant, "once", False):
            raise ProtocolError("token-used", "this join link was used already; open your invite again for a new one")
        claim = Claim(resume_session=self._resume_session, reused=not first_use and self._resume_session is None)
        live, data = await self.sessions.join(grant.room, self, participant, claim)
        self.participant_id = participant.id  # a duplicate waits under an id of its own
        if self.closing:
            await live.leave(self, self.close_reason)
            raise ProtocolError("not-joined", "the connection is closing")
        self.live = live
        credential = self._issue_credential()
        if credential is not None:
            data = {**data, "resume": credential}
        return data

    def _issue_credential(self) -> dict[str, Any] | None:
        """Return a fresh resume credential for this participant's place, if it can be resumed."""
        live, pid = self.live, self.participant_id
        if self._resume is None or live is None or pid is None or not live.resumable(pid):
            return None
        self._credential_at = time.monotonic()
        return self._resume.issue(pid, live.id, live.session_id).describe()

    def _renew_credential(self, now: float) -> None:
        if self._resume is None or self.closing or now - self._credential_at < self._resume.ttl / 3:
            return
        credential = self._issue_credential()
        if credential is not None:
            self.send({"type": "resume-credential", **credential})
