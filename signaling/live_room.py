"""LiveRoom: one session in progress — the Room's state joined to its Routers, Sessions and records.

LiveRoom turns requests into state changes, media operations, attendance and audit records, and Router
callbacks into messages (it is every one of its Routers' listener). The requests themselves live in
small modules mixed in here: moderation.py, structure.py, screenshare.py, breakout_requests.py.
Waiting participants get nothing of the room: no roster, no media, no events.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

import structlog

from media.api import MediaError, MediaSettings, Router

from .breakout_requests import BreakoutRequests
from .breakouts import MAIN, Breakouts
from .chat import ChatLog
from .moderation import ModerationRequests
from .protocol import ProtocolError
from .records import Records
from .room import Participant, Room, Settings, Track
from .screenshare import ScreenShareRequests
from .structure import StructureRequests

if TYPE_CHECKING:
    from .session import Session

log = structlog.get_logger("haven.rooms")

TICK = 1.0


@dataclass(frozen=True)
class RoomConfig:
    """What every room of the server starts with."""

    max_rooms: int = 200
    max_participants: int = 20
    consent_text: str = "Everything shared in this group stays in this group."
    support_text: str = ""
    waiting_room: bool = True
    chat_enabled: bool = True
    private_chat: bool = False
    hands_visible: bool = False
    max_chat_chars: int = 1000
    host_grace: float = 600.0
    consent_version: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "consent_version", hashlib.sha256(self.consent_text.encode()).hexdigest())

    def settings(self) -> Settings:
        """Return the settings a new session starts with."""
        return Settings(waiting_room=self.waiting_room, chat_enabled=self.chat_enabled,
                        private_chat=self.private_chat, hands_visible=self.hands_visible)


class RoomClosed(Exception):
    """The room emptied or ended while a join was waiting for it; join a fresh one."""


class LiveRoom(ModerationRequests, StructureRequests, ScreenShareRequests, BreakoutRequests):
    """One session in progress: who is in it, their connections, the media Routers and the records."""

    HANDLERS = {"unpublish": "_unpublish", "mute": "_mute"}

    def __init__(self, room_id: str, config: RoomConfig, media: MediaSettings, records: Records,
                 on_closed: Callable[[LiveRoom], None]) -> None:
        self.config = config
        self.records = records
        now = time.time()
        self.room = Room(room_id, config.max_participants, f"s-{uuid.uuid4().hex[:12]}", config.settings(), now)
        self.chat = ChatLog(config.max_chat_chars)
        self.sessions: dict[str, Session] = {}
        self.media = media
        # One Router per place: the main room and each breakout. Media never crosses Routers.
        self.routers: dict[str, Router] = {MAIN: Router(MAIN, media, self)}
        self.breakouts = Breakouts()
        self._on_closed = on_closed
        self._lock = asyncio.Lock()
        self.closed = False
        self.ended = False
        records.session_started(self.session_id, room_id, now)
        self._timer = asyncio.ensure_future(self._tick())
    @property
    def id(self) -> str:
        return self.room.id

    @property
    def session_id(self) -> str:
        return self.room.session_id

    @property
    def router(self) -> Router:
        """The main room's Router."""
        return self.routers[MAIN]

    def router_of(self, participant: Participant) -> Router:
        """Return the Router of the place (main room or breakout) a participant is in."""
        return self.routers[participant.location]

    # -- entering and leaving ---------------------------------------------------------------------

    async def join(self, session: Session, participant: Participant) -> dict:
        """Enter the room (admitted or waiting), replacing an older connection of the same participant."""
        async with self._lock:
            if self.closed or self.ended:
                raise RoomClosed(self.id)
            pid = participant.id
            now = time.time()
            self._audit("consent-accepted", participant, detail={"version": self.config.consent_version})
            older = self.sessions.get(pid)
            returning = pid in self.room.admitted_ever
            if older is not None and older is not session:
                await self._leave(pid, "replaced")
                older.close_soon(4409, "replaced")
            try:
                state = self.room.enter(participant, now)
            except ProtocolError as exc:
                self._audit("join-refused", participant, detail={"code": exc.code})
                raise
            self.sessions[pid] = session
            self.router.add_member(pid, sending=participant.admitted, receiving=participant.admitted)
            self._attend(participant, "reconnect" if returning else "join", now)
            self._audit("join", participant, detail={"state": state})
            log.info("participant_joined", room=self.id, participant=pid, role=participant.role, state=state,
                     size=len(self.room.participants))
            if participant.admitted:
                self._attend(participant, "admitted", now)
                self._announce_admitted(participant)
            else:
                self._send_waiting_list()
            return self._entry(participant)

    def _entry(self, participant: Participant) -> dict:
        """The join result / admitted event payload for a participant in their current state."""
        if not participant.admitted:
            return {"state": "waiting", "session_id": self.session_id, "self": participant.describe(),
                    "participants": [], "room": self._waiting_view(participant), "chat": []}
        return {"state": "admitted", "session_id": self.session_id, "self": participant.describe(),
                "participants": [p.describe() for p in self.room.others(participant.id)],
                "room": self._room_state(participant), "chat": self.chat.visible_to(self.room, participant)}

    def _waiting_view(self, participant: Participant) -> dict:
        session = self.sessions.get(participant.id)
        starts_at = getattr(getattr(session, "grant", None), "starts_at", None)
        return {"session_id": self.session_id, "starts_at": int(starts_at * 1000) if starts_at else None,
                "support_text": self.config.support_text, "host_present": self.room.host_present}

    def _announce_admitted(self, participant: Participant) -> None:
        self.broadcast_to(participant.location, {"type": "participant-joined", "participant": participant.describe()},
                          exclude=participant.id)
        if participant.is_host:
            self._send_waiting_list([participant.id])
            self._broadcast_room_state()
            self._refresh_waiting_views()

    async def leave(self, session: Session, reason: str) -> None:
        """Remove a session's participant if that session is still the current one; close an empty room."""
        async with self._lock:
            pid = session.participant_id
            if pid is not None and self.sessions.get(pid) is session:
                await self._leave(pid, reason)
            if self.room.is_empty() and not self.closed:
                await self._close("empty")

    async def _leave(self, participant_id: str, reason: str) -> None:
        self.sessions.pop(participant_id, None)
        had_host = self.room.host_present
        participant = self.room.remove(participant_id)
        router = self.router
        if participant is not None:
            router = self.router_of(participant)
            self._stop_share_of(participant, announce=False)
            event = {"left": "left", "removed": "removed", "denied": "denied", "replaced": "replaced",
                     "session-ended": "session-ended"}.get(reason, "disconnected")
            self._attend(participant, event, time.time())
            self._audit("leave", participant, detail={"reason": reason})
            log.info("participant_left", room=self.id, participant=participant_id, reason=reason,
                     size=len(self.room.participants))
            if participant.admitted:
                self.broadcast_to(participant.location, {"type": "participant-left", "participant_id": participant_id,
                                                         "reason": reason})
                self._broadcast_room_state()
            else:
                self._send_waiting_list()
            if had_host and not self.room.host_present:
                self._refresh_waiting_views()
        await router.remove_member(participant_id)

    async def _close(self, reason: str) -> None:
        self.closed = True
        self._timer.cancel()
        self._on_closed(self)
        if not self.ended:  # an ended session's reason was recorded when it ended
            self.records.session_ended(self.session_id, time.time(), reason)
        for router in list(self.routers.values()):
            await router.close()

    # -- requests ---------------------------------------------------------------------------------

    async def handle(self, participant_id: str, kind: str, fields: dict) -> dict:
        """Run one room request for a participant; return the result data."""
        participant = self._participant(participant_id)
        if kind == "publish":
            return await self._publish(participant, fields)
        if kind == "subscriber-answer":
            await self._media(self.router_of(participant).subscriber_answer(participant.id, fields["revision"],
                                                                            fields["sdp"]))
            return {}
        name = REQUESTS.get(kind)
        if name is None:
            raise ProtocolError("unknown-type", f"unknown request type {kind!r}")
        if kind in HOST_ONLY and not (participant.is_host and participant.admitted):
            self._audit("not-permitted", participant, detail={"request": kind})
            raise ProtocolError("not-permitted", "only the session's hosts can do this")
        result = getattr(self, name)(participant, fields)
        if asyncio.iscoroutine(result):
            result = await result
        return result or {}

    def _participant(self, participant_id: str) -> Participant:
        participant = self.room.participants.get(participant_id)
        if participant is None:
            raise ProtocolError("not-joined", "join the room first")
        return participant

    # media

    async def _publish(self, participant: Participant, fields: dict) -> dict:
        tracks = fields["tracks"]
        labels = {t["mid"]: t["label"] for t in tracks}
        if len(labels) != len(tracks):
            raise ProtocolError("invalid-track", "a mid is listed twice")
        sharing = {"screen", "screen-audio"} & set(labels.values())
        already = {t.label for t in participant.tracks.values()}
        if sharing - already:
            self._check_new_share(participant, bool(fields.get("replace_screen")))
        result = await self._media(self.router_of(participant).publish(participant.id, fields["sdp"], labels))
        for producer in result.ended:
            self._track_ended(participant, producer.id)
        for producer in result.started:
            track = Track(producer.id, producer.kind, producer.label)
            participant.tracks[track.track_id] = track
            if participant.admitted:
                self.broadcast_to(participant.location, {"type": "track-published", "participant_id": participant.id,
                                                         "track": track.describe()}, exclude=participant.id)
        if sharing:
            self._broadcast_room_state()
        by_label = {t.label: t for t in participant.tracks.values()}
        return {"sdp": result.answer,
                "tracks": [{"mid": mid, **by_label[label].describe()} for mid, label in labels.items()
                           if label in by_label]}

    def _unpublish(self, participant: Participant, fields: dict) -> None:
        self._sync_media(lambda: self.router_of(participant).unpublish(participant.id, fields["track_id"]))
        track = participant.tracks.get(fields["track_id"])
        self._track_ended(participant, fields["track_id"])
        if track is not None and track.label in ("screen", "screen-audio"):
            self._broadcast_room_state()

    def _mute(self, participant: Participant, fields: dict) -> None:
        track_id, muted = fields["track_id"], fields["muted"]
        self._sync_media(lambda: self.router_of(participant).set_paused(participant.id, track_id, muted))
        self._track_muted(participant, participant.tracks[track_id], muted)

    def _track_muted(self, participant: Participant, track: Track, muted: bool) -> None:
        track.muted = muted
        message = {"type": "track-muted", "participant_id": participant.id, "track_id": track.track_id,
                   "muted": muted}
        if participant.admitted:
            self.broadcast_to(participant.location, message)
        else:
            self._send_to(participant.id, message)

    def _track_ended(self, participant: Participant, track_id: str) -> None:
        if participant.tracks.pop(track_id, None) is not None and participant.admitted:
            self.broadcast_to(participant.location, {"type": "track-unpublished", "participant_id": participant.id,
                                                     "track_id": track_id}, exclude=participant.id)


    # -- helpers ----------------------------------------------------------------------------------

    @staticmethod
    async def _media(operation: Any) -> Any:
        try:
            return await operation
        except MediaError as exc:
            raise ProtocolError(exc.code, exc.message) from None

    @staticmethod
    def _sync_media(operation: Any) -> Any:
        try:
            return operation()
        except MediaError as exc:
            raise ProtocolError(exc.code, exc.message) from None

    def _audit(self, action: str, actor: Participant, subject: str | None = None, detail: dict | None = None) -> None:
        self.records.audit(action, actor=actor.id, role=actor.role, room=self.id, session_id=self.session_id,
                           subject=subject, detail=detail)

    def _attend(self, participant: Participant, event: str, at: float) -> None:
        self.records.attendance(self.session_id, participant.id, participant.name, participant.role, event, at)

    def broadcast(self, message: dict, exclude: str | None = None) -> None:
        """Queue a message to every admitted participant (except one); waiting people get nothing."""
        for participant in self.room.admitted():
            if participant.id != exclude:
                self._send_to(participant.id, message)

    def broadcast_to(self, location: str, message: dict, exclude: str | None = None) -> None:
        """Queue a message to the admitted participants of the main room or of one breakout."""
        for participant in self.room.in_location(location):
            if participant.id != exclude:
                self._send_to(participant.id, message)

    def _send_to(self, participant_id: str, message: dict) -> None:
        session = self.sessions.get(participant_id)
        if session is not None:
            session.send(message)

    def _broadcast_room_state(self) -> None:
        for participant in self.room.admitted():
            self._send_to(participant.id, {"type": "room-state", "room": self._room_state(participant)})

    def _room_state(self, viewer: Participant) -> dict:
        state = self.room.state_for(viewer)
        locations = {p.id: p.location for p in self.room.admitted()}
        state["location"] = viewer.location
        state["breakouts"] = self.breakouts.describe(viewer.is_host, locations, viewer.id)
        sharer = self._sharer(viewer.location)
        state["screen_share"] = ({"participant_id": sharer.id, "track_id": sharer.track_by_label("screen").track_id}
                                 if sharer is not None else None)
        state["can_share_screen"] = self.room.may_share_screen(viewer)
        if viewer.is_host:
            state["screen_allowed"] = sorted(self.room.screen_allowed)
        return state

    def _send_waiting_list(self, hosts: list[str] | None = None) -> None:
        waiting = [{"id": p.id, "name": p.name, "since": int(p.waiting_since * 1000)} for p in self.room.waiting()]
        targets = hosts if hosts is not None else [p.id for p in self.room.admitted() if p.is_host]
        for pid in targets:
            self._send_to(pid, {"type": "waiting-list", "waiting": waiting})

    def _refresh_waiting_views(self) -> None:
        for participant in self.room.waiting():
            self._send_to(participant.id, {"type": "waiting-state", "room": self._waiting_view(participant)})

    async def _tick(self) -> None:
        while not self.closed:
            await asyncio.sleep(TICK)
            try:
                now = time.time()
                agenda = self.room.agenda
                if agenda is not None and agenda.overran(now):
                    for host in self.room.admitted():
                        if host.is_host:
                            self._send_to(host.id, {"type": "agenda-overrun", "phase": agenda.current})
                timer = self.breakouts.tick(now)
                if timer == "warning":
                    seconds = max(0, int(self.breakouts.ends_at - now)) if self.breakouts.ends_at else 0
                    self.broadcast({"type": "breakout-warning", "seconds_left": seconds})
                elif timer == "expired":
                    self.records.audit("breakout-close-all", room=self.id, session_id=self.session_id,
                                       detail={"reason": "timer"})
                    await self._close_all_breakouts()
                since = self.room.no_host_since
                if since is not None and not self.ended and now - since > self.config.host_grace:
                    self.records.audit("end-session", room=self.id, session_id=self.session_id,
                                       detail={"reason": "no-host"})
                    self.end("no-host")
            except Exception:
                log.exception("room_tick_failed", room=self.id)

    # -- RouterListener ---------------------------------------------------------------------------

    def consumers_changed(self, participant_id: str, consumers: list[dict]) -> None:
        self._send_to(participant_id, {"type": "consumers", "consumers": consumers})

    def subscriber_offer(self, participant_id: str, revision: int, sdp: str) -> None:
        self._send_to(participant_id, {"type": "subscriber-offer", "revision": revision, "sdp": sdp})

    def media_failed(self, participant_id: str, reason: str) -> None:
        session = self.sessions.get(participant_id)
        if session is not None:
            log.info("media_failed", room=self.id, participant=participant_id, reason=reason)
            session.close_soon(4410, reason)

    def active_speaker(self, router_id: str, participant_id: str | None) -> None:
        self.broadcast_to(router_id, {"type": "active-speaker", "participant_id": participant_id})


# Every request a LiveRoom answers, and which of them only hosts may send, gathered from its parts.
REQUESTS: dict[str, str] = {
    kind: name for part in LiveRoom.__mro__ for kind, name in vars(part).get("HANDLERS", {}).items()
}
HOST_ONLY: frozenset[str] = frozenset().union(*(vars(part).get("HOST_ONLY", frozenset()) for part in LiveRoom.__mro__))
