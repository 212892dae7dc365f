"""Close codes and leave reasons (docs/protocol.md sections 4 and 7): each defined once, as an enum."""

from __future__ import annotations

from enum import IntEnum, StrEnum


class CloseCode(IntEnum):
    """WebSocket close codes the server uses."""

    NORMAL = 1000
    GOING_AWAY = 1001  # the server is draining for a restart: reconnect with backoff (reason below)
    TOO_LARGE = 1009
    TRY_AGAIN = 1013  # among nodes: no node can take the room now (reason below); reconnect with backoff
    SESSION_ENDED = 4000
    BAD_CLIENT = 4400
    NOT_AUTHENTICATED = 4401
    REMOVED = 4403
    TIMEOUT = 4408
    REPLACED = 4409
    MEDIA_FAILED = 4410
    RATE_LIMITED = 4429


# The reason sent with TRY_AGAIN (docs/scaling.md).
NODE_UNAVAILABLE = "node-unavailable"

# The reason sent with GOING_AWAY, which clients show ("the service is restarting") before reconnecting.
SERVER_RESTARTING = "server-restarting"


class LeaveReason(StrEnum):
    """Why someone left a room or breakout: the ``reason`` of ``participant-left``."""

    LEFT = "left"
    DISCONNECTED = "disconnected"
    TIMEOUT = "timeout"
    REPLACED = "replaced"
    MEDIA_FAILED = "media-failed"
    REMOVED = "removed"
    DENIED = "denied"
    WAITING = "waiting"
    MOVED = "moved"
    SESSION_ENDED = "session-ended"


# The leave reason a close code implies when nothing more specific was given.
LEAVE_REASON_OF_CLOSE: dict[CloseCode, LeaveReason] = {
    CloseCode.TIMEOUT: LeaveReason.TIMEOUT,
    CloseCode.REPLACED: LeaveReason.REPLACED,
    CloseCode.MEDIA_FAILED: LeaveReason.MEDIA_FAILED,
}

# Attendance records a leave by these events; every other reason is recorded as "disconnected".
ATTENDANCE_LEAVE_EVENTS: frozenset[LeaveReason] = frozenset({
    LeaveReason.LEFT, LeaveReason.REMOVED, LeaveReason.DENIED, LeaveReason.REPLACED, LeaveReason.SESSION_ENDED,
})
