"""The aiohttp WebSocket behind signaling's three-method ``Socket`` interface (signaling/connection.py)."""

from __future__ import annotations

from aiohttp import WSMsgType, web

_CLOSED = (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR)


class AiohttpSocket:
    """Adapts ``web.WebSocketResponse`` to ``signaling.connection.Socket``."""

    def __init__(self, ws: web.WebSocketResponse) -> None:
        self.ws = ws
        self._unread: str | bytes | None = None

    def unread(self, frame: str | bytes) -> None:
        """Give back a frame read before the Connection began (a node reads ``hello`` to find the room)."""
        self._unread = frame

    async def receive(self) -> str | bytes | None:
        """Return the next text or binary frame; None once the socket closed or broke."""
        if self._unread is not None:
            frame, self._unread = self._unread, None
            return frame
        while True:
            message = await self.ws.receive()
            if message.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                data: str | bytes = message.data
                return data
            if message.type in _CLOSED:
                return None

    async def send(self, text: str) -> None:
        """Send one text frame."""
        await self.ws.send_str(text)

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the socket once; a close reason is at most 123 bytes (RFC 6455 section 5.5)."""
        if not self.ws.closed:
            await self.ws.close(code=code, message=reason.encode()[:120])
