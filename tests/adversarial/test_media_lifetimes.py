"""Lifetimes: what a connection starts ends with it, and a connection that cannot come up fails."""

from __future__ import annotations

import asyncio

import pytest
from aiortc import RTCPeerConnection, RTCSessionDescription

import media.transport
from media import adapter
from tests.adversarial.media_support import close_all, count_from, eventually, room_of, router_of
from tests.support.client import ServerError, connect
from tests.support.peers import TaggedAudioTrack, TaggedVideoTrack, client_configuration


def consent_tasks(connections=None) -> list[asyncio.Task]:
    """aioice's consent-check tasks still alive (of these ICE connections only, if given)."""
    tasks = [t for t in asyncio.all_tasks() if "query_consent" in getattr(t.get_coro(), "__qualname__", "")]
    if connections is None:
        return tasks
    ids = {id(c) for c in connections}
    return [t for t in tasks if id(_owner(t)) in ids]


def _owner(task: asyncio.Task):
    coro = task.get_coro()
    while coro is not None:  # our wrapper awaits aioice's coroutine: find the one bound to a Connection
        frame_self = coro.cr_frame.f_locals.get("self") if coro.cr_frame else None
        if frame_self is not None:
            return frame_self
        coro = coro.cr_await if hasattr(coro, "cr_await") and asyncio.iscoroutine(coro.cr_await) else None
    return None


async def ghost_offer(pc: RTCPeerConnection) -> tuple[str, list[dict[str, str]]]:
    video = pc.addTransceiver(TaggedVideoTrack("ghost"), direction="sendonly")
    audio = pc.addTransceiver(TaggedAudioTrack("ghost"), direction="sendonly")
    await pc.setLocalDescription(await pc.createOffer())
    return pc.localDescription.sdp, [{"mid": video.mid, "label": "camera"}, {"mid": audio.mid, "label": "microphone"}]


async def test_clients_that_vanish_as_ice_completes_leave_no_consent_task(haven):
    """A client that vanishes right after its offer is removed while the server's ICE agent finishes.

    aioice's connect() sleeps 20 ms between its last check and starting the consent task; a close in
    that window left the task looping forever (tasks 21 -> 677 over 1,000 such joins). Here the
    removal lands in that window on purpose, 15 times.
    """
    server_side = []  # the ghosts' own peers have the same race: only the server's connections count
    for i in range(15):
        name = f"ghost{i}"
        client = await connect(haven, name)
        pc = RTCPeerConnection(client_configuration())
        try:
            sdp, tracks = await ghost_offer(pc)
            result = await client.request("publish", sdp=sdp, tracks=tracks)
            router = router_of(haven)
            connection = adapter.dtls_transport(router.members[name].publish.pc).transport._connection
            server_side.append(connection)
            adapter.end_consent_with_connection(adapter.dtls_transport(pc))  # the ghost's own peer is fixed too
            await pc.setRemoteDescription(RTCSessionDescription(sdp=result["sdp"], type="answer"))
            for _ in range(5000):
                if connection._check_list_done:  # the check list is complete; consent not yet started
                    break
                await asyncio.sleep(0)
            await router.remove_member(name)  # what the server does when the client's socket goes
        finally:
            await pc.close()
            adapter.close_ice(pc)
            await client.close()
    await asyncio.sleep(0.5)
    leaked = consent_tasks(server_side)
    assert leaked == [], f"{len(leaked)} of the server's consent tasks outlived their connections"


async def test_a_peer_that_completes_ice_but_never_dtls_is_failed_and_closed(haven, monkeypatch):
    monkeypatch.setattr(media.transport, "CONNECT_TIMEOUT", 1.5, raising=False)
    other = await connect(haven, "other", "host")
    stuck = await connect(haven, "stuck")
    pc = RTCPeerConnection(client_configuration())
    try:
        sdp, tracks = await ghost_offer(pc)
        dtls = adapter.dtls_transport(pc)

        async def never(*args, **kwargs) -> None:
            await asyncio.sleep(3600)

        dtls.start = never  # ICE runs; the DTLS handshake never does
        result = await stuck.request("publish", sdp=sdp, tracks=tracks)
        await pc.setRemoteDescription(RTCSessionDescription(sdp=result["sdp"], type="answer"))
        server_pc = router_of(haven).members["stuck"].publish.pc
        await eventually(lambda: server_pc.iceConnectionState == "completed", 5, what="ICE to complete")
        await eventually(lambda: stuck.close_code is not None, 6, what="the server to give up on DTLS")
        assert stuck.close_code == 4410
        assert server_pc.connectionState == "closed"
        assert other.close_code is None
    finally:
        await pc.close()
        await close_all([stuck, other])


async def test_a_publish_connection_that_gets_no_udp_port_is_refused_at_once(haven_factory):
    haven = await haven_factory(udp_port=0)  # a port per connection: the server binds one for each
    client = await connect(haven, "portless")
    pc = RTCPeerConnection(client_configuration())
    try:
        sdp, tracks = await ghost_offer(pc)
        # An address on no interface of this (loopback-only) namespace: every bind of the server fails.
        adapter.set_host_addresses(["192.0.2.77"])
        with pytest.raises(ServerError) as refused:
            await client.request("publish", sdp=sdp, tracks=tracks, timeout=5)
        assert refused.value.code == "internal-error"
        assert "UDP port" in str(refused.value)
        assert client.close_code is None
    finally:
        adapter.set_host_addresses(["127.0.0.1"])
        await pc.close()
        await client.close()


async def test_an_offer_without_ice_candidates_is_refused_as_such(haven):
    client = await connect(haven, "trickler")
    pc = RTCPeerConnection(client_configuration())
    try:
        sdp, tracks = await ghost_offer(pc)
        sdp = "".join(line for line in sdp.splitlines(keepends=True) if not line.startswith("a=candidate:"))
        with pytest.raises(ServerError) as refused:
            await client.request("publish", sdp=sdp, tracks=tracks, timeout=5)
        assert refused.value.code == "invalid-sdp"
        assert "no ICE candidates" in str(refused.value)
        assert client.close_code is None
    finally:
        await pc.close()
        await client.close()


async def test_a_packet_path_that_keeps_raising_closes_only_its_participant(haven):
    clients = await room_of(haven, ["host", "broken", "other"])
    host, broken, other = clients.values()
    try:
        def raising(p: bytes):
            raise RuntimeError("a bug one participant's packets reach")

        for producer in router_of(haven).producers.values():
            if producer.owner_id == "broken":
                producer.translate = raising
        await eventually(lambda: broken.close_code is not None, 8, what="the broken participant to be closed")
        assert broken.close_code == 4410
        before = count_from(other, "host")
        await asyncio.sleep(0.5)
        assert count_from(other, "host") > before + 10
        assert host.close_code is None and other.close_code is None
    finally:
        await close_all(clients.values())
