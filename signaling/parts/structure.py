"""The session's structure: agenda, check-in round, raised hands and the floor, and homework."""

from __future__ import annotations

from typing import Any

from ..agenda import Agenda, parse_phases
from ..errors import ProtocolError
from ..limits import MAX_CHECKIN_TEXT_CHARS
from ..records import CHECKIN_TURN, HOMEWORK, PHASE_STARTED
from ..room import Participant
from .context import Context


class Structure:
    """Requests that give a session its shape; every change reaches the room as ``room-state``."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    # agenda

    def agenda_start(self, host: Participant, template: str, phases: Any) -> None:
        """Start the agenda from a template, or from the host's own phases."""
        now = self.ctx.clock()
        if phases is not None:
            self.ctx.room.agenda = Agenda(parse_phases(phases), now)
        else:
            self.ctx.room.agenda = Agenda.from_template(template, now)
        self.ctx.log.audit("agenda-start", host)
        self._phase_started(None)
        self.ctx.events.room_state()

    def _phase_started(self, before: int | None) -> None:
        # The session record keeps each phase actually run, with its time (a move to the same phase is none).
        agenda = self.ctx.room.agenda
        if agenda is not None and agenda.current != before:
            phase = agenda.phases[agenda.current]
            self.ctx.log.event(PHASE_STARTED, agenda.phase_started_at, index=agenda.current, title=phase.title)

    def _agenda(self) -> Agenda:
        if self.ctx.room.agenda is None:
            raise ProtocolError("no-agenda", "start the agenda first")
        return self.ctx.room.agenda

    def agenda_next(self) -> None:
        """Move to the next phase."""
        agenda = self._agenda()
        before = agenda.current
        agenda.next(self.ctx.clock())
        self._phase_started(before)
        self.ctx.events.room_state()

    def agenda_set_phase(self, index: int) -> None:
        """Move to a phase."""
        agenda = self._agenda()
        before = agenda.current
        agenda.set_phase(index, self.ctx.clock())
        self._phase_started(before)
        self.ctx.events.room_state()

    def agenda_update(self, phases: Any) -> None:
        """Replace the phases, keeping the current one."""
        self._agenda().update(parse_phases(phases))
        self.ctx.events.room_state()

    # check-in

    def checkin_start(self, order: list[str] | None, shuffle: bool) -> None:
        """Start a check-in round."""
        self.ctx.room.start_checkin(order, shuffle)
        self.ctx.events.room_state()

    def checkin_next(self) -> None:
        """The current speaker is done; the next one speaks."""
        room = self.ctx.room
        speaker = room.checkin.current if room.checkin is not None else None
        room.advance_checkin(passed=False)
        if speaker is not None:
            self.ctx.log.event(CHECKIN_TURN, self.ctx.clock(), participant=speaker, outcome="took-part")
        self.ctx.events.room_state()

    def checkin_pass(self, participant: Participant) -> None:
        """The current speaker passes."""
        self.ctx.room.pass_turn(participant.id)
        self.ctx.log.event(CHECKIN_TURN, self.ctx.clock(), participant=participant.id, outcome="passed")
        self.ctx.events.room_state()

    def checkin_text(self, participant: Participant, text: str) -> None:
        """The current speaker checks in in writing instead of speaking: to the hosts, or to everyone if the
        hosts chose so. Like chat, it lives only in the event: never stored, never logged."""
        room = self.ctx.room
        room.require_speaker(participant.id)
        text = text.strip()
        if not 1 <= len(text) <= MAX_CHECKIN_TEXT_CHARS:
            raise ProtocolError("bad-request", f"a written check-in has 1 to {MAX_CHECKIN_TEXT_CHARS} characters")
        message = {"type": "checkin-text", "participant_id": participant.id, "text": text}
        if room.settings.checkin_text_visible:
            self.ctx.events.broadcast_with_hosts(participant.location, message)
        else:
            self.ctx.events.send_all({participant.id} | {p.id for p in room.admitted() if p.is_host}, message)

    def react(self, participant: Participant, reaction: str) -> None:
        """Show a quiet reaction on the participant's tile to the people of their room (no sound, not kept)."""
        self.ctx.events.broadcast_to(participant.location, {"type": "reaction", "participant_id": participant.id,
                                                            "reaction": reaction})

    def checkin_end(self) -> None:
        """End the round."""
        self.ctx.room.checkin = None
        self.ctx.events.room_state()

    def checkin_mood(self, participant: Participant, rating: int) -> None:
        """Share a private mood rating with the hosts. Never logged; kept (sealed, for the group's facilitators)
        only when the participant is a member of a practice group that keeps moods: the server decides."""
        self.ctx.events.to_hosts({"type": "checkin-mood", "participant_id": participant.id, "rating": rating})
        self.ctx.log.mood(participant, rating, self.ctx.clock())

    # hands and the floor

    def raise_hand(self, participant: Participant) -> None:
        """Queue one's raised hand."""
        self.ctx.room.raise_hand(participant.id)
        self.ctx.events.room_state()

    def lower_hand(self, participant: Participant, target: str) -> None:
        """Lower one's own hand, or (hosts) someone else's."""
        self.ctx.room.lower_hand(target, by=participant)
        self.ctx.events.room_state()

    def lower_all_hands(self) -> None:
        """Lower every hand."""
        self.ctx.room.hands.clear()
        self.ctx.events.room_state()

    def give_floor(self, participant_id: str | None) -> None:
        """Give an admitted participant the floor, or take it back (None)."""
        if participant_id is not None:
            self.ctx.room.require_admitted(participant_id)
        self.ctx.room.give_floor(participant_id)
        self.ctx.events.room_state()

    def spotlight(self, participant_id: str | None) -> None:
        """Show an admitted participant large for everyone in their room, or stop (None)."""
        if participant_id is not None:
            self.ctx.room.require_admitted(participant_id)
        self.ctx.room.spotlight = participant_id
        self.ctx.events.room_state()

    # homework

    def homework(self, host: Participant, text: str) -> None:
        """Post the homework note for everyone to read and copy."""
        text = text.strip()
        if not text:
            raise ProtocolError("bad-request", "the homework note is empty")
        self.ctx.room.homework = (text, self.ctx.clock())
        self.ctx.log.audit("homework", host)
        self.ctx.log.event(HOMEWORK, self.ctx.clock(), text=text)
        self.ctx.events.room_state()
