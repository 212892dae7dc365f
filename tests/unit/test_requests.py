"""The request table: every request is parsed, permitted, handled and documented from one declaration."""

from __future__ import annotations

import re
from pathlib import Path

from signaling.protocol import SCHEMAS
from signaling.requests import REQUESTS, Access

PROTOCOL_DOC = (Path(__file__).resolve().parents[2] / "docs" / "protocol.md").read_text()
CONNECTION_LEVEL = {"hello", "join", "leave"}  # answered by the Connection itself


def test_every_parsed_request_has_exactly_one_handler_and_every_handler_is_parsed() -> None:
    handled = {kind for kind, spec in REQUESTS.items() if spec.handle is not None}
    assert set(SCHEMAS) - CONNECTION_LEVEL == handled


def test_only_connection_requests_lack_a_handler() -> None:
    assert {kind for kind, spec in REQUESTS.items() if spec.access is Access.CONNECTION} == CONNECTION_LEVEL
    assert all(REQUESTS[kind].handle is None for kind in CONNECTION_LEVEL)


def test_every_restricted_request_says_why_it_is_refused() -> None:
    for kind, spec in REQUESTS.items():
        if spec.access in (Access.HOST, Access.ADMITTED):
            assert spec.refusal, kind


def test_every_request_type_is_documented_in_the_protocol() -> None:
    documented = set(re.findall(r"`([a-z][a-z-]+)`", PROTOCOL_DOC))
    assert set(SCHEMAS) <= documented, sorted(set(SCHEMAS) - documented)


def test_the_protocol_documents_who_may_send_each_host_request() -> None:
    rows = dict(re.findall(r"^\| `([a-z][a-z-]+)` \| ([a-z ]+) \|", PROTOCOL_DOC, re.MULTILINE))
    for kind, spec in REQUESTS.items():
        if kind in rows and spec.access is Access.HOST:
            assert rows[kind].strip() == "host", kind


def test_every_event_the_server_sends_is_documented_in_the_protocol() -> None:
    root = Path(__file__).resolve().parents[2] / "signaling"
    sent = {kind for path in root.rglob("*.py") for kind in re.findall(r'"type": "([a-z][a-z-]+)"', path.read_text())}
    sent -= {"result", "error"}  # section 2's answers, not events
    documented = set(re.findall(r"`([a-z][a-z-]+)`", PROTOCOL_DOC))
    assert {"duplicate-join", "resume-credential"} <= sent
    assert sent <= documented, sorted(sent - documented)
