"""The only module of bench/ that touches private attributes of aiortc 1.16.0 and aioice 0.13.0.

The benchmark measures Haven from outside, as a client would, so it never imports media/; but its load
generator cannot afford aiortc's receive path (jitter buffer, depacketizer, a task per packet) for
hundreds of streams on one core, and it counts and time-stamps packets where aiortc hands them to SRTP.
Those seams are the functions here, and tests/unit/test_bench_seam.py asserts each one still works on two
real peers, so moving a pin fails in one place instead of silently skewing the figures.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import aioice.ice
from aiortc import RTCPeerConnection
from aiortc.rtcdtlstransport import RTCDtlsTransport

AIORTC_VERSION = "1.16.0"
AIOICE_VERSION = "0.13.0"

DatagramHandler = Callable[[bytes, Any], None]


class Socket(Protocol):
    """What asyncio and uvloop hand out for a transport's socket (a wrapper, not a ``socket.socket``)."""

    def fileno(self) -> int: ...

    def setsockopt(self, level: int, optname: int, value: int | bytes, /) -> None: ...

    def getsockname(self) -> Any: ...


_original_get_host_addresses = aioice.ice.get_host_addresses


def set_host_addresses(addresses: list[str]) -> None:
    """Make every ICE agent in this process gather host candidates on exactly these addresses.

    aioice skips 127.0.0.1 and offers every interface, and the benchmark must stay on loopback. An
    empty list restores aioice's own discovery.
    """
    if not addresses:
        aioice.ice.get_host_addresses = _original_get_host_addresses
        return
    v4 = [a for a in addresses if ":" not in a]
    v6 = [a for a in addresses if ":" in a]

    def get_host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        return (v4 if use_ipv4 else []) + (v6 if use_ipv6 else [])

    aioice.ice.get_host_addresses = get_host_addresses


def dtls_transport(pc: RTCPeerConnection) -> RTCDtlsTransport | None:
    """Return the single (bundled) DTLS transport of a connection, or None before negotiation."""
    transceivers = pc.getTransceivers()
    return transceivers[0].receiver.transport if transceivers else None


def is_connected(dtls: RTCDtlsTransport | None) -> bool:
    """Tell whether ICE has nominated the pair that carries media and both SRTP sessions exist."""
    if dtls is None:
        return False
    try:
        nominated = 1 in dtls.transport._connection._nominated
        return nominated and dtls._rx_srtp is not None and dtls._tx_srtp is not None
    except AttributeError:
        return False


def divert_rtp(dtls: RTCDtlsTransport, on_rtp: Callable[[bytes], None]) -> None:
    """Hand every decrypted RTP packet of a transport to ``on_rtp`` instead of aiortc's receivers.

    RTCP keeps aiortc's own path. aiortc awaits this method from its DTLS reader task; an exception
    raised here would close the transport, so ``on_rtp`` must never raise.
    """

    async def handle_rtp_data(data: bytes, arrival_time_ms: int) -> None:
        on_rtp(data)

    dtls._handle_rtp_data = handle_rtp_data  # type: ignore[method-assign]


def srtp_unprotect(dtls: RTCDtlsTransport) -> Callable[[bytes], bytes]:
    """Return the receiving SRTP session's unprotect function (raises on a bad tag or a replay)."""
    unprotect: Callable[[bytes], bytes] = dtls._rx_srtp.unprotect
    return unprotect


def wrap_datagram_handlers(
    dtls: RTCDtlsTransport, wrap: Callable[[DatagramHandler, Socket | None], DatagramHandler]
) -> int:
    """Replace the datagram callback of each ICE socket of a transport with ``wrap(current, socket)``.

    aioice calls it synchronously for every datagram the socket reads, before its own queue; wrapping
    it is how the load generator reads SRTP with no task in between, and how it drops or stops reading.
    Returns the number of sockets wrapped.
    """
    wrapped = 0
    for protocol in list(dtls.transport._connection._protocols):
        sock = protocol.transport.get_extra_info("socket") if protocol.transport else None
        protocol.datagram_received = wrap(protocol.datagram_received, sock)  # type: ignore[method-assign,assignment]
        wrapped += 1
    return wrapped


def ice_sockets(dtls: RTCDtlsTransport) -> list[Socket]:
    """Return the UDP sockets of a transport's ICE connection."""
    found: list[Socket] = []
    for protocol in list(dtls.transport._connection._protocols):
        sock = protocol.transport.get_extra_info("socket") if protocol.transport else None
        if sock is not None:
            found.append(sock)
    return found


def protect_and_send(dtls: RTCDtlsTransport) -> Callable[[bytes], Awaitable[None]]:
    """Return aiortc's awaitable SRTP/SRTCP protect-and-send of a transport (it tells RTP from RTCP)."""
    send: Callable[[bytes], Awaitable[None]] = dtls._send_rtp
    return send


def intercept_outgoing(dtls: RTCDtlsTransport, transform: Callable[[bytes], bytes]) -> None:
    """Pass every unprotected packet a transport sends through ``transform`` just before SRTP.

    This is the last moment the load generator sees a publisher's packet: it counts it there and writes
    the send time into the frame's trailer, so latency excludes the publisher's own scheduling.
    """
    original = dtls._send_rtp

    async def send_rtp(data: bytes) -> None:
        await original(transform(data))

    dtls._send_rtp = send_rtp  # type: ignore[method-assign]
