"""Live rooms: each Room's state joined to its Router, the Sessions of its participants and its records.

``Rooms`` is the set of live rooms of one server; ``LiveRoom`` turns requests into state changes, media
operations, attendance and audit records, and Router callbacks into messages (it is the Router's
listener). Waiting participants get nothing of the room: no roster, no media, no events.
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

from .agenda import Agenda, parse_phases
from .breakouts import MAIN, Breakouts
from .chat import ChatLog
from .protocol import ProtocolError
from .records import NullRecords, Records
from .room import Participant, Room, Settings, Track

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


class LiveRoom:
    """One session in progress: who is in it, their connections, the media Router and the records."""

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
        self._handlers: dict[str, Callable[[Participant, dict], Any]] = {
            "unpublish": self._unpublish, "mute": self._mute, "admit": self._admit, "admit-all": self._admit_all,
            "deny": self._deny, "send-to-waiting": self._send_to_waiting, "mute-participant": self._mute_participant,
            "ask-unmute": self._ask_unmute, "remove": self._remove_request, "set-role": self._set_role,
            "set-room": self._set_room, "end-session": self._end_session, "agenda-start": self._agenda_start,
            "agenda-next": self._agenda_next, "agenda-set-phase": self._agenda_set_phase,
            "agenda-update": self._agenda_update, "checkin-start": self._checkin_start,
            "checkin-next": self._checkin_next, "checkin-pass": self._checkin_pass, "checkin-end": self._checkin_end,
            "checkin-mood": self._checkin_mood, "raise-hand": self._raise_hand, "lower-hand": self._lower_hand,
            "lower-all-hands": self._lower_all_hands, "give-floor": self._give_floor, "chat": self._chat,
            "homework": self._homework, "allow-screen-share": self._allow_screen_share,
            "stop-screen-share": self._stop_screen_share, "breakout-create": self._breakout_create,
            "breakout-assign": self._breakout_assign, "breakout-assign-random": self._breakout_assign_random,
            "breakout-open": self._breakout_open, "breakout-settings": self._breakout_settings,
            "breakout-choose": self._breakout_choose, "breakout-timer": self._breakout_timer,
            "breakout-broadcast": self._breakout_broadcast, "breakout-close": self._breakout_close,
            "breakout-close-all": self._breakout_close_all, "breakout-visit": self._breakout_visit,
            "ask-for-help": self._ask_for_help,
        }
        self._host_only = {"admit", "admit-all", "deny", "send-to-waiting", "mute-participant", "ask-unmute",
                           "remove", "set-role", "set-room", "end-session", "agenda-start", "agenda-next",
                           "agenda-set-phase", "agenda-update", "checkin-start", "checkin-next", "checkin-end",
                           "lower-all-hands", "give-floor", "homework", "allow-screen-share",
                           "stop-screen-share", "breakout-create", "breakout-assign", "breakout-assign-random",
                           "breakout-open", "breakout-settings", "breakout-timer", "breakout-broadcast",
                           "breakout-close", "breakout-close-all", "breakout-visit"}

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
                self._audit(f"join-refused", participant, detail={"code": exc.code})
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
        handler = self._handlers.get(kind)
        if handler is None:
            raise ProtocolError("unknown-type", f"unknown request type {kind!r}")
        if kind in self._host_only and not (participant.is_host and participant.admitted):
            self._audit("not-permitted", participant, detail={"request": kind})
            raise ProtocolError("not-permitted", "only the session's hosts can do this")
        result = handler(participant, fields)
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
        self.router_of(participant).set_member_media(participant.id, sending=False, receiving=False)
        if location != MAIN:  # the waiting room belongs to the main room's Router
            self.router.adopt_member(self.routers[location].release_member(participant.id))
            self.router.set_member_media(participant.id, sending=False, receiving=False)
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

    # agenda

    def _agenda_start(self, host: Participant, fields: dict) -> None:
        now = time.time()
        if "phases" in fields:
            self.room.agenda = Agenda(parse_phases(fields["phases"]), now)
        else:
            self.room.agenda = Agenda.from_template(fields.get("template", "default"), now)
        self._audit("agenda-start", host)
        self._broadcast_room_state()

    def _agenda(self) -> Agenda:
        if self.room.agenda is None:
            raise ProtocolError("no-agenda", "start the agenda first")
        return self.room.agenda

    def _agenda_next(self, host: Participant, fields: dict) -> None:
        self._agenda().next(time.time())
        self._broadcast_room_state()

    def _agenda_set_phase(self, host: Participant, fields: dict) -> None:
        self._agenda().set_phase(fields["index"], time.time())
        self._broadcast_room_state()

    def _agenda_update(self, host: Participant, fields: dict) -> None:
        self._agenda().update(parse_phases(fields["phases"]))
        self._broadcast_room_state()

    # check-in

    def _checkin_start(self, host: Participant, fields: dict) -> None:
        self.room.start_checkin(fields.get("order"), bool(fields.get("random")))
        self._broadcast_room_state()

    def _checkin_next(self, host: Participant, fields: dict) -> None:
        self.room.advance_checkin(passed=False)
        self._broadcast_room_state()

    def _checkin_pass(self, participant: Participant, fields: dict) -> None:
        checkin = self.room.checkin
        if checkin is None:
            raise ProtocolError("no-checkin", "no check-in round is running")
        if checkin.current != participant.id:
            raise ProtocolError("not-permitted", "only the current speaker can pass")
        self.room.advance_checkin(passed=True)
        self._broadcast_room_state()

    def _checkin_end(self, host: Participant, fields: dict) -> None:
        self.room.checkin = None
        self._broadcast_room_state()

    def _checkin_mood(self, participant: Participant, fields: dict) -> None:
        if not participant.admitted:
            raise ProtocolError("not-permitted", "you can share a rating once you are admitted")
        # Only hosts ever see a rating; it is neither stored nor logged.
        message = {"type": "checkin-mood", "participant_id": participant.id, "rating": fields["rating"]}
        for host in self.room.admitted():
            if host.is_host:
                self._send_to(host.id, message)

    # hands

    def _raise_hand(self, participant: Participant, fields: dict) -> None:
        if not participant.admitted:
            raise ProtocolError("not-permitted", "you can raise your hand once you are admitted")
        self.room.raise_hand(participant.id)
        self._broadcast_room_state()

    def _lower_hand(self, participant: Participant, fields: dict) -> None:
        target = fields.get("participant_id", participant.id)
        if target != participant.id and not (participant.is_host and participant.admitted):
            self._audit("not-permitted", participant, detail={"request": "lower-hand"})
            raise ProtocolError("not-permitted", "only hosts can lower someone else's hand")
        self.room.lower_hand(target)
        self._broadcast_room_state()

    def _lower_all_hands(self, host: Participant, fields: dict) -> None:
        self.room.hands.clear()
        self._broadcast_room_state()

    def _give_floor(self, host: Participant, fields: dict) -> None:
        if fields["participant_id"] is not None:
            self._admitted(fields["participant_id"])
        self.room.give_floor(fields["participant_id"])
        self._broadcast_room_state()

    # chat and homework

    def _chat(self, participant: Participant, fields: dict) -> None:
        message = self.chat.post(self.room, participant, fields["to"], fields["text"], time.time())
        event = {"type": "chat-message", "message": message.describe()}
        for pid in self.chat.recipients(self.room, message):
            self._send_to(pid, event)

    def _homework(self, host: Participant, fields: dict) -> None:
        text = fields["text"].strip()
        if not text:
            raise ProtocolError("bad-request", "the homework note is empty")
        self.room.homework = (text, time.time())
        self._audit("homework", host)
        self._broadcast_room_state()

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

    # breakouts

    def _move(self, participant: Participant, location: str) -> None:
        """Move an admitted participant between the main room and breakouts.

        The old Router forgets the participant (every packet to and from it stops) before the new
        one routes anything, so there is no moment in which it receives from both places.
        """
        old = participant.location
        if old == location:
            return
        self._stop_share_of(participant, reason="moved")
        member = self.routers[old].release_member(participant.id)
        participant.location = location
        self.broadcast_to(old, {"type": "participant-left", "participant_id": participant.id, "reason": "moved"})
        self.routers[location].adopt_member(member)
        if participant.is_host and location != MAIN:
            self.breakouts.require(location).help_requested = False
        self._send_to(participant.id, {
            "type": "moved", "location": location,
            "participants": [p.describe() for p in self.room.others(participant.id)],
            "chat": self.chat.visible_to(self.room, participant)})
        self.broadcast_to(location, {"type": "participant-joined", "participant": participant.describe()},
                          exclude=participant.id)
        self._attend(participant, "moved", time.time())
        self.records.audit("breakout-move", actor=participant.id, role=participant.role, room=self.id,
                           session_id=self.session_id, subject=participant.id, detail={"from": old, "to": location})

    def _ensure_router(self, name: str) -> None:
        if name not in self.routers:
            self.routers[name] = Router(name, self.media, self)

    def _breakout_create(self, host: Participant, fields: dict) -> None:
        self.breakouts.create(fields.get("names"), fields.get("count"))
        self._audit("breakout-create", host, detail={"rooms": len(self.breakouts.rooms)})
        self._broadcast_room_state()

    def _admitted(self, participant_id: str) -> Participant:
        """Return an admitted participant; someone waiting is not in the room yet."""
        participant = self.room.get(participant_id)
        if not participant.admitted:
            raise ProtocolError("unknown-participant", "that participant is still in the waiting room")
        return participant

    def _breakout_assign(self, host: Participant, fields: dict) -> None:
        participant = self._admitted(fields["participant_id"])
        target = fields.get("room")
        self.breakouts.plan(participant.id, target)
        if self.breakouts.open:
            self._go(participant, target or MAIN)
        self._broadcast_room_state()

    def _breakout_assign_random(self, host: Participant, fields: dict) -> None:
        members = [p.id for p in self.room.admitted() if not p.is_host]
        placement = self.breakouts.plan_randomly(members, self.room._rng)
        if self.breakouts.open:
            for pid, name in placement.items():
                self._go(self.room.participants[pid], name)
        self._broadcast_room_state()

    def _go(self, participant: Participant, location: str) -> None:
        if location != MAIN:
            self.breakouts.require(location)
            self._ensure_router(location)
        self._move(participant, location)

    def _breakout_open(self, host: Participant, fields: dict) -> None:
        self.breakouts.start(time.time(), fields.get("minutes"))
        self._audit("breakout-open", host, detail={"minutes": fields.get("minutes")})
        for room in list(self.breakouts.rooms.values()):
            for pid in sorted(room.planned):
                participant = self.room.participants.get(pid)
                if participant is not None and participant.admitted:
                    self._go(participant, room.name)
        self._broadcast_room_state()

    def _breakout_settings(self, host: Participant, fields: dict) -> None:
        self.breakouts.self_select = fields["self_select"]
        self._broadcast_room_state()

    def _breakout_choose(self, participant: Participant, fields: dict) -> None:
        if not (self.breakouts.open and self.breakouts.self_select) or not participant.admitted:
            raise ProtocolError("not-permitted", "the host has not let participants choose a breakout")
        self.breakouts.plan(participant.id, fields["room"])
        self._go(participant, fields["room"])
        self._broadcast_room_state()

    def _breakout_timer(self, host: Participant, fields: dict) -> None:
        if not self.breakouts.open:
            raise ProtocolError("no-breakouts", "open the breakouts first")
        self.breakouts.set_timer(time.time(), fields["minutes"])
        self._broadcast_room_state()

    def _breakout_broadcast(self, host: Participant, fields: dict) -> None:
        text = fields["text"].strip()
        if not text:
            raise ProtocolError("bad-request", "the message is empty")
        self.broadcast({"type": "breakout-broadcast", "text": text, "from": {"id": host.id, "name": host.name}})

    async def _breakout_close(self, host: Participant, fields: dict) -> None:
        name = fields["room"]
        self.breakouts.require(name)
        for participant in self.room.in_location(name):
            self._move(participant, MAIN)
        self.breakouts.close(name)
        self._audit("breakout-close", host, detail={"room": name})
        await self._drop_router(name)
        self._broadcast_room_state()

    async def _breakout_close_all(self, host: Participant, fields: dict) -> None:
        self._audit("breakout-close-all", host)
        await self._close_all_breakouts()

    async def _close_all_breakouts(self) -> None:
        """Bring everyone back to the main room and close every breakout."""
        for participant in self.room.admitted():
            if participant.location != MAIN:
                self._move(participant, MAIN)
        self.breakouts.close_all()
        for name in [n for n in self.routers if n != MAIN]:
            await self._drop_router(name)
        self._broadcast_room_state()

    async def _drop_router(self, name: str) -> None:
        router = self.routers.pop(name, None)
        if router is not None:
            await router.close()

    def _breakout_visit(self, host: Participant, fields: dict) -> None:
        self._go(host, fields.get("room") or MAIN)
        self._broadcast_room_state()

    def _ask_for_help(self, participant: Participant, fields: dict) -> None:
        if participant.location == MAIN:
            raise ProtocolError("not-permitted", "asking for help is for breakout rooms")
        self.breakouts.require(participant.location).help_requested = True
        for host in self.room.admitted():
            if host.is_host:
                self._send_to(host.id, {"type": "help-requested", "room": participant.location,
                                        "participant_id": participant.id})
        self._broadcast_room_state()

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
