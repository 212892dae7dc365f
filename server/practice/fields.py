"""Checks for the fields a dashboard request sends: each raises PracticeError naming the field."""

from __future__ import annotations

import zoneinfo
from typing import Any

from .errors import PracticeError

GROUP_KINDS = ("psychoeducational", "process", "specialized", "family-couples")
MEMBER_STATUSES = ("active", "discharged")
MAX_CAPACITY = 100  # limits.max_participants_per_room's own ceiling


def bad(field: str, message: str) -> PracticeError:
    return PracticeError(400, "bad-request", f"{field} {message}", field=field)


def text(body: dict[str, Any], field: str, *, low: int = 1, high: int = 200, default: str | None = None) -> str:
    value = body.get(field, default)
    if not isinstance(value, str) or not low <= len(value.strip()) <= high:
        raise bad(field, f"must be text of {low} to {high} characters")
    return value.strip()


def time_zone(body: dict[str, Any], field: str = "tz", default: str | None = None) -> str:
    value = body.get(field, default)
    if not is_time_zone(value):
        raise bad(field, "must be an IANA time zone such as America/Chicago")
    assert isinstance(value, str)
    return value


def is_time_zone(value: object) -> bool:
    if not isinstance(value, str) or not 1 <= len(value) <= 64 or ".." in value or value.startswith("/"):
        return False
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return True


def choice(body: dict[str, Any], field: str, choices: tuple[str, ...], default: str | None = None) -> str:
    value = body.get(field, default)
    if value not in choices:
        raise bad(field, f"must be one of {', '.join(choices)}")
    assert isinstance(value, str)
    return value


def integer(body: dict[str, Any], field: str, low: int, high: int, default: int) -> int:
    value = body.get(field, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise bad(field, f"must be an integer from {low} to {high}")
    return value


def optional_email(body: dict[str, Any], field: str = "email") -> str | None:
    value = body.get(field)
    if value is None or value == "":
        return None
    if not isinstance(value, str) or "@" not in value or not 3 <= len(value.strip()) <= 254:
        raise bad(field, "must be an email address or empty")
    return value.strip()


def flag(body: dict[str, Any], field: str, default: bool) -> bool:
    """Return a boolean field (JSON true/false only: 0, 1 or "yes" are refused)."""
    value = body.get(field, default)
    if not isinstance(value, bool):
        raise bad(field, "must be true or false")
    return value
