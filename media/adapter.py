"""The only module that touches private attributes of aiortc 1.16.0 and aioice 0.13.0.

Haven forwards RTP packets without letting aiortc decode or encode them, which needs seams aiortc
does not expose (see ../shared/docs/forwarding.md). Every such seam is a function here, and
tests/unit/test_adapter_contract.py asserts each one still exists, so a version change fails loudly
in one place instead of silently breaking media.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any, cast

import aioice.ice
from aiortc import RTCPeerConnection, RTCRtpTransceiver
from aiortc.codecs import is_rtx
from aiortc.rtcdtlstransport import RTCDtlsTransport
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtcrtpsender import RTCRtpSender

AIORTC_VERSION = "1.16.0"
AIOICE_VERSION = "0.13.0"

# Publisher sockets get a larger receive buffer so a frame burst that arrives while the loop is busy
# fanning out the previous one is queued instead of dropped (aioice sets 256 KiB).
PUBLISHER_RCVBUF = 4 * 1024 * 1024

_original_get_host_addresses = aioice.ice.get_host_addresses


def set_host_addresses(addresses: list[str]) -> None:
    """Make every ICE agent in this process gather host candidates on exactly these addresses.

    aioice skips 127.0.0.1 and offers every interface (docker bridges included); a server needs the
    operator's choice. An empty list restores aioice's own discovery.
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


def hook_dtls(
    dtls: RTCDtlsTransport,
    on_rtp: Callable[[bytes], None] | None,
    on_rtcp: Callable[[bytes], None],
) -> None:
    """Receive decrypted RTP/RTCP of a DTLS transport in our callbacks instead of aiortc's receivers.

    aiortc awaits these two methods with unprotected bytes (rtcdtlstransport.py ``_recv_next``); an
    exception raised here would close the whole transport, so the callbacks must never raise.
    """

    async def handle_rtp_data(data: bytes, arrival_time_ms: int) -> None:
        if on_rtp is not None:
            on_rtp(data)

    async def handle_rtcp_data(data: bytes) -> None:
        on_rtcp(data)

    dtls._handle_rtp_data = handle_rtp_data  # type: ignore[method-assign]
    dtls._handle_rtcp_data = handle_rtcp_data  # type: ignore[method-assign]


def install_fast_receive(dtls: RTCDtlsTransport, on_rtp: Callable[[bytes], None], on_drop: Callable[[], None]) -> int:
    """Unprotect SRTP inside aioice's datagram callback and hand RTP straight to ``on_rtp``.

    This skips aioice's asyncio.Queue, the DTLS reader task and three awaits per packet
    (forwarding.md section 2.1). STUN, DTLS and SRTCP still take aiortc's normal path. Returns the
    number of sockets hooked. Call only once the transport is connected (the SRTP session exists).
    """
    connection = dtls.transport._connection
    unprotect = dtls._rx_srtp.unprotect
    hooked = 0
    for protocol in list(connection._protocols):
        original = protocol.datagram_received

        def datagram_received(data: bytes, addr: Any, _original: Callable[[bytes, Any], None] = original) -> None:
            # SRTP has version 2 in the first byte (128..191); RTCP packet types are 192..223.
            if len(data) > 12 and 127 < data[0] < 192 and not 191 < data[1] < 224:
                try:
                    packet = unprotect(data)
                except Exception:  # pylibsrtp.Error: bad auth tag, replay
                    on_drop()
                    return
                on_rtp(packet)
            else:
                _original(data, addr)

        # typeshed allows str datagrams; a UDP socket only ever delivers bytes.
        protocol.datagram_received = datagram_received  # type: ignore[method-assign, assignment]
        sock = protocol.transport.get_extra_info("socket") if protocol.transport else None
        if sock is not None:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, PUBLISHER_RCVBUF)
            except OSError:
                pass
        hooked += 1
    return hooked


class SendPath:
    """The synchronous way out of one connected transport: SRTP protect and one ``sendto``.

    Built once when the transport connects; the forwarding loop calls its bound methods directly.
    ``srtp_protect``/``srtp_ctx``/``fd`` are what the compiled send step needs (media/_fastsend.c):
    libsrtp's own protect function and context, borrowed from pylibsrtp, and the socket.
    """

    __slots__ = ("protect", "protect_rtcp", "sendto", "addr", "buffer_size", "fd", "srtp_protect", "srtp_ctx",
                 "_session")

    def __init__(self, dtls: RTCDtlsTransport) -> None:
        pair = dtls.transport._connection._nominated[1]
        # aioice types it as a DatagramTransport; the loop's real one also reports its write buffer.
        transport: Any = pair.protocol.transport
        session = dtls._tx_srtp
        self.protect = session.protect
        self.protect_rtcp = session.protect_rtcp
        self.sendto = transport.sendto
        self.addr = pair.remote_addr
        self.buffer_size = transport.get_write_buffer_size
        sock = transport.get_extra_info("socket")
        self.fd = sock.fileno() if sock is not None else -1
        self._session = session  # keeps the libsrtp context alive as long as the path
        self.srtp_protect, self.srtp_ctx = srtp_handles(session)


def srtp_handles(session: Any) -> tuple[int, int]:
    """Return the addresses of libsrtp's srtp_protect() and of a pylibsrtp Session's context."""
    from pylibsrtp._binding import ffi, lib  # type: ignore[import-not-found]  # cffi-built, no stubs

    return (int(ffi.cast("uintptr_t", ffi.addressof(lib, "srtp_protect"))),
            int(ffi.cast("uintptr_t", session._srtp[0])))


def has_nominated_pair(dtls: RTCDtlsTransport) -> bool:
    """Tell whether ICE has selected the pair that carries media."""
    try:
        return 1 in dtls.transport._connection._nominated and dtls._tx_srtp is not None
    except AttributeError:
        return False


def sender_ssrc(sender: RTCRtpSender) -> int:
    """Return the SSRC aiortc announced for this sender in the SDP (we send forwarded media with it)."""
    return sender._ssrc


def silence_sender(sender: RTCRtpSender) -> None:
    """Stop aiortc's own Sender Reports for an SSRC it never feeds (they carry ntp=0/rtp=0)."""

    async def no_rtcp(packets: Any) -> None:
        return None

    sender._send_rtcp = no_rtcp  # type: ignore[method-assign]


def set_stream_id(sender: RTCRtpSender, stream_id: str) -> None:
    """Give a sender its own ``a=msid`` stream id (aiortc uses one per connection)."""
    sender._stream_id = stream_id


def negotiated_codecs(transceiver: RTCRtpTransceiver) -> list[RTCRtpCodecParameters]:
    """Return the negotiated media codecs of a transceiver, RTX excluded."""
    return [c for c in transceiver._codecs if not is_rtx(c)]


def negotiated_extensions(transceiver: RTCRtpTransceiver) -> dict[str, int]:
    """Return the negotiated header extensions of a transceiver as ``{uri: id}``."""
    return {e.uri: e.id for e in transceiver._headerExtensions}


def connection_cname(pc: RTCPeerConnection) -> str:
    """Return the RTCP CNAME aiortc announced for a connection's senders."""
    return cast(str, pc._RTCPeerConnection__cname)  # type: ignore[attr-defined]


def async_send(dtls: RTCDtlsTransport) -> Callable[[bytes], Any]:
    """Return aiortc's awaitable protect-and-send, for use before the fast send path exists."""
    return dtls._send_rtp


def receiver_streams(transceiver: RTCRtpTransceiver) -> list[Any]:
    """Return the remote streams aiortc's receiver built (empty while we forward without decoding)."""
    return list(transceiver.receiver._RTCRtpReceiver__remote_streams)  # type: ignore[attr-defined]


def sender_encoder(transceiver: RTCRtpTransceiver) -> Any:
    """Return the encoder aiortc's sender created (None while we forward without encoding)."""
    return transceiver.sender._RTCRtpSender__encoder  # type: ignore[attr-defined]
