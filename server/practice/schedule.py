"""Owns a group's schedule: one-off or recurring sessions in the group's home zone, with exceptions.

Pure values and functions, no I/O. Recurrence is RFC 5545 (python-dateutil's rrulestr) expanded in LOCAL
wall time in the group's zone (`zoneinfo`), so a group at 18:00 America/Chicago stays at 18:00 there across
daylight-saving changes while its UTC time moves by an hour.

Local-time policy (RFC 5545 section 3.3.5):
- The schedule's `start` and a moved occurrence's new start are typed by a person, so one that does not
  exist (inside a spring-forward gap) or is ambiguous (repeated by a fall-back) is refused with a
  ScheduleError naming the field: the clinician picks a time that means one instant.
- A recurring occurrence that lands on such a time (a 02:30 group on the night of a change) is read the way
  RFC 5545 and calendar apps read it: a nonexistent time uses the UTC offset from before the gap (02:30
  becomes 03:30), an ambiguous one means its first instant. So Haven and the member's calendar agree.

A rule's first occurrence is the first time it yields on or after `start` (a Tuesday start with BYDAY=MO
begins the next Monday); `start` itself counts only when the rule yields it.

Bounds: a series never extends past MAX_SPAN after its first start, COUNT is at most MAX_COUNT, a query
returns at most MAX_LIMIT occurrences, and a rule may only use the parts that cannot multiply occurrences
within a day (no BYHOUR/BYMINUTE/BYSECOND/BYSETPOS...), so every expansion is a bounded loop.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil.rrule import rrule, rrulestr

FREQUENCIES = ("DAILY", "WEEKLY", "MONTHLY")
# The only rule parts the product offers; the others either multiply occurrences within a day or build
# rules that may match nothing for centuries (BYMONTH=2;BYMONTHDAY=30), which dateutil would scan for.
RULE_PARTS = frozenset({"FREQ", "INTERVAL", "COUNT", "UNTIL", "BYDAY", "BYMONTHDAY", "WKST"})
MIN_DURATION = 5
MAX_DURATION = 480
MAX_COUNT = 1000
MAX_INTERVAL = 12
MAX_RULE_CHARS = 200
MAX_EXCEPTIONS = 500
MAX_LIMIT = 1000
DEFAULT_LIMIT = 100
# A series (even one without COUNT or UNTIL) ends this long after its first start; a program runs for weeks
# or months, and a clinician renews a standing group by editing its schedule.
MAX_SPAN = timedelta(days=3 * 366)
MIN_YEAR = 2000
MAX_YEAR = 2200
KEY_FORMAT = "%Y%m%dT%H%M"
_KEY = re.compile(r"\d{8}T\d{4}")
_UNTIL = re.compile(r"\d{8}T\d{6}Z")
_ISO_MINUTE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")
_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


class ScheduleError(ValueError):
    """A schedule value that cannot be used, named by its field (`tz`, `start`, `rrule`, `exceptions[2].start`...)."""

    code = "invalid-schedule"

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"{field}: {problem}")


@dataclass(frozen=True)
class Override:
    """One exception to the rule: the occurrence `key` is cancelled, or moved to a new local start/duration."""

    key: str
    cancelled: bool = False
    start: datetime | None = None  # naive local time in the schedule's zone; None keeps the original
    duration: int | None = None  # minutes; None keeps the schedule's


@dataclass(frozen=True)
class Occurrence:
    """One session of a schedule, in UTC; `key` names it by its original local start and never changes."""

    key: str
    start: datetime
    end: datetime
    original_start: datetime
    cancelled: bool = False
    moved: bool = False


@dataclass(frozen=True)
class Schedule:
    """When a group meets: the first local start in `tz`, a duration in minutes, an optional RRULE, exceptions.

    Constructing one validates it (ScheduleError naming the field), so every Schedule in hand is usable.
    """

    tz: str
    start: datetime
    duration: int
    rrule: str | None = None
    exceptions: tuple[Override, ...] = field(default=())

    def __post_init__(self) -> None:
        zone = _zone(self.tz)
        _check_local(self.start, zone, "start")
        _check_duration(self.duration, "duration")
        if self.rrule is not None:
            _parse_rule(self.rrule, self.start, zone)
        if not isinstance(self.exceptions, tuple):
            raise ScheduleError("exceptions", "must be a tuple of Override")
        if len(self.exceptions) > MAX_EXCEPTIONS:
            raise ScheduleError("exceptions", f"at most {MAX_EXCEPTIONS} exceptions")
        keys = set()
        for index, override in enumerate(self.exceptions):
            where = f"exceptions[{index}]"
            if not isinstance(override, Override):
                raise ScheduleError(where, "must be an Override")
            if override.key in keys:
                raise ScheduleError(f"{where}.key", f"{override.key!r} has more than one exception")
            keys.add(override.key)
            if override.cancelled and (override.start is not None or override.duration is not None):
                raise ScheduleError(where, "a cancelled occurrence cannot also be moved")
            if not override.cancelled and override.start is None and override.duration is None:
                raise ScheduleError(where, "must cancel the occurrence or give a new start or duration")
            if override.start is not None:
                _check_local(override.start, zone, f"{where}.start")
            if override.duration is not None:
                _check_duration(override.duration, f"{where}.duration")
        if not any(True for _ in _series(self)):
            raise ScheduleError("rrule", "yields no occurrence")
        if keys:
            known = {key for key, _ in _series(self)}
            for index, override in enumerate(self.exceptions):
                if override.key not in known:
                    raise ScheduleError(
                        f"exceptions[{index}].key", f"{override.key!r} is not an occurrence of this schedule"
                    )

    @property
    def zone(self) -> ZoneInfo:
        """Return the group's home zone."""
        return ZoneInfo(self.tz)

    def to_json(self) -> dict[str, Any]:
        """Return the schedule as a plain dict for storage; from_json reads it back."""
        return {
            "tz": self.tz,
            "start": self.start.strftime("%Y-%m-%dT%H:%M"),
            "duration": self.duration,
            "rrule": self.rrule,
            "exceptions": [_override_json(o) for o in self.exceptions],
        }

    @classmethod
    def from_json(cls, data: Any) -> Schedule:
        """Read a dict written by to_json (or sent by a client), refusing anything malformed by field name."""
        if not isinstance(data, Mapping):
            raise ScheduleError("schedule", "must be an object")
        unknown = set(data) - {"tz", "start", "duration", "rrule", "exceptions"}
        if unknown:
            raise ScheduleError(sorted(map(str, unknown))[0], "unknown field")
        for name in ("tz", "start", "duration"):
            if name not in data:
                raise ScheduleError(name, "is required")
        if not isinstance(data["tz"], str):
            raise ScheduleError("tz", "must be a string")
        rule = data.get("rrule")
        if rule is not None and not isinstance(rule, str):
            raise ScheduleError("rrule", "must be a string or null")
        raw = data.get("exceptions", [])
        if not isinstance(raw, list):
            raise ScheduleError("exceptions", "must be a list")
        if len(raw) > MAX_EXCEPTIONS:
            raise ScheduleError("exceptions", f"at most {MAX_EXCEPTIONS} exceptions")
        return cls(
            tz=data["tz"],
            start=_read_local(data["start"], "start"),
            duration=data["duration"],
            rrule=rule or None,
            exceptions=tuple(_read_override(item, f"exceptions[{i}]") for i, item in enumerate(raw)),
        )

    def with_cancelled(self, key: str) -> Schedule:
        """Return this schedule with occurrence `key` cancelled (replacing any earlier exception to it)."""
        return self._with(Override(key=key, cancelled=True))

    def with_moved(self, key: str, start: datetime | None = None, duration: int | None = None) -> Schedule:
        """Return this schedule with occurrence `key` moved to a new local start and/or duration."""
        return self._with(Override(key=key, start=start, duration=duration))

    def without_exception(self, key: str) -> Schedule:
        """Return this schedule with occurrence `key` back to what the rule says."""
        return dataclasses.replace(self, exceptions=tuple(o for o in self.exceptions if o.key != key))

    def _with(self, override: Override) -> Schedule:
        kept = tuple(o for o in self.exceptions if o.key != override.key)
        return dataclasses.replace(self, exceptions=tuple(sorted((*kept, override), key=lambda o: o.key)))


def occurrences(
    schedule: Schedule, start_utc: datetime, end_utc: datetime, limit: int = DEFAULT_LIMIT
) -> list[Occurrence]:
    """Return the occurrences overlapping [start_utc, end_utc), cancelled ones included, in start order."""
    _check_aware(start_utc, "start_utc")
    _check_aware(end_utc, "end_utc")
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise ScheduleError("limit", f"must be an integer between 1 and {MAX_LIMIT}")
    overrides = {o.key: o for o in schedule.exceptions}
    found = []
    for key, original in _series(schedule):
        if original >= end_utc + timedelta(minutes=MAX_DURATION) and not overrides:
            break
        item = _occurrence(schedule, key, original, overrides.get(key))
        if item.end > start_utc and item.start < end_utc:
            found.append(item)
    found.sort(key=lambda o: (o.start, o.key))
    return found[:limit]


def next_occurrence(schedule: Schedule, now: datetime) -> Occurrence | None:
    """Return the first occurrence not cancelled that has not ended by `now` (one in progress counts)."""
    _check_aware(now, "now")
    overrides = {o.key: o for o in schedule.exceptions}
    best: Occurrence | None = None
    for key, original in _series(schedule):
        if best is not None and original > best.start and not overrides:
            break
        item = _occurrence(schedule, key, original, overrides.get(key))
        if not item.cancelled and item.end > now and (best is None or item.start < best.start):
            best = item
    return best


def occurrence(schedule: Schedule, key: str) -> Occurrence | None:
    """Return the occurrence named `key`, or None for any string (from a URL, say) that names none."""
    if not isinstance(key, str) or not _KEY.fullmatch(key):
        return None
    overrides = {o.key: o for o in schedule.exceptions}
    for candidate, original in _series(schedule):
        if candidate == key:
            return _occurrence(schedule, key, original, overrides.get(key))
        if candidate > key:
            return None
    return None


def format_local(dt: datetime, tz: str) -> str:
    """Format an aware instant for a viewer in zone `tz`, locale-free: "Mon 3 Mar, 18:00 CST"."""
    _check_aware(dt, "dt")
    local = dt.astimezone(_zone(tz))
    name = local.tzname() or ""
    if name[:1] in "+-":  # zones without a letter abbreviation (Asia/Dubai is "+04")
        name = f"UTC{name}"
    return f"{_WEEKDAYS[local.weekday()]} {local.day} {_MONTHS[local.month - 1]}, {local:%H:%M} {name}".rstrip()


def until_end_of(day: date, tz: str) -> str:
    """Return the RRULE UNTIL value (UTC, as RFC 5545 requires) for "up to and including `day`" in zone `tz`."""
    if not isinstance(day, date) or isinstance(day, datetime):
        raise ScheduleError("until", "must be a date")
    last = datetime.combine(day, time(23, 59, 59)).replace(tzinfo=_zone(tz))
    return last.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _series(schedule: Schedule) -> Iterator[tuple[str, datetime]]:
    """Yield (key, original start in UTC) of every occurrence the rule makes, in order, bounded by MAX_SPAN."""
    zone = ZoneInfo(schedule.tz)
    if schedule.rrule is None:
        yield schedule.start.strftime(KEY_FORMAT), _to_utc(schedule.start, zone)
        return
    rule, count = _parse_rule(schedule.rrule, schedule.start, zone)
    for index, local in enumerate(rule):
        if count is not None and index >= count:
            return
        naive = local.replace(tzinfo=None)
        yield naive.strftime(KEY_FORMAT), _to_utc(naive, zone)


def _occurrence(schedule: Schedule, key: str, original: datetime, override: Override | None) -> Occurrence:
    zone = ZoneInfo(schedule.tz)
    start, duration, moved = original, schedule.duration, False
    if override is not None and not override.cancelled:
        moved = True
        if override.start is not None:
            start = _to_utc(override.start, zone)
        if override.duration is not None:
            duration = override.duration
    return Occurrence(
        key=key,
        start=start,
        end=start + timedelta(minutes=duration),
        original_start=original,
        cancelled=override is not None and override.cancelled,
        moved=moved,
    )


def _parse_rule(text: str, start: datetime, zone: ZoneInfo) -> tuple[rrule, int | None]:
    """Return the dateutil rule (its end capped at MAX_SPAN) and its COUNT, which we apply ourselves."""
    if not isinstance(text, str):
        raise ScheduleError("rrule", "must be a string or None")
    if len(text) > MAX_RULE_CHARS:
        raise ScheduleError("rrule", f"must be at most {MAX_RULE_CHARS} characters")
    body = text.removeprefix("RRULE:")
    parts: dict[str, str] = {}
    for item in body.split(";"):
        name, sep, value = item.partition("=")
        if not sep or not name or not value:
            raise ScheduleError("rrule", f"{item!r} is not NAME=VALUE (expected e.g. FREQ=WEEKLY;BYDAY=MO,WE)")
        if name in parts:
            raise ScheduleError("rrule", f"{name} appears twice")
        if name not in RULE_PARTS:
            raise ScheduleError("rrule", f"{name} is not supported (use {', '.join(sorted(RULE_PARTS))})")
        parts[name] = value
    if parts.get("FREQ") not in FREQUENCIES:
        raise ScheduleError("rrule", f"FREQ must be one of {', '.join(FREQUENCIES)} (got {parts.get('FREQ')!r})")
    count: int | None = None
    if "COUNT" in parts:
        if not parts["COUNT"].isdigit() or not 1 <= int(parts["COUNT"]) <= MAX_COUNT:
            raise ScheduleError("rrule", f"COUNT must be an integer between 1 and {MAX_COUNT}")
        count = int(parts["COUNT"])
        if "UNTIL" in parts:
            raise ScheduleError("rrule", "COUNT and UNTIL cannot both be given")
    if "INTERVAL" in parts and (not parts["INTERVAL"].isdigit() or not 1 <= int(parts["INTERVAL"]) <= MAX_INTERVAL):
        raise ScheduleError("rrule", f"INTERVAL must be an integer between 1 and {MAX_INTERVAL}")
    # RFC 5545: with a DTSTART in a zone, UNTIL must be in UTC; a date alone would be read differently by
    # different calendar apps.
    if "UNTIL" in parts and not _UNTIL.fullmatch(parts["UNTIL"]):
        raise ScheduleError("rrule", f"UNTIL must be a UTC time like 20270301T000000Z (got {parts['UNTIL']!r})")
    until = _rule_until(parts) if "UNTIL" in parts else None
    dtstart = start.replace(tzinfo=zone)
    try:
        # COUNT is applied by _series, so the rule's end can always be capped with an UNTIL.
        free = ";".join(f"{k}={v}" for k, v in parts.items() if k != "COUNT")
        rule = rrulestr(free, dtstart=dtstart)
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        raise ScheduleError("rrule", f"not a valid RFC 5545 rule: {exc}") from None
    if not isinstance(rule, rrule):
        raise ScheduleError("rrule", "must be a single RRULE")
    cap = (dtstart + MAX_SPAN).astimezone(UTC)
    return rule.replace(until=cap if until is None else min(cap, until)), count


def _rule_until(parts: Mapping[str, str]) -> datetime:
    try:
        return datetime.strptime(parts["UNTIL"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        raise ScheduleError("rrule", f"UNTIL is not a valid date and time (got {parts['UNTIL']!r})") from None


def _zone(name: Any) -> ZoneInfo:
    if not isinstance(name, str) or not name or len(name) > 64:
        raise ScheduleError("tz", "must be an IANA time zone name such as America/Chicago")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ScheduleError(
            "tz", f"unknown time zone {name!r} (expected an IANA name such as America/Chicago)"
        ) from None


def _check_local(value: Any, zone: ZoneInfo, where: str) -> None:
    """Refuse a local start that is not a naive minute, or that is not exactly one instant in `zone`."""
    if not isinstance(value, datetime) or value.tzinfo is not None:
        raise ScheduleError(where, "must be a local date and time without a zone (the schedule's tz applies)")
    if value.second or value.microsecond:
        raise ScheduleError(where, "must be a whole minute")
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        raise ScheduleError(where, f"must be in the years {MIN_YEAR} to {MAX_YEAR}")
    first, second = value.replace(tzinfo=zone, fold=0), value.replace(tzinfo=zone, fold=1)
    if first.utcoffset() != second.utcoffset():
        # Both folds agree on a normal time; they disagree in a gap and in a repeated hour.
        if first.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != value:
            raise ScheduleError(where, f"{value:%Y-%m-%d %H:%M} does not exist in {zone.key} (clocks skip it)")
        raise ScheduleError(
            where, f"{value:%Y-%m-%d %H:%M} happens twice in {zone.key} (clocks go back); pick another time"
        )


def _check_duration(value: Any, where: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not MIN_DURATION <= value <= MAX_DURATION:
        raise ScheduleError(where, f"must be a whole number of minutes between {MIN_DURATION} and {MAX_DURATION}")


def _check_aware(value: Any, where: str) -> None:
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise ScheduleError(where, "must be an aware datetime")


def _to_utc(local: datetime, zone: ZoneInfo) -> datetime:
    # fold=0: RFC 5545's reading of gap and repeated times (see the module docstring).
    return local.replace(tzinfo=zone, fold=0).astimezone(UTC)


def _read_local(value: Any, where: str) -> datetime:
    if not isinstance(value, str) or not _ISO_MINUTE.fullmatch(value):
        raise ScheduleError(where, "must be a local time written YYYY-MM-DDTHH:MM")
    try:
        return datetime.strptime(value, "%Y-%m-%dT%H:%M")
    except ValueError:
        raise ScheduleError(where, f"{value!r} is not a real date and time") from None


def _read_override(data: Any, where: str) -> Override:
    if not isinstance(data, Mapping):
        raise ScheduleError(where, "must be an object")
    unknown = set(data) - {"key", "cancelled", "start", "duration"}
    if unknown:
        raise ScheduleError(f"{where}.{sorted(map(str, unknown))[0]}", "unknown field")
    key = data.get("key")
    if not isinstance(key, str) or not _KEY.fullmatch(key):
        raise ScheduleError(f"{where}.key", "must be an occurrence key such as 20270301T1800")
    cancelled = data.get("cancelled", False)
    if not isinstance(cancelled, bool):
        raise ScheduleError(f"{where}.cancelled", "must be true or false")
    start = data.get("start")
    duration = data.get("duration")
    return Override(
        key=key,
        cancelled=cancelled,
        start=None if start is None else _read_local(start, f"{where}.start"),
        duration=duration,
    )


def _override_json(override: Override) -> dict[str, Any]:
    data: dict[str, Any] = {"key": override.key}
    if override.cancelled:
        data["cancelled"] = True
    if override.start is not None:
        data["start"] = override.start.strftime("%Y-%m-%dT%H:%M")
    if override.duration is not None:
        data["duration"] = override.duration
    return data
