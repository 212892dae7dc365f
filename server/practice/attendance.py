"""A group's attendance across its occurrences: pure arithmetic over the records, no I/O.

Inputs are what the records hold: the group's occurrences (schedule), the sessions held in each occurrence's
room (a restart or an "End session" followed by a new start makes several), each session's attendance events
(server/storage.py: join, admitted, moved, reconnect, left, removed, …), the members and the excusals.

The rules, as a program reports them:
- Present time runs from admission to leaving. Breakout moves do not interrupt it; a dropped connection does
  (the gap until the reconnect is not counted). Time in the waiting room (arrived, not yet admitted) is counted
  apart as waiting.
- Late: the first admission came more than ``late_after`` after the scheduled start; early leave: the last
  leave came more than ``late_after`` before the scheduled end (a session the host ended is not an early leave).
- A member never admitted to an occurrence that was held is absent, or excused when a facilitator said so.
  While its session runs, a member not yet come is upcoming (once every session of it has ended, absent);
  an occurrence not yet over is upcoming; one that was cancelled, or not held at all, counts against nobody.
- Weekly hours are the present minutes of the occurrences whose scheduled start falls in the week, Monday to
  Sunday in the reader's time zone (zoneinfo: correct across DST changes and midnight).
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

PRESENCE_START = frozenset({"admitted"})
PRESENCE_END = frozenset({"left", "removed", "denied", "replaced", "sent-to-waiting", "session-ended",
                          "disconnected"})
ARRIVAL = frozenset({"join", "reconnect"})

# A member's standing at one occurrence.
PRESENT, ABSENT, EXCUSED, UPCOMING, NOT_HELD, NOT_ENROLLED = (
    "present", "absent", "excused", "upcoming", "not-held", "not-enrolled")
# An occurrence's standing.
HELD, CANCELLED = "held", "cancelled"


@dataclass(frozen=True)
class Slot:
    """One occurrence of the group's schedule (epoch seconds)."""

    key: str
    start: float
    end: float
    cancelled: bool = False


@dataclass(frozen=True)
class SessionRecord:
    """One session held in an occurrence's room, with its attendance events (participant_id, event, at)."""

    id: str
    started_at: float
    ended_at: float | None
    end_reason: str | None
    events: tuple[tuple[str, str, float], ...] = field(default=())


@dataclass
class Presence:
    """What one participant's events in one occurrence add up to."""

    seconds_present: float = 0.0
    seconds_waiting: float = 0.0
    first_entry: float | None = None
    last_leave: float | None = None
    ended_by_session: bool = False
    reconnects: int = 0
    removed: bool = False


def presence(sessions: Sequence[SessionRecord], participant_id: str, now: float) -> Presence:
    """Add up one participant's events over the sessions of one occurrence (in order of their start)."""
    total = Presence()
    for session in sorted(sessions, key=lambda s: s.started_at):
        end = session.ended_at if session.ended_at is not None else now
        present_since: float | None = None
        waiting_since: float | None = None
        for who, event, at in session.events:
            if who != participant_id:
                continue
            if event == "reconnect":
                total.reconnects += 1
            if event == "removed":
                total.removed = True
            if event in ARRIVAL and present_since is None and waiting_since is None:
                waiting_since = at
            if event in PRESENCE_START and present_since is None:
                if waiting_since is not None:
                    total.seconds_waiting += max(0.0, at - waiting_since)
                    waiting_since = None
                present_since = at
                if total.first_entry is None:
                    total.first_entry = at
            elif event in PRESENCE_END:
                if present_since is not None:
                    total.seconds_present += max(0.0, at - present_since)
                    total.last_leave = at
                    total.ended_by_session = event == "session-ended"
                    present_since = None
                if waiting_since is not None:
                    total.seconds_waiting += max(0.0, at - waiting_since)
                    waiting_since = None
        # Still in when the session ended (or now, while it runs): the session's end closes the interval.
        if present_since is not None:
            total.seconds_present += max(0.0, end - present_since)
            if session.ended_at is not None:
                total.last_leave, total.ended_by_session = end, True
        if waiting_since is not None:
            total.seconds_waiting += max(0.0, end - waiting_since)
    return total


def occurrence_status(slot: Slot, sessions: Sequence[SessionRecord], now: float) -> str:
    """held, cancelled, upcoming (not over yet and not held) or not-held."""
    if sessions:
        return HELD
    if slot.cancelled:
        return CANCELLED
    return "upcoming" if slot.end > now else NOT_HELD


def _minutes(seconds: float) -> float:
    return round(seconds / 60, 1)


def member_attendance(slot: Slot, sessions: Sequence[SessionRecord], member_id: str, *, now: float,
                      late_after: float, enrolled_at: float | None = None,
                      excuse: str | None = None) -> dict[str, Any]:
    """One member's attendance at one occurrence, in the API's form (docs/openapi.yaml ``Attendance``)."""
    status = occurrence_status(slot, sessions, now)
    seen = presence(sessions, member_id, now) if sessions else Presence()
    if seen.first_entry is not None:
        standing = PRESENT
    elif status == HELD and slot.end > now and any(s.ended_at is None for s in sessions):
        standing = UPCOMING  # the session is on and the member may still come
    elif status == HELD:
        standing = EXCUSED if excuse is not None else ABSENT
    elif status == "upcoming":
        standing = UPCOMING
    else:
        standing = NOT_HELD
    if standing in (ABSENT, EXCUSED) and enrolled_at is not None and enrolled_at > slot.end:
        standing = NOT_ENROLLED  # added to the group after this occurrence: it is not theirs to miss
    late = early = 0
    if seen.first_entry is not None and seen.first_entry - slot.start > late_after:
        late = round((seen.first_entry - slot.start) / 60)
    if seen.last_leave is not None and not seen.ended_by_session and slot.end - seen.last_leave > late_after:
        early = round((slot.end - seen.last_leave) / 60)
    return {
        "occurrence": slot.key, "status": standing,
        "minutes_present": _minutes(seen.seconds_present), "minutes_waiting": _minutes(seen.seconds_waiting),
        "first_entry": seen.first_entry, "last_leave": seen.last_leave,
        "late_minutes": late, "left_early_minutes": early, "reconnects": seen.reconnects, "removed": seen.removed,
        "excuse_reason": excuse,
    }


def week_start(moment: float, tz: ZoneInfo) -> datetime.date:
    """The Monday of the week (in ``tz``) in which ``moment`` falls."""
    local = datetime.datetime.fromtimestamp(moment, tz).date()
    return local - datetime.timedelta(days=local.weekday())


def weeks_between(first: datetime.date, last: datetime.date) -> list[datetime.date]:
    """Every Monday of the weeks that overlap [first, last]."""
    monday = first - datetime.timedelta(days=first.weekday())
    weeks = []
    while monday <= last:
        weeks.append(monday)
        monday += datetime.timedelta(days=7)
    return weeks


def weekly_hours(slots: Iterable[Slot], attendance: Mapping[str, Mapping[str, Any]], tz: ZoneInfo,
                 first: datetime.date, last: datetime.date, required: float) -> list[dict[str, Any]]:
    """A member's hours per week against the requirement; ``attendance`` maps occurrence key to its entry."""
    hours = dict.fromkeys(weeks_between(first, last), 0.0)
    for slot in slots:
        entry = attendance.get(slot.key)
        monday = week_start(slot.start, tz)
        if entry is not None and monday in hours:
            hours[monday] += float(entry["minutes_present"]) / 60
    return [{"week_start": monday.isoformat(), "hours": round(total, 2), "required": required,
             "met": round(total, 2) >= required} for monday, total in hours.items()]


def day_range(first: datetime.date, last: datetime.date, tz: ZoneInfo) -> tuple[datetime.datetime, datetime.datetime]:
    """The instants [first 00:00, the day after last 00:00) in ``tz``, as aware datetimes."""
    start = datetime.datetime.combine(first, datetime.time(), tz)
    end = datetime.datetime.combine(last + datetime.timedelta(days=1), datetime.time(), tz)
    return start, end
