"""All media on one UDP port (ice.udp_port): real aiortc peers, real ICE, DTLS and SRTP over loopback."""

from __future__ import annotations

import asyncio
import os
import re
import socket

from aioice import stun

from media.api import DropReason
from server.app import UDP_MUX
from tests.support.client import ProtocolClient
from tests.support.peers import RandomVp8Track, ToneTrack, eventually

CANDIDATE = re.compile(r"^a=candidate:\S+ \d+ udp \d+ (\S+) (\d+) typ host", re.MULTILINE)


def server_candidates(sdp: str) -> set[tuple[str, int]]:
    return {(host, int(port)) for host, port in CANDIDATE.findall(sdp)}


def ufrag_of(sdp: str) -> str:
    match = re.search(r"^a=ice-ufrag:(\S+)", sdp, re.MULTILINE)
    assert match is not None
    return match.group(1)


async def join(haven, name: str, role: str = "participant", room: str = "group") -> ProtocolClient:
    client = ProtocolClient(haven.base_url, haven.token(room=room, name=name.title(), sub=name, role=role), name=name)
    await client.connect()
    return client


def router_drops(haven) -> dict[DropReason, int]:
    totals = {reason: 0 for reason in DropReason}
    for live in haven.sessions.live.values():
        for router in live.routers.values():
            for reason, n in router.drops.items():
                totals[reason] += n
    return totals


async def test_ten_participants_share_one_udp_port_with_full_media(haven):
    mux = haven.app[UDP_MUX]
    assert mux is not None and len(mux.sockets) == 1
    port = mux.sockets[0].port
    names = [f"p{i}" for i in range(10)]
    clients = []
    try:
        for index, name in enumerate(names):
            clients.append(await join(haven, name, role="host" if index == 0 else "participant"))
        for client in clients:
            client.published = await client.publish({"camera": RandomVp8Track(frame_size=600),
                                                     "microphone": ToneTrack()})

        def everyone_receives_everyone() -> bool:
            return all(c.received_from(o.name, label) >= 10 for c in clients for o in clients if o is not c
                       for label in ("camera", "microphone"))

        await eventually(everyone_receives_everyone, 60, what="audio and video from each of the 9 others")
        for client in clients:
            for pc in (client.publish_pc, client.subscribe_pc):
                assert pc is not None
                # The server offered one host candidate, on the shared port, on every connection.
                assert server_candidates(pc.remoteDescription.sdp) == {("127.0.0.1", port)}
        ufrags = {ufrag_of(pc.remoteDescription.sdp) for c in clients for pc in (c.publish_pc, c.subscribe_pc)}
        assert len(ufrags) == 20 and len(mux.sockets[0].by_ufrag) == 20
    finally:
        for client in clients:
            await client.close()


async def test_spoofed_datagrams_and_bad_stun_checks_reach_no_connection(haven):
    mux = haven.app[UDP_MUX]
    port = mux.sockets[0].port
    host, guest = await join(haven, "host", role="host"), await join(haven, "guest")
    try:
        for client in (host, guest):
            await client.publish({"camera": RandomVp8Track(frame_size=600), "microphone": ToneTrack()})
        await eventually(lambda: guest.received_from("host", "camera") >= 10, 20, what="media before the attack")
        live_ufrag = ufrag_of(guest.publish_pc.remoteDescription.sdp)
        before, routers_before = dict(mux.drops), router_drops(haven)
        received = guest.received_from("host", "camera")

        attacker = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        attacker.bind(("127.0.0.1", 0))
        attacker.setblocking(False)
        attacker_addr = attacker.getsockname()
        try:
            target = ("127.0.0.1", port)
            srtp_like = bytes([0x80, 0x60]) + os.urandom(200)
            dtls_like = bytes([22, 0xFE, 0xFD]) + os.urandom(60)
            for _ in range(20):
                attacker.sendto(srtp_like, target)
                attacker.sendto(dtls_like, target)
            for username, password in ((f"wrongufrag:{live_ufrag}", b"x" * 22), (f"{live_ufrag}:them", b"y" * 22)):
                check = stun.Message(message_method=stun.Method.BINDING, message_class=stun.Class.REQUEST)
                check.attributes["USERNAME"] = username
                check.attributes["PRIORITY"] = 1
                check.attributes["ICE-CONTROLLED"] = 1
                check.add_message_integrity(password)
                check.add_fingerprint()
                attacker.sendto(bytes(check), target)
            await eventually(lambda: mux.drops[DropReason.UNKNOWN_SOURCE] >= before[DropReason.UNKNOWN_SOURCE] + 40
                             and mux.drops[DropReason.UNKNOWN_UFRAG] > before[DropReason.UNKNOWN_UFRAG]
                             and mux.drops[DropReason.STUN_UNAUTHENTICATED] > before[DropReason.STUN_UNAUTHENTICATED],
                             10, what="the shared port to count every forged datagram")
            await asyncio.sleep(0.5)  # room for any answer to arrive: none may
            try:
                reply = attacker.recv(2048)
            except BlockingIOError:
                reply = None
            assert reply is None, "a forged STUN check was answered"
        finally:
            attacker.close()
        # No connection saw any of it: no SRTP failure, no STUN error, no stray datagram counted in a Router.
        after = router_drops(haven)
        for reason in (DropReason.UNPROTECT_FAILED, DropReason.NO_KEYS, DropReason.NOT_ICE, DropReason.STUN_ERROR):
            assert after[reason] == routers_before[reason], reason
        assert attacker_addr not in mux.sockets[0].by_addr
        assert len(mux.sockets[0].by_ufrag) == 4
        await eventually(lambda: guest.received_from("host", "camera") >= received + 10, 20,
                         what="media still flowing after the attack")
    finally:
        for client in (host, guest):
            await client.close()


async def test_connections_leave_no_routes_over_200_join_leave_cycles(haven):
    mux = haven.app[UDP_MUX]
    host = await join(haven, "host", role="host")
    try:
        await host.publish({"microphone": ToneTrack()})

        async def cycle(index: int) -> None:
            guest = await join(haven, f"g{index}")
            try:
                await guest.publish({"microphone": ToneTrack()})
                await eventually(lambda: guest.received_from("host", "microphone") >= 1, 20,
                                 what="the guest's media connections up")
            finally:
                await guest.close()

        for start in range(0, 200, 4):  # four at a time: bounded, and a little overlap between connections
            await asyncio.wait_for(asyncio.gather(*(cycle(i) for i in range(start, start + 4))), 60)
        # The host's two connections remain; every guest's routes, addresses and transactions are gone.
        await eventually(lambda: len(mux.sockets[0].by_ufrag) == 2, 20, what="the guests' routes removed")
        shared = mux.sockets[0]
        host_routes = list(shared.by_ufrag.values())
        assert set(shared.by_addr.values()) <= set(host_routes)
        assert len(shared.by_addr) <= 2 * len(host_routes)
        assert all(owner in host_routes for owner in shared.by_txid.values())
    finally:
        await host.close()
    await eventually(lambda: mux.table_entries() == 0, 20, what="no route left once everyone left")


async def test_udp_port_zero_keeps_a_port_per_connection(haven_factory):
    haven = await haven_factory(udp_port=0)
    assert haven.app[UDP_MUX] is None
    host, guest = await join(haven, "host", role="host"), await join(haven, "guest")
    try:
        for client in (host, guest):
            await client.publish({"camera": RandomVp8Track(frame_size=600), "microphone": ToneTrack()})
        await eventually(lambda: guest.received_from("host", "camera") >= 10 and host.received_from("guest", "camera")
                         >= 10, 20, what="media both ways")
        ports = {port for c in (host, guest) for pc in (c.publish_pc, c.subscribe_pc)
                 for _, port in server_candidates(pc.remoteDescription.sdp)}
        assert len(ports) == 4
    finally:
        for client in (host, guest):
            await client.close()
