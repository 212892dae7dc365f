"""What signaling records durably (attendance, audit), as an interface the server's storage implements."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from .room import Participant


class Records(Protocol):
    """Durable records of sessions. Implementations must not block the event loop."""

    def audit(self, action: str, *, actor: str | None = None, role: str | None = None, room: str | None = None,
              session_id: str | None = None, subject: str | None = None,
              detail: dict[str, Any] | None = None) -> None: ...

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


class SessionLog:
    """The records of one session: audit entries and attendance events, stamped with its room and id."""

    def __init__(self, records: Records, room_id: str, session_id: str) -> None:
        self.records = records
        self.room_id = room_id
        self.session_id = session_id

    def audit(self, action: str, actor: Participant | None = None, subject: str | None = None,
              detail: dict[str, Any] | None = None) -> None:
        """Append an audit entry (never chat, media, names or tokens)."""
        self.records.audit(action, actor=actor.id if actor else None, role=actor.role if actor else None,
                           room=self.room_id, session_id=self.session_id, subject=subject, detail=detail)

    def attend(self, participant: Participant, event: str, at: float) -> None:
        """Record an attendance event."""
        self.records.attendance(self.session_id, participant.id, participant.name, participant.role, event, at)
