"""Chat requests: the ChatLog (signaling/chat.py) decides who may write and who receives each message."""

from __future__ import annotations

from ..room import Participant
from .context import Context


class Chat:
    """Posts chat messages; chat is in memory only and never logged."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def post(self, sender: Participant, to: str, text: str) -> None:
        """Post a message to the room, the hosts or one participant."""
        ctx = self.ctx
        message = ctx.chat.post(ctx.room, sender, to, text, ctx.clock())
        ctx.events.send_all(ctx.chat.recipients(ctx.room, message),
                            {"type": "chat-message", "message": message.describe()})
