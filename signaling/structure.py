"""Requests that give a session its structure: agenda, check-in round, raised hands, chat, homework."""

from __future__ import annotations

import time

from .agenda import Agenda, parse_phases
from .protocol import ProtocolError
from .room import Participant


class StructureRequests:
    """Requests about the session's structure and conversation (mixed into LiveRoom)."""

    # request type -> method name; requests only hosts may send
    HANDLERS: dict[str, str] = {
        "agenda-start": "_agenda_start",
        "agenda-next": "_agenda_next",
        "agenda-set-phase": "_agenda_set_phase",
        "agenda-update": "_agenda_update",
        "checkin-start": "_checkin_start",
        "checkin-next": "_checkin_next",
        "checkin-pass": "_checkin_pass",
        "checkin-end": "_checkin_end",
        "checkin-mood": "_checkin_mood",
        "raise-hand": "_raise_hand",
        "lower-hand": "_lower_hand",
        "lower-all-hands": "_lower_all_hands",
        "give-floor": "_give_floor",
        "chat": "_chat",
        "homework": "_homework",
    }
    HOST_ONLY: frozenset[str] = frozenset({
        "agenda-start", "agenda-next", "agenda-set-phase", "agenda-update", "checkin-start", "checkin-next",
        "checkin-end", "lower-all-hands", "give-floor", "homework",
    })

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

