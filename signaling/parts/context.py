"""The Context every part of a session receives, and the Events sink through which parts reach people."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any, Protocol

from ..breakouts import Breakouts
from ..chat import ChatLog
from ..codes import CloseCode, LeaveReason
from ..placement import MediaPlacement
from ..records import SessionLog
from ..room import Participant, Room
from ..views import room_state, waiting_list, waiting_view


class Outbox(Protocol):
    """What a session knows of a participant's connection: it can queue a message and close."""

    def send(self, message: dict[str, Any]) -> None: ...

    def close_soon(self, code: CloseCode, reason: str, leave_reason: LeaveReason | None = None) -> None: ...


class Events:
    """Queues messages to the participants of one session; waiting people get only what is theirs."""

    def __init__(self, room: Room, breakouts: Breakouts, outboxes: dict[str, Outbox], support_text: str) -> None:
        self.room = room
        self.breakouts = breakouts
        self.outboxes = outboxes
        self.support_text = support_text

    def send_to(self, participant_id: str, message: dict[str, Any]) -> None:
        """Queue a message to one participant, if connected."""
        outbox = self.outboxes.get(participant_id)
        if outbox is not None:
            outbox.send(message)

    def send_all(self, participant_ids: Iterable[str], message: dict[str, Any]) -> None:
        """Queue one message to several participants."""
        for participant_id in participant_ids:
            self.send_to(participant_id, message)

    def broadcast(self, message: dict[str, Any], exclude: str | None = None) -> None:
        """Queue a message to every admitted participant (except one)."""
        self.send_all((p.id for p in self.room.admitted() if p.id != exclude), message)

    def broadcast_to(self, location: str, message: dict[str, Any], exclude: str | None = None) -> None:
        """Queue a message to the admitted participants of the main room or of one breakout."""
        self.send_all((p.id for p in self.room.in_location(location) if p.id != exclude), message)

    def broadcast_with_hosts(self, location: str, message: dict[str, Any]) -> None:
        """Queue a message to the admitted participants of one place and to every admitted host."""
        targets = {p.id for p in self.room.in_location(location)} | {p.id for p in self.room.admitted() if p.is_host}
        self.send_all(sorted(targets), message)

    def to_hosts(self, message: dict[str, Any]) -> None:
        """Queue a message to every admitted host and co-host."""
        self.send_all((p.id for p in self.room.admitted() if p.is_host), message)

    def room_state(self) -> None:
        """Send every admitted participant the room state as they may see it."""
        for participant in self.room.admitted():
            self.send_to(participant.id, {"type": "room-state",
                                          "room": room_state(self.room, self.breakouts, participant)})

    def waiting_list(self, hosts: list[str] | None = None) -> None:
        """Send the waiting room to the hosts (or to some of them)."""
        targets = hosts if hosts is not None else [p.id for p in self.room.admitted() if p.is_host]
        self.send_all(targets, {"type": "waiting-list", "waiting": waiting_list(self.room)})

    def waiting_views(self) -> None:
        """Send every waiting participant their view (host present or not)."""
        for participant in self.room.waiting():
            self.send_to(participant.id, {"type": "waiting-state",
                                          "room": waiting_view(self.room, participant, self.support_text)})

    def close(self, participant_id: str, code: CloseCode, reason: str,
              leave_reason: LeaveReason | None = None) -> None:
        """Close a participant's connection once what is queued for it has gone out."""
        outbox = self.outboxes.get(participant_id)
        if outbox is not None:
            outbox.close_soon(code, reason, leave_reason)


@dataclass
class Context:
    """What every part of a session works with: its state, its media placement, its events and records."""

    room: Room
    breakouts: Breakouts
    chat: ChatLog
    placement: MediaPlacement
    events: Events
    log: SessionLog
    support_text: str
    clock: Callable[[], float]

    def place(self, participant: Participant) -> None:
        """Carry a participant's (changed) placement into the media Routers.

        While no host is present and the hosts did not allow members' media to go on, an admitted member's
        media is held (``paused``) wherever they are placed; hosts are never held.
        """
        placement = participant.placement
        if placement.admitted and not participant.is_host and self.room.members_paused:
            placement = replace(placement, paused=True)
        self.placement.apply(participant.id, placement)

    def attend(self, participant: Participant, event: str) -> None:
        """Record an attendance event now."""
        self.log.attend(participant, event, self.clock())
