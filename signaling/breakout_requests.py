"""Breakout room requests: create, assign, open, move, visit, timer, broadcast, close, ask for help."""

from __future__ import annotations

import time

from media.api import Router

from .breakouts import MAIN
from .protocol import ProtocolError
from .room import Participant


class BreakoutRequests:
    """Breakout requests; each breakout gets its own media Router (mixed into LiveRoom)."""

    # request type -> method name; requests only hosts may send
    HANDLERS: dict[str, str] = {
        "breakout-create": "_breakout_create",
        "breakout-assign": "_breakout_assign",
        "breakout-assign-random": "_breakout_assign_random",
        "breakout-open": "_breakout_open",
        "breakout-settings": "_breakout_settings",
        "breakout-choose": "_breakout_choose",
        "breakout-timer": "_breakout_timer",
        "breakout-broadcast": "_breakout_broadcast",
        "breakout-close": "_breakout_close",
        "breakout-close-all": "_breakout_close_all",
        "breakout-visit": "_breakout_visit",
        "ask-for-help": "_ask_for_help",
    }
    HOST_ONLY: frozenset[str] = frozenset({
        "breakout-create", "breakout-assign", "breakout-assign-random", "breakout-open", "breakout-settings",
        "breakout-timer", "breakout-broadcast", "breakout-close", "breakout-close-all", "breakout-visit",
    })

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
        participant.location = location
        self.broadcast_to(old, {"type": "participant-left", "participant_id": participant.id, "reason": "moved"})
        self.routers[old].move_member(participant.id, self.routers[location])
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

