"""Consumer: one outgoing copy of a Producer to one subscriber, sent on a Slot of its subscribe connection."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from .reasons import CloseReason, DropReason
from .rtp import HEADER, HEADER_SIZE
from .sequence import SEQ_MASK, SequenceMunger, SlotNumbering

if TYPE_CHECKING:
    from .producer import Producer

# A subscriber whose socket has this many bytes queued in user space (the kernel buffer is full) is
# congested: we drop instead of queueing, so one slow subscriber never delays the others.
CONGESTION_BYTES = 256 * 1024

# Timestamp step assumed between the last packet a slot carried and the first of its next source.
NEXT_FRAME_TICKS = {"audio": 960, "video": 3000}


SENT, WOULD_BLOCK, FAILED = 0, 1, 2

Emit = Callable[[int, int, int, int, bytes], int]

try:  # built from media/_fastsend.c by the install; the pure-Python path below is the reference
    from . import _fastsend
except ImportError:  # pragma: no cover - depends on the build
    _fastsend = None  # type: ignore[assignment]


class SendPath(Protocol):
    """What a connected transport offers its slots (media/adapter.py ``SendPath``; fakes in the tests)."""

    addr: tuple[str, int]

    def protect(self, data: bytes) -> bytes: ...

    def protect_rtcp(self, data: bytes) -> bytes: ...

    def sendto(self, data: bytes, addr: tuple[str, int]) -> None: ...

    def buffer_size(self) -> int: ...


def compiled_available() -> bool:
    """Tell whether the compiled send step was built."""
    return _fastsend is not None


class PythonSender:
    """The pure-Python send step of one slot: pack the header, protect with pylibsrtp, sendto.

    Like media/_fastsend.c's Sender it counts what it sent (``packets``, and ``octets`` after the fixed
    header), which is what the slot's consumers report.
    """

    __slots__ = ("packets", "octets", "emit")

    def __init__(self, path: SendPath, ssrc: int) -> None:
        self.packets = 0
        self.octets = 0
        pack, protect, sendto, addr = HEADER.pack, path.protect, path.sendto, path.addr

        def emit(b0: int, b1: int, seq: int, ts: int, tail: bytes) -> int:
            try:
                sendto(protect(pack(b0, b1, seq, ts, ssrc) + tail), addr)
            except Exception:
                return FAILED
            self.packets += 1
            self.octets += len(tail)
            return SENT

        self.emit: Emit = emit


def compiled_sender(path: Any, ssrc: int, owner: Any = None) -> Any:
    """Return the compiled send step (a ``_fastsend.Sender``) bound to a subscriber's socket, address and SRTP.

    Its packets are queued, protected, in media/_fastsend.c's batch and leave at the next
    ``flush_sends()`` (each copy of one incoming packet in one ``sendmmsg``). A send the kernel refuses
    is taken back from its counts and reported by ``flush_sends`` with ``owner``.
    """
    if _fastsend is None:
        raise RuntimeError("media._fastsend was not built")
    address = _fastsend.sockaddr(path.addr[0], path.addr[1])
    # The Sender holds ``path``, which keeps the SRTP session (and so the context at srtp_ctx) alive.
    return _fastsend.Sender(path.srtp_protect, path.srtp_ctx, path.fd, address, ssrc, path, owner)


class _NoSender:
    """What a slot sends through before its connection is up: nothing."""

    __slots__ = ()
    packets = 0
    octets = 0


NO_SENDER = _NoSender()


def _no_fan_out(*args: object) -> int:
    raise RuntimeError("media._fastsend was not built")


# fan_out(senders, b0, marker, seq, ts, tail, ext) -> copies too late for their epoch: the per-copy loop of
# Consumer.send for steady consumers on compiled slots (Producer.receive keeps the tuple of their Senders).
fan_out: Callable[..., int] = _no_fan_out if _fastsend is None else _fastsend.fan_out


def _nothing_queued() -> int:
    return 0


# flush_sends() -> how many sends the kernel refused since the last failed_sends(); 0 almost always.
# Called after every burst of emits (a producer's fan-out, a subscriber's NACKs); the pure-Python path
# sends at once and has nothing to flush.
flush_sends: Callable[[], int] = _nothing_queued if _fastsend is None else _fastsend.flush


def failed_sends() -> list[tuple[Any, int, int]]:
    """Collect the compiled step's refused sends: (owner, WOULD_BLOCK or FAILED, tail length) each."""
    return [] if _fastsend is None else _fastsend.failures()


def settle_failed_sends(drops: dict[DropReason, int], newest: Producer | None = None, ext: int = -1) -> None:
    """Account for sends the kernel refused at a flush, as the immediate path would have at emit.

    The Sender already took each back from its counts; the drop is counted here. A refused copy of
    ``newest``'s packet ``ext`` holds its consumer until a key frame, as congestion does; any other (a
    retransmission) is simply lost.
    """
    for owner, status, _ in failed_sends():
        consumer = getattr(owner, "consumer", None)
        if consumer is None:
            drops[DropReason.SEND_FAILED] += 1
            continue
        if status == WOULD_BLOCK and consumer.producer is newest and ext >= 0:
            consumer._congested(ext)
        else:
            consumer.drops[DropReason.SEND_FAILED] += 1


SENT_REPORTS_KEPT = 4  # SRs go out every few seconds; a report answers one of the latest
MAX_RTT = 10.0  # seconds: longer is not a path anyone could talk over, so it is an error


def _not_ready(*args: object) -> Any:
    raise RuntimeError("the slot has no send path yet")


class Slot(SlotNumbering):
    """One sendonly m-line of a subscribe connection; carries one Consumer at a time.

    A slot outlives its consumers (aiortc cannot remove m-lines), so it keeps the sequence number and
    timestamp its subscriber will see next (its ``SlotNumbering``): the next consumer continues from
    them and the subscriber sees one unbroken stream that changed source.
    """

    __slots__ = (
        "transceiver", "kind", "codec_key", "mid", "ssrc", "pt", "cname", "consumer", "used", "protect",
        "protect_rtcp", "sendto", "addr", "buffer_size", "ready", "sender", "compiled", "emit", "reports_sent",
        "rtt", "loss",
    )

    def __init__(self, transceiver: Any, kind: str, codec_key: tuple[str, str, str], ssrc: int, cname: str) -> None:
        super().__init__(random.randint(0, 0x7FFF), random.randint(0, 0xFFFFFFFF))
        self.transceiver = transceiver
        self.kind = kind
        self.codec_key = codec_key
        self.mid: str | None = None
        self.ssrc = ssrc
        self.pt = -1
        self.cname = cname
        self.consumer: Consumer | None = None
        self.used = False
        self.protect: Callable[[bytes], bytes] = _not_ready
        self.protect_rtcp: Callable[[bytes], bytes] = _not_ready
        self.sendto: Callable[[bytes, tuple[str, int]], None] = _not_ready
        self.buffer_size: Callable[[], int] = _not_ready
        # The send step (PythonSender or _fastsend.Sender); ``emit`` is its bound method, looked up once.
        self.sender: Any = NO_SENDER
        self.compiled = False
        self.emit: Emit = _not_ready
        self.addr: tuple[str, int] = ("", 0)
        self.ready = False
        # What the subscriber's receiver reports say of this stream, for the metrics' summaries: the
        # round trip (seconds) and the fraction lost, -1 until a report tells. ``reports_sent`` maps the
        # middle 32 bits of the NTP time of each recent SR to when it left, because the NTP time is the
        # publisher's clock, not ours: the round trip is measured on our monotonic clock alone.
        self.reports_sent: dict[int, float] = {}
        self.rtt = -1.0
        self.loss = -1.0

    def attach_send_path(self, path: SendPath, pt: int, compiled: bool = False) -> None:
        """Bind the slot to its connected transport's send path and negotiated payload type.

        ``emit(b0, b1, seq, ts, tail)`` sends one rewritten packet and returns SENT, WOULD_BLOCK or
        FAILED; ``compiled`` selects media/_fastsend.c over the pure-Python steps (same bytes out),
        whose packets leave at the next ``flush_sends()``.
        """
        self.protect = path.protect
        self.protect_rtcp = path.protect_rtcp
        self.sendto = path.sendto
        self.addr = path.addr
        self.buffer_size = path.buffer_size
        self.pt = pt
        self.sender = compiled_sender(path, self.ssrc, self) if compiled else PythonSender(path, self.ssrc)
        self.compiled = compiled
        self.emit = self.sender.emit
        self.ready = True
        if self.consumer is not None:
            self.consumer.producer.routes = None  # it may now take the compiled fan-out

    def sent_report(self, ntp_timestamp: int, at: float) -> None:
        """Remember when the SR stamped ``ntp_timestamp`` left (the last few: reports may be lost)."""
        sent = self.reports_sent
        if len(sent) >= SENT_REPORTS_KEPT:
            del sent[next(iter(sent))]
        sent[(ntp_timestamp >> 16) & 0xFFFFFFFF] = at

    def received_report(self, fraction_lost: int, lsr: int, dlsr: int, at: float) -> None:
        """Read one report block of the subscriber about this slot's stream (RFC 3550 6.4.1)."""
        self.loss = fraction_lost / 256
        sent = self.reports_sent.get(lsr) if lsr else None
        if sent is not None:
            rtt = at - sent - dlsr / 65536
            if 0 <= rtt < MAX_RTT:  # a report about a stale SR, or a made-up DLSR, is not a round trip
                self.rtt = rtt

    def send_rtcp(self, data: bytes) -> bool:
        """Protect and send one compound RTCP packet to the subscriber; never raises."""
        if not self.ready:
            return False
        try:
            self.sendto(self.protect_rtcp(data), self.addr)
            return True
        except Exception:
            return False


class Consumer(SequenceMunger):
    """Forwards one Producer's packets to one Slot, rewriting PT, SSRC, sequence number and timestamp.

    The consumer starts (and resumes after a pause or congestion) at a key frame; its numbering is the
    ``SequenceMunger`` it is, so the subscriber's sequence numbers never repeat across the gap.
    """

    __slots__ = (
        "id", "producer", "slot", "subscriber_id", "active", "_sent_mark", "_sent_final", "remb", "closed",
        "close_reason", "drops", "nacks", "retransmissions", "created", "pending", "suspended",
        "switches",
    )

    # The VP8 counter shifts a simulcast consumer applies after a layer switch (media/simulcast.py, where
    # they are slots); a plain consumer shifts nothing.
    picture_off = 0
    tl0_off = 0

    def __init__(self, consumer_id: str, producer: Producer, slot: Slot, subscriber_id: str) -> None:
        super().__init__(slot)
        self.id = consumer_id
        self.producer = producer
        self.slot = slot
        self.subscriber_id = subscriber_id
        self.active = False  # in the producer's fan-out list
        # What was sent is counted by the slot's send step (see ``packets``); a slot carries one consumer
        # at a time, so this consumer's share is what the step counted since it took the slot.
        sender = slot.sender
        self._sent_mark = (sender.packets, sender.octets)
        self._sent_final: tuple[int, int] | None = None  # frozen when the consumer is detached
        self.nacks = 0  # packets the subscriber reported lost (RTCP NACK), counted by its transport
        self.retransmissions = 0  # of those, resent from the producer's cache
        self.remb = 0
        self.closed = False
        self.close_reason: CloseReason | None = None
        self.drops = producer.drops
        # When the subscriber was allowed this track: nothing the server received before may reach it
        # (a replay from the cache starts at a key frame received after this moment).
        self.created = time.monotonic()
        # The simulcast layer this consumer moves to at its next key frame (Producer.switch), if any.
        self.pending: Producer | None = None
        # Left out of the fan-out because the subscriber's link cannot carry it (media/allocation.py).
        self.suspended = False
        self.switches = 0  # simulcast layer changes (media/simulcast.py)
        slot.consumer = self

    @property
    def packets(self) -> int:
        """Packets sent, retransmissions included (what sender reports count)."""
        final = self._sent_final
        return final[0] if final is not None else self.slot.sender.packets - self._sent_mark[0]

    @property
    def octets(self) -> int:
        """Of those packets, the bytes after the fixed header."""
        final = self._sent_final
        return final[1] if final is not None else self.slot.sender.octets - self._sent_mark[1]

    # -- numbering: a change takes the consumer out of (or back into) the compiled fan-out ----------

    def resume(self, ext: int, ts: int) -> None:
        SequenceMunger.resume(self, ext, ts)
        self.producer.routes = None

    def hold(self, first_unsent: int) -> None:
        SequenceMunger.hold(self, first_unsent)
        self.producer.routes = None

    # -- hot path ---------------------------------------------------------------------------------

    def send(self, b0: int, marker: int, seq: int, ts: int, tail: bytes, ext: int) -> None:
        """Rewrite the header, protect and send one packet; drops instead of queueing or raising.

        ``ext`` is the packet's extended sequence number; the numbering is ``SequenceMunger.map`` inlined
        with literal masks, because this runs once per packet and subscriber. media/_fastsend.c's
        ``fan_out`` is the same step for steady consumers on compiled slots, less the write-buffer check:
        their packets never enter the transport's queue, so the kernel refusing one (at the flush) is
        their congestion signal.
        """
        if ext < self.base:
            self.drops[DropReason.LATE_PACKET] += 1
            return
        slot = self.slot
        if slot.buffer_size() > CONGESTION_BYTES:
            self._congested(ext)
            return
        status = slot.emit(b0, marker | slot.pt, (seq + self.seq_off) & 0xFFFF, (ts + self.ts_off) & 0xFFFFFFFF,
                           tail)
        if status:
            if status == WOULD_BLOCK:
                self._congested(ext)
            else:
                # The number stays given out: the subscriber sees a loss it may NACK.
                self.drops[DropReason.SEND_FAILED] += 1

    def _congested(self, ext: int) -> None:
        self.drops[DropReason.SUBSCRIBER_CONGESTED] += 1
        producer = self.producer
        if producer.kind == "video":
            # Video resumes at the next key frame; audio just loses the packet (the gap is a loss).
            self.hold(producer.newest_unsent(ext))
            producer.request_keyframe()

    # -- control ----------------------------------------------------------------------------------

    def retransmit(self, subscriber_seq: int) -> bool:
        """Resend a packet a subscriber reported lost, from the producer's cache (RFC 4585 NACK)."""
        producer = self.producer
        cache = producer.cache
        if cache is None or not self.active:
            return False
        source = self.lookup(subscriber_seq, producer.newest())
        if source < 0:
            return False
        slot = self.slot
        packet = cache.get(source & SEQ_MASK)
        if packet is None or slot.buffer_size() > CONGESTION_BYTES:
            return False
        b0, b1, seq, ts, _ = HEADER.unpack_from(packet, 0)
        first, tail, _ = producer.translate(packet)
        if first < 0:
            return False
        tail = self.outgoing(first, tail)
        # A retransmission that cannot go out is simply not sent: it must not hold the stream.
        if slot.emit(first, (b1 & 0x80) | slot.pt, (seq + self.seq_off) & SEQ_MASK, self.map_ts(ts), tail) != SENT:
            self.drops[DropReason.SEND_FAILED] += 1
            return False
        self.retransmissions += 1
        return True

    def outgoing(self, first: int, tail: bytes) -> bytes:
        """Return the packet body as this subscriber must see it (a simulcast consumer rewrites it)."""
        return tail

    def switch_layer(self, layer: Producer, ext: int, ts: int, picture: int, tl0: int) -> None:
        """Carry another layer from its key frame ``ext`` on (only a simulcast consumer can)."""
        raise TypeError("a consumer of a single-layer track has no layer to switch to")

    @property
    def bytes_sent(self) -> int:
        """RTP bytes sent (fixed header and the rest, before SRTP); read at scrape time, never per packet."""
        return self.packets * HEADER_SIZE + self.octets

    def detach(self, reason: CloseReason) -> None:
        """Close the consumer and free its slot, leaving the slot's numbering after what it sent."""
        if self.closed:
            return
        self.closed = True
        self.close_reason = reason
        self._sent_final = (self.packets, self.octets)
        producer = self.producer
        producer.remove_consumer(self)
        self.stop(producer.newest(), producer.max_ts, NEXT_FRAME_TICKS.get(producer.kind, 3000))
        slot = self.slot
        slot.used = True
        if slot.consumer is self:
            slot.consumer = None
