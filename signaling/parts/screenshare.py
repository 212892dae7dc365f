"""Screen sharing: permission, and stopping a share (server-side, so forwarding stops at once)."""

from __future__ import annotations

from media.api import MediaError

from ..errors import ProtocolError
from ..room import Participant
from .context import Context
from .tracks import end_track


class ScreenShare:
    """Who may share a screen, and stopping shares; one share per room is a rule of Room."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def stop(self, participant: Participant, reason: str = "stopped", announce: bool = True) -> bool:
        """End a participant's screen share; tell them and the room unless ``announce`` is off."""
        tracks = participant.screen_tracks()
        for track in tracks:
            try:
                self.ctx.placement.router_of(participant.id).unpublish(participant.id, track.track_id)
            except MediaError:
                pass  # the track already ended in media; the roster still has to forget it
            end_track(self.ctx, participant, track.track_id)
        if tracks and announce:
            self.ctx.events.send_to(participant.id, {"type": "screen-share-stopped", "reason": reason})
            self.ctx.events.room_state()
        return bool(tracks)

    def allow(self, host: Participant, participant_id: str, allowed: bool) -> None:
        """Grant or revoke a participant's permission to share; revoking stops a running share."""
        room = self.ctx.room
        participant = room.get(participant_id)
        if allowed:
            room.screen_allowed.add(participant.id)
        else:
            room.screen_allowed.discard(participant.id)
            if not participant.is_host:
                self.stop(participant, reason="revoked")
        self.ctx.log.audit("screen-permission", host, subject=participant.id, detail={"allowed": allowed})
        self.ctx.events.room_state()

    def stop_by_host(self, host: Participant, participant_id: str) -> None:
        """Stop someone's share."""
        participant = self.ctx.room.get(participant_id)
        if not self.stop(participant, reason="stopped-by-host"):
            raise ProtocolError("invalid-track", "that participant is not sharing a screen")
        self.ctx.log.audit("screen-stop", host, subject=participant.id)
