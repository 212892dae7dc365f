"""What signaling records durably (attendance, audit), as an interface the server's storage implements."""

from __future__ import annotations

from typing import Protocol


class Records(Protocol):
    """Durable records of sessions. Implementations must not block the event loop."""

    def audit(self, action: str, *, actor: str | None = None, role: str | None = None, room: str | None = None,
              session_id: str | None = None, subject: str | None = None, detail: dict | None = None) -> None: ...

    def session_started(self, session_id: str, room: str, at: float) -> None: ...

    def session_ended(self, session_id: str, at: float, reason: str) -> None: ...

    def attendance(self, session_id: str, participant_id: str, name: str, role: str, event: str,
                   at: float) -> None: ...


class NullRecords:
    """Records nothing (tests of state that do not look at records)."""

    def audit(self, action: str, **fields: object) -> None:
        return None

    def session_started(self, session_id: str, room: str, at: float) -> None:
        return None

    def session_ended(self, session_id: str, at: float, reason: str) -> None:
        return None

    def attendance(self, session_id: str, participant_id: str, name: str, role: str, event: str,
                   at: float) -> None:
        return None
