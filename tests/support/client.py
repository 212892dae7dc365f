"""A Haven client written from docs/protocol.md alone: WebSocket signaling plus real aiortc peers.

Integration tests drive the server with it exactly as a third-party client would.
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import aiohttp
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack

from .peers import RtpCounter, client_configuration


class ServerError(Exception):
    """An error reply; ``code`` is the protocol error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


class ProtocolClient:
    """One participant's connection: requests with ids, an event log, and both peer connections."""

    def __init__(self, base_url: str, token: str, room: str | None = None, name: str = "client") -> None:
        self.base_url = base_url
        self.token = token
        self.room = room
        self.name = name
        self.session: aiohttp.ClientSession | None = None
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.events: list[dict] = []
        self.consumers: list[dict] = []
        self.publish_pc: RTCPeerConnection | None = None
        self.subscribe_pc: RTCPeerConnection | None = None
        self.counter = RtpCounter()
        self.close_code: int | None = None
        self.close_reason: str | None = None
        self._ids = itertools.count(1)
        self._pending: dict[Any, asyncio.Future] = {}
        self._reader: asyncio.Task | None = None
        self._answering: asyncio.Task | None = None
        self.hello: dict = {}
        self.joined: dict = {}
        self.answer_offers = True
        self.answer_pings = True
        self.resume: str | None = None  # the latest resume credential (docs/protocol.md section 5.4)
        # What this participant confirms at each join when hello asks for it (section 5.2).
        self.emergency_info = {"location": f"{name}'s home, Springfield", "contact": f"{name}'s sister, 555-0100"}

    async def open(self, headers: dict | None = None) -> None:
        """Open the WebSocket."""
        self.session = aiohttp.ClientSession()
        self.ws = await self.session.ws_connect(f"{self.base_url}/ws", headers=headers or {}, max_msg_size=0)
        self._reader = asyncio.ensure_future(self._read())

    async def connect(self) -> dict:
        """Open, send hello and join; return the join result."""
        await self.open()
        fields: dict[str, Any] = {"version": 1, "token": self.token}
        if self.room:
            fields["room"] = self.room
        if self.resume:
            fields["resume"] = self.resume
        self.hello = await self.request("hello", **fields)
        join: dict[str, Any] = {"consent_version": self.hello["consent"]["version"]}
        if self.hello.get("emergency_info_required"):
            join["emergency_info"] = self.emergency_info
        self.joined = await self.request("join", **join)
        if self.joined.get("resume"):
            self.resume = self.joined["resume"]["credential"]
        return self.joined

    async def drop(self) -> None:
        """Lose the socket without a leave (as a network loss would), keeping the resume credential."""
        reader = self._reader
        await self.close()
        self.ws = self.session = self._reader = None
        self.publish_pc = self.subscribe_pc = None
        if reader is not None:
            reader.cancel()

    async def reconnect(self) -> dict:
        """Connect again with the same token and the latest resume credential; return the join result."""
        await self.drop()
        self.events = []
        self.close_code = None
        return await self.connect()

    async def request(self, kind: str, timeout: float = 20.0, **fields: Any) -> dict:
        """Send a request and wait for its result; raise ServerError on an error reply."""
        request_id = next(self._ids)
        future = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        await self.send_json({"type": kind, "id": request_id, **fields})
        return await asyncio.wait_for(future, timeout)

    async def send_json(self, message: dict) -> None:
        """Send any JSON message (tests also send malformed ones with send_raw)."""
        assert self.ws is not None
        await self.ws.send_json(message)

    async def send_raw(self, text: str) -> None:
        """Send a raw text frame."""
        assert self.ws is not None
        await self.ws.send_str(text)

    async def _read(self) -> None:
        assert self.ws is not None
        while True:
            message = await self.ws.receive()
            if message.type != aiohttp.WSMsgType.TEXT:
                if message.type == aiohttp.WSMsgType.CLOSE:
                    self.close_reason = message.extra
                break
            data = message.json()
            kind = data.get("type")
            if kind in ("result", "error") and data.get("id") in self._pending:
                future = self._pending.pop(data["id"])
                if not future.done():
                    if kind == "result":
                        future.set_result(data["data"])
                    else:
                        future.set_exception(ServerError(data["code"], data["message"]))
                continue
            self.events.append(data)
            if kind == "ping" and self.answer_pings:
                await self.send_json({"type": "pong", "ts": data["ts"]})
            elif kind == "consumers":
                self.consumers = data["consumers"]
            elif kind == "resume-credential":
                self.resume = data["credential"]
            elif kind == "subscriber-offer" and self.answer_offers:
                previous = self._answering
                self._answering = asyncio.ensure_future(self._answer(previous, data["revision"], data["sdp"]))
        self.close_code = self.ws.close_code
        for future in self._pending.values():
            if not future.done():
                future.set_exception(ConnectionError(f"socket closed ({self.close_code})"))

    async def _answer(self, previous: asyncio.Task | None, revision: int, sdp: str) -> None:
        if previous is not None:
            await asyncio.wait([previous])
        if self.subscribe_pc is None:
            self.subscribe_pc = RTCPeerConnection(client_configuration())
        pc = self.subscribe_pc
        await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        if not getattr(self.counter, "installed", False):
            self.counter.install(pc)
            self.counter.installed = True
        try:
            await self.request("subscriber-answer", revision=revision, sdp=pc.localDescription.sdp)
        except (TimeoutError, ServerError, ConnectionError):
            pass

    async def publish(self, tracks: dict[str, MediaStreamTrack]) -> dict:
        """Publish tracks by label over a new publish connection; return the publish result."""
        pc = self.publish_pc = RTCPeerConnection(client_configuration())
        transceivers = {label: pc.addTransceiver(track, direction="sendonly") for label, track in tracks.items()}
        await pc.setLocalDescription(await pc.createOffer())
        listed = [{"mid": t.mid, "label": label} for label, t in transceivers.items()]
        data = await self.request("publish", sdp=pc.localDescription.sdp, tracks=listed)
        await pc.setRemoteDescription(RTCSessionDescription(sdp=data["sdp"], type="answer"))
        return data

    def events_of(self, kind: str) -> list[dict]:
        """Return the events of one type received so far."""
        return [e for e in self.events if e.get("type") == kind]

    def ssrcs_by_participant(self) -> dict[str, dict[str, int]]:
        """Map participant id -> {label: SSRC} from the consumers event and the last offer's a=ssrc lines."""
        offers = self.events_of("subscriber-offer")
        if not offers:
            return {}
        ssrc_of_mid: dict[str, int] = {}
        mid = None
        for line in offers[-1]["sdp"].splitlines():
            if line.startswith("a=mid:"):
                mid = line[6:].strip()
            elif line.startswith("a=ssrc:") and mid is not None and mid not in ssrc_of_mid:
                ssrc_of_mid[mid] = int(line[7:].split()[0])
        result: dict[str, dict[str, int]] = {}
        for consumer in self.consumers:
            if consumer["mid"] in ssrc_of_mid:
                result.setdefault(consumer["participant_id"], {})[consumer["label"]] = ssrc_of_mid[consumer["mid"]]
        return result

    def received_from(self, participant_id: str, label: str) -> int:
        """Count RTP packets received so far from one participant's track."""
        ssrc = self.ssrcs_by_participant().get(participant_id, {}).get(label)
        return self.counter.packets.get(ssrc, 0) if ssrc is not None else 0

    async def close(self) -> None:
        """Close the peer connections and the socket."""
        for pc in (self.publish_pc, self.subscribe_pc):
            if pc is not None:
                await pc.close()
        if self._answering is not None:
            self._answering.cancel()
        if self.ws is not None and not self.ws.closed:
            await self.ws.close()
        if self._reader is not None:
            try:
                await asyncio.wait_for(self._reader, 2)
            except (TimeoutError, asyncio.CancelledError):
                pass
        if self.session is not None:
            await self.session.close()


async def connect(haven, name: str, role: str = "participant") -> ProtocolClient:
    """Join the test server's "group" room as ``name`` (also the participant id), through hello and join."""
    client = ProtocolClient(haven.base_url, haven.token(name=name.title(), sub=name, role=role), name=name)
    await client.connect()
    return client
