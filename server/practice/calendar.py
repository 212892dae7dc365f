"""Owns a member's calendar: the .ics file (download or private feed) of a group's sessions, and its HTTP response.

One VEVENT per occurrence, its times in UTC, rather than a master RRULE with a VTIMEZONE:
- every instant is the one schedule.py computed, the same code that opens the join window, so Haven and the
  member's calendar cannot disagree (a master rule is re-expanded by each app's own recurrence engine and
  time-zone reading, which differ on EXDATE/RECURRENCE-ID handling and on times inside a DST gap);
- a move or cancellation changes one event, found by its stable UID (calendar id + occurrence key), so a
  subscribed or re-imported calendar updates rather than duplicates;
- there is no VTIMEZONE to keep right (generated ones stop at 2038), and a calendar app shows UTC times in
  the device's zone, wherever the member is. The member's own zone is used for the description text.
The file names what the member sees and nothing more: the group label passed in (never the clinical focus),
the session time and the link; never other members.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta

from aiohttp import web
from icalendar import Calendar, Event

from .schedule import MAX_LIMIT, MAX_SPAN, Occurrence, Schedule, format_local, occurrences

PRODUCT_ID = "-//Haven//Practice calendar//EN"
# A feed shows the sessions of the last month too, so a member can look back at what they attended.
PAST = timedelta(days=31)
CONTENT_TYPE = "text/calendar"
_UID_PART = re.compile(r"[A-Za-z0-9._-]{1,80}")
_FILENAME = re.compile(r"[A-Za-z0-9._-]{1,80}\.ics")


def member_calendar(
    label: str,
    schedule: Schedule,
    link: str,
    viewer_tz: str,
    *,
    calendar_id: str,
    now: datetime,
    support: str = "",
    items: list[Occurrence] | None = None,
) -> bytes:
    """Return the .ics of the group's sessions for one member: from a month ago on, or exactly `items`.

    `calendar_id` (letters, digits, ".", "_", "-") makes the UIDs: give the same one for the same member and
    group every time (not a name, not the invite secret), so calendar apps update their events.
    """
    if not _UID_PART.fullmatch(calendar_id):
        raise ValueError("calendar_id must be 1-80 letters, digits, '.', '_' or '-'")
    if items is None:
        items = occurrences(schedule, now - PAST, now + MAX_SPAN, limit=MAX_LIMIT)
    calendar = Calendar()
    calendar.add("prodid", PRODUCT_ID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", label)
    # Subscribed apps poll at their own pace unless told; an hour lets a cancellation arrive in time
    # (RFC 7986 REFRESH-INTERVAL, and the X-PUBLISHED-TTL older clients read).
    calendar.add("refresh-interval", timedelta(hours=1), parameters={"VALUE": "DURATION"})
    calendar.add("x-published-ttl", "PT1H")
    stamp = now.astimezone(UTC).replace(microsecond=0)
    for item in items:
        calendar.add_component(_event(item, label, link, viewer_tz, calendar_id, stamp, support))
    return calendar.to_ical()


def _event(
    item: Occurrence, label: str, link: str, viewer_tz: str, calendar_id: str, stamp: datetime, support: str
) -> Event:
    event = Event()
    event.add("uid", f"{item.key}-{calendar_id}@haven")
    event.add("dtstamp", stamp)
    event.add("dtstart", item.start)
    event.add("dtend", item.end)
    # A change must outrank the earlier copy a calendar app holds (RFC 5545 3.8.7.4).
    event.add("sequence", 1 if item.cancelled or item.moved else 0)
    when = format_local(item.start, viewer_tz)
    if item.cancelled:
        event.add("summary", f"Cancelled: {label}")
        event.add("status", "CANCELLED")
        event.add("description", f"The session of {when} is cancelled.")
    else:
        event.add("summary", label)
        event.add("status", "CONFIRMED")
        lines = [f"{when}.", f"Join: {link}"]
        if item.moved:
            lines.insert(0, f"Moved from {format_local(item.original_start, viewer_tz)}.")
        if support:
            lines.append(support)
        event.add("description", "\n".join(lines))
        event.add("url", link)
        event.add("location", link)
    event.add("transp", "OPAQUE")
    event.add("class", "PRIVATE")
    return event


def calendar_response(
    ics: bytes, *, request: web.Request | None = None, download_name: str | None = None
) -> web.Response:
    """Return the .ics as an HTTP response: text/calendar, private and revalidated (304 when unchanged).

    With `download_name` (e.g. "sessions.ics") the browser saves it; without, it is a feed for subscription.
    """
    if download_name is not None and not _FILENAME.fullmatch(download_name):
        raise ValueError("download_name must be 1-80 letters, digits, '.', '_' or '-' ending in .ics")
    etag = '"' + hashlib.sha256(ics).hexdigest()[:32] + '"'
    headers = {
        # Behind the member's invite secret: no shared cache may keep it; apps revalidate with the ETag.
        "Cache-Control": "private, no-cache",
        "ETag": etag,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }
    if download_name is not None:
        headers["Content-Disposition"] = f'attachment; filename="{download_name}"'
    if request is not None and etag in (value.strip() for value in request.headers.get("If-None-Match", "").split(",")):
        return web.Response(status=304, headers=headers)
    return web.Response(body=ics, content_type=CONTENT_TYPE, charset="utf-8", headers=headers)
