"""Room and Participant: the state of one group session, with no I/O (tested without sockets)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class Track:
    """A published track as the roster shows it."""

    track_id: str
    kind: str
    label: str
    muted: bool = False

    def describe(self) -> dict:
        """Return the protocol form of the track."""
        return {"track_id": self.track_id, "kind": self.kind, "label": self.label, "muted": self.muted}


@dataclass
class Participant:
    """Someone in a room: identity and role from the join token, plus their tracks."""

    id: str
    name: str
    role: str
    joined_at: float = field(default_factory=time.time)
    tracks: dict[str, Track] = field(default_factory=dict)

    def describe(self) -> dict:
        """Return the protocol form of the participant."""
        return {
            "id": self.id,
            "name": self.name,
            "role": self.role,
            "tracks": [t.describe() for t in self.tracks.values()],
        }


class RoomFull(Exception):
    """The room already has its maximum number of participants."""


class Room:
    """The participants of one session and the rules for entering it."""

    def __init__(self, room_id: str, max_participants: int) -> None:
        self.id = room_id
        self.max_participants = max_participants
        self.participants: dict[str, Participant] = {}

    def admit(self, participant: Participant) -> None:
        """Add a participant; raise RoomFull when there is no place (a returning id always fits)."""
        if participant.id not in self.participants and len(self.participants) >= self.max_participants:
            raise RoomFull(self.id)
        self.participants[participant.id] = participant

    def remove(self, participant_id: str) -> Participant | None:
        """Remove a participant and return it, or None if it was not here."""
        return self.participants.pop(participant_id, None)

    def others(self, participant_id: str) -> list[Participant]:
        """List everyone except one participant, in order of arrival."""
        return [p for p in self.participants.values() if p.id != participant_id]

    def is_empty(self) -> bool:
        """Tell whether nobody is left."""
        return not self.participants
