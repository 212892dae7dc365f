"""Reading the audit log: the viewer's filters, the SQL they become, and the JSON and CSV they are shown as.

Pure: no I/O here. server/storage.py runs the query on a read-only connection of its own, and
server/practice/audit_api.py is the HTTP side (`GET /api/v1/audit`, docs/openapi.yaml).
"""

from __future__ import annotations

import csv
import datetime
import io
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .database import SQLITE_DIALECT, Dialect

MAX_LIMIT = 500
DEFAULT_LIMIT = 100
FORMATS = ("json", "csv")
COLUMNS = ("seq", "at", "action", "actor", "role", "room", "session_id", "subject", "detail")
# Ids, action names and group ids are short tokens; anything else is refused before it reaches SQL.
_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}")
_GROUP = re.compile(r"g-[0-9a-f]{16}")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
DAY = 86400.0


class QueryError(ValueError):
    """A filter the viewer cannot use: ``field`` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class AuditQuery:
    """What the viewer asked for. ``start``/``end`` are UTC epoch seconds (end exclusive)."""

    actor: str | None = None
    group: str | None = None
    action: str | None = None
    start: float | None = None
    end: float | None = None
    before: int | None = None
    limit: int = DEFAULT_LIMIT
    format: str = "json"

    def described(self) -> dict[str, Any]:
        """The filters as the `audit-read` entry records them (ids and dates only, never content)."""
        shown = {"actor": self.actor, "group": self.group, "action": self.action, "from": _day(self.start),
                 "to": _day(None if self.end is None else self.end - DAY), "before": self.before,
                 "limit": self.limit, "format": self.format}
        return {key: value for key, value in shown.items() if value is not None}


def parse_query(params: Mapping[str, str]) -> AuditQuery:
    """Validate the viewer's query parameters; raise QueryError naming the first bad one."""
    unknown = sorted(set(params) - {"actor", "group", "action", "from", "to", "before", "limit", "format"})
    if unknown:
        raise QueryError(unknown[0], f"unknown parameter {unknown[0]!r}")
    actor = _token(params, "actor", _TOKEN, "an account or participant id")
    action = _token(params, "action", _TOKEN, "an action name such as admit")
    group = _token(params, "group", _GROUP, "a group id (g- and 16 hex digits)")
    start = _date(params, "from")
    last = _date(params, "to")
    end = None if last is None else last + DAY  # `to` is inclusive: the whole day
    if start is not None and end is not None and start >= end:
        raise QueryError("to", "to must be on or after from")
    before = _integer(params, "before", 1, 2**62)
    limit = _integer(params, "limit", 1, MAX_LIMIT)
    form = params.get("format", "json")
    if form not in FORMATS:
        raise QueryError("format", "format must be json or csv")
    return AuditQuery(actor, group, action, start, end, before, DEFAULT_LIMIT if limit is None else limit, form)


def _token(params: Mapping[str, str], name: str, rule: re.Pattern[str], what: str) -> str | None:
    value = params.get(name)
    if value is None or value == "":
        return None
    if not rule.fullmatch(value):
        raise QueryError(name, f"{name} must be {what}")
    return value


def _date(params: Mapping[str, str], name: str) -> float | None:
    value = params.get(name)
    if value is None or value == "":
        return None
    try:
        if not _DATE.fullmatch(value):
            raise ValueError
        day = datetime.date.fromisoformat(value)
    except ValueError:
        raise QueryError(name, f"{name} must be a date as YYYY-MM-DD (UTC)") from None
    return datetime.datetime(day.year, day.month, day.day, tzinfo=datetime.UTC).timestamp()


def _integer(params: Mapping[str, str], name: str, low: int, high: int) -> int | None:
    value = params.get(name)
    if value is None or value == "":
        return None
    if not value.isascii() or not value.isdigit() or not low <= int(value) <= high:
        raise QueryError(name, f"{name} must be a whole number from {low} to {high}")
    return int(value)


def where_clause(query: AuditQuery, member_ids: Iterable[str] = (),
                 dialect: Dialect = SQLITE_DIALECT) -> tuple[str, list[Any]]:
    """Return the SQL condition (``WHERE …`` or empty) and its parameters for ``query``.

    ``group`` matches entries of the group's rooms (named ``<group id>-<occurrence>``), entries about the
    group itself or naming it in their detail, and entries whose subject or actor is one of its members.
    """
    conditions: list[str] = []
    params: list[Any] = []
    if query.actor is not None:
        conditions.append("actor = ?")
        params.append(query.actor)
    if query.action is not None:
        conditions.append("action = ?")
        params.append(query.action)
    if query.start is not None:
        conditions.append("at >= ?")
        params.append(query.start)
    if query.end is not None:
        conditions.append("at < ?")
        params.append(query.end)
    if query.before is not None:
        conditions.append("seq < ?")
        params.append(query.before)
    if query.group is not None:
        prefix = f"{query.group}-"
        members = sorted(set(member_ids))
        marks = ",".join("?" * len(members))
        parts = ["room = ?", "substr(room, 1, ?) = ?", "subject = ?",
                 dialect.json_key_is("detail", "group")]
        params.extend([query.group, len(prefix), prefix, query.group, query.group])
        if members:
            parts.append(f"subject IN ({marks})")
            parts.append(f"actor IN ({marks})")
            params.extend(members)
            params.extend(members)
        conditions.append("(" + " OR ".join(parts) + ")")
    return ("WHERE " + " AND ".join(conditions)) if conditions else "", params


def page_sql(query: AuditQuery, member_ids: Iterable[str] = (),
             dialect: Dialect = SQLITE_DIALECT) -> tuple[str, list[Any]]:
    """The newest entries first, one more than the page so the caller knows whether more remain."""
    where, params = where_clause(query, member_ids, dialect)
    sql = f"SELECT {', '.join(COLUMNS)} FROM audit {where} ORDER BY seq DESC LIMIT ?"
    return sql, [*params, query.limit + 1]


def page(rows: list[tuple], limit: int) -> tuple[list[dict[str, Any]], int | None]:
    """Shape the rows of `page_sql` as entries; return them and ``next_before`` (None on the last page)."""
    entries = [entry(row) for row in rows[:limit]]
    more = len(rows) > limit
    return entries, (entries[-1]["seq"] if more and entries else None)


def entry(row: tuple) -> dict[str, Any]:
    """One audit row as the viewer shows it: ``at`` in ISO UTC, ``detail`` as the object it was."""
    item = dict(zip(COLUMNS, row, strict=True))
    item["at"] = iso(item["at"])
    try:
        detail = json.loads(item["detail"])
    except (TypeError, ValueError):
        detail = {"unreadable": True}
    item["detail"] = detail if isinstance(detail, dict) else {"value": detail}
    return item


def iso(at: float) -> str:
    """Seconds since the epoch as ISO 8601 UTC with milliseconds, e.g. 2026-12-03T15:42:45.123Z."""
    moment = datetime.datetime.fromtimestamp(at, datetime.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _day(at: float | None) -> str | None:
    return None if at is None else datetime.datetime.fromtimestamp(at, datetime.UTC).date().isoformat()


def entries_csv(entries: list[dict[str, Any]]) -> str:
    """The entries as CSV, every cell safe to open in a spreadsheet (no formula injection)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    for item in entries:
        detail = json.dumps(item["detail"], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        writer.writerow([safe_cell(item["seq"]), *(safe_cell(item[c]) for c in COLUMNS[1:-1]), safe_cell(detail)])
    return out.getvalue()


def safe_cell(value: Any) -> str:
    """A CSV cell that a spreadsheet shows as text: one starting with = + - @ (or tab/CR) gets a leading '."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
