"""Session chat: who may write to whom, and who receives each message. Memory only, never stored."""

from __future__ import annotations

import itertools
from collections import deque
from dataclasses import dataclass

from .errors import ProtocolError
from .room import Participant, Room

HISTORY = 200  # messages kept for people who join later; older ones are dropped


@dataclass(frozen=True)
class ChatMessage:
    """One message; ``to`` is "room", "hosts" or a participant id."""

    id: str
    sender_id: str
    sender_name: str
    to: str
    text: str
    ts: float
    location: str = "main"  # room messages stay in the room or breakout they were sent in

    def describe(self) -> dict:
        """Return the protocol form of the message."""
        return {"id": self.id, "from": {"id": self.sender_id, "name": self.sender_name}, "to": self.to,
                "text": self.text, "ts": int(self.ts * 1000)}


class ChatLog:
    """Validates and routes chat messages of one session and keeps a bounded history."""

    def __init__(self, max_chars: int) -> None:
        self.max_chars = max_chars
        self.history: deque[ChatMessage] = deque(maxlen=HISTORY)
        self._ids = itertools.count(1)

    def post(self, room: Room, sender: Participant, to: str, text: str, now: float) -> ChatMessage:
        """Check the rules, record the message and return it."""
        if not sender.admitted:
            raise ProtocolError("not-permitted", "you can chat once you are admitted")
        if not room.settings.chat_enabled and not sender.is_host:
            raise ProtocolError("chat-disabled", "the host has turned chat off")
        text = text.strip() if isinstance(text, str) else ""
        if not 1 <= len(text) <= self.max_chars:
            raise ProtocolError("bad-request", f"a message has 1 to {self.max_chars} characters")
        if to not in ("room", "hosts"):
            recipient = room.participants.get(to)
            if recipient is None or not recipient.admitted or to == sender.id:
                raise ProtocolError("unknown-participant", "no such participant to write to")
            if not (sender.is_host or recipient.is_host or room.settings.private_chat):
                raise ProtocolError("not-permitted", "private messages between participants are off")
        message = ChatMessage(f"m-{next(self._ids)}", sender.id, sender.name, to, text, now, sender.location)
        self.history.append(message)
        return message

    @staticmethod
    def recipients(room: Room, message: ChatMessage) -> list[str]:
        """Return who receives a message (the sender always gets their own copy)."""
        if message.to == "room":
            return [p.id for p in room.in_location(message.location)]
        if message.to == "hosts":
            targets = {p.id for p in room.admitted() if p.is_host}
        else:
            targets = {message.to}
        targets.add(message.sender_id)
        return [pid for pid in targets if pid in room.participants and room.participants[pid].admitted]

    def visible_to(self, room: Room, viewer: Participant) -> list[dict]:
        """Return the history a participant may read (room messages and their own conversations)."""
        return [m.describe() for m in self.history
                if (m.to == "room" and m.location == viewer.location)
                or (m.to != "room" and viewer.id == m.sender_id)
                or (m.to == "hosts" and viewer.is_host)
                or (m.to not in ("room", "hosts") and m.to == viewer.id)]
