"""Producer: one incoming track (camera, microphone, screen) and its fan-out to Consumers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .consumer import Consumer, fan_out, flush_sends, settle_failed_sends
from .packet_cache import PacketCache
from .reasons import CloseReason, DropReason
from .repair import AUDIO_MAX_AGE, MAX_AGE, UpstreamRepair
from .rtcp import build_nack, build_pli, build_receiver_report
from .rtp import HEADER, ExtensionTranslator, keyframe_detector, payload_offset
from .vp8 import NO_VALUE, counters, keyframe_height

# Keyframe requests towards a publisher are throttled (a storm of PLIs from many subscribers makes an
# encoder emit key frame after key frame, which costs far more bandwidth than it saves).
KEYFRAME_INTERVAL = 0.5
# A viewer who starts within this long of a key frame the server still holds, with every packet since, is
# sent that key frame and what followed from the cache instead of asking the publisher again: opening
# breakouts starts many viewers of each camera within moments (their consumers start as each subscriber's
# renegotiation completes), and one key frame then serves them all. Only a key frame that arrived after
# the viewer was let in is replayed, so the cache never shows anyone what came before (a waiting room,
# another breakout).
REPLAY_WINDOW = 0.5
# Packets kept per video track to answer NACKs: 512 is 4.5 s of a 1 Mbit/s camera and still ~1.5 s of a
# screen share's key-frame burst, while a retransmission older than a few round trips (the browser's
# jitter buffer has moved on) is never asked for. Each entry holds a ~1.2 KB packet: 1024 entries made
# the cache the largest part of a participant's memory.
CACHE_SIZE = 512

# What one published track may send, enforced by token buckets holding one second's worth, which the
# Router's timer refills (Producer.refill); past them packets are dropped as RATE_LIMITED. Video may
# use twice the bitrate asked of it (media.max_bitrate): key frames and retransmissions burst.
PACKETS_PER_SECOND = {"audio": 250, "video": 1500}
AUDIO_MAX_BITRATE = 256_000
VIDEO_BITRATE_HEADROOM = 2
DEFAULT_MAX_BITRATE = 2_500_000  # until the first refill tells the Router's setting


@dataclass(frozen=True)
class TrackInfo:
    """A plain description of a track for signaling: no live object crosses the media API."""

    id: str
    owner_id: str
    kind: str
    label: str


class Producer:
    """Receives one publisher stream and forwards each packet to every active Consumer.

    ``receive`` is the hot path: synchronous, no allocation beyond the rewritten header, and it never
    raises. Everything periodic (receiver reports, REMB, speaker levels) is read from counters by the
    Router's timer.
    """

    def __init__(
        self,
        producer_id: str,
        owner_id: str,
        kind: str,
        label: str,
        mime_type: str,
        clock_rate: int,
        extension_ids: dict[str, int],
        rtcp_ssrc: int,
        send_rtcp: Callable[[bytes], bool],
        drops: dict[DropReason, int],
        ssrc: int | None = None,
        payload_type: int = -1,
        profile: str = "",
        compiled: bool = False,
    ) -> None:
        self.id = producer_id
        self.owner_id = owner_id
        self.kind = kind
        self.label = label
        self.mime_type = mime_type
        self.clock_rate = clock_rate
        self.payload_type = payload_type
        # Subscribers must get exactly this codec: a slot is reusable only for the same key.
        self.codec_key = (kind, mime_type.lower(), profile)
        self.translator = ExtensionTranslator(extension_ids)
        # ``compiled``: media/_fastsend.c's translation, byte for byte the Python one's.
        self.translate = (self.translator.compiled() if compiled else None) or self.translator.translate
        self.is_key = keyframe_detector(mime_type)
        self.cache = PacketCache(CACHE_SIZE) if kind == "video" else None
        # What is lost on the way in is asked for again (media/repair.py): video, and audio too, which
        # browsers resend when the answer asks for it (media/sdp.py add_opus_repair); Opus FEC covers the rest.
        self.repair = UpstreamRepair(clock_rate, MAX_AGE if kind == "video" else AUDIO_MAX_AGE)
        self._repair_timer: asyncio.TimerHandle | None = None
        # The publisher's retransmission stream (RFC 4588), when it negotiated one: its payload type.
        self.rtx_payload_type = -1
        self.rtx_in = 0
        self.rtcp_ssrc = rtcp_ssrc
        self._send_rtcp = send_rtcp
        self.drops = drops
        self.ssrc = ssrc
        self.consumers: list[Consumer] = []
        # The fan-out split (``_route``): the Senders of steady consumers on compiled slots, for one
        # fan_out() call per packet, and the consumers the Python loop serves. None: split again at the
        # next packet (the consumers, or one's numbering, changed).
        self.routes: tuple[tuple[Any, ...], list[Consumer]] | None = None
        # Simulcast (media/simulcast.py): a track's layers are Producers sharing its id, lowest first;
        # ``track`` is the first, which the Router knows. A plain track is its own only layer.
        self.layers: list[Producer] = [self]
        self.track: Producer = self
        self.rid = ""
        # Consumers moving to this layer: each joins the fan-out at this layer's next key frame.
        self.switchers: list[Consumer] = []
        # A layer looks for key frames while consumers wait to switch to it. A VP8 layer also reads its key
        # frames' height, and a switch continues its VP8 counters (other codecs are switched unchanged).
        self.layered = False
        self.vp8_layer = False
        self.height = NO_VALUE
        # The publisher's latest sender report of this stream: NTP time (64-bit) and RTP timestamp.
        self.sr_ntp = 0
        self.sr_rtp = 0
        self.paused = False
        self.closed = False
        self.last_keyframe_request = -KEYFRAME_INTERVAL
        self.keyframe_requests = 0
        # After a key-frame request, packets are checked for the key frame it brings (``watch_key``);
        # where the latest one seen starts (extended number, RTP timestamp) and when it came.
        self.watch_key = False
        self.key_ext = -1
        self.key_ts = 0
        self.key_at = -REPLAY_WINDOW
        self.replays = 0  # viewers started from the cache instead of a new request
        # Receive statistics for receiver reports (RFC 3550 appendix A.3).
        self.packets_in = 0
        self.octets_in = 0
        self.forwarded = 0
        self.base_seq: int | None = None
        self.max_seq: int | None = None
        self.max_ts: int | None = None
        self.cycles = 0
        self.repeated = -1  # extended number of the newest packet if it arrived twice
        self.expected_prior = 0
        self.received_prior = 0
        self.last_sr: int = 0
        self.last_sr_time: float | None = None
        self.loss = -1.0  # the fraction lost on the way in over the last report interval; -1: none yet
        # The fraction that went missing at first, repaired or not: the link's own loss (link quality).
        self.link_loss = -1.0
        self.missed_prior = 0
        self.bitrate = -1  # bits/s received over the last interval the Router measured; -1: not yet
        self._bitrate_mark: tuple[float, int] | None = None
        # Audio level (RFC 6464) accumulated between speaker-detector ticks: sum of (127 - dBov).
        self.level_sum = 0
        self.level_count = 0
        # Token buckets (see PACKETS_PER_SECOND); full at the start.
        self.packets_left = PACKETS_PER_SECOND.get(kind, 250)
        self.bytes_left = self._byte_rate(DEFAULT_MAX_BITRATE)
        # Exceptions in receive(): the Router fails the publisher's connection after too many.
        self.failures = 0
        self.failure_reported = False

    def info(self) -> TrackInfo:
        """Describe this track as a plain value."""
        return TrackInfo(self.id, self.owner_id, self.kind, self.label)

    # -- hot path ---------------------------------------------------------------------------------

    def receive(self, p: bytes) -> None:
        """Forward one decrypted RTP packet of this stream to every active consumer."""
        try:
            n = len(p)
            packets_left = self.packets_left - 1
            bytes_left = self.bytes_left - n
            if packets_left < 0 or bytes_left < 0:
                self.drops[DropReason.RATE_LIMITED] += 1
                return
            self.packets_left = packets_left
            self.bytes_left = bytes_left
            b0, b1, seq, ts, _ = HEADER.unpack_from(p, 0)
            self.packets_in += 1
            self.octets_in += n
            max_seq = self.max_seq
            # The extended sequence number (RFC 3550 appendix A.1), computed once here for every
            # consumer: it is how a consumer tells a late packet from one of its current epoch.
            if max_seq is None:
                self.base_seq = self.max_seq = seq
                self.max_ts = ts
                ext = seq
            else:
                d = (seq - max_seq) & 0xFFFF
                if d < 0x8000:
                    if seq < max_seq:
                        self.cycles += 0x10000
                    self.max_seq = seq
                    self.max_ts = ts
                    ext = self.cycles + seq
                    if not d:
                        self.repeated = ext  # the newest packet came again (see newest_unsent)
                    elif d > 1:
                        self._missed(ext - d + 1, ext - 1, ts)
                else:
                    ext = self.cycles + seq - (0x10000 if seq > max_seq else 0)
                    if self.repair.pending:
                        self.repair.arrived(ext, time.monotonic(), ts)
            if self.cache is not None:
                self.cache.put(seq, p)
            first, tail, level = self.translate(p)
            if first < 0:
                self.drops[DropReason.MALFORMED] += 1
                return
            if level >= 0:
                self.level_sum += 127 - level
                self.level_count += 1
            if self.paused:
                self.drops[DropReason.PAUSED] += 1
                return
            marker = b1 & 0x80
            key = None
            if self.watch_key:
                key = self.is_key(p)
                if key:
                    self._key_seen(ext, ts)
            # A simulcast layer looks for key frames only while someone waits to switch to it, or to learn
            # its height: the rest of the time its packets cost one test here.
            if self.layered and (key or self.switchers or (self.vp8_layer and self.height < 0)):
                if key is None:
                    key = self.is_key(p)
                if key:
                    if self.vp8_layer:
                        self.height = keyframe_height(p, payload_offset(p))
                    if self.switchers:
                        self._take_switchers(ext, ts, p)
            routes = self.routes
            if routes is None:
                routes = self._route()
            senders, slow = routes
            if senders:
                late = fan_out(senders, first, marker, seq, ts, tail, ext)
                if late:
                    self.drops[DropReason.LATE_PACKET] += late
            waiting = False
            for c in slow:
                if c.waiting_key:
                    if key is None:
                        key = self.is_key(p)
                        if key:
                            self._key_seen(ext, ts)
                    if not key:
                        self.drops[DropReason.WAITING_KEYFRAME] += 1
                        waiting = True
                        continue
                    c.resume(ext, ts)
                c.send(first, marker, seq, ts, tail, ext)
            # The compiled step queued the copies: they leave now, in one sendmmsg per socket.
            if flush_sends():
                settle_failed_sends(self.drops, self, ext)
            self.forwarded += len(self.consumers)
            if waiting:
                # Someone is still waiting for a key frame: the one asked for may have gone by before
                # they started waiting, or been lost. Ask again (throttled to one per 500 ms).
                self.request_keyframe()
        except Exception:
            self.drops[DropReason.HOOK_ERROR] += 1
            self.failures += 1
            if flush_sends():  # copies queued before the exception still go, now
                settle_failed_sends(self.drops)

    def _route(self) -> tuple[tuple[Any, ...], list[Consumer]]:
        """Split the fan-out: which consumers media/_fastsend.c's fan_out() serves, which the Python loop.

        A consumer on a compiled slot that is forwarding (not waiting for a key frame) goes to fan_out(),
        its numbering (and a simulcast consumer's VP8 shifts) copied into its slot's Sender; any change to
        that numbering (``resume``, ``hold``, a layer switch, which resumes) or to the consumers clears
        ``routes``, so the copy is never stale when a packet is sent.
        """
        senders = []
        slow = []
        for c in self.consumers:
            slot = c.slot
            if slot.compiled and not c.waiting_key:
                sender = slot.sender
                sender.base = c.base
                sender.seq_off = c.seq_off
                sender.ts_off = c.ts_off
                sender.pt = slot.pt
                sender.picture_off = c.picture_off
                sender.tl0_off = c.tl0_off
                senders.append(sender)
            else:
                slow.append(c)
        routes = self.routes = (tuple(senders), slow)
        return routes

    def receive_rtx(self, p: bytes) -> None:
        """Unwrap one decrypted packet of the publisher's RTX stream (RFC 4588) and receive the original.

        The original sequence number is the first two bytes of the RTX payload; payload type and SSRC
        become the primary stream's. Padding-only packets (bandwidth probes) carry nothing to forward.
        """
        try:
            off = payload_offset(p)
            padding = p[-1] if p[0] & 0x20 and len(p) > 12 else 0
            if off < 0 or (p[1] & 0x7F) != self.rtx_payload_type or self.ssrc is None:
                self.drops[DropReason.MALFORMED] += 1
                return
            if len(p) - off - padding < 2:
                self.drops[DropReason.RTX_PADDING] += 1
                return
            self.rtx_in += 1
            self.receive(HEADER.pack(p[0], (p[1] & 0x80) | self.payload_type, (p[off] << 8) | p[off + 1],
                                     (p[4] << 24) | (p[5] << 16) | (p[6] << 8) | p[7], self.ssrc)
                         + p[12:off] + p[off + 2:])
        except Exception:
            self.drops[DropReason.HOOK_ERROR] += 1
            self.failures += 1

    # -- upstream repair (not per packet: only when a packet went missing) ---------------------------

    def _missed(self, first: int, last: int, ts: int) -> None:
        """Packets ``first``..``last`` were skipped by the one just received (RTP timestamp ``ts``)."""
        self._nack(self.repair.lost(first, last, time.monotonic(), ts))

    def repair_wait_ms(self, now: float) -> int:
        """How long (ms) subscribers' jitter buffers should wait for repairs of any layer of this track."""
        return max(layer.repair.wait_ms(now) for layer in self.layers)

    def _repair_tick(self) -> None:
        self._repair_timer = None
        repair = self.repair
        if not self.closed:
            abandoned = repair.abandoned
            self._nack(repair.due(time.monotonic()))
            if repair.abandoned > abandoned and self.consumers:
                # A packet no one will get: its frame and those after it cannot be decoded. Ask for a key
                # frame now; the subscribers' browsers would wait seconds before asking themselves.
                self.request_keyframe()

    def _nack(self, lost: list[int]) -> None:
        repair = self.repair
        if self.ssrc is None or self.closed:
            return
        if lost:
            self._send_rtcp(build_nack(self.rtcp_ssrc, self.ssrc, lost))
        if repair.pending and self._repair_timer is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # driven outside an event loop (bench/instructions.py): no retries
                return
            self._repair_timer = loop.call_later(repair.retry_interval(), self._repair_tick)

    def measure_bitrate(self, now: float) -> None:
        """Update ``bitrate`` from the bytes received since the last call (the Router's RTCP timer)."""
        mark = self._bitrate_mark
        self._bitrate_mark = (now, self.octets_in)
        if mark is not None and now > mark[0]:
            self.bitrate = int((self.octets_in - mark[1]) * 8 / (now - mark[0]))

    def _byte_rate(self, max_bitrate: int) -> int:
        bitrate = AUDIO_MAX_BITRATE if self.kind == "audio" else VIDEO_BITRATE_HEADROOM * max_bitrate
        return bitrate // 8

    def refill(self, seconds: float, max_bitrate: int) -> None:
        """Add ``seconds`` worth of packets and bytes to the token buckets (the Router's timer calls it)."""
        packet_rate = PACKETS_PER_SECOND.get(self.kind, 250)
        byte_rate = self._byte_rate(max_bitrate)
        self.packets_left = min(packet_rate, self.packets_left + int(packet_rate * seconds))
        self.bytes_left = min(byte_rate, self.bytes_left + int(byte_rate * seconds))

    # -- consumers --------------------------------------------------------------------------------

    def add_consumer(self, consumer: Consumer) -> None:
        """Start forwarding to a consumer from the next key frame, asking the publisher for one."""
        if consumer in self.consumers or self.closed:
            return
        consumer.active = True
        # A new list, not append: the hot loop may be iterating the old one further up the stack.
        self.consumers = self.consumers + [consumer]
        self.routes = None
        if not self._replay(consumer):
            self.request_keyframe(force=True)

    def _take_switchers(self, ext: int, ts: int, p: bytes) -> None:
        """Move the consumers waiting for this layer's key frame ``p`` onto it, from this packet on."""
        arriving, self.switchers = self.switchers, []
        picture, tl0 = counters(p, payload_offset(p)) if self.vp8_layer else (NO_VALUE, NO_VALUE)
        for consumer in arriving:
            consumer.switch_layer(self, ext, ts, picture, tl0)
        self.consumers = self.consumers + arriving
        self.routes = None

    def live_layers(self) -> list[Producer]:
        """Return this track's layers the publisher is sending now (a layer measured at 0 bits/s is not)."""
        return [layer for layer in self.layers if layer.bitrate != 0 and layer.packets_in > 0]

    def newest_counters(self) -> tuple[int, int]:
        """Return the VP8 picture id and TL0PICIDX of the newest packet received (a switch goes on from them)."""
        newest = self.max_seq
        if not self.vp8_layer or self.cache is None or newest is None:
            return NO_VALUE, NO_VALUE
        packet = self.cache.get(newest)
        return counters(packet, payload_offset(packet)) if packet is not None else (NO_VALUE, NO_VALUE)

    def switch(self, consumer: Consumer, target: Producer) -> None:
        """Have ``consumer`` (of this track) carry layer ``target`` from its next key frame on.

        Until then the consumer goes on with its layer, so the subscriber never waits on a blank tile.
        A consumer that has not started yet simply starts on the target (once its slot can send).
        """
        current, pending = consumer.producer, consumer.pending
        if pending is target or target.track is not self or target.closed:
            return
        _cancel_switch(consumer)
        if target is current:
            return
        if not consumer.started:
            was_active = consumer.active  # not before its slot has a send path (Router._activate)
            current.remove_consumer(consumer)
            consumer.producer = target
            if was_active:
                target.add_consumer(consumer)
            return
        consumer.pending = target
        target.switchers = target.switchers + [consumer]
        target.request_keyframe(force=True)

    def _key_seen(self, ext: int, ts: int) -> None:
        self.key_ext, self.key_ts, self.key_at = ext, ts, time.monotonic()
        self.watch_key = False

    def _replay(self, consumer: Consumer) -> bool:
        """Start a new viewer from the latest key frame and everything after it, if the cache holds it all."""
        cache, newest = self.cache, self.newest()
        if (cache is None or newest is None or self.key_ext < 0 or self.paused or not consumer.waiting_key
                or time.monotonic() - self.key_at > REPLAY_WINDOW or newest - self.key_ext >= CACHE_SIZE
                or self.key_at < consumer.created):  # never show a viewer what came before they were let in
            return False
        packets = []
        for ext in range(self.key_ext, newest + 1):
            packet = cache.get(ext & 0xFFFF)
            if packet is None:  # a hole (still being repaired): the viewer needs a fresh key frame
                return False
            packets.append((ext, packet))
        try:
            consumer.resume(self.key_ext, self.key_ts)
            for ext, packet in packets:
                # Translated again from the publisher's bytes: abs-send-time carries this send's time.
                first, tail, _ = self.translate(packet)
                if first >= 0:
                    _, b1, seq, ts, _ = HEADER.unpack_from(packet, 0)
                    consumer.send(first, b1 & 0x80, seq, ts, tail, ext)
            if flush_sends():
                settle_failed_sends(self.drops)
        except Exception:
            self.drops[DropReason.HOOK_ERROR] += 1
            return False
        self.replays += 1
        return True

    def remove_consumer(self, consumer: Consumer) -> None:
        """Stop forwarding to a consumer at once (and cancel a layer switch it waited for)."""
        consumer.active = False
        if consumer in self.consumers:
            self.consumers = [c for c in self.consumers if c is not consumer]
            self.routes = None
        _cancel_switch(consumer)

    def suspend(self, consumer: Consumer) -> None:
        """Stop forwarding to a consumer for now (its subscriber's link cannot carry it); numbering holds."""
        self.remove_consumer(consumer)
        newest = self.newest()
        if newest is not None:
            consumer.hold(newest + 1)

    # -- control ----------------------------------------------------------------------------------

    def set_paused(self, paused: bool) -> None:
        """Pause (mute) or resume forwarding; consumers resume at a key frame with contiguous numbering."""
        if paused == self.paused:
            return
        for layer in self.layers[1:]:
            layer.set_paused(paused)
        self.paused = paused
        newest = self.newest()
        if paused and newest is not None:
            for c in self.consumers:
                c.hold(newest + 1)
        else:
            self.request_keyframe(force=True)

    def newest(self) -> int | None:
        """Return the extended sequence number of the newest packet received, None before the first."""
        return None if self.max_seq is None else self.cycles + self.max_seq

    def newest_unsent(self, ext: int) -> int:
        """Return where a consumer's numbering goes on if packet ``ext`` was the first it could not send.

        Everything it handed out is older than the newest packet, or is the newest itself if that one was
        received before: so ``ext`` itself if it is the newest and new, else one past the newest.
        """
        newest = self.newest()
        if newest is None:
            return ext
        return ext if ext == newest and self.repeated != ext else newest + 1

    def request_keyframe(self, force: bool = False) -> bool:
        """Send a PLI to the publisher (RFC 4585 section 6.3.1), at most once per 500 ms.

        ``force`` (a viewer starts) skips that throttle, unless a key frame asked for less than 500 ms ago
        has not come yet: it will start this viewer too.
        """
        if self.kind != "video" or self.ssrc is None or self.closed:
            return False
        now = time.monotonic()
        since = now - self.last_keyframe_request
        if not force and since < KEYFRAME_INTERVAL:
            return False
        if force and self.watch_key and since < KEYFRAME_INTERVAL:
            return False  # the key frame asked for moments ago serves every viewer starting meanwhile
        self.last_keyframe_request = now
        self.watch_key = True
        self.keyframe_requests += 1
        return self._send_rtcp(build_pli(self.rtcp_ssrc, self.ssrc))

    def receiver_report(self, max_bitrate: int) -> bytes:
        """Build this stream's RR, and for video a REMB: the upper median of the subscribers' estimates, capped.

        Not the lowest: until simulcast, one slow subscriber would make the publisher send everyone a
        worse picture. The slow one gets fewer frames instead (its consumer drops to key frames when
        its socket is congested). The median still follows the room when most subscribers are slow.
        """
        if self.ssrc is None or self.max_seq is None or self.base_seq is None:
            return b""
        extended_max = self.cycles + self.max_seq
        expected = extended_max - self.base_seq + 1
        expected_interval = expected - self.expected_prior
        received_interval = self.packets_in - self.received_prior
        self.expected_prior = expected
        self.received_prior = self.packets_in
        lost_interval = expected_interval - received_interval
        fraction = 0 if expected_interval <= 0 or lost_interval <= 0 else (lost_interval << 8) // expected_interval
        self.loss = min(fraction, 255) / 256
        missed = self.repair.missed
        missed_interval, self.missed_prior = missed - self.missed_prior, missed
        self.link_loss = max(self.loss, min(1.0, missed_interval / expected_interval) if expected_interval > 0 else 0.0)
        dlsr = 0
        if self.last_sr_time is not None:
            dlsr = int((time.monotonic() - self.last_sr_time) * 65536) & 0xFFFFFFFF
        remb = None
        if len(self.track.layers) > 1:
            # Each layer has its own subscribers: the publisher may send what the best one can take.
            remb = max_bitrate
        elif self.kind == "video":
            estimates = sorted(c.remb for c in self.consumers if c.remb > 0)
            remb = min(estimates[len(estimates) // 2], max_bitrate) if estimates else max_bitrate
        return build_receiver_report(
            self.rtcp_ssrc, self.ssrc, min(fraction, 255), max(0, expected - self.packets_in),
            extended_max & 0xFFFFFFFF, self.last_sr, dlsr, remb,
        )

    def close(self) -> list[Consumer]:
        """Close the producer and every consumer of it; return the consumers closed."""
        if self.closed:
            return []
        self.closed = True
        if self._repair_timer is not None:
            self._repair_timer.cancel()
            self._repair_timer = None
        self.repair.clear()
        consumers = list(self.consumers) + list(self.switchers)
        for c in consumers:
            c.detach(CloseReason.PRODUCER_CLOSED)
        self.consumers = []
        self.routes = None
        self.switchers = []
        for layer in self.layers[1:]:
            consumers += layer.close()
        return consumers


def _cancel_switch(consumer: Consumer) -> None:
    """Take a consumer off the layer it was waiting to switch to, if any."""
    pending = consumer.pending
    if pending is not None:
        pending.switchers = [c for c in pending.switchers if c is not consumer]
        consumer.pending = None
