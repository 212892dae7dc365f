"""Every request the protocol parses has a handler, and every handler is documented in docs/protocol.md."""

from __future__ import annotations

import re
from pathlib import Path

from signaling.live_room import HOST_ONLY, REQUESTS
from signaling.protocol import SCHEMAS

SESSION_LEVEL = {"hello", "join", "leave", "publish", "subscriber-answer"}  # answered by Session/LiveRoom itself
PROTOCOL_DOC = (Path(__file__).resolve().parents[2] / "docs" / "protocol.md").read_text()


def test_every_parsed_request_has_exactly_one_handler_and_every_handler_is_parsed() -> None:
    assert set(SCHEMAS) - SESSION_LEVEL == set(REQUESTS)


def test_host_only_requests_are_real_requests() -> None:
    assert HOST_ONLY <= set(REQUESTS)


def test_every_request_type_is_documented_in_the_protocol() -> None:
    documented = set(re.findall(r"`([a-z][a-z-]+)`", PROTOCOL_DOC))
    assert set(SCHEMAS) <= documented, sorted(set(SCHEMAS) - documented)
