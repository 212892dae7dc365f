"""Breakout requests: create, assign, open, choose, visit, timer, broadcast, close, ask for help.

Each breakout has its own media Router (signaling/placement.py), so isolation does not depend on this
bookkeeping being right: nothing of one breakout can reach another.
"""

from __future__ import annotations

from ..codes import LeaveReason
from ..errors import ProtocolError
from ..placement import MAIN
from ..records import BREAKOUTS_CLOSED, BREAKOUTS_OPENED
from ..room import Participant
from .context import Context
from .screenshare import ScreenShare


class BreakoutControl:
    """Moves people between the main room and breakouts as the hosts (or the members) decide."""

    def __init__(self, ctx: Context, screen: ScreenShare) -> None:
        self.ctx = ctx
        self.screen = screen

    def move(self, participant: Participant, location: str) -> None:
        """Move an admitted participant to the main room or a breakout.

        The old Router forgets the participant (every packet to and from it stops) before the new
        one routes anything, so there is no moment in which it receives from both places.
        """
        ctx = self.ctx
        old = participant.location
        if old == location:
            return
        if location != MAIN:
            ctx.breakouts.require(location)
        self.screen.stop(participant, reason="moved")
        ctx.room.move(participant.id, location)
        ctx.place(participant)
        ctx.events.broadcast_to(old, {"type": "participant-left", "participant_id": participant.id,
                                      "reason": LeaveReason.MOVED})
        if participant.is_host and location != MAIN:
            ctx.breakouts.require(location).help_requested = False
        ctx.events.send_to(participant.id, {
            "type": "moved", "location": location,
            "participants": [p.describe() for p in ctx.room.others(participant.id)],
            "chat": ctx.chat.visible_to(ctx.room, participant)})
        ctx.events.broadcast_to(location, {"type": "participant-joined", "participant": participant.describe()},
                                exclude=participant.id)
        ctx.attend(participant, "moved")
        ctx.log.audit("breakout-move", participant, subject=participant.id, detail={"from": old, "to": location})

    def create(self, host: Participant, names: list[str] | None, count: int | None) -> None:
        """Create breakouts by name or by count."""
        self.ctx.breakouts.create(names, count)
        self.ctx.log.audit("breakout-create", host, detail={"rooms": len(self.ctx.breakouts.rooms)})
        self.ctx.events.room_state()

    def assign(self, participant_id: str, name: str | None) -> None:
        """Plan where an admitted participant goes (None: the main room); move them if breakouts are open."""
        participant = self.ctx.room.require_admitted(participant_id)
        self.ctx.breakouts.plan(participant.id, name)
        if self.ctx.breakouts.open:
            self.move(participant, name or MAIN)
        self.ctx.events.room_state()

    def assign_randomly(self) -> None:
        """Spread the members (not the hosts) evenly over the breakouts."""
        ctx = self.ctx
        members = [p.id for p in ctx.room.admitted() if not p.is_host]
        placement = ctx.breakouts.plan_randomly(members, ctx.room.rng)
        if ctx.breakouts.open:
            for participant_id, name in placement.items():
                self.move(ctx.room.participants[participant_id], name)
        ctx.events.room_state()

    def open(self, host: Participant, minutes: float | None) -> None:
        """Open the breakouts (with an optional timer) and move everyone to their planned one."""
        ctx = self.ctx
        ctx.breakouts.start(ctx.clock(), minutes)
        ctx.log.audit("breakout-open", host, detail={"minutes": minutes})
        for breakout in list(ctx.breakouts.rooms.values()):
            for participant_id in sorted(breakout.planned):
                participant = ctx.room.participants.get(participant_id)
                if participant is not None and participant.admitted:
                    self.move(participant, breakout.name)
        ctx.log.event(BREAKOUTS_OPENED, ctx.clock(), rooms=[
            {"name": name, "participants": sorted(p.id for p in ctx.room.in_location(name))}
            for name in ctx.breakouts.rooms])
        ctx.events.room_state()

    def settings(self, self_select: bool) -> None:
        """Let members choose their breakout, or not."""
        self.ctx.breakouts.self_select = self_select
        self.ctx.events.room_state()

    def choose(self, participant: Participant, name: str) -> None:
        """Go to a breakout of one's choice, when the host allows it."""
        self.ctx.breakouts.choose(participant.id, name)
        self.move(participant, name)
        self.ctx.events.room_state()

    def timer(self, minutes: float) -> None:
        """Set the time left before everyone returns (0: no timer)."""
        if not self.ctx.breakouts.open:
            raise ProtocolError("no-breakouts", "open the breakouts first")
        self.ctx.breakouts.set_timer(self.ctx.clock(), minutes)
        self.ctx.events.room_state()

    def broadcast(self, host: Participant, text: str) -> None:
        """Send a message to everyone in every room."""
        text = text.strip()
        if not text:
            raise ProtocolError("bad-request", "the message is empty")
        self.ctx.events.broadcast({"type": "breakout-broadcast", "text": text,
                                   "from": {"id": host.id, "name": host.name}})

    async def close(self, host: Participant, name: str) -> None:
        """Close one breakout: its members return to the main room and its Router closes."""
        ctx = self.ctx
        ctx.breakouts.require(name)
        for participant in ctx.room.in_location(name):
            self.move(participant, MAIN)
        ctx.breakouts.close(name)
        ctx.log.audit("breakout-close", host, detail={"room": name})
        await ctx.placement.drop_router(name)
        ctx.events.room_state()

    async def close_all(self, host: Participant | None = None) -> None:
        """Bring everyone back to the main room and close every breakout (``host`` None: the timer did)."""
        ctx = self.ctx
        ctx.log.audit("breakout-close-all", host, detail=None if host else {"reason": "timer"})
        for participant in ctx.room.admitted():
            if participant.location != MAIN:
                self.move(participant, MAIN)
        was_open = ctx.breakouts.open
        ctx.breakouts.close_all()
        if was_open:
            ctx.log.event(BREAKOUTS_CLOSED, ctx.clock())
        for name in [n for n in ctx.placement.routers if n != MAIN]:
            await ctx.placement.drop_router(name)
        ctx.events.room_state()

    def visit(self, host: Participant, name: str | None) -> None:
        """Go to a breakout (None: the main room); members always see a host arrive."""
        self.move(host, name or MAIN)
        self.ctx.events.room_state()

    def ask_for_help(self, participant: Participant) -> None:
        """Ask the hosts to come to one's breakout."""
        if participant.location == MAIN:
            raise ProtocolError("not-permitted", "asking for help is for breakout rooms")
        self.ctx.breakouts.require(participant.location).help_requested = True
        self.ctx.events.to_hosts({"type": "help-requested", "room": participant.location,
                                  "participant_id": participant.id})
        self.ctx.events.room_state()

    def tick(self, now: float) -> bool:
        """Warn everyone a minute before the timer ends; return True once it has ended."""
        ctx = self.ctx
        timer = ctx.breakouts.tick(now)
        if timer == "warning":
            ends_at = ctx.breakouts.ends_at
            ctx.events.broadcast({"type": "breakout-warning",
                                  "seconds_left": max(0, int(ends_at - now)) if ends_at else 0})
        return timer == "expired"
