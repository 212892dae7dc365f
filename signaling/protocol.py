"""Wire format of the signaling protocol (docs/protocol.md): parsing and validating client messages.

Pure functions and data, no sockets: a frame of text goes in, a validated ``Request`` or a
``ProtocolError`` with a stable code comes out.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .errors import ProtocolError
from .limits import MAX_SDP_CHARS
from .requests import REQUESTS
from .schema import LABELS, Field

PROTOCOL_VERSION = 1
SUPPORTED_VERSIONS = (1,)
__all__ = ["LABELS", "MAX_SDP_CHARS", "PROTOCOL_VERSION", "SCHEMAS", "SUPPORTED_VERSIONS", "Pong", "ProtocolError",
           "Request", "encode", "error", "parse_message", "result"]


@dataclass(frozen=True)
class Request:
    """A validated client request."""

    type: str
    id: int | str
    fields: dict[str, Any]


@dataclass(frozen=True)
class Pong:
    """The client's answer to a heartbeat ping."""


# Request type -> {field: (required, check)}, read from the request table. Unknown fields are ignored
# (forward compatibility).
SCHEMAS: dict[str, Mapping[str, Field]] = {kind: spec.fields for kind, spec in REQUESTS.items()}


def _sendable(value: Any) -> bool:
    """Tell whether a parsed JSON value can go out again in a text frame (strict UTF-8).

    JSON lets a client write a lone surrogate (``"\\ud800"``), which json.loads keeps; echoed to anyone
    (a chat text, a request id), it would make the WebSocket's UTF-8 encoding raise in their writer.
    Iterative: a value json.loads accepted may be nested as deep as the recursion limit.
    """
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if not item.isascii():
                try:
                    item.encode("utf-8")
                except UnicodeEncodeError:
                    return False
        elif isinstance(item, dict):
            stack.extend(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return True


def _request_id(value: Any) -> int | str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and -(2**53) < value < 2**53:
        return value
    if isinstance(value, str) and 1 <= len(value) <= 64 and _sendable(value):
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
        problem = check(message[name]) or (None if _sendable(message[name]) else "is not valid Unicode text")
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
