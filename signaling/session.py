"""Session: one meeting of a group in progress — its Room state, its parts, its Routers and its records.

A Session turns requests into the work of its parts (signaling/parts/) through the request table
(signaling/requests.py), and Router callbacks into messages (it is every one of its Routers' listener).
Waiting participants get nothing of the room: no roster, no media, no events.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import structlog

from media.api import MediaError, RouterApi

from .breakouts import Breakouts
from .chat import ChatLog
from .codes import ATTENDANCE_LEAVE_EVENTS, CloseCode, LeaveReason
from .errors import ProtocolError
from .parts import Context, Events, Outbox, Parts
from .placement import MAIN, MediaPlacement, RouterFactory
from .quality import describe as describe_quality
from .records import Records, SessionLog
from .requests import REQUESTS, Access
from .resume import FRESH, Claim
from .room import Participant, Room, Settings
from .snapshot import NullSnapshots, SnapshotStore, restore, take

log = structlog.get_logger("haven.rooms")

TICK = 1.0
QUALITY_TICKS = 3  # connection quality is reported at most every 3 s, and only when it changed


@dataclass(frozen=True)
class SessionPolicy:
    """What every session of the server starts with (built from the [session] and [limits] config)."""

    max_rooms: int
    max_participants: int
    consent_text: str
    support_text: str
    waiting_room: bool
    chat_enabled: bool
    private_chat: bool
    hands_visible: bool
    max_chat_chars: int
    host_grace: float
    members_media_without_host: bool = False
    consent_version: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "consent_version", hashlib.sha256(self.consent_text.encode()).hexdigest())

    def settings(self) -> Settings:
        """Return the settings a new session starts with."""
        return Settings(waiting_room=self.waiting_room, chat_enabled=self.chat_enabled,
                        private_chat=self.private_chat, hands_visible=self.hands_visible,
                        members_media_without_host=self.members_media_without_host)


class SessionClosed(Exception):
    """The session emptied or ended while a join was waiting for it; join a fresh one."""


class Session:
    """One meeting in progress: who is in it, their connections, the media Routers and the records."""

    def __init__(self, room_id: str, config: SessionPolicy, records: Records, router_factory: RouterFactory,
                 on_closed: Callable[[Session], None], clock: Callable[[], float] = time.time,
                 snapshots: SnapshotStore | None = None) -> None:
        self.config = config
        self.records = records
        self.snapshots: SnapshotStore = snapshots or NullSnapshots()
        # While the server drains for a restart nothing more is saved: the snapshot keeps the session as it
        # was, not as the closing sockets leave it.
        self.frozen = False
        now = clock()
        self.room = Room(room_id, config.max_participants, f"s-{uuid.uuid4().hex[:12]}", config.settings(), now)
        self.room.host_grace = config.host_grace
        saved = self.snapshots.load_snapshot(room_id)
        if saved is not None and not (isinstance(saved, dict) and isinstance(saved.get("saved_at"), int | float)):
            saved = None  # not a snapshot this server wrote
        if saved is not None and now - float(saved["saved_at"]) > config.host_grace:
            # Nobody came back within the grace a host would have had: that session is over.
            records.session_ended(str(saved.get("session_id")), now, "no-host")
            saved = None
        self.connections: dict[str, Outbox] = {}
        self.duplicates: dict[str, str] = {}  # id given to a second holder of a connected identity → its sub
        self.placement = MediaPlacement(router_factory, self)
        breakouts = Breakouts()
        if saved is not None:
            try:
                restore(self.room, breakouts, saved, now)
            except (KeyError, TypeError, ValueError, ProtocolError):
                # A damaged snapshot costs the restart its structure, never the room: start afresh.
                log.warning("snapshot_unusable", room=room_id)
                self.room = Room(room_id, config.max_participants, f"s-{uuid.uuid4().hex[:12]}", config.settings(),
                                 now)
                self.room.host_grace = config.host_grace
                breakouts = Breakouts()
                saved = None
        self.ctx = Context(
            room=self.room, breakouts=breakouts, chat=ChatLog(config.max_chat_chars), placement=self.placement,
            events=Events(self.room, breakouts, self.connections, config.support_text),
            log=SessionLog(records, room_id, self.room.session_id), support_text=config.support_text, clock=clock)
        self.parts = Parts.build(self.ctx)
        self._on_closed = on_closed
        self._lock = asyncio.Lock()
        self.closed = False
        records.session_started(self.session_id, room_id, now)  # a restored session is already recorded
        if saved is not None and self.room.session_id == saved.get("session_id"):
            self.parts.continuity.restored()
            self.ctx.log.audit("session-restored")
            log.info("session_restored", room=room_id)
        self._last_quality: list[dict[str, Any]] | None = None  # what hosts were last sent
        self._last_own: dict[str, dict[str, Any]] = {}  # what each member was last told of their own link
        self._timer = asyncio.ensure_future(self._tick())

    @property
    def id(self) -> str:
        return self.room.id

    @property
    def session_id(self) -> str:
        return self.room.session_id

    @property
    def ended(self) -> bool:
        return self.parts.moderation.ended

    @property
    def routers(self) -> dict[str, RouterApi]:
        """The session's Routers by place: the main room and each open breakout."""
        return self.placement.routers

    @property
    def router(self) -> RouterApi:
        """The main room's Router."""
        return self.placement.routers[MAIN]

    # -- entering and leaving ---------------------------------------------------------------------

    async def join(self, connection: Outbox, participant: Participant, claim: Claim = FRESH) -> dict[str, Any]:
        """Enter the session (admitted or waiting).

        Only a valid resume credential for this session (``claim``) takes over the place of an older
        connection of the same participant. Anyone else presenting the same identity while it is
        connected is a duplicate: they wait under an id of their own and the hosts are warned.
        """
        async with self._lock:
            if self.closed or self.ended:
                raise SessionClosed(self.id)
            self.ctx.log.require_writable()  # fail closed: nobody enters unrecorded
            original = participant.id
            self.ctx.log.audit("consent-accepted", participant,
                               detail={"version": participant.consent_version or self.config.consent_version})
            older = self.connections.get(original)
            resuming = claim.resumes(self.session_id)
            if older is not None and older is not connection and not resuming:
                # One copy of an identity waits at a time, so one leaked link cannot fill the waiting room.
                for earlier in [d for d, o in self.duplicates.items() if o == original]:
                    earlier_outbox = self.connections.get(earlier)
                    await self._leave(earlier, LeaveReason.REPLACED)
                    if earlier_outbox is not None:
                        earlier_outbox.close_soon(CloseCode.REPLACED, "replaced")
                participant.id = duplicate_id(original, self.room.participants)
                participant.role = participant.token_role = "participant"  # a copy of a host link is no host
                self.duplicates[participant.id] = original
                claim = Claim(reused=True)
            pid = participant.id
            returning = pid in self.room.admitted_ever
            if older is not None and older is not connection and resuming:
                await self._leave(pid, LeaveReason.REPLACED)
                older.close_soon(CloseCode.REPLACED, "replaced")
            self.connections[pid] = connection
            try:
                data = self.parts.admission.enter(participant, returning, claim)
            except ProtocolError:
                del self.connections[pid]
                self.duplicates.pop(pid, None)
                raise
            if claim.reused:
                self.ctx.log.audit("duplicate-join", participant, subject=original)
                self.ctx.events.to_hosts({"type": "duplicate-join", "participant_id": pid, "original_id": original,
                                          "original_present": original in self.connections and pid != original})
            log.info("participant_joined", room=self.id, participant=pid, role=participant.role,
                     state=participant.state, size=len(self.room.participants))
            self.save()
            await self.parts.admission.recorded()  # nothing acknowledged is lost: the entry is on disk first
            return data

    def save(self) -> None:
        """Keep the session's structure for a restart (never chat), unless the server is draining."""
        if not self.frozen and not self.closed and not self.ended:
            self.snapshots.save_snapshot(self.id, take(self.room, self.ctx.breakouts, self.ctx.clock()))

    def resumable(self, participant_id: str) -> bool:
        """Whether a participant's place can be taken back with a resume credential (a duplicate's cannot)."""
        return participant_id in self.room.participants and participant_id not in self.duplicates

    async def leave(self, connection: Outbox, reason: LeaveReason) -> None:
        """Remove a connection's participant if it is still the current one; close an emptied session."""
        async with self._lock:
            pid = next((p for p, c in self.connections.items() if c is connection), None)
            if pid is not None:
                await self._leave(pid, reason)
                self.save()
            if self.room.is_empty() and not self.closed:
                await self.close("empty")

    async def _leave(self, participant_id: str, reason: LeaveReason) -> None:
        self.connections.pop(participant_id, None)
        self.duplicates.pop(participant_id, None)
        room, events = self.room, self.ctx.events
        had_host = room.host_present
        participant = room.participants.get(participant_id)
        if participant is not None:
            self.parts.screen.stop(participant, announce=False)
            room.remove(participant_id, self.ctx.clock(), reason=reason)
            event = reason if reason in ATTENDANCE_LEAVE_EVENTS else LeaveReason.DISCONNECTED
            self.ctx.attend(participant, event)
            self.ctx.log.audit("leave", participant, detail={"reason": reason})
            log.info("participant_left", room=self.id, participant=participant_id, reason=reason,
                     size=len(room.participants))
            if participant.admitted:
                events.broadcast_to(participant.location, {"type": "participant-left",
                                                           "participant_id": participant_id, "reason": reason})
                events.room_state()
            else:
                events.waiting_list()
            if had_host and not room.host_present:
                events.waiting_views()
            if reason is not LeaveReason.REPLACED and not self.ended:  # a replaced host is back at once
                self.parts.continuity.sync(reason)
        await self.placement.remove(participant_id)

    async def close(self, reason: str) -> None:
        """Close the session's media and stop its timer (when it emptied, or at server shutdown)."""
        if self.closed:
            return
        self.closed = True
        self._timer.cancel()
        self._on_closed(self)
        if not self.frozen:  # emptied or ended: nothing to continue after a restart
            self.snapshots.drop_snapshot(self.id)
        # An ended session's reason was recorded when it ended. (A frozen one is recorded as ended at the
        # drain too; if a restart continues it, its record's end moves to when it really ends.)
        if not self.ended:
            self.records.session_ended(self.session_id, self.ctx.clock(), reason)
        await self.placement.close()

    def end(self, reason: str) -> None:
        """End the session for everyone."""
        self.parts.moderation.end(reason)

    # -- requests ---------------------------------------------------------------------------------

    async def handle(self, participant_id: str, kind: str, fields: dict[str, Any]) -> dict[str, Any]:
        """Run one request for a participant, as the request table says; return the result data."""
        participant = self.room.participants.get(participant_id)
        if participant is None:
            raise ProtocolError("not-joined", "join the room first")
        spec = REQUESTS.get(kind)
        if spec is None or spec.handle is None:
            raise ProtocolError("unknown-type", f"unknown request type {kind!r}")
        try:
            if not _has_access(participant, spec.access):
                raise ProtocolError("not-permitted", spec.refusal)
            reply = spec.handle(self.parts, participant, fields)
            if inspect.isawaitable(reply):
                reply = await reply
            self.save()
        except ProtocolError as exc:
            if exc.code == "not-permitted":
                self.ctx.log.audit("not-permitted", participant, detail={"request": kind})
            raise
        return reply or {}

    # -- timers -----------------------------------------------------------------------------------

    async def _tick(self) -> None:
        ticks = 0
        while not self.closed:
            await asyncio.sleep(TICK)
            ticks += 1
            if ticks % QUALITY_TICKS == 0:
                try:
                    self._report_quality()
                except Exception:
                    log.exception("link_quality_failed", room=self.id)
            try:
                await self._on_tick(self.ctx.clock())
            except Exception:
                log.exception("room_tick_failed", room=self.id)

    def _report_quality(self) -> None:
        """Send hosts each admitted participant's connection quality, and each member their own, when it
        changed (9.12)."""
        room = self.room
        entries: dict[str, dict[str, Any]] = {}
        for participant in room.participants.values():
            if not participant.admitted:
                continue
            try:
                quality = self.placement.router_of(participant.id).member_quality(participant.id)
            except MediaError:  # admitted a moment ago: not in a Router yet
                continue
            if quality is not None:
                entries[participant.id] = describe_quality(participant.id, quality)
        listing = list(entries.values())
        if room.host_present and listing != self._last_quality:
            self._last_quality = listing
            self.ctx.events.to_hosts({"type": "link-quality", "participants": listing})
        # A member hears of their own link only, so their client can suggest what helps; hosts find their
        # own entry in the whole list. Nobody learns anyone else's figures this way.
        own = {pid: entry for pid, entry in entries.items() if not room.participants[pid].is_host}
        for participant_id, entry in own.items():
            if self._last_own.get(participant_id) != entry:
                self.ctx.events.send_to(participant_id, {"type": "link-quality", "participants": [entry]})
        self._last_own = own  # those gone, or now hosts, are forgotten: told afresh if they are members again

    async def _on_tick(self, now: float) -> None:
        agenda = self.room.agenda
        if agenda is not None and agenda.overran(now):
            self.ctx.events.to_hosts({"type": "agenda-overrun", "phase": agenda.current})
        if self.parts.breakouts.tick(now):
            await self.parts.breakouts.close_all()
        since = self.room.no_host_since
        if since is not None and not self.ended and now - since > self.config.host_grace:
            self.ctx.log.audit("end-session", detail={"reason": "no-host"})
            self.end("no-host")

    # -- RouterListener ---------------------------------------------------------------------------

    def consumers_changed(self, participant_id: str, consumers: list[dict[str, Any]]) -> None:
        self.ctx.events.send_to(participant_id, {"type": "consumers", "consumers": consumers})

    def subscriber_offer(self, participant_id: str, revision: int, sdp: str) -> None:
        self.ctx.events.send_to(participant_id, {"type": "subscriber-offer", "revision": revision, "sdp": sdp})

    def media_failed(self, participant_id: str, reason: str) -> None:
        if participant_id in self.connections:
            log.info("media_failed", room=self.id, participant=participant_id, reason=reason)
            self.ctx.events.close(participant_id, CloseCode.MEDIA_FAILED, reason)

    def active_speaker(self, router_id: str, participant_id: str | None) -> None:
        self.ctx.events.broadcast_to(router_id, {"type": "active-speaker", "participant_id": participant_id})


DUPLICATE_MARK = "~"


def duplicate_id(original: str, taken: dict[str, Any]) -> str:
    """Return the id a duplicate of ``original`` waits under: ``<original>~<6 hex digits>``."""
    while True:
        candidate = f"{original[:120]}{DUPLICATE_MARK}{secrets.token_hex(3)}"
        if candidate not in taken:
            return candidate


def _has_access(participant: Participant, access: Access) -> bool:
    if access is Access.HOST:
        return participant.is_host and participant.admitted
    if access is Access.ADMITTED:
        return participant.admitted
    return True
