"""Owns log output: structlog configuration, the stdlib bridge for our libraries, and redaction of sensitive fields."""

from __future__ import annotations

import logging
import re
import sys
import traceback
from collections.abc import MutableMapping
from typing import Any

import structlog

LEVELS = ("debug", "info", "warning", "error")
REDACTED = "[redacted]"
# Session content and credentials; names alone can reveal who is in therapy.
REDACTED_KEYS = frozenset({"token", "sdp", "name", "display_name", "chat", "text", "password", "secret"})
# aiohttp, aioice and aiortc log per packet or per request at INFO/DEBUG, which would drown our own events.
LIBRARY_LEVEL = logging.WARNING
# Values that look like credentials, and quoted HTTP request lines, in text we did not choose ourselves
# (exception messages, library log lines). Join tokens travel in URL fragments, but a misbehaving client
# may put one in a query string, and aiohttp's parser errors quote the raw request.
_SCRUBBED = re.compile(
    r"eyJ[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*"  # a JWT (header and claims are base64 JSON)
    r"|(?i:token|key|secret|password|auth[a-z_]*)=[^\s&;'\"]*"  # a credential as a query or form parameter
    r"|\b(?:GET|HEAD|POST|PUT|DELETE|OPTIONS|PATCH|CONNECT|TRACE)\s+\S+"  # a request line
)


def scrub(text: str) -> str:
    """Replace token-looking values and request lines in free text with a placeholder."""
    return _SCRUBBED.sub(REDACTED, text)


def redact(logger: Any, method_name: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Replace the value of every sensitive key in the event with a placeholder."""
    for key in REDACTED_KEYS.intersection(event_dict):
        event_dict[key] = REDACTED
    return event_dict


def scrub_values(logger: Any, method_name: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Scrub every string value of our own events (exception text included) with `scrub`."""
    for key, value in event_dict.items():
        if isinstance(value, str):
            event_dict[key] = scrub(value)
    return event_dict


class LibraryRecords(logging.Filter):
    """Make a stdlib record (aiohttp, aioice, aiortc) safe to write: its message is scrubbed, and its
    traceback, whose exception text may quote a raw request, SDP or a token, becomes the exception's
    type and where it was raised."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            frames = traceback.extract_tb(exc.__traceback__)
            where = f" at {frames[-1].filename.rsplit('/', 1)[-1]}:{frames[-1].lineno}" if frames else ""
            message = f"{message} ({type(exc).__name__}{where})"
        record.msg, record.args = scrub(message), None
        record.exc_info = record.exc_text = record.stack_info = None
        return True


def configure_logging(level: str, fmt: str) -> None:
    """Send structlog and stdlib logging to stderr as JSON lines or console text, filtered at `level`."""
    if level not in LEVELS:
        raise ValueError(f"unknown log level {level!r}")
    if fmt not in ("auto", "json", "console"):
        raise ValueError(f"unknown log format {fmt!r}")
    threshold = getattr(logging, level.upper())
    use_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    renderer: Any = structlog.processors.JSONRenderer() if use_json else structlog.dev.ConsoleRenderer()
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact,
    ]
    # JSON needs the traceback as a string field; the console renderer formats exceptions itself.
    exceptions = [structlog.processors.format_exc_info] if use_json else []

    structlog.configure(
        processors=[*shared, *exceptions, scrub_values, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(threshold),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        # Not cached, so a later configure_logging call (tests, `serve` after `check-config`) takes effect.
        cache_logger_on_first_use=False,
    )

    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(LibraryRecords())
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name, *exceptions],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(max(threshold, LIBRARY_LEVEL))
