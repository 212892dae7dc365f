"""Owns log output: structlog configuration, the stdlib bridge for our libraries, and redaction of sensitive fields."""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

LEVELS = ("debug", "info", "warning", "error")
REDACTED = "[redacted]"
# Session content and credentials; names alone can reveal who is in therapy.
REDACTED_KEYS = frozenset({"token", "sdp", "name", "display_name", "chat", "text", "password", "secret"})
# aiohttp, aioice and aiortc log per packet or per request at INFO/DEBUG, which would drown our own events.
LIBRARY_LEVEL = logging.WARNING


def redact(logger: Any, method_name: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Replace the value of every sensitive key in the event with a placeholder."""
    for key in REDACTED_KEYS.intersection(event_dict):
        event_dict[key] = REDACTED
    return event_dict


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
        processors=[*shared, *exceptions, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(threshold),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        # Not cached, so a later configure_logging call (tests, `serve` after `check-config`) takes effect.
        cache_logger_on_first_use=False,
    )

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name, *exceptions],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(max(threshold, LIBRARY_LEVEL))
