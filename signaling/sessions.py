"""Sessions: the live sessions of one server by room, created on first join and dropped when empty or ended."""

from __future__ import annotations

import asyncio
from typing import Any

from .errors import ProtocolError
from .parts import Outbox
from .placement import RouterFactory
from .records import NullRecords, Records, require_writable
from .resume import FRESH, Claim
from .room import Participant
from .session import Session, SessionClosed, SessionPolicy
from .snapshot import NullSnapshots, SnapshotStore

__all__ = ["Session", "SessionClosed", "SessionPolicy", "Sessions"]


class Sessions:
    """The live sessions of one server, one per room id at a time."""

    def __init__(self, config: SessionPolicy, router_factory: RouterFactory, records: Records | None = None,
                 snapshots: SnapshotStore | None = None) -> None:
        self.config = config
        self.router_factory = router_factory
        self.records: Records = records or NullRecords()
        self.snapshots: SnapshotStore = snapshots or NullSnapshots()
        self.live: dict[str, Session] = {}
        self._background: set[asyncio.Future[Any]] = set()

    def keep_until_done(self, task: asyncio.Future[Any]) -> None:
        """Hold a reference to a cleanup task that must outlive a cancelled caller."""
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def get_or_create(self, room_id: str) -> Session:
        """Return the room's live session, starting one (and its Router) if there is place for one more."""
        live = self.live.get(room_id)
        if live is None or live.ended:
            if len([s for s in self.live.values() if not s.ended]) >= self.config.max_rooms:
                raise ProtocolError("server-full", "this server hosts its maximum number of sessions")
            require_writable(self.records)  # a new session would start unrecorded
            live = Session(room_id, self.config, self.records, self.router_factory, self._forget,
                           snapshots=self.snapshots)
            self.live[room_id] = live
        return live

    async def join(self, room_id: str, connection: Outbox, participant: Participant,
                   claim: Claim = FRESH) -> tuple[Session, dict[str, Any]]:
        """Join a room's session, starting one if needed."""
        while True:
            live = self.get_or_create(room_id)
            try:
                return live, await live.join(connection, participant, claim)
            except SessionClosed:
                if self.live.get(room_id) is live:
                    del self.live[room_id]

    def _forget(self, live: Session) -> None:
        if self.live.get(live.id) is live:
            del self.live[live.id]

    def participant_count(self) -> int:
        """Count participants across all sessions."""
        return sum(len(live.room.participants) for live in self.live.values())

    def freeze(self) -> None:
        """The server is draining for a restart: keep every live session's snapshot as it is now."""
        for live in self.live.values():
            live.frozen = True

    async def close(self) -> None:
        """Close every session's media (server shutdown)."""
        for live in list(self.live.values()):
            await live.close("server-shutdown")
        self.live.clear()
