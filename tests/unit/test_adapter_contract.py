"""The contract between media/adapter.py and the private insides of aiortc 1.16.0 and aioice 0.13.0.

Every seam the adapter uses is asserted here, on two real aiortc peers connected over loopback in
this process, so that moving a pin fails in one place with a message saying what changed.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import struct
import time
from collections.abc import Callable
from typing import Any

import aioice.ice
import aiortc
import pytest
from aiortc import RTCConfiguration, RTCPeerConnection
from aiortc.codecs import HEADER_EXTENSIONS
from aiortc.rtcconfiguration import RTCBundlePolicy
from aiortc.rtcrtpreceiver import RTCRtpReceiver
from aiortc.rtcrtpsender import RTCRtpSender

from media import adapter
from media.consumer import compiled_available
from media.rtcp import build_pli
from media.rtp import FORWARDED_EXTENSION_IDS, HEADER

REVISIT = "media/adapter.py must be revisited"


def changed(library: str, what: str) -> str:
    return f"{library} no longer has {what}: {REVISIT}"


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
async def peers():
    """Two aiortc peers with an audio and a video m-line, connected over 127.0.0.1 only."""
    adapter.set_host_addresses(["127.0.0.1"])
    offerer, answerer = RTCPeerConnection(configuration()), RTCPeerConnection(configuration())
    try:
        offerer.addTransceiver("audio", direction="sendrecv")
        offerer.addTransceiver("video", direction="sendrecv")
        await offerer.setLocalDescription(await offerer.createOffer())
        await answerer.setRemoteDescription(offerer.localDescription)
        await answerer.setLocalDescription(await answerer.createAnswer())
        await offerer.setRemoteDescription(answerer.localDescription)
        await eventually(
            lambda: offerer.connectionState == "connected" and answerer.connectionState == "connected",
            "both peers to connect over loopback",
        )
        await eventually(
            lambda: all(adapter.has_nominated_pair(adapter.dtls_transport(pc)) for pc in (offerer, answerer)),
            "a nominated ICE pair and SRTP sessions on both sides",
        )
        yield offerer, answerer
    finally:
        await offerer.close()
        await answerer.close()
        adapter.set_host_addresses([])


def test_the_pinned_aiortc_version_is_installed() -> None:
    assert aiortc.__version__ == adapter.AIORTC_VERSION == "1.16.0", (
        f"aiortc is {aiortc.__version__}, the adapter was written for 1.16.0: {REVISIT}"
    )


def test_the_pinned_aioice_version_is_installed() -> None:
    version = importlib.metadata.version("aioice")
    assert version == adapter.AIOICE_VERSION == "0.13.0", (
        f"aioice is {version}, the adapter was written for 0.13.0: {REVISIT}"
    )


def test_aioice_still_discovers_host_addresses_through_a_module_function() -> None:
    assert callable(getattr(aioice.ice, "get_host_addresses", None)), changed("aioice.ice", "get_host_addresses")


def test_set_host_addresses_replaces_and_restores_aioice_discovery() -> None:
    original = aioice.ice.get_host_addresses
    try:
        adapter.set_host_addresses(["127.0.0.1", "::1", "192.0.2.4"])
        assert aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=True) == ["127.0.0.1", "192.0.2.4", "::1"]
        assert aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=False) == ["127.0.0.1", "192.0.2.4"]
        assert aioice.ice.get_host_addresses(use_ipv4=False, use_ipv6=True) == ["::1"]
        adapter.set_host_addresses([])
        # An empty list hands discovery back to aioice's own function.
        assert aioice.ice.get_host_addresses.__module__ == "aioice.ice"
    finally:
        aioice.ice.get_host_addresses = original  # whatever an earlier test configured


async def test_name_mangled_attributes_still_exist() -> None:
    pc = RTCPeerConnection(configuration())
    transceiver = pc.addTransceiver("video", direction="sendonly")
    assert "_RTCPeerConnection__cname" in vars(pc), changed("RTCPeerConnection", "__cname")
    assert isinstance(adapter.connection_cname(pc), str) and adapter.connection_cname(pc)
    assert "_RTCRtpReceiver__remote_streams" in vars(transceiver.receiver), (
        changed("RTCRtpReceiver", "__remote_streams")
    )
    assert isinstance(transceiver.receiver, RTCRtpReceiver)
    assert adapter.receiver_streams(transceiver) == []
    assert "_RTCRtpSender__encoder" in vars(transceiver.sender), changed("RTCRtpSender", "__encoder")
    assert isinstance(transceiver.sender, RTCRtpSender)
    assert adapter.sender_encoder(transceiver) is None


async def test_sender_private_attributes_still_exist() -> None:
    pc = RTCPeerConnection(configuration())
    sender = pc.addTransceiver("audio", direction="sendonly").sender
    assert isinstance(getattr(sender, "_ssrc", None), int), changed("RTCRtpSender", "_ssrc (an int)")
    assert adapter.sender_ssrc(sender) == sender._ssrc
    assert isinstance(getattr(sender, "_stream_id", None), str), changed("RTCRtpSender", "_stream_id (a str)")
    adapter.set_stream_id(sender, "alice")
    assert sender._stream_id == "alice"

async def test_forward_only_replaces_what_starts_the_per_stream_machinery() -> None:
    pc = RTCPeerConnection(configuration())
    transceiver = pc.addTransceiver("video", direction="sendrecv")
    # aiortc 1.16 starts the decoder thread and the RTCP/RTP tasks in exactly these two coroutines,
    # which RTCPeerConnection awaits once the transport connects.
    for method in (transceiver.sender.send, transceiver.receiver.receive):
        assert asyncio.iscoroutinefunction(method), changed(type(method.__self__).__name__, method.__name__)
    for name in ("decoder_thread", "decoder_queue", "decoder_error", "remote_bitrate_estimator", "nack_generator",
                 "jitter_buffer"):
        assert hasattr(transceiver.receiver, f"_RTCRtpReceiver__{name}"), changed("RTCRtpReceiver", name)
    for name in ("rtp_started", "rtp_exited", "rtcp_started", "rtcp_exited"):
        assert isinstance(getattr(transceiver.sender, f"_RTCRtpSender__{name}", None), asyncio.Event), (
            changed("RTCRtpSender", name))
    adapter.forward_only(transceiver)
    assert transceiver.receiver._RTCRtpReceiver__remote_bitrate_estimator is None
    await transceiver.sender.send(None)
    await transceiver.receiver.receive(None)
    assert transceiver.receiver._RTCRtpReceiver__decoder_thread is None
    assert transceiver.sender._RTCRtpSender__rtcp_task is None
    await pc.close()


async def test_transceivers_keep_negotiated_codecs_and_extensions(peers) -> None:
    offerer, answerer = peers
    for pc in (offerer, answerer):
        for transceiver in pc.getTransceivers():
            assert isinstance(getattr(transceiver, "_codecs", None), list), changed("RTCRtpTransceiver", "_codecs")
            assert isinstance(getattr(transceiver, "_headerExtensions", None), list), (
                changed("RTCRtpTransceiver", "_headerExtensions")
            )
    audio, video = answerer.getTransceivers()
    assert [c.mimeType for c in adapter.negotiated_codecs(audio)][0] == "audio/opus"
    assert "video/rtx" not in [c.mimeType.lower() for c in adapter.negotiated_codecs(video)]
    assert adapter.negotiated_extensions(audio) == {
        "urn:ietf:params:rtp-hdrext:sdes:mid": 1,
        "urn:ietf:params:rtp-hdrext:ssrc-audio-level": 2,
    }
    assert adapter.negotiated_extensions(video) == {
        "urn:ietf:params:rtp-hdrext:sdes:mid": 1,
        "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time": 3,
    }


def test_aiortc_still_offers_the_extension_ids_forwarded_packets_are_rewritten_to() -> None:
    offered = {e.uri: e.id for kind in ("audio", "video") for e in HEADER_EXTENSIONS[kind]}
    for uri, forwarded_id in FORWARDED_EXTENSION_IDS.items():
        assert offered.get(uri) == forwarded_id, (
            f"aiortc now offers {uri} as id {offered.get(uri)}, not {forwarded_id}: "
            "media/rtp.py FORWARDED_EXTENSION_IDS must be revisited"
        )


async def test_the_dtls_transport_still_has_the_seams_the_adapter_uses(peers) -> None:
    _, answerer = peers
    dtls = adapter.dtls_transport(answerer)
    assert dtls is not None, changed("RTCPeerConnection", "transceivers sharing one bundled DTLS transport")
    assert all(t.receiver.transport is dtls for t in answerer.getTransceivers())
    for name in ("_rx_srtp", "_tx_srtp"):
        assert getattr(dtls, name, None) is not None, changed("RTCDtlsTransport", name)
    assert callable(getattr(dtls._rx_srtp, "unprotect", None)), changed("RTCDtlsTransport._rx_srtp", "unprotect")
    for name in ("protect", "protect_rtcp"):
        assert callable(getattr(dtls._tx_srtp, name, None)), changed("RTCDtlsTransport._tx_srtp", name)
    for name in ("_handle_rtp_data", "_handle_rtcp_data", "_send_rtp"):
        assert asyncio.iscoroutinefunction(getattr(dtls, name, None)), changed("RTCDtlsTransport", f"async {name}")
    connection = getattr(dtls.transport, "_connection", None)
    assert connection is not None, changed("RTCIceTransport", "_connection")
    nominated = getattr(connection, "_nominated", None)
    assert isinstance(nominated, dict) and 1 in nominated, changed("aioice.Connection", "_nominated[1]")
    pair = nominated[1]
    assert hasattr(pair, "remote_addr") and hasattr(pair, "protocol"), (
        changed("aioice.CandidatePair", "remote_addr/protocol")
    )
    assert callable(getattr(pair.protocol.transport, "get_write_buffer_size", None)), (
        changed("the ICE socket transport", "get_write_buffer_size")
    )
    protocols = getattr(connection, "_protocols", None)
    assert protocols, changed("aioice.Connection", "_protocols")
    assert all(callable(getattr(p, "datagram_received", None)) for p in protocols), (
        changed("aioice's StunProtocol", "datagram_received")
    )


async def test_send_path_and_the_receive_guard_carry_rtp_and_rtcp_between_two_peers(peers) -> None:
    offerer, answerer = peers
    sending, receiving = adapter.dtls_transport(offerer), adapter.dtls_transport(answerer)
    path = adapter.SendPath(sending)
    assert path.addr == sending.transport._connection._nominated[1].remote_addr
    assert path.buffer_size() == 0

    received: list[bytes] = []
    rtcp: list[bytes] = []
    drops: list[int] = []
    hooked = adapter.guard_receive(receiving, received.append, rtcp.append, drops.append)
    assert hooked >= 1, changed("aioice.Connection", "protocols to hook for the receive guard")
    assert adapter.guard_receive(receiving, received.append, rtcp.append, drops.append) == 0  # idempotent
    assert adapter.local_sockets(receiving) == hooked
    adapter.enlarge_receive_buffers(receiving)

    packet = HEADER.pack(0x80, 96, 4242, 90000, 0x01020304) + b"\x10\x00forwarded-payload"
    path.sendto(path.protect(packet), path.addr)
    await eventually(lambda: received == [packet], "the RTP packet at the receive guard")
    pli = build_pli(1, 0x01020304)
    path.sendto(path.protect_rtcp(pli), path.addr)
    await eventually(lambda: rtcp == [pli], "the RTCP packet at the receive guard")
    assert drops == []


def guarded_protocol(dtls: Any) -> Any:
    return dtls.transport._connection._protocols[0]


async def test_the_receive_guard_drops_what_would_raise_in_aiortc_or_aioice(peers) -> None:
    _, answerer = peers
    receiving = adapter.dtls_transport(answerer)
    received: list[bytes] = []
    drops: list[int] = []
    adapter.guard_receive(receiving, received.append, received.append, drops.append)
    deliver = guarded_protocol(receiving).datagram_received
    addr = ("127.0.0.1", 9)
    G = adapter.GuardDrop
    cases = [
        (b"\x80\x60" + b"\x00" * 1600, G.OVERSIZE),  # pylibsrtp raises ValueError past 1,500 bytes
        (b"\x80\xc8" + b"\x00" * 1600, G.OVERSIZE),
        (b"", G.TRUNCATED),
        (b"\x80", G.TRUNCATED),
        (b"\x80\x60" + b"\x00" * 8, G.TRUNCATED),
        (b"\x80\x60" + b"\x00" * 100, G.UNPROTECT_FAILED),
        (b"\x80\xc9" + b"\x00" * 40, G.UNPROTECT_FAILED),
        (b"\x50" * 30, G.NOT_ICE),
        # A STUN Binding request whose PRIORITY attribute is 2 bytes long: aioice raises struct.error.
        (struct.pack("!HHI12sHH", 1, 8, 0x2112A442, b"t" * 12, 0x0024, 2) + b"\x00" * 4, G.STUN_ERROR),
    ]
    for data, reason in cases:
        drops.clear()
        deliver(data, addr)
        assert drops == [reason], f"{data[:4]!r}… of {len(data)} bytes"
    assert received == []
    assert receiving.state == "connected"


async def test_aioice_still_starts_consent_checks_through_an_attribute_the_adapter_can_wrap(peers) -> None:
    _, answerer = peers
    dtls = adapter.dtls_transport(answerer)
    connection = dtls.transport._connection
    assert asyncio.iscoroutinefunction(getattr(connection, "query_consent", None)), (
        changed("aioice.Connection", "async query_consent")
    )
    assert getattr(connection, "_closing", None) is False, changed("aioice.Connection", "_closing")
    task = adapter.consent_task(dtls)
    assert isinstance(task, asyncio.Task) and not task.done(), changed("aioice.Connection", "_query_consent_task")
    adapter.end_consent_with_connection(dtls)
    connection._closing = True
    try:
        await asyncio.wait_for(connection.query_consent(), 1)  # returns at once once closing
    finally:
        connection._closing = False
    await answerer.close()
    adapter.close_ice(answerer)
    assert adapter.consent_task(dtls) is None or adapter.consent_task(dtls).done()


async def test_hook_dtls_delivers_decrypted_rtcp(peers) -> None:
    offerer, answerer = peers
    sending, receiving = adapter.dtls_transport(offerer), adapter.dtls_transport(answerer)
    rtcp: list[bytes] = []
    adapter.hook_dtls(receiving, None, rtcp.append)
    pli = build_pli(1, 0x01020304)
    path = adapter.SendPath(sending)
    path.sendto(path.protect_rtcp(pli), path.addr)
    await eventually(lambda: pli in rtcp, "the PLI at the RTCP hook")


async def test_async_send_is_aiortcs_protect_and_send(peers) -> None:
    offerer, answerer = peers
    received: list[bytes] = []
    adapter.guard_receive(adapter.dtls_transport(answerer), received.append, lambda data: None, lambda code: None)
    send: Any = adapter.async_send(adapter.dtls_transport(offerer))
    packet = HEADER.pack(0x80, 111, 7, 960, 0x0A0B0C0D) + b"opus"
    await send(packet)
    await eventually(lambda: packet in received, "the packet sent through aiortc's _send_rtp")


def test_aioice_gathers_host_candidates_through_a_method_the_adapter_can_replace() -> None:
    import inspect

    parameters = list(inspect.signature(aioice.ice.Connection.get_component_candidates).parameters)
    assert parameters[:4] == ["self", "component", "addresses", "timeout"], changed(
        "aioice.Connection", "get_component_candidates(component, addresses, timeout)")
    request = list(inspect.signature(aioice.ice.StunProtocol.request).parameters)
    assert request == ["self", "request", "addr", "integrity_key", "retransmissions"], changed(
        "aioice.ice.StunProtocol", "request(request, addr, integrity_key, retransmissions)")


@pytest.mark.parametrize("batched", [False, pytest.param(True, marks=pytest.mark.skipif(
    not compiled_available(), reason="media/_fastsend.c was not built"))])
async def test_a_connection_on_the_shared_port_connects_carries_media_and_detaches_on_close(batched: bool) -> None:
    from media.udp_mux import UdpMux

    adapter.set_host_addresses(["127.0.0.1"])
    mux = UdpMux(0, ["127.0.0.1"], batched=batched)
    await mux.open()
    offerer, answerer = RTCPeerConnection(configuration()), RTCPeerConnection(configuration())
    try:
        offerer.addTransceiver("video", direction="sendrecv")
        await offerer.setLocalDescription(await offerer.createOffer())
        await answerer.setRemoteDescription(offerer.localDescription)
        shared = adapter.dtls_transport(answerer)
        adapter.share_udp_port(shared, mux)
        adapter.share_udp_port(shared, mux)  # idempotent
        await answerer.setLocalDescription(await answerer.createAnswer())
        sdp = answerer.localDescription.sdp
        port = mux.sockets[0].port
        assert f"127.0.0.1 {port} typ host" in sdp, changed("aioice", "host candidates from get_component_candidates")
        assert sdp.count("typ host") == 1
        ufrag = shared.transport._connection.local_username
        assert len(ufrag) == 16 and f"a=ice-ufrag:{ufrag}" in sdp, changed("aioice.Connection", "_local_username")
        assert adapter.local_sockets(shared) == 1
        await offerer.setRemoteDescription(answerer.localDescription)
        await eventually(lambda: adapter.has_nominated_pair(shared) and offerer.connectionState == "connected",
                         "ICE and DTLS through the shared port")
        path = adapter.SendPath(shared)
        assert path.fd == mux.sockets[0].transport.get_extra_info("socket").fileno()
        received: list[bytes] = []
        adapter.guard_receive(adapter.dtls_transport(offerer), received.append, lambda _: None, lambda _: None)
        packet = HEADER.pack(0x80, 96, 7, 90000, 0x0A0B0C0D) + b"\x10\x00over-the-shared-port"
        path.sendto(path.protect(packet), path.addr)
        await eventually(lambda: received == [packet], "RTP sent from the shared socket")
        assert mux.table_entries() >= 2  # the route and the offerer's address
    finally:
        await asyncio.wait_for(offerer.close(), 10)
        await asyncio.wait_for(answerer.close(), 10)  # aioice waits for connection_lost: it must come
        adapter.set_host_addresses([])
    try:
        assert mux.table_entries() == 0
    finally:
        mux.close()
