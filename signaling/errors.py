"""The signaling layer's one exception: a refused request with a stable code (docs/protocol.md section 3)."""

from __future__ import annotations

from typing import Any


class ProtocolError(Exception):
    """A refused message; ``code`` is the stable error code from docs/protocol.md section 3."""

    def __init__(self, code: str, message: str, request_id: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.request_id = request_id
