"""Fakes for the Session's seams: Routers that record what they are told, outboxes, and records.

They implement the same interfaces as the real parts (media.api.RouterApi, signaling.parts.Outbox,
signaling.records.Records), so the session logic runs unchanged with no socket and no media.
"""

from __future__ import annotations

from typing import Any

from media.api import LABEL_KINDS, LinkQuality, MediaError, PublishResult, RouterListener, TrackInfo
from signaling.codes import CloseCode, LeaveReason


class FakeRouter:
    """Keeps members and their media flags; every call is appended to a shared ``journal``."""

    def __init__(self, router_id: str, listener: RouterListener, journal: list[tuple[Any, ...]]) -> None:
        self.id = router_id
        self.listener = listener
        self.journal = journal
        self.members: dict[str, tuple[bool, bool]] = {}
        self.tracks: dict[str, TrackInfo] = {}
        self.paused: set[str] = set()
        self.quality: dict[str, LinkQuality] = {}  # what member_quality reports, set by tests
        self.closed = False

    def add_member(self, participant_id: str, sending: bool = True, receiving: bool = True) -> None:
        if participant_id in self.members:
            raise MediaError("already-joined", "this participant is already in the router")
        self.members[participant_id] = (sending, receiving)
        self.journal.append(("add", self.id, participant_id, sending))

    async def remove_member(self, participant_id: str) -> None:
        self.members.pop(participant_id, None)
        self.tracks = {k: t for k, t in self.tracks.items() if t.owner_id != participant_id}
        self.journal.append(("remove", self.id, participant_id))

    def move_member(self, participant_id: str, destination: FakeRouter) -> None:
        destination.members[participant_id] = self.members.pop(participant_id)
        for key in [k for k, t in self.tracks.items() if t.owner_id == participant_id]:
            destination.tracks[key] = self.tracks.pop(key)
        self.journal.append(("move", self.id, destination.id, participant_id))

    def set_member_media(self, participant_id: str, sending: bool, receiving: bool) -> None:
        self.members[participant_id] = (sending, receiving)
        self.journal.append(("media", self.id, participant_id, sending))

    async def publish(self, participant_id: str, offer: str, labels: dict[str, str]) -> PublishResult:
        started = []
        for mid, label in labels.items():
            track = TrackInfo(f"t-{participant_id}-{mid}", participant_id, LABEL_KINDS[label], label)
            if track.id not in self.tracks:
                self.tracks[track.id] = track
                started.append(track)
        return PublishResult(f"answer to {offer}", started, [])

    def _own(self, participant_id: str, track_id: str) -> TrackInfo:
        track = self.tracks.get(track_id)
        if track is None or track.owner_id != participant_id:
            raise MediaError("invalid-track", "no such track of yours")
        return track

    def unpublish(self, participant_id: str, track_id: str) -> TrackInfo:
        track = self._own(participant_id, track_id)
        del self.tracks[track_id]
        self.journal.append(("unpublish", self.id, track_id))
        return track

    def set_paused(self, participant_id: str, track_id: str, paused: bool) -> None:
        self._own(participant_id, track_id)
        (self.paused.add if paused else self.paused.discard)(track_id)

    async def subscriber_answer(self, participant_id: str, revision: int, sdp: str) -> None:
        if participant_id not in self.members:
            raise MediaError("not-joined", "the participant is not in this room")

    def set_tile_heights(self, participant_id: str, heights: dict[str, int]) -> None:
        if participant_id not in self.members:
            raise MediaError("not-joined", "the participant is not in this room")
        self.journal.append(("tile-heights", self.id, participant_id))

    def stats(self) -> dict[str, Any]:
        return {"members": len(self.members)}

    def member_quality(self, participant_id: str) -> LinkQuality | None:
        if participant_id not in self.members:
            return None
        return self.quality.get(participant_id, LinkQuality(-1.0, -1.0, -1.0, -1))

    async def close(self) -> None:
        self.closed = True
        self.journal.append(("close", self.id))


class FakeRouters:
    """A router factory for Session that keeps every Router it made and one journal for all of them."""

    def __init__(self) -> None:
        self.journal: list[tuple[Any, ...]] = []
        self.made: dict[str, FakeRouter] = {}

    def __call__(self, router_id: str, listener: RouterListener) -> FakeRouter:
        router = self.made[router_id] = FakeRouter(router_id, listener, self.journal)
        return router

    def flows(self, participant_id: str) -> dict[str, bool]:
        """Return, per open Router holding the participant, whether their media flows."""
        return {name: router.members[participant_id][0] for name, router in self.made.items()
                if not router.closed and participant_id in router.members}


class FakeOutbox:
    """A connection as a Session sees it: messages go to ``sent``; a close is recorded."""

    def __init__(self, journal: list[tuple[Any, ...]] | None = None) -> None:
        self.sent: list[dict[str, Any]] = []
        self.closed: tuple[CloseCode, str, LeaveReason | None] | None = None
        self.journal = journal if journal is not None else []

    def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)
        self.journal.append(("send", message.get("type")))

    def close_soon(self, code: CloseCode, reason: str, leave_reason: LeaveReason | None = None) -> None:
        self.closed = (code, reason, leave_reason)

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [m for m in self.sent if m.get("type") == kind]


class MemoryRecords:
    """Keeps audit entries and attendance events in lists (the real store is server/storage.py)."""

    def __init__(self) -> None:
        self.audits: list[dict[str, Any]] = []
        self.attendance_events: list[tuple[str, str]] = []
        self.ended: list[str] = []
        self.steps: list[tuple[str, dict[str, Any]]] = []
        self.moods: list[tuple[str, str, int]] = []
        self.writable = True

    def audit(self, action: str, **fields: Any) -> None:
        self.audits.append({"action": action, **fields})

    def session_started(self, session_id: str, room: str, at: float) -> None:
        return None

    def session_ended(self, session_id: str, at: float, reason: str) -> None:
        self.ended.append(reason)

    def attendance(self, session_id: str, participant_id: str, name: str, role: str, event: str,
                   at: float) -> None:
        self.attendance_events.append((participant_id, event))

    def session_event(self, session_id: str, kind: str, at: float, detail: dict[str, Any]) -> None:
        self.steps.append((kind, detail))

    def mood(self, session_id: str, room: str, participant_id: str, rating: int, at: float) -> None:
        self.moods.append((room, participant_id, rating))

    async def committed(self) -> bool:
        return self.writable


class AuditLog:
    """Collects audit entries as server.storage.Storage.audit would write them (the practice's services)."""

    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []

    def audit(self, action: str, **fields: Any) -> None:
        self.entries.append({"action": action, **fields})

    def actions(self) -> list[str]:
        return [e["action"] for e in self.entries]
