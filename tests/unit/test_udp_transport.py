"""The recvmmsg transport of the shared port hands its protocol exactly what the loop's transport would."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest

from media.consumer import compiled_available

pytestmark = pytest.mark.skipif(not compiled_available(), reason="media/_fastsend.c was not built")


class Recorder(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.datagrams: list[tuple[bytes, Any]] = []
        self.lost = asyncio.Event()
        self.transport: Any = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.datagrams.append((data, addr))

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost.set()


async def received(recorder: Recorder, count: int) -> None:
    for _ in range(200):
        if len(recorder.datagrams) >= count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{len(recorder.datagrams)} of {count} datagrams arrived")


@pytest.mark.parametrize("batched", [True, False])
async def test_both_transports_deliver_the_same_datagrams_and_addresses(batched: bool) -> None:
    from media.udp_transport import open_batched

    loop = asyncio.get_running_loop()
    recorder = Recorder()
    if batched:
        transport: Any = open_batched(loop, recorder, "127.0.0.1", 0)
    else:
        transport, _ = await loop.create_datagram_endpoint(lambda: recorder, local_addr=("127.0.0.1", 0))
    peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    peer.bind(("127.0.0.1", 0))
    try:
        port = transport.get_extra_info("sockname")[1]
        sent = [bytes([i]) * (1 + i * 7) for i in range(100)]  # more than one recvmmsg batch, while we sleep
        for data in sent:
            peer.sendto(data, ("127.0.0.1", port))
        await received(recorder, len(sent))
        assert recorder.datagrams == [(data, peer.getsockname()) for data in sent]
        transport.sendto(b"answer", peer.getsockname())  # and the way back
        peer.settimeout(2)
        assert peer.recvfrom(64) == (b"answer", ("127.0.0.1", port))
        assert transport.get_write_buffer_size() == 0
    finally:
        peer.close()
        transport.close()
    await asyncio.wait_for(recorder.lost.wait(), 2)
    assert transport.is_closing()


async def test_a_datagram_longer_than_any_packet_arrives_marked_too_long() -> None:
    from media import _fastsend
    from media.udp_transport import open_batched

    recorder = Recorder()
    transport = open_batched(asyncio.get_running_loop(), recorder, "127.0.0.1", 0)
    peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        peer.sendto(b"\x80" * 9000, transport.get_extra_info("sockname"))
        peer.sendto(b"\x80" * 100, transport.get_extra_info("sockname"))
        await received(recorder, 2)
        # Cut at the receive buffer, so the guard drops it as oversize (SRTP takes at most 1500 bytes).
        assert [len(data) for data, _ in recorder.datagrams] == [2048, 100]
        assert _fastsend.recv_batch(transport.get_extra_info("socket").fileno()) == []  # nothing waits
    finally:
        peer.close()
        transport.close()


async def test_a_send_the_kernel_has_no_room_for_waits_and_is_bounded() -> None:
    from media.udp_transport import MAX_QUEUED_BYTES, open_batched

    recorder = Recorder()
    transport = open_batched(asyncio.get_running_loop(), recorder, "127.0.0.1", 0)
    try:
        # A socket with nowhere to send says so at once: an IPv4 socket cannot reach an IPv6 address.
        transport.sendto(b"x", ("::1", 9))
        assert transport.get_write_buffer_size() == 0  # refused, not queued: reported to the protocol
        big = b"y" * 60_000
        for _ in range(MAX_QUEUED_BYTES // len(big) + 5):
            transport._queue.append((big, ("127.0.0.1", 9)))  # as if the kernel had been full
            transport._queued += len(big)
            if transport._queued > MAX_QUEUED_BYTES:
                break
        before = transport.dropped
        transport.sendto(big, ("127.0.0.1", 9))
        assert transport.dropped == before + 1  # over the bound: dropped, as UDP would
    finally:
        transport._queue.clear()
        transport._queued = 0
        transport.close()


async def test_the_address_cache_gives_each_peer_its_own_address_every_time() -> None:
    from media.udp_transport import open_batched

    recorder = Recorder()
    transport = open_batched(asyncio.get_running_loop(), recorder, "127.0.0.1", 0)
    peers = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(40)]
    for peer in peers:
        peer.bind(("127.0.0.1", 0))
    try:
        for round_ in range(3):
            for peer in peers:
                peer.sendto(bytes([round_]), transport.get_extra_info("sockname"))
        await received(recorder, 3 * len(peers))
        by_peer: dict[Any, list[Any]] = {}
        for _, addr in recorder.datagrams:
            by_peer.setdefault(addr, []).append(addr)
        assert set(by_peer) == {peer.getsockname() for peer in peers}
        # The mux keys its routes by these tuples: equal for one peer, different between peers.
        assert all(len(seen) == 3 for seen in by_peer.values())
    finally:
        for peer in peers:
            peer.close()
        transport.close()
