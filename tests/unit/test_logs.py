"""server.logs: sensitive keys are redacted, token-shaped values and request lines are scrubbed, and
library records lose their exception text (issue 13)."""

from __future__ import annotations

import json
import logging

import pytest
import structlog

from server.logs import REDACTED, configure_logging, scrub

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"


@pytest.mark.parametrize("text", [
    f"bad line {JWT} here", f"/r/group?token={JWT}", "GET /ws?x=1 HTTP/1.1", "?api_key=abcdef0123456789",
    "password=hunter2", "b'POST /api/sessions/s-1/attendance?format=csv HTTP/1.1'",
])
def test_scrub_removes_tokens_and_request_lines(text: str) -> None:
    cleaned = scrub(text)
    assert REDACTED in cleaned
    for needle in (JWT, "hunter2", "abcdef0123456789", "/ws?", "/api/sessions"):
        assert needle not in cleaned


@pytest.mark.parametrize("text", ["participant_joined", "room group", "OSError at web_protocol.py:446"])
def test_scrub_leaves_ordinary_text_alone(text: str) -> None:
    assert scrub(text) == text


@pytest.fixture
def restore_logging():
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers, root.level = handlers, level
    structlog.reset_defaults()


def test_a_library_error_keeps_its_type_and_place_but_not_its_text(restore_logging, capsys) -> None:
    configure_logging("info", "json")
    try:
        raise ValueError(f"Bad status line 'GET /?token={JWT} HTTP/1.1'")
    except ValueError:
        logging.getLogger("aiohttp.server").exception("Error handling request from %s", "127.0.0.1")
    line = capsys.readouterr().err.strip().splitlines()[-1]
    record = json.loads(line)
    assert record["event"].startswith("Error handling request from 127.0.0.1 (ValueError at test_logs.py:")
    assert "exception" not in record and JWT not in line and "GET /" not in line


def test_our_own_events_are_redacted_and_scrubbed(restore_logging, capsys) -> None:
    configure_logging("info", "json")
    structlog.get_logger("haven.test").info("something", name="Ana", where=f"/r/x?token={JWT}")
    line = capsys.readouterr().err.strip().splitlines()[-1]
    record = json.loads(line)
    assert record["name"] == REDACTED and JWT not in line and "Ana" not in line
