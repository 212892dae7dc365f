"""This node among the others (issue 15; docs/scaling.md): its lease, its rooms, the relay, the once-only jobs.

With ``nodes.redis_url`` set, the server registers in Redis (server/nodes.py) and renews its lease every
third of ``nodes.lease`` with its load. A WebSocket's ``hello`` names the room; the room is placed on a node
(the least-loaded live one, atomically), and a WebSocket that reached another node is relayed to the owner
frame by frame: the client never knows, and its media goes straight to the owner's own UDP port, which the
owner's ICE candidates announce. A node that finds its lease lost (Redis unreachable longer than the lease,
a stalled process) closes the rooms placed elsewhere since, so no session is ever served by two nodes.

Without Redis none of this runs: the server is the only node, as it always was.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from aiohttp import ClientSession, ClientTimeout, WSMsgType, web

from signaling.codes import NODE_UNAVAILABLE, CloseCode

from .auth import is_valid_room
from .config import Config, ConfigError
from .nodes import Load, NodeDirectory
from .periodic import Periodic

log = structlog.get_logger("haven.cluster")

RELAYED_HEADER = "X-Haven-Relayed"  # set by a node relaying a WebSocket: the owner never relays it again
ROOM_IDLE_RELEASE = 30.0  # a room placed here with no live session this long is released
MAX_HELLO_BYTES = 64 * 1024

JobStart = Callable[[], Awaitable[None]]


class OnceJobs:
    """Work that one node of the cluster does, not each: reminder emails, the retention purge, the anchor.

    A single server runs them from its start; among nodes, the leader does, and hands them over when it
    stops leading (its lease lapsed, or it is shutting down).
    """

    def __init__(self) -> None:
        self._jobs: list[tuple[JobStart, JobStart]] = []
        self.running = False

    def add(self, start: JobStart, stop: JobStart) -> None:
        self._jobs.append((start, stop))

    async def start(self) -> None:
        if self.running:
            return
        self.running = True
        for start, _ in self._jobs:
            await start()

    async def stop(self) -> None:
        if not self.running:
            return
        self.running = False
        for _, stop in reversed(self._jobs):
            await stop()


ONCE_JOBS = web.AppKey("once_jobs", OnceJobs)


def node_id_of(config: Config) -> str:
    return config.nodes.node_id or f"{socket.gethostname()}-{config.server.port}"


def internal_url_of(config: Config) -> str:
    """Where the other nodes relay WebSockets to this one."""
    if config.nodes.internal_url:
        return config.nodes.internal_url.rstrip("/")
    host = config.server.host
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    elif ":" in host:
        host = f"[{host}]"
    scheme = "https" if config.server.tls_cert else "http"
    return f"{scheme}://{host}:{config.nodes.internal_port or config.server.port}"


class Cluster:
    """Runs this node's part: lease and load, placement, releasing ended rooms, leadership, the relay."""

    def __init__(self, config: Config, redis: Any, live_rooms: Callable[[], list[str]],
                 participants: Callable[[], int], forwarded_packets: Callable[[], int],
                 close_room: Callable[[str], Awaitable[None]], jobs: OnceJobs,
                 prepare_room: Callable[[str], Awaitable[None]]) -> None:
        self.config = config
        self.redis = redis
        self.node_id = node_id_of(config)
        self.internal_url = internal_url_of(config)
        self.directory = NodeDirectory(redis, self.node_id, config.nodes.lease)
        self.live_rooms = live_rooms
        self.participants = participants
        self.forwarded_packets = forwarded_packets
        self.close_room = close_room
        self.jobs = jobs
        self.prepare_room = prepare_room
        self.interval = config.nodes.lease / 3
        self.leading = False
        self.drained = False
        self._idle_since: dict[str, float] = {}
        self._renewals: Periodic | None = None
        self._http: ClientSession | None = None
        self._last = (time.monotonic(), _cpu_seconds(), 0)

    async def start(self) -> None:
        try:
            await self.directory.register(self.internal_url, self.config.ice.udp_port, self.config.nodes.capacity)
        except Exception as exc:  # the URL's password, if any, stays out of the message
            raise ConfigError("nodes.redis_url", f"cannot register this node in Redis ({type(exc).__name__}: "
                              "is it running and reachable?)") from None
        self._http = ClientSession(timeout=ClientTimeout(total=None, connect=5))
        log.info("node_registered", node=self.node_id)
        await self._lead()
        # Redis away for a moment fails a renewal: the lease covers it, and the next one retries.
        self._renewals = Periodic(self.tick, self.interval, "node_renew_failed", wait_first=True, traceback=False)
        self._renewals.start()

    async def stop(self) -> None:
        """Leave the cluster (shutdown): the jobs go to another node, and this node's rooms are re-placed."""
        if self._renewals is not None:
            await self._renewals.stop()
        await self.jobs.stop()
        with contextlib.suppress(Exception):
            await self.directory.deregister()
        if self._http is not None:
            await self._http.close()
        log.info("node_left", node=self.node_id)

    # -- the lease ----------------------------------------------------------------------------------

    def load(self) -> Load:
        now, cpu, packets = time.monotonic(), _cpu_seconds(), self.forwarded_packets()
        then, cpu_then, packets_then = self._last
        self._last = (now, cpu, packets)
        elapsed = max(now - then, 1e-3)
        return Load(rooms=len(self.live_rooms()), participants=self.participants(),
                    packets_per_s=max(0, packets - packets_then) / elapsed, cpu=(cpu - cpu_then) / elapsed)

    async def tick(self) -> None:
        """Renew the lease with the load; re-register after a lost lease; release ended rooms; lead."""
        if not await self.directory.renew(self.load()):
            log.warning("node_lease_lost", node=self.node_id)
            await self.directory.register(self.internal_url, self.config.ice.udp_port, self.config.nodes.capacity)
            for room in await self.directory.claim_again(self.live_rooms()):
                log.warning("node_room_moved")  # placed on another node meanwhile: it must not run here too
                await self.close_room(room)
        drained = await self.directory.draining()
        if drained and not self.drained:
            log.info("node_drained", node=self.node_id, rooms=len(self.live_rooms()))
        self.drained = drained
        await self._release_idle_rooms()
        await self._lead()

    async def _release_idle_rooms(self) -> None:
        live = set(self.live_rooms())
        placed = await self.directory.placed_rooms()
        now = time.monotonic()
        for room in list(self._idle_since):
            if room in live or room not in placed:
                del self._idle_since[room]
        for room in placed - live:
            since = self._idle_since.setdefault(room, now)
            if now - since >= ROOM_IDLE_RELEASE:
                await self.directory.release(room)
                del self._idle_since[room]

    async def _lead(self) -> None:
        leading = await self.directory.lead()
        if leading and not self.leading:
            log.info("node_leads", node=self.node_id)
            await self.jobs.start()
        elif not leading and self.leading:
            await self.jobs.stop()
        self.leading = leading

    # -- the WebSocket ------------------------------------------------------------------------------

    async def owner_of(self, room: str) -> str | None:
        """The node that serves the room, placing it now if needed (None: no node can take it)."""
        try:
            owner = await self.directory.place(room)
        except Exception:
            # Redis away: a room already running here goes on here (no other node can place it meanwhile,
            # and its own clients must be able to reconnect); any other is refused rather than guessed.
            if room in self.live_rooms():
                return self.node_id
            raise
        if owner == self.node_id:
            self._idle_since.pop(room, None)
            await self.prepare_room(room)
        return owner

    async def relay(self, ws: web.WebSocketResponse, owner: str, first: str) -> None:
        """Carry one client's WebSocket to the node that owns its room, both ways, until either side closes.

        The client's frames are bounded by this node's socket (limits.max_message_bytes), as if it were the
        owner's; what the owner sends (another node of ours) is passed on whatever its size."""
        assert self._http is not None
        node = await self.directory.node(owner)
        if node is None:
            await ws.close(code=CloseCode.TRY_AGAIN, message=NODE_UNAVAILABLE.encode())
            return
        try:
            upstream = await self._http.ws_connect(f"{node.internal_url}/ws", headers={RELAYED_HEADER: self.node_id},
                                                   max_msg_size=0, heartbeat=None, autoping=True)
        except Exception as exc:
            log.warning("relay_connect_failed", error=type(exc).__name__)
            await ws.close(code=CloseCode.TRY_AGAIN, message=NODE_UNAVAILABLE.encode())
            return
        closed_by_owner: list[tuple[int, str]] = []
        async with upstream:
            await upstream.send_str(first)

            async def to_owner() -> None:
                while True:
                    message = await ws.receive()
                    if message.type == WSMsgType.TEXT:
                        await upstream.send_str(message.data)
                    elif message.type == WSMsgType.BINARY:
                        await upstream.send_bytes(message.data)  # the owner answers it as it would directly
                    else:
                        return

            async def to_client() -> None:
                while True:
                    message = await upstream.receive()
                    if message.type == WSMsgType.TEXT:
                        await ws.send_str(message.data)
                    elif message.type == WSMsgType.CLOSE:
                        closed_by_owner.append((int(message.data), message.extra or ""))
                        return
                    elif message.type not in (WSMsgType.PING, WSMsgType.PONG):
                        return

            tasks = [asyncio.ensure_future(to_owner()), asyncio.ensure_future(to_client())]
            try:
                await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in tasks:
                    task.cancel()
                for task in tasks:
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await task
            # Whoever closed first, the other side learns the same close code and reason: the client's
            # reconnect rules depend on them. An owner that vanished without a close is "try again".
            if closed_by_owner:
                code, reason = closed_by_owner[0]
                await ws.close(code=code, message=reason.encode()[:120])
            elif not ws.closed:
                await ws.close(code=CloseCode.TRY_AGAIN, message=NODE_UNAVAILABLE.encode())
            if not upstream.closed:
                await upstream.close(code=ws.close_code or 1000)


def _cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


def parse_hello(frame: str) -> tuple[str, str] | None:
    """``(room, token)`` of a first frame that is a well-formed ``hello`` for a valid room name (the token
    may be empty: verifying it is the caller's); None hands the frame to the Connection's own checks."""
    if len(frame) > MAX_HELLO_BYTES:
        return None
    try:
        message = json.loads(frame)
    except ValueError:
        return None
    if not isinstance(message, dict) or message.get("type") != "hello":
        return None
    room, token = message.get("room"), message.get("token")
    if not isinstance(room, str) or not is_valid_room(room):
        return None
    return room, token if isinstance(token, str) else ""
