"""Every datagram path is total: nothing a stranger sends to a server port raises or closes a connection."""

from __future__ import annotations

import asyncio
import logging
import os

import pytest

from server.app import UDP_MUX
from tests.adversarial.media_support import (
    close_all,
    count_from,
    drops,
    eventually,
    malformed_stun,
    room_of,
    router_of,
    server_addresses,
    udp_socket,
)


def hostile_datagrams() -> list[bytes]:
    """What a sender with no keys throws at a port: oversize, truncated, unauthenticated, not ICE."""
    return [
        b"\x80\x60" + os.urandom(1600),  # oversize RTP: pylibsrtp raises ValueError past 1,500 bytes
        b"\x80\xc8" + os.urandom(1600),  # oversize RTCP (a sender report type)
        b"\x90\xcd" + os.urandom(1499),  # 1,501 bytes
        b"",  # empty
        b"\x80",  # one byte of RTP
        b"\x80\xc9\x00",  # truncated RTCP header
        b"\x80\x60" + os.urandom(9),  # shorter than an RTP header
        b"\x80\x60" + os.urandom(200),  # RTP with a made-up auth tag
        b"\x81\xcd\x00\x03" + os.urandom(60),  # RTCP NACK with a made-up auth tag
        b"\x50" * 40,  # neither STUN, DTLS nor RTP
        b"\x17\xfe\xfd" + os.urandom(60),  # a DTLS record out of nowhere
        malformed_stun(),
    ]


@pytest.fixture(params=["shared-port", "port-per-connection"])
async def haven_ports(request, haven_factory):
    """Haven with its one shared media port (the default), and with ice.udp_port = 0."""
    return await haven_factory(udp_port=None if request.param == "shared-port" else 0)


async def test_datagrams_from_a_sender_without_keys_are_dropped_counted_and_close_nothing(haven_ports, caplog):
    haven = haven_ports
    caplog.set_level(logging.INFO)
    clients = await room_of(haven, ["host", "target", "other"])
    host, target, other = clients.values()
    try:
        router = router_of(haven)
        member = router.members["target"]
        addresses = server_addresses(member.publish) + server_addresses(member.subscribe)
        assert addresses and all(a[0] == "127.0.0.1" for a in addresses)
        with udp_socket() as sock:
            for _ in range(50):
                for data in hostile_datagrams():
                    for address in addresses:
                        sock.sendto(data, address)
                await asyncio.sleep(0.002)
            # The defect closed the connection within 0.1 s: give it far longer.
            await asyncio.sleep(0.5)
            for _ in range(2000):  # 2,000 malformed STUN messages logged 2.3 MB of tracebacks
                sock.sendto(malformed_stun(), addresses[0])
            await asyncio.sleep(0.3)

        for pc in (member.publish.pc, member.subscribe.pc):
            assert pc.connectionState == "connected"
        assert target.close_code is None and "target" in router.members
        marks = {c.name: {o: count_from(c, o) for o in clients} for c in clients.values()}
        await eventually(lambda: all(count_from(c, o) > marks[c.name][o] + 20
                                     for c in clients.values() for o in clients if o != c.name),
                         5, what="everyone, the target included, to go on receiving everyone")

        counted = drops(haven)
        mux = haven.app[UDP_MUX]
        if mux is None:  # a socket per connection: the connection's own guard drops and counts them
            for reason in ("oversize", "truncated", "unprotect-failed", "not-ice", "stun-error"):
                assert counted.get(reason, 0) > 0, f"{reason} not counted: {counted}"
            assert counted["stun-error"] >= 2000
        else:  # the shared port: a stranger's datagrams stop at the demultiplexer, before any connection
            stopped = {reason.value: count for reason, count in mux.drops.items()}
            for reason in ("unknown-source", "truncated", "stun-error"):
                assert stopped.get(reason, 0) > 0, f"{reason} not counted: {stopped}"
            assert stopped["stun-error"] >= 2000
            assert not any(counted.get(r, 0) for r in ("oversize", "unprotect-failed", "not-ice", "stun-error"))
        assert counted.get("hook-error", 0) == 0
        noisy = [r for r in caplog.records if r.exc_info or "Traceback" in r.getMessage()
                 or r.levelno >= logging.WARNING and r.name.split(".")[0] in ("asyncio", "aiortc", "aioice")]
        assert not noisy, f"{len(noisy)} log records, first: {noisy[0].name}: {noisy[0].getMessage()[:300]}"
    finally:
        await close_all(clients.values())
