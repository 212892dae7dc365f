"""Wire format of the signaling protocol (docs/protocol.md): parsing and validating client messages.

Pure functions and data, no sockets: a frame of text goes in, a validated ``Request`` or a
``ProtocolError`` with a stable code comes out.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable

from .limits import (
    MAX_BREAKOUT_MINUTES,
    MAX_BREAKOUT_NAME_CHARS,
    MAX_BREAKOUTS,
    MAX_BROADCAST_CHARS,
    MAX_HOMEWORK_CHARS,
    MAX_SDP_CHARS,
)

PROTOCOL_VERSION = 1
SUPPORTED_VERSIONS = (1,)
LABELS = ("camera", "microphone", "screen", "screen-audio")


class ProtocolError(Exception):
    """A refused message; ``code`` is the stable error code from docs/protocol.md section 3."""

    def __init__(self, code: str, message: str, request_id: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.request_id = request_id


@dataclass(frozen=True)
class Request:
    """A validated client request."""

    type: str
    id: int | str
    fields: dict[str, Any]


@dataclass(frozen=True)
class Pong:
    """The client's answer to a heartbeat ping."""


def _string(max_len: int, min_len: int = 1) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        if not isinstance(value, str) or not min_len <= len(value) <= max_len:
            return f"must be a string of {min_len} to {max_len} characters"
        return None

    return check


def _integer(low: int, high: int) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            return f"must be an integer from {low} to {high}"
        return None

    return check


def _number(low: float, high: float) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
            return f"must be a number from {low:g} to {high:g}"
        return None

    return check


def _boolean(value: Any) -> str | None:
    return None if isinstance(value, bool) else "must be true or false"


def _track_list(value: Any) -> str | None:
    if not isinstance(value, list) or len(value) > len(LABELS):
        return f"must be a list of at most {len(LABELS)} tracks"
    for item in value:
        if not isinstance(item, dict) or set(item) != {"mid", "label"}:
            return 'each track must be an object with exactly "mid" and "label"'
        if _string(32)(item["mid"]) is not None:
            return "a track mid must be a string of 1 to 32 characters"
        if item["label"] not in LABELS:
            return f"a track label must be one of {', '.join(LABELS)}"
    return None


def _optional_string(max_len: int) -> Callable[[Any], str | None]:
    check_string = _string(max_len)

    def check(value: Any) -> str | None:
        return None if value is None else check_string(value)

    return check


def _anything(value: Any) -> str | None:
    return None  # validated by the state machine that uses it (e.g. agenda phases)


def _id_list(value: Any) -> str | None:
    if not isinstance(value, list) or len(value) > 100 or any(_string(128)(v) for v in value):
        return "must be a list of participant ids"
    return None


_PARTICIPANT = {"participant_id": (True, _string(128))}
_SETTINGS = {name: (False, _boolean) for name in ("locked", "waiting_room", "chat_enabled", "private_chat",
                                                  "hands_visible")}
def _label(value: Any) -> str | None:
    return None if value in LABELS else f"must be one of {', '.join(LABELS)}"


# Request type -> {field: (required, check)}. Unknown fields are ignored (forward compatibility).
SCHEMAS: dict[str, dict[str, tuple[bool, Callable[[Any], str | None]]]] = {
    "hello": {
        "version": (True, _integer(0, 1_000_000)),
        "token": (True, _string(8192, 0)),
        "room": (False, _string(64)),
    },
    "join": {"consent_version": (False, _string(128))},
    "leave": {},
    "publish": {"sdp": (True, _string(MAX_SDP_CHARS)), "tracks": (True, _track_list),
                "replace_screen": (False, _boolean)},
    "unpublish": {"track_id": (True, _string(64))},
    "mute": {"track_id": (True, _string(64)), "muted": (True, _boolean)},
    "subscriber-answer": {"revision": (True, _integer(1, 2**31)), "sdp": (True, _string(MAX_SDP_CHARS))},
    # The therapy session (docs/protocol.md section 9).
    "admit": _PARTICIPANT,
    "admit-all": {},
    "deny": _PARTICIPANT,
    "send-to-waiting": _PARTICIPANT,
    "mute-participant": {**_PARTICIPANT, "label": (True, _label)},
    "ask-unmute": {**_PARTICIPANT, "label": (True, _label)},
    "remove": {**_PARTICIPANT, "ban": (False, _boolean)},
    "set-role": {**_PARTICIPANT, "role": (True, _string(16))},
    "set-room": _SETTINGS,
    "end-session": {},
    "agenda-start": {"template": (False, _string(32)), "phases": (False, _anything)},
    "agenda-next": {},
    "agenda-set-phase": {"index": (True, _integer(0, 100))},
    "agenda-update": {"phases": (True, _anything)},
    "checkin-start": {"order": (False, _id_list), "random": (False, _boolean)},
    "checkin-next": {},
    "checkin-pass": {},
    "checkin-end": {},
    "checkin-mood": {"rating": (True, _integer(1, 10))},
    "raise-hand": {},
    "lower-hand": {"participant_id": (False, _string(128))},
    "lower-all-hands": {},
    "give-floor": {"participant_id": (True, _optional_string(128))},
    "chat": {"to": (True, _string(128)), "text": (True, _string(20000))},
    "homework": {"text": (True, _string(MAX_HOMEWORK_CHARS))},
    # Screen sharing and breakout rooms (docs/protocol.md section 10).
    "allow-screen-share": {**_PARTICIPANT, "allowed": (True, _boolean)},
    "stop-screen-share": _PARTICIPANT,
    "breakout-create": {"names": (False, _anything), "count": (False, _integer(1, MAX_BREAKOUTS))},
    "breakout-assign": {**_PARTICIPANT, "room": (True, _optional_string(MAX_BREAKOUT_NAME_CHARS))},
    "breakout-assign-random": {},
    "breakout-open": {"minutes": (False, _number(0, MAX_BREAKOUT_MINUTES))},
    "breakout-settings": {"self_select": (True, _boolean)},
    "breakout-choose": {"room": (True, _string(MAX_BREAKOUT_NAME_CHARS))},
    "breakout-timer": {"minutes": (True, _number(0, MAX_BREAKOUT_MINUTES))},
    "breakout-broadcast": {"text": (True, _string(MAX_BROADCAST_CHARS))},
    "breakout-close": {"room": (True, _string(MAX_BREAKOUT_NAME_CHARS))},
    "breakout-close-all": {},
    "breakout-visit": {"room": (True, _optional_string(MAX_BREAKOUT_NAME_CHARS))},
    "ask-for-help": {},
}


def _request_id(value: Any) -> int | str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and -(2**53) < value < 2**53:
        return value
    if isinstance(value, str) and 1 <= len(value) <= 64:
        return value
    return None


def parse_message(text: str) -> Request | Pong:
    """Parse one text frame into a Request (or a Pong); raise ProtocolError on anything else."""
    try:
        message = json.loads(text)
    except (ValueError, RecursionError):
        raise ProtocolError("bad-request", "the message is not valid JSON") from None
    if not isinstance(message, dict):
        raise ProtocolError("bad-request", "the message must be a JSON object")
    kind = message.get("type")
    if kind == "pong":
        return Pong()
    if not isinstance(kind, str):
        raise ProtocolError("bad-request", 'the message needs a string "type"')
    request_id = _request_id(message.get("id"))
    if request_id is None:
        raise ProtocolError("bad-request", 'a request needs an "id": an integer or a string of 1-64 characters')
    schema = SCHEMAS.get(kind)
    if schema is None:
        raise ProtocolError("unknown-type", f"unknown request type {kind[:40]!r}", request_id)
    fields = {}
    for name, (required, check) in schema.items():
        if name not in message:
            if required:
                raise ProtocolError("bad-request", f'"{name}" is required for {kind}', request_id)
            continue
        problem = check(message[name])
        if problem:
            raise ProtocolError("bad-request", f'"{name}" {problem}', request_id)
        fields[name] = message[name]
    return Request(kind, request_id, fields)


def result(request_id: int | str, data: dict | None = None) -> dict:
    """Build the result message answering a request."""
    return {"type": "result", "id": request_id, "data": data if data is not None else {}}


def error(request_id: Any, code: str, message: str) -> dict:
    """Build the error message answering a request (``request_id`` None when it has none)."""
    return {"type": "error", "id": request_id, "code": code, "message": message}


def encode(message: dict) -> str:
    """Serialize an outgoing message."""
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False)
