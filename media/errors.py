"""The media layer's one exception type; its ``code`` is the protocol error code signaling reports."""

from __future__ import annotations


class MediaError(Exception):
    """A refused media operation (bad SDP, unsupported codec, unknown track)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
