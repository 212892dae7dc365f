"""The attendance arithmetic of a program's records (server/practice/attendance.py): no I/O."""

from __future__ import annotations

import datetime
from zoneinfo import ZoneInfo

from server.practice.attendance import (
    SessionRecord,
    Slot,
    day_range,
    member_attendance,
    occurrence_status,
    presence,
    week_start,
    weekly_hours,
)

T0 = datetime.datetime(2026, 11, 16, 23, 0, tzinfo=datetime.UTC).timestamp()  # a Monday, 23:00 UTC
MIN = 60.0
SLOT = Slot("2026-11-16T18:00", T0, T0 + 90 * MIN)  # 90 minutes, crossing midnight UTC
LATE_AFTER = 5 * MIN


def session(*events: tuple[str, str, float], start: float = T0 - 5 * MIN, end: float | None = T0 + 90 * MIN,
            sid: str = "s-000000000001") -> SessionRecord:
    return SessionRecord(sid, start, end, "host-ended" if end else None, tuple(events))


def attend(*sessions: SessionRecord, who: str = "m-a", now: float = T0 + 1000 * MIN, **kw):
    return member_attendance(SLOT, sessions, who, now=now, late_after=LATE_AFTER, **kw)


def test_breakouts_count_as_present_and_waiting_is_apart():
    held = session(("m-a", "join", T0 - 2 * MIN), ("m-a", "admitted", T0), ("m-a", "moved", T0 + 30 * MIN),
                   ("m-a", "moved", T0 + 50 * MIN), ("m-a", "left", T0 + 90 * MIN))
    entry = attend(held)
    assert entry["status"] == "present"
    assert entry["minutes_present"] == 90.0
    assert entry["minutes_waiting"] == 2.0
    assert entry["late_minutes"] == 0 and entry["left_early_minutes"] == 0


def test_a_reconnect_gap_is_not_counted():
    held = session(("m-a", "join", T0), ("m-a", "admitted", T0), ("m-a", "disconnected", T0 + 20 * MIN),
                   ("m-a", "reconnect", T0 + 23 * MIN), ("m-a", "admitted", T0 + 23 * MIN),
                   ("m-a", "left", T0 + 90 * MIN))
    entry = attend(held)
    assert entry["minutes_present"] == 87.0
    assert entry["reconnects"] == 1


def test_late_arrival_early_leave_and_removal():
    held = session(("m-a", "join", T0 + 12 * MIN), ("m-a", "admitted", T0 + 14 * MIN),
                   ("m-a", "removed", T0 + 60 * MIN))
    entry = attend(held)
    assert entry["late_minutes"] == 14
    assert entry["left_early_minutes"] == 30
    assert entry["removed"] is True
    assert entry["minutes_present"] == 46.0


def test_a_few_minutes_late_is_not_late_and_a_session_ended_by_the_host_is_no_early_leave():
    held = session(("m-a", "join", T0 + 3 * MIN), ("m-a", "admitted", T0 + 3 * MIN),
                   ("m-a", "session-ended", T0 + 45 * MIN), end=T0 + 45 * MIN)
    entry = attend(held)
    assert entry["late_minutes"] == 0 and entry["left_early_minutes"] == 0
    assert entry["minutes_present"] == 42.0


def test_a_restart_makes_two_sessions_whose_minutes_add_up():
    first = session(("m-a", "join", T0), ("m-a", "admitted", T0), end=T0 + 30 * MIN)
    second = session(("m-a", "reconnect", T0 + 32 * MIN), ("m-a", "admitted", T0 + 32 * MIN),
                     ("m-a", "left", T0 + 90 * MIN), start=T0 + 31 * MIN, sid="s-000000000002")
    entry = attend(second, first)
    assert entry["minutes_present"] == 88.0
    assert entry["first_entry"] == T0


def test_absent_excused_upcoming_and_not_held():
    held = session(("m-b", "join", T0), ("m-b", "admitted", T0))
    assert attend(held)["status"] == "absent"
    excused = attend(held, excuse="hospital appointment")
    assert excused["status"] == "excused" and excused["excuse_reason"] == "hospital appointment"
    # Waiting without ever being admitted is no attendance, but the wait shows.
    waited = attend(session(("m-a", "join", T0), ("m-a", "denied", T0 + 4 * MIN)))
    assert waited["status"] == "absent" and waited["minutes_waiting"] == 4.0
    assert attend(now=T0 - 60 * MIN)["status"] == "upcoming"
    live = session(("m-b", "join", T0), ("m-b", "admitted", T0), end=None)
    assert attend(live, now=T0 + 10 * MIN)["status"] == "upcoming"  # on now: they may still come
    assert attend(held, now=T0 + 10 * MIN)["status"] == "absent"  # ended early: they did not come
    assert attend()["status"] == "not-held"
    assert occurrence_status(Slot("k", T0, T0 + 1, cancelled=True), [], T0 + 10) == "cancelled"
    # Someone added to the group after the occurrence did not miss it.
    assert attend(held, enrolled_at=T0 + 100 * MIN)["status"] == "not-enrolled"


def test_presence_of_a_live_session_runs_to_now():
    live = session(("m-a", "join", T0), ("m-a", "admitted", T0), end=None)
    seen = presence([live], "m-a", now=T0 + 10 * MIN)
    assert seen.seconds_present == 10 * MIN and seen.last_leave is None


def test_weeks_start_on_monday_in_the_readers_zone_across_midnight():
    # 23:00 UTC Monday is 18:00 in Chicago (same Monday) but 00:00 Tuesday in Berlin: same week either way;
    # a Sunday-evening session in Chicago is Monday in UTC: the reader's zone decides the week.
    sunday_evening_chicago = datetime.datetime(2026, 11, 23, 4, 0, tzinfo=datetime.UTC).timestamp()
    assert week_start(sunday_evening_chicago, ZoneInfo("America/Chicago")) == datetime.date(2026, 11, 16)
    assert week_start(sunday_evening_chicago, ZoneInfo("UTC")) == datetime.date(2026, 11, 23)


def test_weekly_hours_across_the_end_of_daylight_saving():
    # America/New_York falls back on Sunday 2026-11-01: that Sunday has 25 hours; the week of Oct 26 still
    # ends at its midnight, and a session at 23:30 that Sunday (04:30 UTC Monday) counts in it.
    tz = ZoneInfo("America/New_York")
    start, end = day_range(datetime.date(2026, 10, 26), datetime.date(2026, 11, 8), tz)
    assert end.timestamp() - start.timestamp() == 14 * 86400 + 3600  # instants, not wall-clock times
    late_sunday = datetime.datetime(2026, 11, 1, 23, 30, tzinfo=tz).timestamp()
    monday = datetime.datetime(2026, 11, 2, 18, 0, tzinfo=tz).timestamp()
    slots = [Slot("a", late_sunday, late_sunday + 3600), Slot("b", monday, monday + 7200)]
    entries = {"a": {"minutes_present": 60.0}, "b": {"minutes_present": 120.0}}
    weeks = weekly_hours(slots, entries, tz, datetime.date(2026, 10, 26), datetime.date(2026, 11, 8), 2.0)
    assert weeks == [
        {"week_start": "2026-10-26", "hours": 1.0, "required": 2.0, "met": False},
        {"week_start": "2026-11-02", "hours": 2.0, "required": 2.0, "met": True},
    ]
    # The same records read in UTC put both sessions in the week of Nov 2.
    in_utc = weekly_hours(slots, entries, ZoneInfo("UTC"), datetime.date(2026, 10, 26),
                          datetime.date(2026, 11, 8), 2.0)
    assert [w["hours"] for w in in_utc] == [0.0, 3.0]
