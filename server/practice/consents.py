"""Each group's confidentiality agreement, by room: what signaling shows at ``hello`` in a group's rooms.

Kept in memory (loaded at start, updated by every change to a group) because signaling asks for it
synchronously on every hello; a group's rooms are named ``<group id>-<occurrence key>`` (windows.room_for).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from .store import Row

GROUP_ROOM = re.compile(r"(g-[0-9a-f]{16})-")


class GroupConsents:
    def __init__(self) -> None:
        self._texts: dict[str, str] = {}

    def load(self, groups: Iterable[Row]) -> None:
        self._texts = {g["id"]: g["consent_text"] for g in groups}

    def update(self, group: Row) -> None:
        self._texts[group["id"]] = group["consent_text"]

    def for_room(self, room: str) -> str | None:
        """Return the agreement of the group whose room this is, or None for any other room."""
        match = GROUP_ROOM.match(room)
        return self._texts.get(match.group(1)) if match else None
