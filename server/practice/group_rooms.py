"""What a practice group's rooms show at ``hello``: the group's own agreement, its default agenda and
whether its members confirm emergency information.

Kept in memory (loaded at start, updated by every change to a group) because signaling asks for both
synchronously on every hello; a group's rooms are named ``<group id>-<occurrence key>`` (windows.room_for).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from signaling.agenda import parse_phases
from signaling.errors import ProtocolError

from .store import Row

GROUP_ROOM = re.compile(r"(g-[0-9a-f]{16})-")
# One phase per line: its title, then its minutes ("Check-in 10", "Skills practice, 20", "Closing: 10 min").
AGENDA_LINE = re.compile(r"^(?P<title>.*?)[\s,:;–—-]+(?P<minutes>\d{1,4})\s*(?:min(?:utes?)?\.?)?$", re.IGNORECASE)


def parse_agenda(text: str) -> list[dict[str, Any]]:
    """Return a group's default agenda as the phases ``agenda-start`` takes; [] for none.

    Raises ValueError saying which line is wrong, or what the protocol's limits on phases are.
    """
    phases = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        match = AGENDA_LINE.match(line)
        if match is None or not match["title"].strip():
            raise ValueError(f"line {number} must be a phase's title, then its minutes (e.g. \"Check-in 10\")")
        phases.append({"title": match["title"].strip(), "minutes": int(match["minutes"])})
    if phases:
        try:
            parse_phases(phases)
        except ProtocolError as error:
            raise ValueError(error.message) from None
    return phases


class GroupRooms:
    def __init__(self) -> None:
        self._texts: dict[str, str] = {}
        self._agendas: dict[str, list[dict[str, Any]]] = {}
        self._keep_moods: set[str] = set()
        self._emergency: dict[str, bool] = {}

    def load(self, groups: Iterable[Row]) -> None:
        self._texts, self._agendas, self._keep_moods, self._emergency = {}, {}, set(), {}
        for group in groups:
            self.update(group)

    def update(self, group: Row) -> None:
        self._texts[group["id"]] = group["consent_text"]
        if "keep_moods" in group:
            (self._keep_moods.add if group["keep_moods"] else self._keep_moods.discard)(group["id"])
        if "emergency_info" in group:
            self._emergency[group["id"]] = bool(group["emergency_info"])
        try:
            self._agendas[group["id"]] = parse_agenda(group.get("agenda_template") or "")
        except ValueError:  # stored before agendas were checked: offered as none
            self._agendas[group["id"]] = []

    def _group(self, room: str) -> str | None:
        match = GROUP_ROOM.match(room)
        return match.group(1) if match else None

    def for_room(self, room: str) -> str | None:
        """Return the agreement of the group whose room this is, or None for any other room."""
        group = self._group(room)
        return self._texts.get(group) if group else None

    def agenda_for(self, room: str) -> list[dict[str, Any]] | None:
        """Return the default agenda of the group whose room this is (None: no group, or it has none)."""
        group = self._group(room)
        return (self._agendas.get(group) or None) if group else None

    def emergency_for(self, room: str) -> bool | None:
        """Whether the group whose room this is asks its members for emergency information (None: no group)."""
        group = self._group(room)
        return self._emergency.get(group) if group else None

    def keeps_moods(self, room: str) -> bool:
        """Whether the group whose room this is keeps its members' check-in mood ratings (False: no group)."""
        group = self._group(room)
        return group is not None and group in self._keep_moods
