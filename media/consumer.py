"""Consumer: one outgoing copy of a Producer to one subscriber, sent on a Slot of its subscribe connection."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any, Callable

from .reasons import CloseReason, DropReason
from .rtp import HEADER

if TYPE_CHECKING:
    from .producer import Producer

# A subscriber whose socket has this many bytes queued in user space (the kernel buffer is full) is
# congested: we drop instead of queueing, so one slow subscriber never delays the others.
CONGESTION_BYTES = 256 * 1024

# Timestamp step assumed between the last packet a slot carried and the first of its next source.
NEXT_FRAME_TICKS = {"audio": 960, "video": 3000}


SENT, WOULD_BLOCK, FAILED = 0, 1, 2

try:  # built from media/_fastsend.c by the install; the pure-Python path below is the reference
    from . import _fastsend
except ImportError:  # pragma: no cover - depends on the build
    _fastsend = None


def compiled_available() -> bool:
    """Tell whether the compiled send step was built."""
    return _fastsend is not None


def python_emitter(path: Any, ssrc: int) -> Callable[[int, int, int, int, bytes], int]:
    """Return the pure-Python send step: pack the header, protect with pylibsrtp, sendto."""
    pack, protect, sendto, addr = HEADER.pack, path.protect, path.sendto, path.addr

    def emit(b0: int, b1: int, seq: int, ts: int, tail: bytes) -> int:
        try:
            sendto(protect(pack(b0, b1, seq, ts, ssrc) + tail), addr)
        except Exception:
            return FAILED
        return SENT

    return emit


def compiled_emitter(path: Any, ssrc: int) -> Callable[[int, int, int, int, bytes], int]:
    """Return the compiled send step bound to one subscriber's socket, address and SRTP context."""
    if _fastsend is None:
        raise RuntimeError("media._fastsend was not built")
    send = _fastsend.send
    protect, ctx, fd = path.srtp_protect, path.srtp_ctx, path.fd
    address = _fastsend.sockaddr(path.addr[0], path.addr[1])

    def emit(b0: int, b1: int, seq: int, ts: int, tail: bytes, _path: Any = path) -> int:
        # _path keeps the SRTP session (and so the libsrtp context at ``ctx``) alive with the emitter.
        return send(protect, ctx, fd, address, ssrc, b0, b1, seq, ts, tail)

    return emit


class Slot:
    """One sendonly m-line of a subscribe connection; carries one Consumer at a time.

    A slot outlives its consumers (aiortc cannot remove m-lines), so it keeps the sequence number and
    timestamp its subscriber saw last: the next consumer continues from them and the subscriber sees
    one unbroken stream that changed source.
    """

    __slots__ = (
        "transceiver", "kind", "codec_key", "mid", "ssrc", "pt", "cname", "consumer", "next_seq",
        "next_ts", "used", "protect", "protect_rtcp", "sendto", "addr", "buffer_size", "ready", "emit",
    )

    def __init__(self, transceiver: Any, kind: str, codec_key: tuple, ssrc: int, cname: str) -> None:
        self.transceiver = transceiver
        self.kind = kind
        self.codec_key = codec_key
        self.mid: str | None = None
        self.ssrc = ssrc
        self.pt = -1
        self.cname = cname
        self.consumer: Consumer | None = None
        self.next_seq = random.randint(0, 0x7FFF)
        self.next_ts = random.randint(0, 0xFFFFFFFF)
        self.used = False
        self.protect = self.protect_rtcp = self.sendto = self.buffer_size = self.emit = None
        self.addr = None
        self.ready = False

    def attach_send_path(self, path: Any, pt: int, compiled: bool = False) -> None:
        """Bind the slot to its connected transport's send path and negotiated payload type.

        ``emit(b0, b1, seq, ts, tail)`` sends one rewritten packet and returns SENT, WOULD_BLOCK or
        FAILED; ``compiled`` selects media/_fastsend.c over the pure-Python steps (same bytes out).
        """
        self.protect = path.protect
        self.protect_rtcp = path.protect_rtcp
        self.sendto = path.sendto
        self.addr = path.addr
        self.buffer_size = path.buffer_size
        self.pt = pt
        self.emit = compiled_emitter(path, self.ssrc) if compiled else python_emitter(path, self.ssrc)
        self.ready = True

    def send_rtcp(self, data: bytes) -> bool:
        """Protect and send one compound RTCP packet to the subscriber; never raises."""
        if not self.ready:
            return False
        try:
            self.sendto(self.protect_rtcp(data), self.addr)
            return True
        except Exception:
            return False


class Consumer:
    """Forwards one Producer's packets to one Slot, rewriting PT, SSRC, sequence number and timestamp.

    The consumer starts (and resumes after a pause or congestion) at a key frame, choosing offsets so
    the subscriber's sequence numbers stay contiguous across the gap.
    """

    __slots__ = (
        "id", "producer", "slot", "subscriber_id", "seq_off", "ts_off", "waiting_key", "active",
        "packets", "octets", "remb", "closed", "close_reason", "started", "drops", "epoch_seq",
    )

    def __init__(self, consumer_id: str, producer: Producer, slot: Slot, subscriber_id: str) -> None:
        self.id = consumer_id
        self.producer = producer
        self.slot = slot
        self.subscriber_id = subscriber_id
        self.seq_off = 0
        self.ts_off = 0
        self.epoch_seq = 0  # source seq where the current offsets took effect
        self.waiting_key = True
        self.active = False  # in the producer's fan-out list
        self.started = False  # has sent at least one packet
        self.packets = 0
        self.octets = 0
        self.remb = 0
        self.closed = False
        self.close_reason: CloseReason | None = None
        self.drops = producer.drops
        slot.consumer = self

    # -- hot path ---------------------------------------------------------------------------------

    def resume_at(self, seq: int, ts: int) -> None:
        """Choose offsets at the key frame where forwarding (re)starts."""
        slot = self.slot
        self.seq_off = (slot.next_seq - seq) & 0xFFFF
        self.epoch_seq = seq
        if not self.started:
            # First packet on this slot from this producer: continue the slot's timestamp line.
            self.ts_off = (slot.next_ts - ts) & 0xFFFFFFFF
            self.started = True
        self.waiting_key = False

    def send(self, b0: int, marker: int, seq: int, ts: int, tail: bytes) -> None:
        """Rewrite the header, protect and send one packet; drops instead of queueing or raising."""
        slot = self.slot
        if slot.buffer_size() > CONGESTION_BYTES:
            self._congested(seq)
            return
        status = slot.emit(b0, marker | slot.pt, (seq + self.seq_off) & 0xFFFF, (ts + self.ts_off) & 0xFFFFFFFF,
                           tail)
        if status:
            if status == WOULD_BLOCK:
                self._congested(seq)
            else:
                self.drops[DropReason.SEND_FAILED] += 1
            return
        self.packets += 1
        self.octets += len(tail)

    def _congested(self, seq: int) -> None:
        self.drops[DropReason.SUBSCRIBER_CONGESTED] += 1
        if self.producer.kind == "video":
            self.hold(seq)
            self.producer.request_keyframe()

    # -- control ----------------------------------------------------------------------------------

    def hold(self, next_seq: int) -> None:
        """Stop forwarding until the next key frame; ``next_seq`` is the first source seq not sent."""
        if not self.waiting_key:
            self.slot.next_seq = (next_seq + self.seq_off) & 0xFFFF
            self.waiting_key = True  # audio "key frames" are every packet, so audio resumes at once

    def retransmit(self, subscriber_seq: int) -> bool:
        """Resend a packet a subscriber reported lost, from the producer's cache (RFC 4585 NACK)."""
        producer = self.producer
        cache = producer.cache
        if cache is None or not self.active or self.waiting_key or producer.max_seq is None:
            return False
        source_seq = (subscriber_seq - self.seq_off) & 0xFFFF
        # Only packets sent under the current offsets: from the last (re)start to the newest seen.
        # Anything older was numbered differently (before a pause, or another track on this slot).
        if ((source_seq - self.epoch_seq) & 0xFFFF) >= 0x8000 or \
                ((producer.max_seq - source_seq) & 0xFFFF) >= 0x8000:
            return False
        slot = self.slot
        packet = cache.get(source_seq)
        if packet is None or slot.buffer_size() > CONGESTION_BYTES:
            return False
        b0, b1, seq, ts, _ = HEADER.unpack_from(packet, 0)
        first, tail, _ = producer.translator.translate(packet)
        if first < 0:
            return False
        # A retransmission that cannot go out is simply not sent: it must not hold the stream.
        if slot.emit(first, (b1 & 0x80) | slot.pt, (seq + self.seq_off) & 0xFFFF,
                     (ts + self.ts_off) & 0xFFFFFFFF, tail) != SENT:
            self.drops[DropReason.SEND_FAILED] += 1
            return False
        self.packets += 1
        self.octets += len(tail)
        return True

    def detach(self, reason: CloseReason) -> None:
        """Close the consumer and free its slot, remembering where the slot's numbering stands."""
        if self.closed:
            return
        self.closed = True
        self.close_reason = reason
        producer = self.producer
        producer.remove_consumer(self)
        slot = self.slot
        if self.started:
            if not self.waiting_key and producer.max_seq is not None:
                slot.next_seq = (producer.max_seq + 1 + self.seq_off) & 0xFFFF
            if producer.max_ts is not None:
                step = NEXT_FRAME_TICKS.get(producer.kind, 3000)
                slot.next_ts = (producer.max_ts + self.ts_off + step) & 0xFFFFFFFF
        slot.used = True
        if slot.consumer is self:
            slot.consumer = None
