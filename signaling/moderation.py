"""Requests that admit, moderate and end: the waiting room, mutes, removals, roles, room settings."""

from __future__ import annotations

import time

import structlog

from .breakouts import MAIN
from .protocol import ProtocolError
from .room import Participant

log = structlog.get_logger("haven.rooms")


class ModerationRequests:
    """Host requests that decide who is in the session and how (mixed into LiveRoom)."""

    # request type -> method name; requests only hosts may send
    HANDLERS: dict[str, str] = {
        "admit": "_admit",
        "admit-all": "_admit_all",
        "deny": "_deny",
        "send-to-waiting": "_send_to_waiting",
        "mute-participant": "_mute_participant",
        "ask-unmute": "_ask_unmute",
        "remove": "_remove_request",
        "set-role": "_set_role",
        "set-room": "_set_room",
        "end-session": "_end_session",
    }
    HOST_ONLY: frozenset[str] = frozenset({
        "admit", "admit-all", "deny", "send-to-waiting", "mute-participant", "ask-unmute", "remove",
        "set-role", "set-room", "end-session",
    })

    # waiting room

    def _admit(self, host: Participant, fields: dict) -> None:
        self._admit_one(host, self.room.admit(fields["participant_id"]))

    def _admit_all(self, host: Participant, fields: dict) -> None:
        for participant in self.room.waiting():
            self._admit_one(host, self.room.admit(participant.id))

    def _admit_one(self, host: Participant, participant: Participant) -> None:
        self.router_of(participant).set_member_media(participant.id, sending=True, receiving=True)
        self._attend(participant, "admitted", time.time())
        self._audit("admit", host, subject=participant.id)
        self._send_to(participant.id, {"type": "admitted", **self._entry(participant)})
        self._announce_admitted(participant)
        self._send_waiting_list()

    def _deny(self, host: Participant, fields: dict) -> None:
        participant = self.room.get(fields["participant_id"])
        if participant.admitted:
            raise ProtocolError("not-waiting", "that participant is not in the waiting room")
        self._audit("deny", host, subject=participant.id)
        self._expel(participant, "denied")

    def _send_to_waiting(self, host: Participant, fields: dict) -> None:
        participant = self.room.get(fields["participant_id"])
        location = participant.location
        self._stop_share_of(participant)
        self.room.send_to_waiting(participant.id, time.time())  # raises for hosts and the waiting
        # Cut the media in the Router the participant is in now (send_to_waiting already reset the location).
        self.routers[location].set_member_media(participant.id, sending=False, receiving=False)
        if location != MAIN:  # the waiting room belongs to the main room's Router; the cut travels along
            self.routers[location].move_member(participant.id, self.router)
        self._attend(participant, "sent-to-waiting", time.time())
        self._audit("send-to-waiting", host, subject=participant.id)
        self._send_to(participant.id, {"type": "sent-to-waiting", "room": self._waiting_view(participant)})
        self.broadcast_to(location, {"type": "participant-left", "participant_id": participant.id,
                                     "reason": "waiting"})
        self._broadcast_room_state()
        self._send_waiting_list()

    # moderation

    def _mute_participant(self, host: Participant, fields: dict) -> None:
        participant = self.room.get(fields["participant_id"])
        track = participant.track_by_label(fields["label"])
        if track is None:
            raise ProtocolError("invalid-track", f"that participant has no {fields['label']} track")
        self._sync_media(lambda: self.router_of(participant).set_paused(participant.id, track.track_id, True))
        self._audit("mute", host, subject=participant.id, detail={"label": track.label})
        self._track_muted(participant, track, True)
        self._send_to(participant.id, {"type": "muted-by-host", "label": track.label})

    def _ask_unmute(self, host: Participant, fields: dict) -> None:
        participant = self._admitted(fields["participant_id"])
        if participant.track_by_label(fields["label"]) is None:
            raise ProtocolError("invalid-track", f"that participant has no {fields['label']} track")
        self._audit("ask-unmute", host, subject=participant.id, detail={"label": fields["label"]})
        self._send_to(participant.id, {"type": "unmute-requested", "label": fields["label"], "by": host.id})

    def _remove_request(self, host: Participant, fields: dict) -> None:
        participant = self.room.get(fields["participant_id"])
        if participant.token_role == "host" or participant.id == host.id:
            raise ProtocolError("not-permitted", "hosts cannot be removed")
        ban = bool(fields.get("ban"))
        if ban:
            self.room.ban(participant.id)
        self._audit("remove", host, subject=participant.id, detail={"ban": ban})
        self._expel(participant, "removed")

    def _expel(self, participant: Participant, reason: str) -> None:
        """Cut a participant off at once (media first), then tell them and close their socket."""
        self.router_of(participant).set_member_media(participant.id, sending=False, receiving=False)
        self._send_to(participant.id, {"type": "removed", "reason": reason})
        session = self.sessions.get(participant.id)
        if session is not None:
            session.close_soon(4403, reason, leave_reason=reason)

    def _set_role(self, host: Participant, fields: dict) -> None:
        had_host = self.room.host_present
        participant = self.room.set_role(fields["participant_id"], fields["role"])
        if had_host != self.room.host_present:
            self._refresh_waiting_views()
        self._audit("role-change", host, subject=participant.id, detail={"role": participant.role})
        self.broadcast({"type": "role-changed", "participant_id": participant.id, "role": participant.role})
        if participant.is_host:
            self._send_waiting_list([participant.id])
        self._broadcast_room_state()

    def _set_room(self, host: Participant, fields: dict) -> None:
        if not fields:
            raise ProtocolError("bad-request", "name at least one setting to change")
        self.room.change_settings(fields)
        self._audit("settings", host, detail=fields)
        self._broadcast_room_state()

    def _end_session(self, host: Participant, fields: dict) -> None:
        self._audit("end-session", host)
        self.end("ended")

    def end(self, reason: str) -> None:
        """End the session for everyone: tell them, cut the media, close every socket."""
        if self.ended:
            return
        self.ended = True
        log.info("session_ended", room=self.id, reason=reason)
        self.records.session_ended(self.session_id, time.time(), reason)
        self.chat.history.clear()
        for pid, session in list(self.sessions.items()):
            participant = self.room.participants.get(pid)
            if participant is not None:
                self.router_of(participant).set_member_media(pid, sending=False, receiving=False)
            session.send({"type": "session-ended", "reason": reason})
            session.close_soon(4000, "session-ended", leave_reason="session-ended")

