"""Helpers for the hostile-peer media tests: a room of tagged publishers, the server's ports, raw RTCP.

Everything runs on 127.0.0.1 against a real Haven app (tests/conftest.py ``haven_factory``) with real
aiortc peers; a test plays the attacker with a raw UDP socket or with a client's own SRTP session.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import time
from contextlib import contextmanager

from aiortc.rtp import RTCP_PSFB_APP, RtcpPacket, RtcpPsfbPacket, pack_remb_fci, unpack_remb_fci

from media import adapter
from tests.integration.test_breakouts import count_from, publish_tagged
from tests.support.client import ProtocolClient, connect
from tests.support.peers import eventually

__all__ = ["count_from", "publish_tagged", "connect", "eventually"]


async def room_of(haven, names: list[str]) -> dict[str, ProtocolClient]:
    """Connect and publish a tagged camera and microphone for each name; wait until all receive all."""
    clients: dict[str, ProtocolClient] = {}
    for index, name in enumerate(names):
        clients[name] = await connect(haven, name, "host" if index == 0 else "participant")
    for client in clients.values():
        await publish_tagged(client)
    await eventually(lambda: all(count_from(c, o) > 10 for c in clients.values() for o in clients if o != c.name),
                     20, what="everyone to receive everyone")
    return clients


async def close_all(clients) -> None:
    for client in clients:
        await client.close()


def router_of(haven, room: str = "group"):
    return haven.sessions.live[room].router


def server_addresses(transport) -> list[tuple[str, int]]:
    """The (host, port) of every UDP socket a server-side transport's ICE agent bound."""
    dtls = adapter.dtls_transport(transport.pc)
    return [p.transport.get_extra_info("sockname")[:2] for p in dtls.transport._connection._protocols]


def client_path(pc) -> adapter.SendPath:
    """A client's own protect-and-send path towards the server (the attacker holds its own keys)."""
    return adapter.SendPath(adapter.dtls_transport(pc))


def send_rtcp(pc, data: bytes) -> None:
    path = client_path(pc)
    path.sendto(path.protect_rtcp(data), path.addr)


def remb(sender_ssrc: int, bitrate: int, ssrcs: list[int]) -> bytes:
    return bytes(RtcpPsfbPacket(fmt=RTCP_PSFB_APP, ssrc=sender_ssrc, media_ssrc=0, fci=pack_remb_fci(bitrate, ssrcs)))


def nack(sender_ssrc: int, media_ssrc: int, entries: list[tuple[int, int]]) -> bytes:
    """A generic NACK (RFC 4585 6.2.1) with the given (PID, BLP) entries."""
    fci = b"".join(struct.pack("!HH", pid & 0xFFFF, blp) for pid, blp in entries)
    return struct.pack("!BBHII", 0x81, 205, 2 + len(entries), sender_ssrc, media_ssrc) + fci


class RembRecorder:
    """Records the REMB bitrates a publisher client receives from the server."""

    def __init__(self, pc) -> None:
        self.values: list[tuple[float, int]] = []
        dtls = adapter.dtls_transport(pc)
        original = dtls._handle_rtcp_data

        async def on_rtcp(data: bytes) -> None:
            try:
                for packet in RtcpPacket.parse(data):
                    if isinstance(packet, RtcpPsfbPacket) and packet.fmt == RTCP_PSFB_APP:
                        bitrate, _ = unpack_remb_fci(packet.fci)
                        self.values.append((time.monotonic(), bitrate))
            except ValueError:
                pass
            await original(data)

        dtls._handle_rtcp_data = on_rtcp

    def since(self, moment: float) -> list[int]:
        return [bitrate for at, bitrate in self.values if at >= moment]


class LoopStallMeter:
    """Measures the longest gap between 10 ms ticks of the event loop while it runs."""

    def __init__(self) -> None:
        self.longest = 0.0
        self._task: asyncio.Task | None = None

    async def _run(self) -> None:
        last = time.monotonic()
        while True:
            await asyncio.sleep(0.01)
            now = time.monotonic()
            self.longest = max(self.longest, now - last)
            last = now

    def __enter__(self) -> LoopStallMeter:
        self._task = asyncio.ensure_future(self._run())
        return self

    def __exit__(self, *exc) -> None:
        assert self._task is not None
        self._task.cancel()


@contextmanager
def udp_socket():
    """A raw UDP socket on 127.0.0.1: the sender with no keys."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    try:
        yield sock
    finally:
        sock.close()


def malformed_stun() -> bytes:
    """A STUN Binding request whose PRIORITY attribute is 2 bytes long (aioice's struct.unpack raises)."""
    return struct.pack("!HHI12sHH", 1, 8, 0x2112A442, b"haven-test!!", 0x0024, 2) + b"\x00" * 4


def drops(haven, room: str = "group") -> dict[str, int]:
    return dict(router_of(haven, room).stats()["drops"])
