"""Host continuity: what happens to a session while no host is present, and what a returning host is told.

When the last host goes (stepped out with ``leave``, or their connection dropped) the members are told at
once through ``room-state.host_away``, and their media between each other is held unless the hosts allowed
it to go on (the ``members_media_without_host`` setting); the waiting room is never admitted meanwhile
(Room.enter). When a host is back, media flows again and the returning host's ``join`` result carries ``host_absence``:
how long no host was there and when the session would have ended. A co-host who stays keeps the session
running.
"""

from __future__ import annotations

from typing import Any

import structlog

from ..codes import LeaveReason
from .context import Context

log = structlog.get_logger("haven.rooms")

STEPPED_OUT, DISCONNECTED = "left", "disconnected"


class HostContinuity:
    """Notices when a session loses or regains its last host and carries that into media and events."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._present = False  # as of the last sync; a new session has no host yet
        self._away_since: float | None = None

    def sync(self, reason: LeaveReason | None = None) -> dict[str, Any] | None:
        """Bring the session in line with whether a host is present now (``reason``: why someone left).

        Return the absence that just ended when a host is back after one (None otherwise).
        """
        ctx, room = self.ctx, self.ctx.room
        present = room.host_present
        if present == self._present:
            return None
        self._present = present
        now = ctx.clock()
        absence = None
        if not present:
            room.host_away_reason = STEPPED_OUT if reason in (None, LeaveReason.LEFT) else DISCONNECTED
            self._away_since = room.no_host_since if room.no_host_since is not None else now
            room.no_host_since = self._away_since
            log.info("host_away", room=room.id, reason=room.host_away_reason, media_paused=room.members_paused)
        elif room.host_away_reason is not None and self._away_since is not None:
            since = self._away_since
            absence = {"since": int(since * 1000), "returned_at": int(now * 1000),
                       "ends_at": int((since + room.host_grace) * 1000), "media_paused": room.members_paused}
            room.host_away_reason = None
            self._away_since = None
            log.info("host_returned", room=room.id, away_seconds=round(now - since))
        self.replace_members()
        ctx.events.room_state()
        return absence

    def restored(self) -> None:
        """Take over a session restored after a restart: if it had a host, the hosts are away until one is back."""
        if self.ctx.room.host_away_reason is not None:
            self._away_since = self.ctx.room.no_host_since

    def replace_members(self) -> None:
        """Carry whether members' media is held into the Routers (after a change of host presence or setting)."""
        for participant in self.ctx.room.admitted():
            self.ctx.place(participant)
