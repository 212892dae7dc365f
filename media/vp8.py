"""The parts of a VP8 RTP payload (RFC 7741) a simulcast switch reads and rewrites; nothing is decoded.

A subscriber switched from one simulcast layer to another sees one stream. The layers are separate
encodings with their own picture ids and TL0PICIDX counters, and libwebrtc's receiver orders frames by
picture id: a layer switch that made the id jump back would look like a stale frame. So the consumer
shifts both counters by an offset chosen at the switch, as it shifts sequence numbers and timestamps
(what LiveKit's and mediasoup's VP8 handling do). The key frame header also carries the frame's width
and height in the clear, which is how the server knows how large each layer is.
"""

from __future__ import annotations

PICTURE_ID_MASK = 0x7FFF
TL0_MASK = 0xFF
NO_VALUE = -1


def _descriptor(tail: bytes, first: int) -> int:
    """Return the offset of the VP8 payload descriptor in a translated packet's tail, or -1."""
    off = 4 * (first & 0x0F)
    if first & 0x10:
        if off + 4 > len(tail):
            return -1
        off += 4 + 4 * ((tail[off + 2] << 8) | tail[off + 3])
    return off if off < len(tail) else -1


def counters(p: bytes, off: int) -> tuple[int, int]:
    """Return ``(picture_id, tl0picidx)`` of the descriptor at ``p[off]``; NO_VALUE for what it lacks.

    A 7-bit picture id is returned as is: only the 15-bit form is rewritten (Chromium and aiortc send it).
    """
    n = len(p)
    if off < 0 or off >= n or not p[off] & 0x80:  # X: no extension, so no counters
        return NO_VALUE, NO_VALUE
    if off + 1 >= n:
        return NO_VALUE, NO_VALUE
    x = p[off + 1]
    i = off + 2
    picture = NO_VALUE
    if x & 0x80:  # I
        if i >= n:
            return NO_VALUE, NO_VALUE
        if p[i] & 0x80:
            if i + 1 >= n:
                return NO_VALUE, NO_VALUE
            picture = ((p[i] & 0x7F) << 8) | p[i + 1]
            i += 2
        else:
            i += 1
    tl0 = p[i] if x & 0x40 and i < n else NO_VALUE
    return picture, tl0


def rewrite(tail: bytes, first: int, picture_off: int, tl0_off: int) -> bytes:
    """Return ``tail`` with its 15-bit picture id and TL0PICIDX shifted by the offsets (mod their size)."""
    off = _descriptor(tail, first)
    if off < 0 or not tail[off] & 0x80 or off + 1 >= len(tail):
        return tail
    x = tail[off + 1]
    i = off + 2
    out = bytearray(tail)
    if x & 0x80:
        if i >= len(tail):
            return tail
        if tail[i] & 0x80:
            if i + 1 >= len(tail):
                return tail
            picture = ((((tail[i] & 0x7F) << 8) | tail[i + 1]) + picture_off) & PICTURE_ID_MASK
            out[i] = 0x80 | (picture >> 8)
            out[i + 1] = picture & 0xFF
            i += 2
        else:
            i += 1
    if x & 0x40 and i < len(tail):
        out[i] = (tail[i] + tl0_off) & TL0_MASK
    return bytes(out)


def keyframe_height(p: bytes, off: int) -> int:
    """Return the frame height a key frame's first packet announces (RFC 6386 9.1), or NO_VALUE.

    ``off`` is the payload descriptor's offset; the caller knows the packet starts a key frame.
    """
    n = len(p)
    if off < 0 or off >= n:
        return NO_VALUE
    d0 = p[off]
    i = off + 1
    if d0 & 0x80:
        if i >= n:
            return NO_VALUE
        x = p[i]
        i += 1
        if x & 0x80:
            if i >= n:
                return NO_VALUE
            i += 2 if p[i] & 0x80 else 1
        if x & 0x40:
            i += 1
        if x & 0x30:
            i += 1
    # 3-byte frame tag, start code 9d 01 2a, then 14-bit width and 14-bit height (little-endian).
    if i + 10 > n or p[i + 3:i + 6] != b"\x9d\x01\x2a":
        return NO_VALUE
    return (p[i + 8] | (p[i + 9] << 8)) & 0x3FFF
