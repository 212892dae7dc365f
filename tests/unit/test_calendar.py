"""Tests for server.practice.calendar: the .ics read back by icalendar and by recurring-ical-events, across DST."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
import recurring_ical_events
from aiohttp.test_utils import make_mocked_request
from icalendar import Calendar

from server.practice.calendar import calendar_response, member_calendar
from server.practice.schedule import Schedule, occurrences

NOW = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)
LINK = "https://haven.example/m/invite-secret-for-test"
LABEL = "Tuesday evening group"


def group() -> Schedule:
    return Schedule(
        tz="America/Chicago",
        start=datetime(2027, 3, 1, 18, 0),
        duration=90,
        rrule="FREQ=WEEKLY;BYDAY=MO,WE,TH;COUNT=24",
    )


def events(ics: bytes) -> list:
    return list(Calendar.from_ical(ics).walk("VEVENT"))


def build(schedule: Schedule, viewer_tz: str = "Europe/London", **kwargs) -> bytes:
    return member_calendar(LABEL, schedule, LINK, viewer_tz, calendar_id="g12-m34", now=NOW, **kwargs)


def test_one_event_per_occurrence_at_the_group_local_time_across_dst() -> None:
    parsed = events(build(group()))
    assert len(parsed) == 24
    chicago = ZoneInfo("America/Chicago")
    for event in parsed:
        start, end = event.decoded("dtstart"), event.decoded("dtend")
        assert start.astimezone(chicago).strftime("%H:%M") == "18:00"
        assert (end - start).total_seconds() == 90 * 60
        assert str(event["summary"]) == LABEL
        assert str(event["status"]) == "CONFIRMED"
        assert str(event["url"]) == LINK
    by_uid = {str(e["uid"]): e.decoded("dtstart") for e in parsed}
    assert by_uid["20270311T1800-g12-m34@haven"] == datetime(2027, 3, 12, 0, 0, tzinfo=UTC)
    assert by_uid["20270315T1800-g12-m34@haven"] == datetime(2027, 3, 15, 23, 0, tzinfo=UTC)


def test_feed_asks_apps_to_refresh_hourly() -> None:
    calendar = Calendar.from_ical(build(group()))
    assert calendar.decoded("refresh-interval").total_seconds() == 3600
    assert str(calendar["x-published-ttl"]) == "PT1H"
    assert str(calendar["x-wr-calname"]) == LABEL


def test_description_gives_the_viewer_local_time() -> None:
    london = {str(e["uid"])[:13]: str(e["description"]) for e in events(build(group(), "Europe/London"))}
    assert london["20270315T1800"].startswith("Mon 15 Mar, 23:00 GMT.")
    kolkata = {str(e["uid"])[:13]: str(e["description"]) for e in events(build(group(), "Asia/Kolkata"))}
    assert kolkata["20270315T1800"].startswith("Tue 16 Mar, 04:30 IST.")
    assert f"Join: {LINK}" in kolkata["20270315T1800"]


def test_a_second_parser_expands_the_same_instants() -> None:
    calendar = Calendar.from_ical(build(group()))
    expanded = recurring_ical_events.of(calendar).between(datetime(2027, 3, 1), datetime(2027, 5, 1))
    got = sorted(e.decoded("dtstart").astimezone(UTC) for e in expanded)
    want = [o.start for o in occurrences(group(), NOW, datetime(2027, 5, 1, tzinfo=UTC))]
    assert got == want
    chicago_hours = {e.decoded("dtstart").astimezone(ZoneInfo("America/Chicago")).hour for e in expanded}
    assert chicago_hours == {18}


def test_cancelled_and_moved_occurrences_update_the_same_events() -> None:
    before = {str(e["uid"]) for e in events(build(group()))}
    changed = group().with_cancelled("20270303T1800").with_moved("20270304T1800", start=datetime(2027, 3, 5, 9, 0))
    parsed = {str(e["uid"]): e for e in events(build(changed))}
    assert set(parsed) == before  # same UIDs: a calendar app updates rather than duplicates
    cancelled = parsed["20270303T1800-g12-m34@haven"]
    assert str(cancelled["status"]) == "CANCELLED"
    assert str(cancelled["summary"]) == f"Cancelled: {LABEL}"
    assert LINK not in cancelled.to_ical().decode()
    assert int(cancelled["sequence"]) == 1
    moved = parsed["20270304T1800-g12-m34@haven"]
    assert moved.decoded("dtstart") == datetime(2027, 3, 5, 15, 0, tzinfo=UTC)
    assert "Moved from" in str(moved["description"])
    assert int(moved["sequence"]) == 1


def test_calendar_holds_only_what_is_passed_in() -> None:
    text = build(group(), support="Questions? Call the clinic on 555-0100.").decode()
    lines = {line.split(":", 1)[0].split(";", 1)[0] for line in text.replace("\r\n ", "").splitlines()}
    assert "ATTENDEE" not in lines and "ORGANIZER" not in lines
    assert "555-0100" in text.replace("\r\n ", "")


def test_given_items_are_written_as_they_are() -> None:
    items = occurrences(group(), NOW, datetime(2027, 3, 4, 1, 0, tzinfo=UTC))
    assert [str(e["uid"])[:13] for e in events(build(group(), items=items))] == ["20270301T1800", "20270303T1800"]


def test_calendar_id_is_checked() -> None:
    with pytest.raises(ValueError, match="calendar_id"):
        member_calendar(LABEL, group(), LINK, "UTC", calendar_id="has space", now=NOW)


def test_response_is_private_text_calendar_and_revalidates() -> None:
    ics = build(group())
    response = calendar_response(ics, download_name="sessions.ics")
    assert response.status == 200
    assert response.content_type == "text/calendar"
    assert response.charset == "utf-8"
    assert response.headers["Cache-Control"] == "private, no-cache"
    assert response.headers["Content-Disposition"] == 'attachment; filename="sessions.ics"'
    assert response.body == ics
    again = make_mocked_request("GET", "/feed", headers={"If-None-Match": response.headers["ETag"]})
    assert calendar_response(ics, request=again).status == 304
    other = make_mocked_request("GET", "/feed", headers={"If-None-Match": '"stale"'})
    feed = calendar_response(ics, request=other)
    assert feed.status == 200 and "Content-Disposition" not in feed.headers
    with pytest.raises(ValueError):
        calendar_response(ics, download_name='x".ics')
