"""Tests for server.practice.schedule: recurrence in the group's wall time across DST, viewers' zones, exceptions,
bounds and every refusal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.practice.schedule import (
    MAX_LIMIT,
    Override,
    Schedule,
    ScheduleError,
    format_local,
    next_occurrence,
    occurrence,
    occurrences,
    until_end_of,
)

CHICAGO = "America/Chicago"
YEAR_START = datetime(2027, 1, 1, tzinfo=UTC)
YEAR_END = datetime(2028, 1, 1, tzinfo=UTC)


def iop_group(rule: str = "FREQ=WEEKLY;BYDAY=MO,WE,TH;UNTIL=20271201T000000Z") -> Schedule:
    """Mon/Wed/Thu 18:00 Chicago from 1 March 2027, through both 2027 US clock changes (14 Mar, 7 Nov)."""
    return Schedule(tz=CHICAGO, start=datetime(2027, 3, 1, 18, 0), duration=90, rrule=rule)


def shown(schedule: Schedule, tz: str, first: str, last: str) -> list[str]:
    """Return how a viewer in `tz` sees the occurrences whose keys lie in [first, last]."""
    return [
        format_local(o.start, tz)
        for o in occurrences(schedule, YEAR_START, YEAR_END, limit=MAX_LIMIT)
        if first <= o.key <= last
    ]


def test_weekly_group_keeps_its_local_time_across_both_clock_changes() -> None:
    found = occurrences(iop_group(), YEAR_START, YEAR_END, limit=MAX_LIMIT)
    local = {o.start.astimezone(ZoneInfo(CHICAGO)).strftime("%H:%M") for o in found}
    assert local == {"18:00"}
    assert {o.start.astimezone(ZoneInfo(CHICAGO)).strftime("%a") for o in found} == {"Mon", "Wed", "Thu"}
    by_key = {o.key: o.start for o in found}
    assert by_key["20270311T1800"] == datetime(2027, 3, 12, 0, 0, tzinfo=UTC)  # CST, UTC-6
    assert by_key["20270315T1800"] == datetime(2027, 3, 15, 23, 0, tzinfo=UTC)  # CDT, UTC-5
    assert by_key["20271104T1800"] == datetime(2027, 11, 4, 23, 0, tzinfo=UTC)
    assert by_key["20271108T1800"] == datetime(2027, 11, 9, 0, 0, tzinfo=UTC)
    assert all(o.end - o.start == timedelta(minutes=90) for o in found)


def test_march_change_as_seen_in_chicago_london_los_angeles_and_kolkata() -> None:
    group = iop_group()
    assert shown(group, CHICAGO, "20270311", "20270316") == ["Thu 11 Mar, 18:00 CST", "Mon 15 Mar, 18:00 CDT"]
    # London changes two weeks after Chicago: for those weeks the group is at 23:00 the same day there.
    assert shown(group, "Europe/London", "20270311", "20270330") == [
        "Fri 12 Mar, 00:00 GMT",
        "Mon 15 Mar, 23:00 GMT",
        "Wed 17 Mar, 23:00 GMT",
        "Thu 18 Mar, 23:00 GMT",
        "Mon 22 Mar, 23:00 GMT",
        "Wed 24 Mar, 23:00 GMT",
        "Thu 25 Mar, 23:00 GMT",
        "Tue 30 Mar, 00:00 BST",
    ]
    assert shown(group, "America/Los_Angeles", "20270311", "20270316") == [
        "Thu 11 Mar, 16:00 PST",
        "Mon 15 Mar, 16:00 PDT",
    ]
    # Kolkata keeps no daylight time: the group moves an hour earlier there, and always on the next day.
    assert shown(group, "Asia/Kolkata", "20270311", "20270316") == ["Fri 12 Mar, 05:30 IST", "Tue 16 Mar, 04:30 IST"]


def test_november_change_as_seen_in_three_zones() -> None:
    group = iop_group()
    # London goes back on 31 Oct, Chicago on 7 Nov: that week the group is at 23:00 in London.
    assert shown(group, "Europe/London", "20271027", "20271109") == [
        "Thu 28 Oct, 00:00 BST",
        "Fri 29 Oct, 00:00 BST",
        "Mon 1 Nov, 23:00 GMT",
        "Wed 3 Nov, 23:00 GMT",
        "Thu 4 Nov, 23:00 GMT",
        "Tue 9 Nov, 00:00 GMT",
    ]
    assert shown(group, "America/Los_Angeles", "20271104", "20271109") == [
        "Thu 4 Nov, 16:00 PDT",
        "Mon 8 Nov, 16:00 PST",
    ]
    assert shown(group, "Asia/Kolkata", "20271104", "20271109") == ["Fri 5 Nov, 04:30 IST", "Tue 9 Nov, 05:30 IST"]


def test_count_limits_the_series() -> None:
    found = occurrences(iop_group("FREQ=WEEKLY;BYDAY=MO,WE,TH;COUNT=24"), YEAR_START, YEAR_END)
    assert len(found) == 24
    assert found[0].key == "20270301T1800"
    assert found[-1].key == "20270422T1800"  # eight weeks of three sessions


def test_until_is_inclusive_and_in_utc() -> None:
    # 18:00 CDT on 22 April is 23:00 UTC: an UNTIL of exactly that instant keeps it.
    found = occurrences(iop_group("FREQ=WEEKLY;BYDAY=MO,WE,TH;UNTIL=20270422T230000Z"), YEAR_START, YEAR_END)
    assert found[-1].key == "20270422T1800"
    found = occurrences(iop_group("FREQ=WEEKLY;BYDAY=MO,WE,TH;UNTIL=20270422T225959Z"), YEAR_START, YEAR_END)
    assert found[-1].key == "20270421T1800"


def test_until_end_of_a_local_day_keeps_that_evening_session() -> None:
    until = until_end_of(datetime(2027, 4, 22).date(), CHICAGO)
    assert until == "20270423T045959Z"  # 23:59:59 CDT
    found = occurrences(iop_group(f"FREQ=WEEKLY;BYDAY=MO,WE,TH;UNTIL={until}"), YEAR_START, YEAR_END)
    assert found[-1].key == "20270422T1800"
    with pytest.raises(ScheduleError) as info:
        until_end_of(datetime(2027, 4, 22), CHICAGO)  # type: ignore[arg-type]
    assert info.value.field == "until"


def test_recurring_times_in_a_gap_or_a_repeated_hour_follow_rfc_5545() -> None:
    night = Schedule(tz=CHICAGO, start=datetime(2027, 3, 13, 2, 30), duration=30, rrule="FREQ=DAILY;COUNT=3")
    by_key = {o.key: o.start for o in occurrences(night, YEAR_START, YEAR_END)}
    # 02:30 does not exist on 14 March: read with the offset before the gap (CST), it is 03:30 CDT.
    assert by_key["20270314T0230"] == datetime(2027, 3, 14, 8, 30, tzinfo=UTC)
    assert format_local(by_key["20270314T0230"], CHICAGO) == "Sun 14 Mar, 03:30 CDT"
    late = Schedule(tz=CHICAGO, start=datetime(2027, 11, 6, 1, 30), duration=30, rrule="FREQ=DAILY;COUNT=2")
    by_key = {o.key: o.start for o in occurrences(late, YEAR_START, YEAR_END)}
    # 01:30 happens twice on 7 November: the first one (CDT) is meant.
    assert by_key["20271107T0130"] == datetime(2027, 11, 7, 6, 30, tzinfo=UTC)


def test_a_start_the_rule_does_not_yield_begins_at_the_rule_first_day() -> None:
    tuesday = Schedule(tz=CHICAGO, start=datetime(2027, 3, 2, 18, 0), duration=60, rrule="FREQ=WEEKLY;BYDAY=MO;COUNT=2")
    assert [o.key for o in occurrences(tuesday, YEAR_START, YEAR_END)] == ["20270308T1800", "20270315T1800"]


def test_one_off_session_has_one_occurrence() -> None:
    one = Schedule(tz="Europe/London", start=datetime(2027, 6, 1, 10, 0), duration=60)
    (only,) = occurrences(one, YEAR_START, YEAR_END)
    assert only.key == "20270601T1000"
    assert only.start == datetime(2027, 6, 1, 9, 0, tzinfo=UTC)
    assert occurrence(one, "20270601T1000") == only


def test_daily_and_monthly_rules_are_supported() -> None:
    daily = Schedule(tz=CHICAGO, start=datetime(2027, 3, 13, 9, 0), duration=30, rrule="FREQ=DAILY;COUNT=3")
    assert [o.key for o in occurrences(daily, YEAR_START, YEAR_END)] == [
        "20270313T0900",
        "20270314T0900",
        "20270315T0900",
    ]
    monthly = Schedule(
        tz=CHICAGO, start=datetime(2027, 1, 31, 9, 0), duration=30, rrule="FREQ=MONTHLY;BYMONTHDAY=-1;COUNT=3"
    )
    assert [o.key[:8] for o in occurrences(monthly, YEAR_START, YEAR_END)] == ["20270131", "20270228", "20270331"]


def test_window_returns_overlapping_occurrences_including_one_in_progress() -> None:
    group = iop_group()
    started = datetime(2027, 3, 15, 23, 30, tzinfo=UTC)  # half an hour into Monday 15 March's session
    found = occurrences(group, started, started + timedelta(days=2))
    assert [o.key for o in found] == ["20270315T1800", "20270317T1800"]


def test_cancelled_occurrence_is_reported_cancelled_and_skipped_by_next() -> None:
    group = iop_group().with_cancelled("20270315T1800")
    window = occurrences(group, datetime(2027, 3, 15, tzinfo=UTC), datetime(2027, 3, 17, tzinfo=UTC))
    assert [(o.key, o.cancelled) for o in window] == [("20270315T1800", True)]
    upcoming = next_occurrence(group, datetime(2027, 3, 13, tzinfo=UTC))
    assert upcoming is not None and upcoming.key == "20270317T1800"


def test_moved_occurrence_keeps_its_key_and_appears_at_its_new_time() -> None:
    group = iop_group().with_moved("20270315T1800", start=datetime(2027, 3, 16, 19, 30), duration=60)
    moved = occurrence(group, "20270315T1800")
    assert moved is not None and moved.moved and not moved.cancelled
    assert moved.start == datetime(2027, 3, 17, 0, 30, tzinfo=UTC)
    assert moved.end - moved.start == timedelta(minutes=60)
    assert moved.original_start == datetime(2027, 3, 15, 23, 0, tzinfo=UTC)
    # Found by its new time, not its old one.
    assert occurrences(group, datetime(2027, 3, 15, 22, tzinfo=UTC), datetime(2027, 3, 16, 2, tzinfo=UTC)) == []
    tuesday = occurrences(group, datetime(2027, 3, 16, 23, tzinfo=UTC), datetime(2027, 3, 17, 2, tzinfo=UTC))
    assert [o.key for o in tuesday] == ["20270315T1800"]


def test_duration_only_move_and_undo() -> None:
    group = iop_group().with_moved("20270301T1800", duration=120)
    first = occurrence(group, "20270301T1800")
    assert first is not None and first.end - first.start == timedelta(minutes=120) and first.moved
    restored = group.without_exception("20270301T1800")
    assert restored == iop_group()


def test_a_new_exception_replaces_the_old_one_for_the_same_occurrence() -> None:
    group = iop_group().with_moved("20270301T1800", duration=120).with_cancelled("20270301T1800")
    assert group.exceptions == (Override(key="20270301T1800", cancelled=True),)


def test_next_occurrence_counts_one_in_progress_and_ends_with_the_series() -> None:
    group = iop_group("FREQ=WEEKLY;BYDAY=MO,WE,TH;COUNT=3")
    during = next_occurrence(group, datetime(2027, 3, 2, 0, 30, tzinfo=UTC))
    assert during is not None and during.key == "20270301T1800"
    assert next_occurrence(group, datetime(2027, 3, 5, 1, 30, tzinfo=UTC)) is None


def test_occurrence_returns_none_for_anything_that_names_no_occurrence() -> None:
    group = iop_group()
    for key in ("20270302T1800", "20270301T1801", "../../etc", "", "2027", "20270301T1800x", None, 5):
        assert occurrence(group, key) is None  # type: ignore[arg-type]


def test_json_round_trip_keeps_everything() -> None:
    group = iop_group().with_cancelled("20270303T1800").with_moved("20270304T1800", start=datetime(2027, 3, 5, 9, 0))
    data = group.to_json()
    assert data == {
        "tz": CHICAGO,
        "start": "2027-03-01T18:00",
        "duration": 90,
        "rrule": "FREQ=WEEKLY;BYDAY=MO,WE,TH;UNTIL=20271201T000000Z",
        "exceptions": [
            {"key": "20270303T1800", "cancelled": True},
            {"key": "20270304T1800", "start": "2027-03-05T09:00"},
        ],
    }
    assert Schedule.from_json(data) == group


def test_series_without_end_is_evaluated_only_inside_the_window_and_the_span() -> None:
    endless = Schedule(tz=CHICAGO, start=datetime(2027, 1, 1, 9, 0), duration=30, rrule="FREQ=DAILY")
    assert len(occurrences(endless, YEAR_START, YEAR_END + timedelta(days=3650), limit=MAX_LIMIT)) == MAX_LIMIT
    assert occurrences(endless, datetime(2040, 1, 1, tzinfo=UTC), datetime(2041, 1, 1, tzinfo=UTC)) == []
    assert len(occurrences(endless, YEAR_START, YEAR_START + timedelta(days=7), limit=3)) == 3


@pytest.mark.parametrize(
    ("kwargs", "field", "words"),
    [
        ({"tz": "Mars/Olympus"}, "tz", "unknown time zone"),
        ({"tz": "../../etc/passwd"}, "tz", "unknown time zone"),
        ({"tz": ""}, "tz", "IANA"),
        ({"start": datetime(2027, 3, 1, 18, 0, tzinfo=UTC)}, "start", "without a zone"),
        ({"start": datetime(2027, 3, 1, 18, 0, 30)}, "start", "whole minute"),
        ({"start": datetime(1999, 3, 1, 18, 0)}, "start", "years"),
        ({"start": datetime(2027, 3, 14, 2, 30)}, "start", "does not exist"),
        ({"start": datetime(2027, 11, 7, 1, 30)}, "start", "happens twice"),
        ({"duration": 4}, "duration", "between 5 and 480"),
        ({"duration": 481}, "duration", "between 5 and 480"),
        ({"duration": 60.5}, "duration", "whole number"),
        ({"duration": True}, "duration", "whole number"),
        ({"rrule": "FREQ=YEARLY"}, "rrule", "FREQ must be one of DAILY, WEEKLY, MONTHLY"),
        ({"rrule": "FREQ=HOURLY"}, "rrule", "FREQ must be one of"),
        ({"rrule": "BYDAY=MO"}, "rrule", "FREQ must be one of"),
        ({"rrule": "FREQ=WEEKLY;BYDAY=XX"}, "rrule", "not a valid RFC 5545 rule"),
        ({"rrule": "FREQ=WEEKLY;BYHOUR=1,2,3"}, "rrule", "BYHOUR is not supported"),
        ({"rrule": "FREQ=WEEKLY;COUNT=0"}, "rrule", "COUNT must be an integer between 1 and 1000"),
        ({"rrule": "FREQ=WEEKLY;COUNT=1001"}, "rrule", "COUNT must be"),
        ({"rrule": "FREQ=WEEKLY;INTERVAL=0"}, "rrule", "INTERVAL must be"),
        ({"rrule": "FREQ=WEEKLY;COUNT=2;UNTIL=20270401T000000Z"}, "rrule", "COUNT and UNTIL"),
        ({"rrule": "FREQ=WEEKLY;UNTIL=20270401"}, "rrule", "UNTIL must be a UTC time"),
        ({"rrule": "FREQ=WEEKLY;UNTIL=20271399T000000Z"}, "rrule", "UNTIL is not a valid"),
        ({"rrule": "FREQ=WEEKLY;FREQ=DAILY"}, "rrule", "appears twice"),
        ({"rrule": "FREQ=WEEKLY;;"}, "rrule", "NAME=VALUE"),
        ({"rrule": "FREQ=WEEKLY;" + "BYDAY=MO" * 40}, "rrule", "at most 200 characters"),
        ({"rrule": "FREQ=WEEKLY;UNTIL=20270201T000000Z"}, "rrule", "yields no occurrence"),
        ({"exceptions": (Override(key="20270302T1800", cancelled=True),)}, "exceptions[0].key", "not an occurrence"),
        ({"exceptions": (Override(key="20270301T1800"),)}, "exceptions[0]", "must cancel"),
        ({"exceptions": (Override(key="20270301T1800", cancelled=True, duration=30),)}, "exceptions[0]", "cannot"),
        (
            {"exceptions": (Override(key="20270301T1800", start=datetime(2027, 3, 14, 2, 0)),)},
            "exceptions[0].start",
            "does not exist",
        ),
        ({"exceptions": (Override(key="20270301T1800", duration=1000),)}, "exceptions[0].duration", "between"),
        ({"exceptions": (Override(key="20270301T1800", cancelled=True),) * 2}, "exceptions[1].key", "more than one"),
        ({"exceptions": [Override(key="20270301T1800", cancelled=True)]}, "exceptions", "tuple"),
    ],
)
def test_every_invalid_schedule_is_refused_naming_its_field(kwargs: dict, field: str, words: str) -> None:
    base = {
        "tz": CHICAGO,
        "start": datetime(2027, 3, 1, 18, 0),
        "duration": 90,
        "rrule": "FREQ=WEEKLY;BYDAY=MO,WE,TH;COUNT=24",
    }
    with pytest.raises(ScheduleError) as info:
        Schedule(**(base | kwargs))
    assert info.value.field == field
    assert words in info.value.problem


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ([], "schedule"),
        ({"tz": CHICAGO, "start": "2027-03-01T18:00"}, "duration"),
        ({"tz": CHICAGO, "start": "2027-03-01 18:00", "duration": 90}, "start"),
        ({"tz": CHICAGO, "start": "2027-02-30T18:00", "duration": 90}, "start"),
        ({"tz": 5, "start": "2027-03-01T18:00", "duration": 90}, "tz"),
        ({"tz": CHICAGO, "start": "2027-03-01T18:00", "duration": 90, "rrule": 7}, "rrule"),
        ({"tz": CHICAGO, "start": "2027-03-01T18:00", "duration": 90, "color": "red"}, "color"),
        ({"tz": CHICAGO, "start": "2027-03-01T18:00", "duration": 90, "exceptions": {}}, "exceptions"),
        ({"tz": CHICAGO, "start": "2027-03-01T18:00", "duration": 90, "exceptions": [5]}, "exceptions[0]"),
        (
            {"tz": CHICAGO, "start": "2027-03-01T18:00", "duration": 90, "exceptions": [{"key": "x"}]},
            "exceptions[0].key",
        ),
        (
            {
                "tz": CHICAGO,
                "start": "2027-03-01T18:00",
                "duration": 90,
                "exceptions": [{"key": "20270301T1800", "cancelled": "yes"}],
            },
            "exceptions[0].cancelled",
        ),
        (
            {
                "tz": CHICAGO,
                "start": "2027-03-01T18:00",
                "duration": 90,
                "exceptions": [{"key": "20270301T1800", "when": 1}],
            },
            "exceptions[0].when",
        ),
    ],
)
def test_from_json_refuses_malformed_input_naming_the_field(data: object, field: str) -> None:
    with pytest.raises(ScheduleError) as info:
        Schedule.from_json(data)
    assert info.value.field == field


def test_query_arguments_are_checked() -> None:
    group = iop_group()
    with pytest.raises(ScheduleError, match="start_utc"):
        occurrences(group, datetime(2027, 1, 1), YEAR_END)
    with pytest.raises(ScheduleError, match="limit"):
        occurrences(group, YEAR_START, YEAR_END, limit=MAX_LIMIT + 1)
    with pytest.raises(ScheduleError, match="now"):
        next_occurrence(group, datetime(2027, 1, 1))


def test_format_local_names_zones_without_letters_by_offset() -> None:
    assert format_local(datetime(2027, 3, 1, 12, 0, tzinfo=UTC), "Asia/Dubai") == "Mon 1 Mar, 16:00 UTC+04"
    with pytest.raises(ScheduleError) as info:
        format_local(datetime(2027, 3, 1, 12, 0, tzinfo=UTC), "Nowhere/Else")
    assert info.value.field == "tz"


ZONES = st.sampled_from(
    [
        "America/Chicago",
        "Europe/London",
        "Australia/Sydney",
        "Asia/Kolkata",
        "America/St_Johns",
        "Pacific/Auckland",
        "UTC",
    ]
)
DAYS = st.lists(st.sampled_from(["MO", "TU", "WE", "TH", "FR", "SA", "SU"]), min_size=1, max_size=7, unique=True)


@settings(max_examples=60, deadline=None)
@given(
    tz=ZONES,
    day=st.dates(min_value=datetime(2026, 1, 1).date(), max_value=datetime(2030, 12, 31).date()),
    hour=st.integers(min_value=6, max_value=21),
    minute=st.sampled_from([0, 15, 30, 45]),
    days=DAYS,
    count=st.integers(min_value=1, max_value=80),
)
def test_weekly_rules_keep_wall_time_count_order_and_keys(
    tz: str, day: object, hour: int, minute: int, days: list[str], count: int
) -> None:
    start = datetime.combine(day, datetime.min.time()).replace(hour=hour, minute=minute)  # type: ignore[arg-type]
    group = Schedule(tz=tz, start=start, duration=60, rrule=f"FREQ=WEEKLY;BYDAY={','.join(days)};COUNT={count}")
    found = occurrences(group, datetime(2025, 1, 1, tzinfo=UTC), datetime(2040, 1, 1, tzinfo=UTC), limit=MAX_LIMIT)
    assert len(found) == count
    assert [o.start for o in found] == sorted(o.start for o in found)
    assert len({o.key for o in found}) == count
    for item in found:
        local = item.start.astimezone(ZoneInfo(tz))
        assert (local.hour, local.minute) == (hour, minute)  # 06:00-21:45 is never in a gap
        assert occurrence(group, item.key) == item
    assert Schedule.from_json(group.to_json()) == group
