"""When a member may join: a pure rule over a group's occurrences (anything with ``key``, ``start``, ``end``
and ``cancelled``, such as server.practice.schedule.Occurrence).

A member may join from ``window`` seconds before an occurrence's start until its end. Facilitators may
start a session from the same moment; the session's room is the occurrence's own (``room_for``), so every
join of one occurrence lands in one room and attendance is kept per occurrence.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

ROOM_CHARS = re.compile(r"[^A-Za-z0-9_-]")


class OccurrenceLike(Protocol):
    @property
    def key(self) -> str: ...
    @property
    def start(self) -> datetime.datetime: ...
    @property
    def end(self) -> datetime.datetime: ...
    @property
    def cancelled(self) -> bool: ...


@dataclass(frozen=True)
class WindowState:
    """What the invite page shows: the occurrence open for joining now, if any, and the next one to come."""

    open: Any | None  # the OccurrenceLike one may join now
    next: Any | None  # the next occurrence that is not cancelled and has not ended


def window_state(occurrences: Iterable[OccurrenceLike], now: datetime.datetime, window: float) -> WindowState:
    """Return the occurrence open for joining at ``now`` (aware) and the next one not yet over."""
    lead = datetime.timedelta(seconds=window)
    upcoming = sorted((o for o in occurrences if not o.cancelled and o.end > now), key=lambda o: o.start)
    open_now = next((o for o in upcoming if o.start - lead <= now < o.end), None)
    return WindowState(open_now, upcoming[0] if upcoming else None)


def room_for(group_id: str, occurrence_key: str) -> str:
    """Return the room of one occurrence of a group: a valid room name, the same for everyone joining it."""
    room = ROOM_CHARS.sub("", f"{group_id}-{occurrence_key}")
    return room[:64]
