"""Field checks for request payloads: each returns None when a value is acceptable, else what is wrong.

The request table (requests.py) names one check per field; protocol.py applies them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from media.api import LABEL_KINDS

Check = Callable[[Any], "str | None"]
# A field of a request: (required, check).
Field = tuple[bool, Check]

LABELS: tuple[str, ...] = tuple(LABEL_KINDS)
SCREEN_LABELS: frozenset[str] = frozenset({"screen", "screen-audio"})
SETTING_NAMES = ("locked", "waiting_room", "chat_enabled", "private_chat", "hands_visible", "readmit_after_timeout",
                 "members_media_without_host", "checkin_text_visible")
# Quiet, non-verbal reactions a member can show on their tile (docs/protocol.md 9.11).
REACTIONS = ("agree", "heart", "thanks", "pause")


def string(max_len: int, min_len: int = 1) -> Check:
    """Accept a string of min_len to max_len characters."""
    def check(value: Any) -> str | None:
        if not isinstance(value, str) or not min_len <= len(value) <= max_len:
            return f"must be a string of {min_len} to {max_len} characters"
        return None

    return check


def optional_string(max_len: int) -> Check:
    """Accept null or a string of 1 to max_len characters."""
    check_string = string(max_len)

    def check(value: Any) -> str | None:
        return None if value is None else check_string(value)

    return check


def integer(low: int, high: int) -> Check:
    """Accept an integer (not a boolean) from low to high."""
    def check(value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            return f"must be an integer from {low} to {high}"
        return None

    return check


def number(low: float, high: float) -> Check:
    """Accept an integer or float (not a boolean) from low to high."""
    def check(value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
            return f"must be a number from {low:g} to {high:g}"
        return None

    return check


def one_of(*values: str) -> Check:
    """Accept one of a fixed set of strings."""
    def check(value: Any) -> str | None:
        if value not in values:
            return f"must be one of {', '.join(values)}"
        return None

    return check


def boolean(value: Any) -> str | None:
    """Accept true or false."""
    return None if isinstance(value, bool) else "must be true or false"


def label(value: Any) -> str | None:
    """Accept a track label."""
    return None if value in LABELS else f"must be one of {', '.join(LABELS)}"


def track_list(value: Any) -> str | None:
    """Accept a publish offer's track list: at most one track per label, each {"mid", "label"}."""
    if not isinstance(value, list) or len(value) > len(LABELS):
        return f"must be a list of at most {len(LABELS)} tracks"
    for item in value:
        if not isinstance(item, dict) or set(item) != {"mid", "label"}:
            return 'each track must be an object with exactly "mid" and "label"'
        if string(32)(item["mid"]) is not None:
            return "a track mid must be a string of 1 to 32 characters"
        if item["label"] not in LABELS:
            return f"a track label must be one of {', '.join(LABELS)}"
    return None


MAX_TILE_SIZES = 64  # more video tracks than a room of 15 members with screen shares ever has
MAX_TILE_HEIGHT = 16384  # device pixels: beyond any screen


def tile_heights(value: Any) -> str | None:
    """Accept ``{track_id: height}``: at most 64 video tracks, each 0 to 16384 device pixels high."""
    if not isinstance(value, dict) or len(value) > MAX_TILE_SIZES:
        return f"must be an object of at most {MAX_TILE_SIZES} track ids"
    for key, height in value.items():
        if string(64)(key) is not None or integer(0, MAX_TILE_HEIGHT)(height) is not None:
            return f"each entry must be a track id and a height of 0 to {MAX_TILE_HEIGHT} pixels"
    return None


def id_list(value: Any) -> str | None:
    """Accept a list of at most 100 participant ids."""
    if not isinstance(value, list) or len(value) > 100 or any(string(128)(v) for v in value):
        return "must be a list of participant ids"
    return None


def anything(value: Any) -> str | None:
    """Accept any JSON value: the state machine that uses it validates it (e.g. agenda phases)."""
    return None
