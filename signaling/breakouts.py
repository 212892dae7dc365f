"""Breakout rooms of a session: names, who is planned where, whether they are open, and their timer.

A pure state machine: it decides where people should be; the breakouts part carries out the moves (each
breakout has its own media Router, so isolation does not depend on this bookkeeping being right).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from .errors import ProtocolError
from .limits import BREAKOUT_WARNING_SECONDS, MAX_BREAKOUT_NAME_CHARS, MAX_BREAKOUTS
from .placement import MAIN


@dataclass
class BreakoutRoom:
    """One breakout: its name, who is planned for it, and whether someone asked for help."""

    name: str
    planned: set[str] = field(default_factory=set)
    help_requested: bool = False


class Breakouts:
    """The breakouts of one session and their shared timer (times are epoch seconds)."""

    def __init__(self) -> None:
        self.rooms: dict[str, BreakoutRoom] = {}
        self.open = False
        self.ends_at: float | None = None
        self.warned = False
        self.self_select = False

    def create(self, names: list[str] | None, count: int | None) -> None:
        """Create breakouts by name or by count (Room 1, Room 2, …), replacing a plan not yet opened."""
        if self.open:
            raise ProtocolError("breakouts-open", "close the open breakouts first")
        if names is not None and not isinstance(names, list):
            raise ProtocolError("bad-request", f"give 1 to {MAX_BREAKOUTS} different names")
        if names is None:
            if count is None or not 1 <= count <= MAX_BREAKOUTS:
                raise ProtocolError("bad-request", f"give 1 to {MAX_BREAKOUTS} names or a count")
            names = [f"Room {i}" for i in range(1, count + 1)]
        cleaned = [n.strip() for n in names if isinstance(n, str)]
        if not 1 <= len(cleaned) <= MAX_BREAKOUTS or len(set(cleaned)) != len(cleaned) or len(cleaned) != len(names):
            raise ProtocolError("bad-request", f"give 1 to {MAX_BREAKOUTS} different names")
        for name in cleaned:
            if not 1 <= len(name) <= MAX_BREAKOUT_NAME_CHARS or name == MAIN:
                raise ProtocolError("bad-request",
                                    f'a breakout name has 1 to {MAX_BREAKOUT_NAME_CHARS} characters and is not "main"')
        self.rooms = {name: BreakoutRoom(name) for name in cleaned}

    def require(self, name: str) -> BreakoutRoom:
        """Return a breakout by name or raise unknown-breakout."""
        room = self.rooms.get(name) if isinstance(name, str) else None
        if room is None:
            raise ProtocolError("unknown-breakout", "no breakout room by that name")
        return room

    def plan(self, participant_id: str, name: str | None) -> None:
        """Plan where a participant goes (None: the main room)."""
        if name is not None:
            self.require(name)
        for room in self.rooms.values():
            room.planned.discard(participant_id)
        if name is not None:
            self.rooms[name].planned.add(participant_id)

    def plan_randomly(self, participant_ids: list[str], rng: random.Random) -> dict[str, str]:
        """Spread participants over the breakouts as evenly as possible, in random order."""
        if not self.rooms:
            raise ProtocolError("no-breakouts", "create breakout rooms first")
        shuffled = list(participant_ids)
        rng.shuffle(shuffled)
        names = list(self.rooms)
        placement = {pid: names[i % len(names)] for i, pid in enumerate(shuffled)}
        for pid, name in placement.items():
            self.plan(pid, name)
        return placement

    def choose(self, participant_id: str, name: str) -> None:
        """Let a participant pick a breakout, when the host lets them."""
        if not (self.open and self.self_select):
            raise ProtocolError("not-permitted", "the host has not let participants choose a breakout")
        self.plan(participant_id, name)

    def planned_room(self, participant_id: str) -> str | None:
        """Return the breakout a participant is planned for, if any."""
        return next((r.name for r in self.rooms.values() if participant_id in r.planned), None)

    def start(self, now: float, minutes: float | None) -> None:
        """Open the breakouts, with an optional timer after which everyone returns."""
        if not self.rooms:
            raise ProtocolError("no-breakouts", "create breakout rooms first")
        self.open = True
        self.set_timer(now, minutes)

    def set_timer(self, now: float, minutes: float | None) -> None:
        """Set (or clear, with None or 0) the time left before everyone returns."""
        self.ends_at = now + minutes * 60 if minutes else None
        self.warned = False

    def close(self, name: str) -> None:
        """Remove one breakout; the last one closing closes the breakouts."""
        self.require(name)
        del self.rooms[name]
        if not self.rooms:
            self.close_all()

    def close_all(self) -> None:
        """Remove every breakout."""
        self.rooms.clear()
        self.open = False
        self.ends_at = None
        self.warned = False

    def tick(self, now: float) -> str | None:
        """Return "warning" once, a minute before the timer ends, and "expired" when it ends."""
        if not self.open or self.ends_at is None:
            return None
        if now >= self.ends_at:
            return "expired"
        if not self.warned and self.ends_at - now <= BREAKOUT_WARNING_SECONDS:
            self.warned = True
            return "warning"
        return None

    def describe(self, for_host: bool, locations: dict[str, str], viewer_id: str) -> dict:
        """Return the breakout state as a viewer may see it (hosts see who is where)."""
        rooms = []
        for room in self.rooms.values():
            entry: dict = {"name": room.name}
            if for_host:
                entry["members"] = sorted(pid for pid, where in locations.items() if where == room.name)
                entry["planned"] = sorted(room.planned)
                entry["help_requested"] = room.help_requested
            rooms.append(entry)
        return {"open": self.open, "ends_at": int(self.ends_at * 1000) if self.ends_at else None,
                "self_select": self.self_select, "rooms": rooms, "mine": self.planned_room(viewer_id)}
