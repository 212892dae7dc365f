"""The waiting room and admission: entering, admitting, declining, sending back, and cutting someone off."""

from __future__ import annotations

from typing import Any

from ..codes import CloseCode, LeaveReason
from ..errors import ProtocolError
from ..placement import MAIN
from ..resume import FRESH, Claim
from ..room import Participant
from ..views import entry, waiting_view
from .context import Context
from .continuity import HostContinuity
from .screenshare import ScreenShare


class Admission:
    """Who is in the room and who waits; waiting participants get nothing of the room."""

    def __init__(self, ctx: Context, screen: ScreenShare, continuity: HostContinuity) -> None:
        self.ctx = ctx
        self.screen = screen
        self.continuity = continuity

    def enter(self, participant: Participant, returning: bool, claim: Claim = FRESH) -> dict[str, Any]:
        """Let a participant in (admitted or waiting) and return their ``join`` result."""
        ctx = self.ctx
        try:
            state = ctx.room.enter(participant, ctx.clock(), claim)
        except ProtocolError as exc:
            ctx.log.audit("join-refused", participant, detail={"code": exc.code})
            raise
        location = participant.location
        if location != MAIN and not (ctx.breakouts.open and location in ctx.breakouts.rooms):
            ctx.room.move(participant.id, MAIN)  # the breakout they resume to has closed meanwhile
        ctx.place(participant)
        ctx.attend(participant, "reconnect" if returning else "join")
        ctx.log.audit("join", participant, detail={"state": state})
        absence = None
        if participant.admitted:
            ctx.attend(participant, "admitted")
            self._announce(participant)
            absence = self.continuity.sync()  # only a host's entry ends an absence
        else:
            ctx.events.waiting_list()
        data = self.entry(participant)
        if absence is not None:
            data["host_absence"] = absence
        return data

    async def recorded(self) -> None:
        """Wait until an entry's attendance and audit are on disk, before its ``join`` result is sent."""
        await self.ctx.log.committed()

    def entry(self, participant: Participant) -> dict[str, Any]:
        """Return what a participant sees of the session as they are now."""
        ctx = self.ctx
        return entry(ctx.room, ctx.breakouts, ctx.chat, participant, ctx.support_text)

    def _announce(self, participant: Participant) -> None:
        events = self.ctx.events
        events.broadcast_to(participant.location, {"type": "participant-joined", "participant": participant.describe()},
                            exclude=participant.id)
        if participant.is_host:
            events.waiting_list([participant.id])
            events.room_state()
            events.waiting_views()

    async def admit(self, host: Participant, participant_id: str) -> None:
        """Admit one waiting participant; they are told once their admission is on disk."""
        self.ctx.log.require_writable()
        participant = self.ctx.room.admit(participant_id)
        self._record_admission(host, participant)
        await self.ctx.log.committed()
        self._tell_admitted([participant])

    async def admit_all(self, host: Participant) -> None:
        """Admit everyone who waits, in arrival order; they are told once their admissions are on disk."""
        self.ctx.log.require_writable()
        admitted = []
        for participant in self.ctx.room.waiting():
            admitted.append(self.ctx.room.admit(participant.id))
            self._record_admission(host, admitted[-1])
        await self.ctx.log.committed()  # one wait (one fsync) for the whole group
        self._tell_admitted(admitted)

    def _record_admission(self, host: Participant, participant: Participant) -> None:
        ctx = self.ctx
        ctx.place(participant)
        ctx.attend(participant, "admitted")
        ctx.log.audit("admit", host, subject=participant.id)

    def _tell_admitted(self, participants: list[Participant]) -> None:
        # Whoever left (or was sent back) while the records were written is no longer told.
        ctx = self.ctx
        for participant in participants:
            if ctx.room.participants.get(participant.id) is participant and participant.admitted:
                ctx.events.send_to(participant.id, {"type": "admitted", **self.entry(participant)})
                self._announce(participant)
        ctx.events.waiting_list()

    def deny(self, host: Participant, participant_id: str) -> None:
        """Decline a waiting participant: they are told and their connection closes."""
        participant = self.ctx.room.get(participant_id)
        if participant.admitted:
            raise ProtocolError("not-waiting", "that participant is not in the waiting room")
        self.ctx.log.audit("deny", host, subject=participant.id)
        self.expel(participant, LeaveReason.DENIED)

    def send_to_waiting(self, host: Participant, participant_id: str) -> None:
        """Send an admitted participant (not a host) back to the waiting room; their media stops both ways."""
        ctx = self.ctx
        participant = ctx.room.get(participant_id)
        location = participant.location
        if participant.admitted and not participant.is_host:
            self.screen.stop(participant)
        ctx.room.send_to_waiting(participant.id, ctx.clock())  # raises for hosts and the waiting
        ctx.place(participant)
        ctx.attend(participant, "sent-to-waiting")
        ctx.log.audit("send-to-waiting", host, subject=participant.id)
        ctx.events.send_to(participant.id, {"type": "sent-to-waiting",
                                            "room": waiting_view(ctx.room, participant, ctx.support_text)})
        ctx.events.broadcast_to(location, {"type": "participant-left", "participant_id": participant.id,
                                           "reason": LeaveReason.WAITING})
        ctx.events.room_state()
        ctx.events.waiting_list()

    def expel(self, participant: Participant, reason: LeaveReason) -> None:
        """Cut a participant off at once (media first), then tell them and close their connection."""
        participant.cut_off()
        if reason in (LeaveReason.REMOVED, LeaveReason.DENIED):
            self.ctx.room.sent_away.add(participant.id)  # even a resume in the meantime must wait
        self.ctx.place(participant)
        self.ctx.events.send_to(participant.id, {"type": "removed", "reason": reason})
        self.ctx.events.close(participant.id, CloseCode.REMOVED, reason, leave_reason=reason)
