"""Screen sharing rules: who may share, one share per room, revoking stops forwarding at once."""

from __future__ import annotations

from media.api import MediaError

from .protocol import ProtocolError
from .room import Participant


class ScreenShareRequests:
    """Screen-share permission and stopping (mixed into LiveRoom)."""

    # request type -> method name; requests only hosts may send
    HANDLERS: dict[str, str] = {
        "allow-screen-share": "_allow_screen_share",
        "stop-screen-share": "_stop_screen_share",
    }
    HOST_ONLY: frozenset[str] = frozenset({
        "allow-screen-share", "stop-screen-share",
    })

    # screen sharing

    def _sharer(self, location: str) -> Participant | None:
        return next((p for p in self.room.in_location(location) if p.track_by_label("screen")), None)

    def _check_new_share(self, participant: Participant, replace: bool) -> None:
        """Allow a new screen share if permitted; one share per room (a replace stops the other)."""
        if not participant.admitted or not self.room.may_share_screen(participant):
            self._audit("not-permitted", participant, detail={"request": "screen-share"})
            raise ProtocolError("not-permitted", "ask the host for permission to share your screen")
        current = self._sharer(participant.location)
        if current is not None and current is not participant:
            if not replace:
                raise ProtocolError("screen-share-active", "someone else is sharing; ask to replace their share")
            self._stop_share_of(current, reason="replaced")

    def _stop_share_of(self, participant: Participant, reason: str = "stopped", announce: bool = True) -> bool:
        """End a participant's screen share (server-side: forwarding stops at once)."""
        stopped = False
        for track in [t for t in participant.tracks.values() if t.label in ("screen", "screen-audio")]:
            try:
                self.router_of(participant).unpublish(participant.id, track.track_id)
            except MediaError:
                pass
            self._track_ended(participant, track.track_id)
            stopped = True
        if stopped and announce:
            self._send_to(participant.id, {"type": "screen-share-stopped", "reason": reason})
            self._broadcast_room_state()
        return stopped

    def _allow_screen_share(self, host: Participant, fields: dict) -> None:
        participant = self.room.get(fields["participant_id"])
        allowed = fields["allowed"]
        if allowed:
            self.room.screen_allowed.add(participant.id)
        else:
            self.room.screen_allowed.discard(participant.id)
            if not participant.is_host:
                self._stop_share_of(participant, reason="revoked")
        self._audit("screen-permission", host, subject=participant.id, detail={"allowed": allowed})
        self._broadcast_room_state()

    def _stop_screen_share(self, host: Participant, fields: dict) -> None:
        participant = self.room.get(fields["participant_id"])
        if not self._stop_share_of(participant, reason="stopped-by-host"):
            raise ProtocolError("invalid-track", "that participant is not sharing a screen")
        self._audit("screen-stop", host, subject=participant.id)

