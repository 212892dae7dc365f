"""Rooms: the live rooms of one server, created on first join and dropped when empty or ended."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from media.api import MediaSettings

from .live_room import LiveRoom, RoomClosed, RoomConfig
from .protocol import ProtocolError
from .records import NullRecords, Records
from .room import Participant

if TYPE_CHECKING:
    from .session import Session

__all__ = ["LiveRoom", "RoomClosed", "RoomConfig", "Rooms"]


class Rooms:
    """The live rooms of one server, created on first join and dropped when empty or ended."""

    def __init__(self, config: RoomConfig, media: MediaSettings, records: Records | None = None) -> None:
        self.config = config
        self.media = media
        self.records: Records = records or NullRecords()
        self.live: dict[str, LiveRoom] = {}
        self._background: set[asyncio.Future] = set()

    def keep_until_done(self, task: asyncio.Future) -> None:
        """Hold a reference to a cleanup task that must outlive a cancelled caller."""
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def get_or_create(self, room_id: str) -> LiveRoom:
        """Return the live room, creating it (and its Router) if there is place for one more."""
        live = self.live.get(room_id)
        if live is None or live.ended:
            if len([r for r in self.live.values() if not r.ended]) >= self.config.max_rooms:
                raise ProtocolError("server-full", "this server hosts its maximum number of sessions")
            live = LiveRoom(room_id, self.config, self.media, self.records, self._forget)
            self.live[room_id] = live
        return live

    async def join(self, room_id: str, session: Session, participant: Participant) -> tuple[LiveRoom, dict]:
        """Join a room, creating it if needed."""
        while True:
            live = self.get_or_create(room_id)
            try:
                return live, await live.join(session, participant)
            except RoomClosed:
                if self.live.get(room_id) is live:
                    del self.live[room_id]

    def _forget(self, live: LiveRoom) -> None:
        if self.live.get(live.id) is live:
            del self.live[live.id]

    def participant_count(self) -> int:
        """Count participants across all rooms."""
        return sum(len(live.room.participants) for live in self.live.values())

    async def close(self) -> None:
        """Close every room's media (server shutdown)."""
        for live in list(self.live.values()):
            if not live.closed:
                await live._close("server-shutdown")
        self.live.clear()

