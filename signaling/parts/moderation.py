"""Moderation: muting others, asking to unmute, removing, roles, room settings and ending the session."""

from __future__ import annotations

from typing import Any

import structlog

from ..codes import CloseCode, LeaveReason
from ..errors import ProtocolError
from ..room import Participant
from .admission import Admission
from .context import Context
from .continuity import HostContinuity
from .media import Media
from .tracks import announce_mute

log = structlog.get_logger("haven.rooms")


class Moderation:
    """Host requests that decide how people take part, and the end of the session."""

    def __init__(self, ctx: Context, admission: Admission, media: Media, continuity: HostContinuity) -> None:
        self.ctx = ctx
        self.admission = admission
        self.media = media
        self.continuity = continuity
        self.ended = False

    def mute(self, host: Participant, participant_id: str, label: str) -> None:
        """Mute someone's track (forwarding stops); they are told, and unmute themselves if they choose."""
        participant = self.ctx.room.get(participant_id)
        track = participant.track_by_label(label)
        if track is None:
            raise ProtocolError("invalid-track", f"that participant has no {label} track")
        self.media.pause(participant, track.track_id, True)
        self.ctx.log.audit("mute", host, subject=participant.id, detail={"label": track.label})
        announce_mute(self.ctx, participant, track, True)
        self.ctx.events.send_to(participant.id, {"type": "muted-by-host", "label": track.label})

    def mute_all(self, host: Participant) -> dict[str, int]:
        """Mute every member's microphone in the host's room or breakout; each unmutes themselves when ready."""
        muted = 0
        for participant in self.ctx.room.in_location(host.location):
            track = participant.track_by_label("microphone")
            if participant.is_host or track is None or track.muted:
                continue
            self.media.pause(participant, track.track_id, True)
            announce_mute(self.ctx, participant, track, True)
            self.ctx.events.send_to(participant.id, {"type": "muted-by-host", "label": "microphone"})
            muted += 1
        self.ctx.log.audit("mute-all", host, detail={"muted": muted})
        return {"muted": muted}

    def ask_all_unmute(self, host: Participant, label: str) -> dict[str, int]:
        """Ask every member of the host's room whose track with that label is off to turn it on (a request)."""
        if label not in ("microphone", "camera"):
            raise ProtocolError("bad-request", 'label must be "microphone" or "camera"')
        asked = 0
        for participant in self.ctx.room.in_location(host.location):
            track = participant.track_by_label(label)
            if participant.is_host or track is None or not track.muted:
                continue
            self.ctx.events.send_to(participant.id, {"type": "unmute-requested", "label": label, "by": host.id})
            asked += 1
        self.ctx.log.audit("ask-all-unmute", host, detail={"label": label, "asked": asked})
        return {"asked": asked}

    def ask_unmute(self, host: Participant, participant_id: str, label: str) -> None:
        """Ask someone to unmute; only they can."""
        participant = self.ctx.room.require_admitted(participant_id)
        if participant.track_by_label(label) is None:
            raise ProtocolError("invalid-track", f"that participant has no {label} track")
        self.ctx.log.audit("ask-unmute", host, subject=participant.id, detail={"label": label})
        self.ctx.events.send_to(participant.id, {"type": "unmute-requested", "label": label, "by": host.id})

    def remove(self, host: Participant, participant_id: str, ban: bool) -> None:
        """Remove someone (optionally barring them from this session); hosts cannot be removed."""
        room = self.ctx.room
        participant = room.get(participant_id)
        room.check_removable(host, participant)
        if ban:
            room.ban(participant.id)
        self.ctx.log.audit("remove", host, subject=participant.id, detail={"ban": ban})
        self.admission.expel(participant, LeaveReason.REMOVED)

    def set_role(self, host: Participant, participant_id: str, role: str) -> None:
        """Promote a participant to co-host or demote a co-host."""
        ctx = self.ctx
        had_host = ctx.room.host_present
        participant = ctx.room.set_role(participant_id, role)
        if had_host != ctx.room.host_present:
            ctx.events.waiting_views()
        ctx.log.audit("role-change", host, subject=participant.id, detail={"role": participant.role})
        # Like the roster events: the people of the participant's room or breakout, and every host.
        ctx.events.broadcast_with_hosts(participant.location, {"type": "role-changed",
                                                               "participant_id": participant.id,
                                                               "role": participant.role})
        if participant.is_host:
            ctx.events.waiting_list([participant.id])
        ctx.events.room_state()
        self.continuity.sync()

    def set_room(self, host: Participant, changes: dict[str, Any]) -> None:
        """Change room settings (lock, waiting room, chat, private chat, visible hands)."""
        if not changes:
            raise ProtocolError("bad-request", "name at least one setting to change")
        self.ctx.room.change_settings(changes)
        self.ctx.log.audit("settings", host, detail=changes)
        self.continuity.replace_members()
        self.ctx.events.room_state()

    def emergency_info(self, host: Participant, participant_id: str) -> dict[str, Any]:
        """Show a host a member's emergency information; the reading is audited, its content never is."""
        participant = self.ctx.room.get(participant_id)
        self.ctx.log.audit("emergency-info-viewed", host, subject=participant.id,
                           detail={"confirmed": participant.emergency is not None})
        if participant.emergency is None:
            return {"confirmed": False}
        return {"confirmed": True, **participant.emergency.describe()}

    def end_session(self, host: Participant) -> None:
        """End the session for everyone."""
        self.ctx.log.audit("end-session", host)
        self.end("ended")

    def end(self, reason: str) -> None:
        """End the session for everyone: tell them, cut the media, close every connection (idempotent)."""
        if self.ended:
            return
        self.ended = True
        ctx = self.ctx
        log.info("session_ended", room=ctx.room.id, reason=reason)
        ctx.log.records.session_ended(ctx.room.session_id, ctx.clock(), reason)
        ctx.chat.history.clear()
        for participant in list(ctx.room.participants.values()):
            participant.cut_off()
            ctx.place(participant)
            ctx.events.send_to(participant.id, {"type": "session-ended", "reason": reason})
            ctx.events.close(participant.id, CloseCode.SESSION_ENDED, "session-ended",
                             leave_reason=LeaveReason.SESSION_ENDED)
