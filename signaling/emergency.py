"""A member's emergency information: where they are now and whom to call, confirmed at each join.

Only hosts read it (``emergency-info``), each reading is audited without its content, and it lives in the
participant's memory only, for as long as they are in the session: never logged, stored or sent to members.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .errors import ProtocolError

MAX_EMERGENCY_CHARS = 300


@dataclass(frozen=True)
class EmergencyInfo:
    """Where a member is during this session and an emergency contact (free text)."""

    location: str = field(repr=False)
    contact: str = field(repr=False)
    confirmed_at: float = 0.0

    @classmethod
    def parse(cls, value: Any, now: float) -> EmergencyInfo:
        """Validate the ``join`` field ``emergency_info``; raise ProtocolError saying what is wrong."""
        if not isinstance(value, dict):
            raise ProtocolError("bad-request", "emergency_info must be an object with location and contact")
        texts = {}
        for name in ("location", "contact"):
            text = value.get(name)
            text = text.strip() if isinstance(text, str) else ""
            if not 1 <= len(text) <= MAX_EMERGENCY_CHARS:
                raise ProtocolError("bad-request", f"emergency_info.{name} has 1 to {MAX_EMERGENCY_CHARS} characters")
            texts[name] = text
        return cls(texts["location"], texts["contact"], now)

    def describe(self) -> dict[str, Any]:
        """Return the protocol form (for hosts only)."""
        return {"location": self.location, "contact": self.contact, "confirmed_at": int(self.confirmed_at * 1000)}
