"""What signaling records durably (attendance, audit), as an interface the server's storage implements."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, Protocol

import structlog

from .errors import ProtocolError

if TYPE_CHECKING:
    from .room import Participant


log = structlog.get_logger("haven.records")

RECORDS_UNAVAILABLE = "records-unavailable"
# How long an admission waits for its attendance to reach the disk before the person is told anyway: a
# commit takes milliseconds; a disk slower than this is failing, and a failed write is counted as lost.
COMMIT_WAIT = 5.0


class Records(Protocol):
    """Durable records of sessions. Implementations must not block the event loop.

    ``writable`` is False while records cannot be written (disk full, read-only, I/O errors): then
    nobody new enters a session (fail closed, docs/protocol.md section 3, ``records-unavailable``).
    """

    @property
    def writable(self) -> bool: ...

    def audit(self, action: str, *, actor: str | None = None, role: str | None = None, room: str | None = None,
              session_id: str | None = None, subject: str | None = None,
              detail: dict[str, Any] | None = None) -> None: ...

    def session_started(self, session_id: str, room: str, at: float) -> None: ...

    def session_ended(self, session_id: str, at: float, reason: str) -> None: ...

    def attendance(self, session_id: str, participant_id: str, name: str, role: str, event: str,
                   at: float) -> None: ...

    def session_event(self, session_id: str, kind: str, at: float, detail: dict[str, Any]) -> None: ...

    def mood(self, session_id: str, room: str, participant_id: str, rating: int, at: float) -> None: ...

    def committed(self) -> Awaitable[bool]:
        """Resolve once every record passed in before is on disk: True if all were written."""
        ...


# What a session's record keeps as it happens (docs/protocol.md section 3): the structure that ran, by
# participant id only. Never chat, never media, never names.
PHASE_STARTED = "phase-started"  # {"index", "title"}
CHECKIN_TURN = "checkin-turn"  # {"participant", "outcome": "took-part" | "passed"}
HOMEWORK = "homework"  # {"text"}
BREAKOUTS_OPENED = "breakouts-opened"  # {"rooms": [{"name", "participants": [ids]}]}
BREAKOUTS_CLOSED = "breakouts-closed"  # {}
SESSION_EVENT_KINDS = (PHASE_STARTED, CHECKIN_TURN, HOMEWORK, BREAKOUTS_OPENED, BREAKOUTS_CLOSED)


def require_writable(records: Records) -> None:
    """Refuse to let anyone new in while records cannot be written: their entry would go unrecorded."""
    if not records.writable:
        raise ProtocolError(RECORDS_UNAVAILABLE,
                            "the server cannot record attendance right now, so nobody new can enter; try again later")


class NullRecords:
    """Records nothing (tests of state that do not look at records)."""

    writable = True

    def audit(self, action: str, **fields: object) -> None:
        return None

    def session_started(self, session_id: str, room: str, at: float) -> None:
        return None

    def session_ended(self, session_id: str, at: float, reason: str) -> None:
        return None

    def attendance(self, session_id: str, participant_id: str, name: str, role: str, event: str,
                   at: float) -> None:
        return None

    def session_event(self, session_id: str, kind: str, at: float, detail: dict[str, Any]) -> None:
        return None

    def mood(self, session_id: str, room: str, participant_id: str, rating: int, at: float) -> None:
        return None

    async def committed(self) -> bool:
        return True


class SessionLog:
    """The records of one session: audit entries and attendance events, stamped with its room and id."""

    def __init__(self, records: Records, room_id: str, session_id: str) -> None:
        self.records = records
        self.room_id = room_id
        self.session_id = session_id

    def require_writable(self) -> None:
        """Raise ``records-unavailable`` while records cannot be written (see `require_writable`)."""
        require_writable(self.records)

    def audit(self, action: str, actor: Participant | None = None, subject: str | None = None,
              detail: dict[str, Any] | None = None) -> None:
        """Append an audit entry (never chat, media, names or tokens)."""
        self.records.audit(action, actor=actor.id if actor else None, role=actor.role if actor else None,
                           room=self.room_id, session_id=self.session_id, subject=subject, detail=detail)

    def attend(self, participant: Participant, event: str, at: float) -> None:
        """Record an attendance event."""
        self.records.attendance(self.session_id, participant.id, participant.name, participant.role, event, at)

    def event(self, kind: str, at: float, **detail: Any) -> None:
        """Record a step of the session's structure (one of SESSION_EVENT_KINDS) for its session record."""
        self.records.session_event(self.session_id, kind, at, detail)

    def mood(self, participant: Participant, rating: int, at: float) -> None:
        """Offer a check-in mood rating to the records; the server keeps it only where the group asked to."""
        self.records.mood(self.session_id, self.room_id, participant.id, rating, at)

    async def committed(self, timeout: float = COMMIT_WAIT) -> bool:
        """Wait (at most ``timeout``) until what this session recorded so far is on disk.

        Admission awaits it before telling someone they are in, so an acknowledged admission survives a
        crash. True when written; False when a write failed or the disk is too slow (logged, never raised:
        the person is admitted anyway, and a failed write is counted as lost in the audit chain).
        """
        try:
            done = await asyncio.wait_for(asyncio.shield(self.records.committed()), timeout)
        except TimeoutError:
            done = False
        if not done:
            log.warning("records_not_committed", room=self.room_id)
        return done
