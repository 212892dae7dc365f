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
from aioice import stun
from aioice.candidate import Candidate, candidate_foundation, candidate_priority
from aiortc import RTCPeerConnection, RTCRtpTransceiver
from aiortc.codecs import is_rtx
from aiortc.rtcdtlstransport import RTCDtlsTransport
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtcrtpsender import RTCRtpSender
from pylibsrtp._binding import ffi as _srtp_ffi  # type: ignore[import-not-found]  # cffi-built, no stubs
from pylibsrtp._binding import lib as _srtp_lib

from .udp_mux import SharedSocket, UdpMux

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


def host_addresses() -> list[str]:
    """Return the addresses ICE gathers host candidates on: set_host_addresses' choice or aioice's discovery."""
    return aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=True)


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


# libsrtp works in pylibsrtp's fixed 1,500-byte buffer: a longer datagram makes unprotect raise
# ValueError, which aiortc's DTLS reader does not expect (only pylibsrtp.Error) and dies of.
SRTP_MAX_DATAGRAM = 1500
RTP_MIN = 12  # an RTP header
RTCP_MIN = 8  # an RTCP header plus the sender SSRC


class GuardDrop:
    """Why the receive guard dropped a datagram (media/reasons.py maps these to DropReasons)."""

    OVERSIZE = 0  # longer than libsrtp can take
    TRUNCATED = 1  # empty, or shorter than an RTP/RTCP header
    UNPROTECT_FAILED = 2  # SRTP/SRTCP authentication or replay check failed
    NO_KEYS = 3  # SRTP before the DTLS handshake made keys
    NOT_ICE = 4  # the first byte is neither STUN, DTLS nor RTP/RTCP (RFC 7983)
    STUN_ERROR = 5  # aioice raised on the datagram (a malformed STUN attribute)
    UNWANTED_RTP = 6  # RTP on a connection that receives none (a subscribe connection)
    HOOK_ERROR = 7  # our own RTCP callback raised


def guard_receive(
    dtls: RTCDtlsTransport,
    on_rtp: Callable[[bytes], None] | None,
    on_rtcp: Callable[[bytes], None],
    on_drop: Callable[[int], None],
    compiled: bool = False,
) -> int:
    """Make every datagram path of a connection total: nothing from the network can raise out of it.

    Wraps ``datagram_received`` of each of the ICE connection's sockets (call after the local
    description is set, when they exist). SRTP and SRTCP are unprotected here, synchronously, and
    handed to ``on_rtp``/``on_rtcp``, so they never reach aiortc's DTLS reader, where an unexpected
    exception closes the transport; this is also the fast receive path of forwarding.md 2.1 (no
    asyncio.Queue, no reader task, no awaits). Oversize, truncated and unauthenticated datagrams are
    dropped and reported to ``on_drop`` with a ``GuardDrop`` code. STUN and DTLS take aioice's and
    aiortc's normal path, but an exception aioice raises on a malformed STUN message is contained
    and reported instead of logged by the event loop, once per datagram. Returns the sockets hooked;
    a socket already hooked is left as it is. ``compiled`` unprotects with media/_fastsend.c's
    Unprotector (one copy, no Python frames) instead of pylibsrtp's wrapper; both accept and refuse
    exactly the same datagrams, since both call the same libsrtp context.
    """
    connection = dtls.transport._connection
    hooked = 0
    for protocol in list(connection._protocols):
        if getattr(protocol.datagram_received, "_haven_guard", False):
            continue
        datagram_received = datagram_handler(dtls, protocol.datagram_received, on_rtp, on_rtcp, on_drop, compiled)
        datagram_received._haven_guard = True  # type: ignore[attr-defined]
        # typeshed allows str datagrams; a UDP socket only ever delivers bytes.
        protocol.datagram_received = datagram_received  # type: ignore[method-assign, assignment]
        hooked += 1
    return hooked


def datagram_handler(
    dtls: Any,
    original: Callable[[bytes, Any], None],
    on_rtp: Callable[[bytes], None] | None,
    on_rtcp: Callable[[bytes], None],
    on_drop: Callable[[int], None],
    compiled: bool = False,
) -> Callable[[bytes, Any], None]:
    """Return one socket's ``datagram_received`` of guard_receive: the receive path of a connection.

    ``dtls._rx_srtp`` is the connection's SRTP receive session (None before DTLS made keys; aiortc sets
    it once), and ``original`` the protocol's own handler, which STUN and DTLS go to.
    bench/instructions.py drives this very function, so what it counts is what a connection runs per
    datagram.
    """
    new_step = _unprotector_factory() if compiled else None
    # The compiled step of the current session, made when the session first appears.
    step_session: Any = None
    step: Any = None

    def datagram_received(data: bytes, addr: Any) -> None:
        nonlocal step_session, step
        n = len(data)
        if not n:
            on_drop(GuardDrop.TRUNCATED)
            return
        b0 = data[0]
        if 127 < b0 < 192:
            # RTP or RTCP (RFC 7983); RTCP packet types are 192..223 (RFC 5761).
            if n > SRTP_MAX_DATAGRAM:
                on_drop(GuardDrop.OVERSIZE)
                return
            if n < RTCP_MIN:
                on_drop(GuardDrop.TRUNCATED)
                return
            session = dtls._rx_srtp
            if session is None:
                on_drop(GuardDrop.NO_KEYS)
                return
            if new_step is not None and session is not step_session:
                step, step_session = new_step(session), session
            if 191 < data[1] < 224:
                if step is not None:
                    packet = step.rtcp(data)
                    if packet is None:
                        on_drop(GuardDrop.UNPROTECT_FAILED)
                        return
                else:
                    try:
                        packet = session.unprotect_rtcp(data)
                    except Exception:  # pylibsrtp.Error: bad auth tag, replay; ValueError: too long
                        on_drop(GuardDrop.UNPROTECT_FAILED)
                        return
                try:
                    on_rtcp(packet)
                except Exception:
                    on_drop(GuardDrop.HOOK_ERROR)
                return
            if n < RTP_MIN:
                on_drop(GuardDrop.TRUNCATED)
                return
            if on_rtp is None:
                on_drop(GuardDrop.UNWANTED_RTP)
                return
            if step is not None:
                packet = step.rtp(data)
                if packet is None:
                    on_drop(GuardDrop.UNPROTECT_FAILED)
                    return
            else:
                try:
                    packet = session.unprotect(data)
                except Exception:
                    on_drop(GuardDrop.UNPROTECT_FAILED)
                    return
            on_rtp(packet)  # Producer.receive never raises
        elif b0 < 4 or 19 < b0 < 64:
            # STUN (0..3) or DTLS (20..63): aioice parses STUN here; the rest is queued for aiortc.
            try:
                original(data, addr)
            except Exception:
                on_drop(GuardDrop.STUN_ERROR)
        else:
            on_drop(GuardDrop.NOT_ICE)

    return datagram_received


def _unprotector_factory() -> Callable[[Any], Any]:
    """Return ``new_step(session)``: the compiled receive step (an Unprotector) of a pylibsrtp Session."""
    from . import _fastsend  # built from media/_fastsend.c; guard_receive(compiled=True) needs it

    ffi, lib = _srtp_ffi, _srtp_lib
    unprotect = int(ffi.cast("uintptr_t", ffi.addressof(lib, "srtp_unprotect")))
    unprotect_rtcp = int(ffi.cast("uintptr_t", ffi.addressof(lib, "srtp_unprotect_rtcp")))

    def new_step(session: Any) -> Any:
        return _fastsend.Unprotector(unprotect, unprotect_rtcp, srtp_handles(session)[1], session)

    return new_step


def enlarge_receive_buffers(dtls: RTCDtlsTransport) -> None:
    """Give a publisher's own sockets a larger receive buffer (PUBLISHER_RCVBUF); shared ones have theirs."""
    for protocol in list(dtls.transport._connection._protocols):
        if isinstance(protocol, SharedPortProtocol):
            continue
        sock = protocol.transport.get_extra_info("socket") if protocol.transport else None
        if sock is not None:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, PUBLISHER_RCVBUF)
            except OSError:
                pass


class _SharedTransport:
    """What aioice sees as a protocol's transport: the shared socket's, except that closing detaches.

    ``sendto`` is the shared transport's own bound method, so SendPath (and through it the forwarding
    loop) sends exactly as it does on a socket of its own.
    """

    def __init__(self, shared: SharedSocket, route: SharedPortProtocol) -> None:
        transport: Any = shared.transport
        self.sendto = transport.sendto
        self.get_write_buffer_size = transport.get_write_buffer_size
        self.get_extra_info = transport.get_extra_info
        self._shared = shared
        self._route = route
        self._closing = False

    def is_closing(self) -> bool:
        return self._closing

    def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        self._shared.detach(self._route)
        # aioice's StunProtocol.close() waits for connection_lost; the shared socket stays open.
        self._route.connection_lost(None)

    abort = close


class SharedPortProtocol(aioice.ice.StunProtocol):
    """An aioice protocol on a shared socket of the UdpMux, and the mux's Route for its connection."""

    def __init__(self, connection: aioice.ice.Connection, shared: SharedSocket, component: int) -> None:
        super().__init__(connection)
        self.shared = shared
        self.ufrag = connection.local_username
        self.addresses: set[Any] = set()
        self.connection_made(cast(Any, _SharedTransport(shared, self)))
        self.local_candidate = Candidate(
            foundation=candidate_foundation("host", "udp", shared.host), component=component, transport="udp",
            priority=candidate_priority(component, "host"), host=shared.host, port=shared.port, type="host",
        )
        shared.attach(self)

    def integrity_key(self) -> bytes:
        return self.receiver.local_password.encode("utf8")

    async def request(self, request: stun.Message, addr: tuple[str, int], integrity_key: bytes | None = None,
                      retransmissions: int | None = None) -> tuple[stun.Message, tuple[str, int]]:
        # Responses carry no username: the mux finds this protocol by the transaction id.
        self.shared.expect(request.transaction_id, self)
        try:
            return await super().request(request, addr, integrity_key, retransmissions)
        finally:
            self.shared.forget(request.transaction_id)


def share_udp_port(dtls: RTCDtlsTransport, mux: UdpMux) -> None:
    """Make a connection's ICE agent use the mux's shared sockets for its host candidates.

    aioice binds a new ephemeral port per host address in ``get_component_candidates``; the replacement
    gives the connection one SharedPortProtocol per shared socket instead, and lets aioice go on with a
    server-side TURN allocation (ice.turn_server) if one is configured. The connection also gets a long
    ufrag no other live connection has, which is how the mux tells their STUN checks apart. Call once the
    ICE transport exists and before the local description is created (the ufrag goes into it).
    """
    connection = dtls.transport._connection
    if getattr(connection.get_component_candidates, "_haven_guard", False):
        return
    connection._local_username = mux.new_ufrag()
    original = connection.get_component_candidates

    async def get_component_candidates(component: int, addresses: list[str], timeout: int = 5) -> list[Candidate]:
        routes = [SharedPortProtocol(connection, shared, component)
                  for shared in mux.sockets if shared.transport is not None]
        connection._protocols += routes
        others = await original(component, [], timeout)
        return [route.local_candidate for route in routes] + others

    get_component_candidates._haven_guard = True  # type: ignore[attr-defined]
    connection.get_component_candidates = get_component_candidates  # type: ignore[method-assign]


def local_sockets(dtls: RTCDtlsTransport) -> int:
    """Count the UDP sockets (own or shared) the connection's ICE agent gathered on (0: it has none)."""
    return len(dtls.transport._connection._protocols)


def end_consent_with_connection(dtls: RTCDtlsTransport) -> None:
    """Make aioice's consent-check task end with its connection, whatever the order of events.

    aioice starts ``query_consent`` at the end of ``connect()``; if the connection was closed while
    ``connect()`` slept between its last check and that line (a client that vanished right after its
    offer), the task starts after ``close()`` already cancelled nothing, finds no nominated pair, and
    loops forever (5 s sleeps, no failures counted). The task's coroutine now returns at once when the
    connection is closing. Call before ICE starts (after the remote or local description is set).
    """
    connection = dtls.transport._connection
    if getattr(connection.query_consent, "_haven_guard", False):
        return
    original = connection.query_consent

    async def query_consent() -> None:
        if connection._closing:
            return
        await original()

    query_consent._haven_guard = True  # type: ignore[attr-defined]
    connection.query_consent = query_consent  # type: ignore[method-assign]


def close_ice(pc: RTCPeerConnection) -> None:
    """After ``pc.close()``: end any consent-check task still pending on its ICE connections."""
    seen = set()
    for transceiver in pc.getTransceivers():
        connection = transceiver.receiver.transport.transport._connection
        if id(connection) in seen:
            continue
        seen.add(id(connection))
        task = connection._query_consent_task
        if task is not None and not task.done():
            task.cancel()


def consent_task(dtls: RTCDtlsTransport) -> Any:
    """Return the ICE connection's consent-check task (None before ICE completed and after close)."""
    return dtls.transport._connection._query_consent_task


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
    ffi, lib = _srtp_ffi, _srtp_lib
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


def forward_only(transceiver: RTCRtpTransceiver) -> None:
    """Keep aiortc from starting (or keeping) the per-stream machinery of a transceiver Haven only forwards through.

    When a connection comes up, aiortc's ``RTCRtpSender.send`` starts an RTP task (waiting on a track
    Haven never feeds) and an RTCP task (a Sender Report every 0.5-1.5 s, with ntp=0/rtp=0 since it
    sent nothing), and ``RTCRtpReceiver.receive`` starts a decoder *thread* and an RTCP task (Receiver
    Reports from statistics it never gathers, because hook_dtls takes the packets first). Per room of N
    that is ~2N threads and ~4N² timers doing nothing useful: the Producer and Consumer keep the
    statistics and send the reports. Both methods become no-ops, so the sender and receiver stay
    "not started" and their ``stop()`` has nothing to wait for. Call before the connection connects.
    """

    async def no_send(parameters: Any) -> None:
        return None

    async def no_receive(parameters: Any) -> None:
        return None

    transceiver.sender.send = no_send  # type: ignore[method-assign]
    receiver = transceiver.receiver
    receiver.receive = no_receive  # type: ignore[method-assign]
    # What the receiver built for decoding and bandwidth estimation is never fed (hook_dtls takes the
    # packets first): a video receiver's RemoteBitrateEstimator alone is ~100 KB of small objects, and
    # every subscribe slot is a transceiver with a receiver, so a room of 15 paid ~1.5 MB per
    # participant for them. aiortc's audio receivers run with these None already.
    receiver._RTCRtpReceiver__remote_bitrate_estimator = None  # type: ignore[attr-defined]
    receiver._RTCRtpReceiver__nack_generator = None  # type: ignore[attr-defined]
    receiver._RTCRtpReceiver__jitter_buffer = None  # type: ignore[attr-defined]
    # The decoder thread's queue and error flag: only the (never started) decoder thread uses them.
    receiver._RTCRtpReceiver__decoder_queue = None  # type: ignore[attr-defined]
    receiver._RTCRtpReceiver__decoder_error = None  # type: ignore[attr-defined]
    # The started/exited events of the tasks that never start (stop() waits on them only once started):
    # six asyncio.Events per transceiver, ~5 KB with their deques, ~150 KB per participant at N=15.
    for name in ("rtcp_started", "rtcp_exited"):
        setattr(receiver, f"_RTCRtpReceiver__{name}", None)
    for name in ("rtp_started", "rtp_exited", "rtcp_started", "rtcp_exited"):
        setattr(transceiver.sender, f"_RTCRtpSender__{name}", None)


def set_stream_id(sender: RTCRtpSender, stream_id: str) -> None:
    """Give a sender its own ``a=msid`` stream id (aiortc uses one per connection)."""
    sender._stream_id = stream_id


def negotiated_codecs(transceiver: RTCRtpTransceiver) -> list[RTCRtpCodecParameters]:
    """Return the negotiated media codecs of a transceiver, RTX excluded."""
    return [c for c in transceiver._codecs if not is_rtx(c)]


def rtx_payload_type(transceiver: RTCRtpTransceiver, payload_type: int) -> int:
    """Return the negotiated RTX payload type whose ``apt`` is ``payload_type`` (RFC 4588), or -1."""
    for codec in transceiver._codecs:
        if is_rtx(codec) and str(codec.parameters.get("apt")) == str(payload_type) and codec.payloadType is not None:
            return int(codec.payloadType)
    return -1


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
