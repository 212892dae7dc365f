"""Live rooms: each Room's state joined to its Router and the Sessions of its participants.

``Rooms`` is the set of live rooms of one server; ``LiveRoom`` turns requests into state changes and
media operations, and Router callbacks into messages (it is the Router's listener).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import structlog

from media.api import MediaError, MediaSettings, Router

from .protocol import ProtocolError
from .room import Participant, Room, RoomFull, Track

if TYPE_CHECKING:
    from .session import Session

log = structlog.get_logger("haven.rooms")


@dataclass(frozen=True)
class RoomLimits:
    """Limits that apply to every room of the server."""

    max_rooms: int = 200
    max_participants: int = 20


class RoomClosed(Exception):
    """The room emptied and closed while a join was waiting for it; join a fresh one."""


class LiveRoom:
    """One room in session: who is in it, their connections, and the media Router."""

    def __init__(self, room_id: str, limits: RoomLimits, media: MediaSettings, on_empty: Any) -> None:
        self.room = Room(room_id, limits.max_participants)
        self.sessions: dict[str, Session] = {}
        self.router = Router(room_id, media, self)
        self._on_empty = on_empty
        self._lock = asyncio.Lock()
        self.closed = False

    @property
    def id(self) -> str:
        return self.room.id

    # -- membership -------------------------------------------------------------------------------

    async def join(self, session: Session, participant: Participant) -> dict:
        """Enter the room, replacing an older connection of the same participant."""
        async with self._lock:
            if self.closed:
                raise RoomClosed(self.id)
            older = self.sessions.get(participant.id)
            if older is not None and older is not session:
                await self._remove(participant.id, "replaced")
                older.close_soon(4409, "replaced")
            try:
                self.room.admit(participant)
            except RoomFull:
                raise ProtocolError("room-full", "this session is full") from None
            self.sessions[participant.id] = session
            self.router.add_member(participant.id)
            self.broadcast({"type": "participant-joined", "participant": participant.describe()},
                           exclude=participant.id)
            log.info("participant_joined", room=self.id, participant=participant.id,
                     role=participant.role, size=len(self.room.participants))
            return {
                "self": participant.describe(),
                "participants": [p.describe() for p in self.room.others(participant.id)],
            }

    async def leave(self, session: Session, reason: str) -> None:
        """Remove a session's participant if that session is still the current one."""
        async with self._lock:
            pid = session.participant_id
            if pid is not None and self.sessions.get(pid) is session:
                await self._remove(pid, reason)
            if self.room.is_empty() and not self.closed:
                self.closed = True
                self._on_empty(self)
                await self.router.close()

    async def _remove(self, participant_id: str, reason: str) -> None:
        self.sessions.pop(participant_id, None)
        participant = self.room.remove(participant_id)
        if participant is not None:
            self.broadcast({"type": "participant-left", "participant_id": participant_id, "reason": reason})
            log.info("participant_left", room=self.id, participant=participant_id, reason=reason,
                     size=len(self.room.participants))
        await self.router.remove_member(participant_id)

    # -- media requests ---------------------------------------------------------------------------

    async def publish(self, participant_id: str, sdp: str, tracks: list[dict]) -> dict:
        """Apply a publish offer and announce the tracks it starts and ends."""
        participant = self._participant(participant_id)
        labels = {t["mid"]: t["label"] for t in tracks}
        if len(labels) != len(tracks):
            raise ProtocolError("invalid-track", "a mid is listed twice")
        result = await self._media(self.router.publish(participant_id, sdp, labels))
        for producer in result.ended:
            self._track_ended(participant, producer.id)
        started = []
        for producer in result.started:
            track = Track(producer.id, producer.kind, producer.label)
            participant.tracks[track.track_id] = track
            started.append(track)
            self.broadcast({"type": "track-published", "participant_id": participant_id,
                            "track": track.describe()}, exclude=participant_id)
        by_label = {t.label: t for t in participant.tracks.values()}
        return {
            "sdp": result.answer,
            "tracks": [{"mid": mid, **by_label[label].describe()} for mid, label in labels.items()
                       if label in by_label],
        }

    def unpublish(self, participant_id: str, track_id: str) -> dict:
        """End one of the participant's tracks."""
        participant = self._participant(participant_id)
        self._sync_media(lambda: self.router.unpublish(participant_id, track_id))
        self._track_ended(participant, track_id)
        return {}

    def mute(self, participant_id: str, track_id: str, muted: bool) -> dict:
        """Pause or resume forwarding of one of the participant's tracks."""
        participant = self._participant(participant_id)
        self._sync_media(lambda: self.router.set_paused(participant_id, track_id, muted))
        track = participant.tracks[track_id]
        track.muted = muted
        self.broadcast({"type": "track-muted", "participant_id": participant_id, "track_id": track_id,
                        "muted": muted})
        return {}

    async def subscriber_answer(self, participant_id: str, revision: int, sdp: str) -> dict:
        """Apply the participant's answer to its subscribe connection's offer."""
        self._participant(participant_id)
        await self._media(self.router.subscriber_answer(participant_id, revision, sdp))
        return {}

    def _track_ended(self, participant: Participant, track_id: str) -> None:
        if participant.tracks.pop(track_id, None) is not None:
            self.broadcast({"type": "track-unpublished", "participant_id": participant.id,
                            "track_id": track_id}, exclude=participant.id)

    def _participant(self, participant_id: str) -> Participant:
        participant = self.room.participants.get(participant_id)
        if participant is None:
            raise ProtocolError("not-joined", "join the room first")
        return participant

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

    # -- messages ---------------------------------------------------------------------------------

    def broadcast(self, message: dict, exclude: str | None = None) -> None:
        """Queue a message to every connected participant (except one)."""
        for pid, session in list(self.sessions.items()):
            if pid != exclude:
                session.send(message)

    def _send_to(self, participant_id: str, message: dict) -> None:
        session = self.sessions.get(participant_id)
        if session is not None:
            session.send(message)

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

    def active_speaker(self, participant_id: str | None) -> None:
        self.broadcast({"type": "active-speaker", "participant_id": participant_id})


class Rooms:
    """The live rooms of one server, created on first join and dropped when empty."""

    def __init__(self, limits: RoomLimits, media: MediaSettings) -> None:
        self.limits = limits
        self.media = media
        self.live: dict[str, LiveRoom] = {}
        self._background: set[asyncio.Future] = set()

    def keep_until_done(self, task: asyncio.Future) -> None:
        """Hold a reference to a cleanup task that must outlive a cancelled caller."""
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def get_or_create(self, room_id: str) -> LiveRoom:
        """Return the live room, creating it (and its Router) if there is place for one more."""
        live = self.live.get(room_id)
        if live is None:
            if len(self.live) >= self.limits.max_rooms:
                raise ProtocolError("server-full", "this server hosts its maximum number of sessions")
            live = LiveRoom(room_id, self.limits, self.media, self._forget)
            self.live[room_id] = live
        return live

    async def join(self, room_id: str, session: Session, participant: Participant) -> tuple[LiveRoom, dict]:
        """Join a room, creating it if needed."""
        while True:
            live = self.get_or_create(room_id)
            try:
                return live, await live.join(session, participant)
            except RoomClosed:
                continue

    def _forget(self, live: LiveRoom) -> None:
        if self.live.get(live.id) is live:
            del self.live[live.id]

    def participant_count(self) -> int:
        """Count participants across all rooms."""
        return sum(len(live.room.participants) for live in self.live.values())

    async def close(self) -> None:
        """Close every room's media (server shutdown)."""
        for live in list(self.live.values()):
            live.closed = True
            await live.router.close()
        self.live.clear()
