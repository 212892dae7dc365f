"""RTP wire helpers for the forwarding path: header fields, header extensions, key frames.

Everything here works on raw ``bytes`` of already-decrypted packets and allocates as little as
possible; nothing builds a packet object. Parsers never raise on short input from the network:
they return a neutral value (``False``, ``None``) so the hot path stays exception-free.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable, Iterator

# V/P/X/CC, M/PT, sequence number, timestamp, SSRC (RFC 3550 section 5.1).
HEADER = struct.Struct("!BBHII")
HEADER_SIZE = 12

URI_MID = "urn:ietf:params:rtp-hdrext:sdes:mid"
URI_AUDIO_LEVEL = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"
URI_ABS_SEND_TIME = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"

# The ids aiortc puts in every offer it makes (aiortc.codecs.HEADER_EXTENSIONS); our subscribe
# connections are offered by aiortc, so these are the ids every subscriber negotiates. MID is never
# forwarded: subscribers demultiplex by the SSRC signalled in the offer. Nothing else is either:
# transport-wide-cc (its sequence numbers count one hop's packets) and any other element the publisher
# sends are dropped; aiortc negotiates transport-cc with neither side anyway.
FORWARDED_EXTENSION_IDS = {URI_AUDIO_LEVEL: 2, URI_ABS_SEND_TIME: 3}

# abs-send-time is rewritten per hop: each subscriber gets the SFU's own send time, not the publisher's.
# A receiver's delay-based estimate (REMB) compares send-time deltas with arrival-time deltas; a
# forwarded publisher stamp would put the publisher->SFU jitter and the SFU's queueing on the
# SFU->subscriber path. 6.18 fixed-point seconds of CLOCK_MONOTONIC, 24 bits (wraps every 64 s).
ABS_SEND_TIME_SIZE = 3
_NS_PER_S = 1_000_000_000


def abs_send_time(ns: int) -> int:
    """Return the 24-bit abs-send-time value (6.18 fixed-point seconds, wrapped) of a clock in ns."""
    return ((ns << 18) // _NS_PER_S) & 0xFFFFFF

ONE_BYTE_PROFILE = 0xBEDE
_EXTENSION_HEADER = struct.Struct("!HH")
_PADDING = (b"", b"\x00", b"\x00\x00", b"\x00\x00\x00")
TWO_BYTE_PROFILE_MASK = 0xFFF0
TWO_BYTE_PROFILE = 0x1000


def is_rtcp(data: bytes) -> bool:
    """Tell RTCP from RTP on a multiplexed transport (RFC 5761 section 4: PT 192..223)."""
    return len(data) > 1 and 192 <= data[1] <= 223


def seq_add(seq: int, delta: int) -> int:
    """Add to a 16-bit sequence number modulo 2**16."""
    return (seq + delta) & 0xFFFF


def ts_add(ts: int, delta: int) -> int:
    """Add to a 32-bit RTP timestamp modulo 2**32."""
    return (ts + delta) & 0xFFFFFFFF


def seq_newer(a: int, b: int) -> bool:
    """Tell whether sequence number ``a`` comes after ``b`` (RFC 1982 serial arithmetic)."""
    return a != b and ((a - b) & 0xFFFF) < 0x8000


def payload_offset(p: bytes) -> int:
    """Return the offset of the payload, past CSRCs and the header extension; -1 if truncated."""
    n = len(p)
    if n < HEADER_SIZE:
        return -1
    b0 = p[0]
    off = HEADER_SIZE + 4 * (b0 & 0x0F)
    if b0 & 0x10:
        if off + 4 > n:
            return -1
        off += 4 + 4 * ((p[off + 2] << 8) | p[off + 3])
    return off if off <= n else -1


def iter_extensions(p: bytes) -> Iterator[tuple[int, bytes]]:
    """Yield ``(id, value)`` of each header extension element (RFC 8285 one- and two-byte forms)."""
    if len(p) < HEADER_SIZE or not p[0] & 0x10:
        return
    off = HEADER_SIZE + 4 * (p[0] & 0x0F)
    if off + 4 > len(p):
        return
    profile = (p[off] << 8) | p[off + 1]
    end = off + 4 + 4 * ((p[off + 2] << 8) | p[off + 3])
    if end > len(p):
        return
    i = off + 4
    if profile == ONE_BYTE_PROFILE:
        while i < end:
            b = p[i]
            if b == 0:  # padding
                i += 1
                continue
            xid = b >> 4
            if xid == 15:  # reserved: stop parsing (RFC 8285 section 4.2)
                return
            size = (b & 0x0F) + 1
            if i + 1 + size > end:  # an element may not run into the payload
                return
            yield xid, p[i + 1 : i + 1 + size]
            i += 1 + size
    elif profile & TWO_BYTE_PROFILE_MASK == TWO_BYTE_PROFILE:
        while i + 1 < end:
            xid = p[i]
            if xid == 0:
                i += 1
                continue
            size = p[i + 1]
            if i + 2 + size > end:
                return
            yield xid, p[i + 2 : i + 2 + size]
            i += 2 + size


def build_extension_block(elements: list[tuple[int, bytes]]) -> bytes:
    """Serialize one-byte header extension elements with padding (RFC 8285 section 4.2)."""
    body = b"".join(bytes(((xid << 4) | (len(v) - 1),)) + v for xid, v in elements)
    body += b"\x00" * (-len(body) % 4)
    return struct.pack("!HH", ONE_BYTE_PROFILE, len(body) // 4) + body


class ExtensionTranslator:
    """Rewrites a publisher's header extensions into the layout every subscriber negotiated.

    Built once per Producer from the publisher's negotiated ``{uri: id}``. ``translate`` runs once per
    incoming packet (not per subscriber): it returns the new first byte and the bytes that follow the
    fixed 12-byte header (extension block + payload), CSRCs dropped, and a 3-byte abs-send-time element
    restamped with ``clock()`` (ns; CLOCK_MONOTONIC, which media/_fastsend.c reads too). The copies of
    a packet leave in the same event-loop turn as its translation (one sendmmsg), so that is the SFU's
    send time for all of them, at one clock read per incoming packet rather than per copy.

    A packet sent again from the Producer's cache (a NACK answer, the key-frame replay to a new viewer)
    is translated again from the publisher's bytes the cache holds, so it too carries the time it is
    sent, as libwebrtc's own sender stamps every packet it sends, retransmissions included
    (RtpSenderEgress::SendPacket). A stale stamp would be no better: the receiver's InterArrival would
    take it for a reordered packet and leave it out of the estimate.

    ``clock`` is for tests: a translator with another clock gets the same one in its compiled form.
    """

    __slots__ = ("id_map", "audio_level_id", "abs_send_time_id", "identity", "clock")

    def __init__(self, publisher_ids: dict[str, int], clock: Callable[[], int] = time.monotonic_ns) -> None:
        self.id_map = {
            pub_id: FORWARDED_EXTENSION_IDS[uri]
            for uri, pub_id in publisher_ids.items()
            if uri in FORWARDED_EXTENSION_IDS and 1 <= pub_id <= 14
        }
        self.audio_level_id = publisher_ids.get(URI_AUDIO_LEVEL)
        # The publisher id whose elements subscribers read as abs-send-time (None if it sends none).
        abs_id = FORWARDED_EXTENSION_IDS[URI_ABS_SEND_TIME]
        self.abs_send_time_id = next((k for k, v in self.id_map.items() if v == abs_id), None)
        self.identity = all(k == v for k, v in self.id_map.items())
        self.clock = clock

    def compiled(self) -> Callable[[bytes], tuple[int, bytes, int]] | None:
        """Return media/_fastsend.c's form of ``translate`` (same results), or None if it was not built."""
        try:
            from . import _fastsend
        except ImportError:  # pragma: no cover - depends on the build
            return None
        table = bytes(self.id_map.get(i, 0) for i in range(16))
        level_id = -1 if self.audio_level_id is None else self.audio_level_id
        abs_id = -1 if self.abs_send_time_id is None else self.abs_send_time_id
        # The compiled step reads CLOCK_MONOTONIC itself, which is what time.monotonic_ns reads.
        clock = None if self.clock is time.monotonic_ns else self.clock
        return _fastsend.Translator(table, level_id, abs_id, self._translate_general, clock).translate

    def translate(self, p: bytes) -> tuple[int, bytes, int]:
        """Return ``(first_byte, tail, audio_level)``; audio_level is -1 when absent.

        The audio level is 0..127 dBov below full scale (RFC 6464), 127 being silence. A packet whose
        CSRCs or extension run past its end, or that is shorter than the fixed header, gives first_byte
        -1: it must not be forwarded.
        """
        n = len(p)
        if n < HEADER_SIZE:
            return -1, b"", -1
        b0 = p[0]
        if not b0 & 0x1F:  # no CSRCs and no extension
            return b0, p[12:], -1
        off = HEADER_SIZE + 4 * (b0 & 0x0F)
        if not b0 & 0x10:  # CSRCs only: dropped (the SFU is not a mixer)
            return (b0 & 0xE0, p[off:], -1) if off <= n else (-1, b"", -1)
        if off + 4 > n:
            return -1, b"", -1
        end = off + 4 + 4 * ((p[off + 2] << 8) | p[off + 3])
        if end > n:
            return -1, b"", -1
        if (p[off] << 8) | p[off + 1] != ONE_BYTE_PROFILE:
            return self._translate_general(p, end)
        # One-byte elements (what browsers and aiortc send), parsed inline: this runs per packet.
        level = -1
        id_map = self.id_map
        level_id = self.audio_level_id
        abs_id = self.abs_send_time_id
        kept = []
        i = off + 4
        while i < end:
            b = p[i]
            if b == 0:
                i += 1
                continue
            xid = b >> 4
            if xid == 15:
                break
            j = i + 2 + (b & 0x0F)
            if j > end:
                break
            if xid == level_id:
                level = p[i + 1] & 0x7F
            new_id = id_map.get(xid)
            if new_id is not None:
                if xid == abs_id and j - i == 1 + ABS_SEND_TIME_SIZE:  # this hop's send time (abs_send_time)
                    stamp = (self.clock() << 18) // 1_000_000_000 & 0xFFFFFF
                    kept.append(((((new_id << 4) | 2) << 24) | stamp).to_bytes(4, "big"))
                else:
                    kept.append(p[i:j] if new_id == xid else bytes(((new_id << 4) | (b & 0x0F),)) + p[i + 1:j])
            i = j
        if not kept:
            return b0 & 0xE0, p[end:], level
        body = b"".join(kept)
        pad = -len(body) % 4
        header = _EXTENSION_HEADER.pack(ONE_BYTE_PROFILE, (len(body) + pad) >> 2)
        return (b0 & 0xE0) | 0x10, header + body + _PADDING[pad] + p[end:], level

    def _translate_general(self, p: bytes, end: int) -> tuple[int, bytes, int]:
        """Translate two-byte-header extensions (RFC 8285 section 4.3) through the generic parser."""
        level = -1
        kept = []
        for xid, value in iter_extensions(p):
            if xid == self.audio_level_id and value:
                level = value[0] & 0x7F
            new_id = self.id_map.get(xid)
            if new_id is not None and 1 <= len(value) <= 16:
                if xid == self.abs_send_time_id and len(value) == ABS_SEND_TIME_SIZE:
                    value = abs_send_time(self.clock()).to_bytes(3, "big")
                kept.append((new_id, value))
        if not kept:
            return p[0] & 0xE0, p[end:], level
        return (p[0] & 0xE0) | 0x10, build_extension_block(kept) + p[end:], level


def vp8_keyframe_start(p: bytes) -> bool:
    """Tell whether the packet starts a VP8 key frame (RFC 7741 section 4.2 and 4.3)."""
    i = payload_offset(p)
    n = len(p)
    if i < 0 or i >= n:
        return False
    d0 = p[i]
    if not (d0 & 0x10) or (d0 & 0x0F):  # S=1 and partition index 0
        return False
    i += 1
    if d0 & 0x80:  # X: extended control bits
        if i >= n:
            return False
        x = p[i]
        i += 1
        if x & 0x80:  # I: picture id, 7 or 15 bits
            if i >= n:
                return False
            i += 2 if p[i] & 0x80 else 1
        if x & 0x40:  # L: TL0PICIDX
            i += 1
        if x & 0x30:  # T or K: TID/KEYIDX byte
            i += 1
    return i < n and (p[i] & 0x01) == 0  # VP8 payload header P bit: 0 = key frame


def h264_keyframe_start(p: bytes) -> bool:
    """Tell whether the packet carries an IDR slice or SPS (RFC 6184: single NAL, STAP-A, FU-A start)."""
    i = payload_offset(p)
    n = len(p)
    if i < 0 or i >= n:
        return False
    nal = p[i] & 0x1F
    if nal in (5, 7):
        return True
    if nal == 24:  # STAP-A: 16-bit size, then the NAL unit
        i += 1
        while i + 2 < n:
            size = (p[i] << 8) | p[i + 1]
            if p[i + 2] & 0x1F in (5, 7):
                return True
            i += 2 + size
        return False
    if nal == 28 and i + 1 < n:  # FU-A: start bit and original NAL type in the FU header
        return bool(p[i + 1] & 0x80) and (p[i + 1] & 0x1F) in (5, 7)
    return False


def always_keyframe(p: bytes) -> bool:
    """Treat every packet as a valid starting point (audio has no key frames)."""
    return True


def keyframe_detector(mime_type: str) -> Callable[[bytes], bool]:
    """Return the key-frame test for a codec's MIME type."""
    mime = mime_type.lower()
    if mime == "video/vp8":
        return vp8_keyframe_start
    if mime == "video/h264":
        return h264_keyframe_start
    return always_keyframe
