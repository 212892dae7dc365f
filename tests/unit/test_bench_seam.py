"""The contract between bench/seam.py and the private insides of aiortc 1.16.0 and aioice 0.13.0.

bench/ measures Haven from outside and may not import media/, so it has its own seam module; every
function of it is exercised here on two real aiortc peers connected over loopback in this process, so
that moving a pin fails here, with a message saying what changed, instead of skewing benchmark figures.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import socket
import struct
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import aioice.ice
import aiortc
import pytest
from aiortc import RTCConfiguration, RTCPeerConnection
from aiortc.rtcconfiguration import RTCBundlePolicy

from bench import seam

REVISIT = "bench/seam.py must be revisited"
RTP_HEADER = struct.Struct("!BBHII")
RTCP_PLI = struct.Struct("!BBHII")


def changed(library: str, what: str) -> str:
    return f"{library} no longer has {what}: {REVISIT}"


def rtp_packet(seq: int, payload: bytes, marker: bool = False) -> bytes:
    return RTP_HEADER.pack(0x80, (0x80 if marker else 0) | 96, seq, 90000, 0x01020304) + payload


def pli(media_ssrc: int) -> bytes:
    """A picture loss indication (RFC 4585 section 6.3.1): payload-specific feedback, FMT 1, length 2."""
    return RTCP_PLI.pack(0x81, 206, 2, 1, media_ssrc)


async def eventually(condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    """Wait until ``condition()`` holds; fail saying what was still missing."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"after {timeout} s still waiting for {what}")
        await asyncio.sleep(0.02)


def configuration() -> RTCConfiguration:
    return RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)


@pytest.fixture
async def peers() -> AsyncIterator[tuple[RTCPeerConnection, RTCPeerConnection]]:
    """Two aiortc peers with a video m-line, connected over 127.0.0.1 only."""
    seam.set_host_addresses(["127.0.0.1"])
    offerer, answerer = RTCPeerConnection(configuration()), RTCPeerConnection(configuration())
    try:
        offerer.addTransceiver("video", direction="sendrecv")
        await offerer.setLocalDescription(await offerer.createOffer())
        await answerer.setRemoteDescription(offerer.localDescription)
        await answerer.setLocalDescription(await answerer.createAnswer())
        await offerer.setRemoteDescription(answerer.localDescription)
        await eventually(
            lambda: all(seam.is_connected(seam.dtls_transport(pc)) for pc in (offerer, answerer)),
            "a nominated ICE pair and SRTP sessions on both peers",
        )
        yield offerer, answerer
    finally:
        await offerer.close()
        await answerer.close()
        seam.set_host_addresses([])


def transports(offerer: RTCPeerConnection, answerer: RTCPeerConnection) -> tuple[Any, Any]:
    sending, receiving = seam.dtls_transport(offerer), seam.dtls_transport(answerer)
    assert sending is not None and receiving is not None
    return sending, receiving


def test_the_pinned_aiortc_version_is_installed() -> None:
    assert aiortc.__version__ == seam.AIORTC_VERSION, (
        f"aiortc is {aiortc.__version__}, the seam was written for {seam.AIORTC_VERSION}: {REVISIT}"
    )


def test_the_pinned_aioice_version_is_installed() -> None:
    version = importlib.metadata.version("aioice")
    assert version == seam.AIOICE_VERSION, (
        f"aioice is {version}, the seam was written for {seam.AIOICE_VERSION}: {REVISIT}"
    )


def test_set_host_addresses_replaces_and_restores_aioice_discovery() -> None:
    original = aioice.ice.get_host_addresses
    try:
        seam.set_host_addresses(["127.0.0.1", "::1"])
        assert aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=True) == ["127.0.0.1", "::1"]
        assert aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=False) == ["127.0.0.1"]
        seam.set_host_addresses([])
        # An empty list hands discovery back to aioice's own function.
        assert aioice.ice.get_host_addresses.__module__ == "aioice.ice"
    finally:
        aioice.ice.get_host_addresses = original


# async: aiortc's senders take the running event loop when they are created.
async def test_a_connection_has_no_transport_before_negotiation_and_is_not_connected() -> None:
    pc = RTCPeerConnection(configuration())
    assert seam.dtls_transport(pc) is None
    assert seam.is_connected(None) is False
    pc.addTransceiver("video", direction="sendonly")
    dtls = seam.dtls_transport(pc)
    assert dtls is not None
    assert seam.is_connected(dtls) is False
    await pc.close()


async def test_ice_sockets_are_the_udp_sockets_of_the_connection(peers: Any) -> None:
    _, receiving = transports(*peers)
    sockets = seam.ice_sockets(receiving)
    assert sockets, changed("aioice.Connection", "_protocols with a transport")
    assert all(s.getsockname()[0] == "127.0.0.1" and s.fileno() >= 0 for s in sockets)
    # The load generator enlarges the receive buffer of each one; that must work on what it gets.
    for s in sockets:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)


async def test_wrapped_datagram_handlers_with_srtp_unprotect_receive_rtp_before_aioice(peers: Any) -> None:
    sending, receiving = transports(*peers)
    unprotect = seam.srtp_unprotect(receiving)
    received: list[bytes] = []
    seen_sockets: list[seam.Socket | None] = []

    def wrap(original: seam.DatagramHandler, sock: seam.Socket | None) -> seam.DatagramHandler:
        seen_sockets.append(sock)

        def datagram_received(data: bytes, addr: Any) -> None:
            if 127 < data[0] < 192 and not 191 < data[1] < 224:
                received.append(unprotect(data))
            else:
                original(data, addr)

        return datagram_received

    wrapped = seam.wrap_datagram_handlers(receiving, wrap)
    assert wrapped >= 1 and len(seen_sockets) == wrapped
    assert all(s is not None and s.fileno() >= 0 for s in seen_sockets)
    packet = rtp_packet(7, b"through-the-wrapped-handler", marker=True)
    await seam.protect_and_send(sending)(packet)
    await eventually(lambda: packet in received, "the RTP packet at the wrapped datagram handler")


async def test_diverted_rtp_reaches_the_callback_and_rtcp_still_reaches_aiortc(peers: Any) -> None:
    sending, receiving = transports(*peers)
    diverted: list[bytes] = []
    seam.divert_rtp(receiving, diverted.append)
    packet = rtp_packet(1, b"diverted")
    send = seam.protect_and_send(sending)
    await send(packet)
    await eventually(lambda: packet in diverted, "the RTP packet at the diverted callback")
    # RTCP goes through aiortc's own handler, which must not hand it to the RTP callback.
    await send(pli(0x01020304))
    await asyncio.sleep(0.2)
    assert diverted == [packet]
    assert receiving.state == "connected"


async def test_intercept_outgoing_transforms_each_packet_just_before_srtp(peers: Any) -> None:
    sending, receiving = transports(*peers)
    diverted: list[bytes] = []
    seam.divert_rtp(receiving, diverted.append)
    seen: list[bytes] = []

    def stamp(data: bytes) -> bytes:
        seen.append(data)
        return data[:-4] + b"STMP"

    seam.intercept_outgoing(sending, stamp)
    packet = rtp_packet(2, b"payload-xxxx")
    await seam.protect_and_send(sending)(packet)
    await eventually(lambda: len(diverted) == 1, "the transformed packet at the receiver")
    assert seen == [packet]
    assert diverted == [packet[:-4] + b"STMP"]
