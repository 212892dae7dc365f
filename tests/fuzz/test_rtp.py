"""Fuzz target: media/rtp.py, the RTP header and header-extension parsing every forwarded packet goes through.

For any bytes, ``payload_offset``, ``iter_extensions``, ``ExtensionTranslator.translate`` (and its compiled
form, which must give the same bytes) and the key-frame
detectors return a value or their failure signal (-1, nothing, False) and never raise. Packets are drawn
as random bytes and as well-formed packets (CSRCs, one- and two-byte extensions, VP8/H.264/Opus payloads)
that are then truncated or have a byte flipped. Where the module both builds and parses, the round trip
must hold; the translator's inline one-byte parser must agree with the generic one; the payload offset
must agree with aiortc's parser.
"""

from __future__ import annotations

import itertools
import struct

from aiortc.rtp import RtpPacket
from hypothesis import given
from hypothesis import strategies as st

from media.rtp import (
    HEADER,
    HEADER_SIZE,
    ONE_BYTE_PROFILE,
    TWO_BYTE_PROFILE,
    URI_ABS_SEND_TIME,
    URI_AUDIO_LEVEL,
    URI_MID,
    ExtensionTranslator,
    abs_send_time,
    always_keyframe,
    build_extension_block,
    h264_keyframe_start,
    iter_extensions,
    keyframe_detector,
    payload_offset,
    vp8_keyframe_start,
)
from tests.fuzz.support import FUZZ

# -- strategies ------------------------------------------------------------------------------------

ONE_BYTE_ELEMENTS = st.lists(st.tuples(st.integers(1, 14), st.binary(min_size=1, max_size=16)), max_size=6)


@st.composite
def extension_blocks(draw: st.DrawFn) -> bytes:
    """An RFC 8285 extension block (profile, length, body), well-formed or not."""
    form = draw(st.sampled_from(["one", "two", "other", "raw"]))
    if form == "one":
        body = b""
        for xid, value in draw(st.lists(st.tuples(st.integers(0, 15), st.binary(min_size=1, max_size=16)),
                                        max_size=6)):
            body += b"\x00" * draw(st.integers(0, 2)) + bytes(((xid << 4) | (len(value) - 1),)) + value
        profile = ONE_BYTE_PROFILE
    elif form == "two":
        body = b""
        for xid, value in draw(st.lists(st.tuples(st.integers(0, 255), st.binary(max_size=20)), max_size=6)):
            body += b"\x00" * draw(st.integers(0, 2)) + bytes((xid, len(value))) + value
        profile = TWO_BYTE_PROFILE | draw(st.integers(0, 15))
    else:
        body = draw(st.binary(max_size=40))
        profile = draw(st.integers(0, 0xFFFF)) if form == "raw" else draw(st.sampled_from([0, 0x1234, 0xBEDF]))
    body += b"\x00" * (-len(body) % 4)
    words = len(body) // 4
    if draw(st.integers(0, 4)) == 0:  # a length field that lies
        words = draw(st.integers(0, 0xFFFF))
    return struct.pack("!HH", profile, words) + body


@st.composite
def rtp_packets(draw: st.DrawFn, payloads: st.SearchStrategy[bytes] | None = None) -> bytes:
    """An RTP packet: mostly well-formed, sometimes truncated or with one byte changed."""
    csrcs = draw(st.integers(0, 15))
    extension = draw(extension_blocks()) if draw(st.booleans()) else b""
    b0 = (draw(st.sampled_from([2, 2, 2, 0, 1, 3])) << 6) | (draw(st.integers(0, 1)) << 5) | csrcs
    b0 |= 0x10 if extension else 0
    header = HEADER.pack(b0, draw(st.integers(0, 255)), draw(st.integers(0, 0xFFFF)),
                         draw(st.integers(0, 0xFFFFFFFF)), draw(st.integers(0, 0xFFFFFFFF)))
    written_csrcs = draw(st.integers(0, csrcs)) if draw(st.integers(0, 4)) == 0 else csrcs
    p = header + draw(st.binary(min_size=4 * written_csrcs, max_size=4 * written_csrcs)) + extension
    p += draw(payloads if payloads is not None else st.binary(max_size=48))
    mangle = draw(st.integers(0, 5))
    if mangle == 0:
        p = p[: draw(st.integers(0, len(p)))]
    elif mangle == 1 and p:
        i = draw(st.integers(0, len(p) - 1))
        p = p[:i] + bytes((draw(st.integers(0, 255)),)) + p[i + 1 :]
    return p


PACKETS = st.one_of(st.binary(max_size=80), rtp_packets())
# The ids a publisher may have negotiated, right or wrong (RFC 8285 allows 1..14 in the one-byte form).
PUBLISHER_IDS = st.dictionaries(st.sampled_from([URI_AUDIO_LEVEL, URI_ABS_SEND_TIME, URI_MID, "urn:x"]),
                                st.integers(0, 20), max_size=4)


def one_byte_packet(elements: list[tuple[int, bytes]], payload: bytes, csrcs: int = 0) -> bytes:
    b0 = 0x80 | csrcs | (0x10 if elements else 0)
    block = build_extension_block(elements) if elements else b""
    return HEADER.pack(b0, 96, 1, 2, 3) + b"\xcc\xcc\xcc\xcc" * csrcs + block + payload


# -- never raise -----------------------------------------------------------------------------------


@FUZZ
@given(PACKETS)
def test_payload_offset_is_inside_the_packet_or_minus_one(p: bytes) -> None:
    off = payload_offset(p)
    assert off == -1 or HEADER_SIZE <= off <= len(p)
    if len(p) < HEADER_SIZE:
        assert off == -1


@FUZZ
@given(rtp_packets())
def test_payload_offset_agrees_with_aiortc(p: bytes) -> None:
    try:
        packet = RtpPacket.parse(p)
    except ValueError:
        return
    # aiortc strips padding from the payload; payload_offset does not look at it.
    assert payload_offset(p) == len(p) - len(packet.payload) - packet.padding_size


@FUZZ
@given(PACKETS)
def test_iter_extensions_stays_inside_the_extension_block(p: bytes) -> None:
    off = payload_offset(p)
    elements = list(iter_extensions(p))
    if off < 0:
        assert elements == []
    total = sum(len(value) for _, value in elements)
    assert total <= max(off, 0)
    for xid, _ in elements:
        assert 0 <= xid <= 255


@FUZZ
@given(PUBLISHER_IDS, PACKETS)
def test_translate_never_raises_and_agrees_with_payload_offset(ids: dict[str, int], p: bytes) -> None:
    first, tail, level = ExtensionTranslator(ids).translate(p)
    off = payload_offset(p)
    assert -1 <= level <= 127
    if first < 0 or off < 0:
        assert (first, tail) == (-1, b"") and off == -1
        return
    assert 0 <= first <= 255 and first & 0x0F == 0  # CSRCs are dropped
    assert tail.endswith(p[off:])  # the payload is forwarded untouched


@FUZZ
@given(PUBLISHER_IDS, PACKETS)
def test_translation_keeps_exactly_the_forwarded_extensions(ids: dict[str, int], p: bytes) -> None:
    translator = ExtensionTranslator(ids)
    first, tail, level = translator.translate(p)
    if first < 0:
        return
    out = HEADER.pack(first, *HEADER.unpack_from(p)[1:]) + tail
    assert payload_offset(out) == len(out) - len(p) + payload_offset(p)
    elements = list(iter_extensions(p))
    at = HEADER_SIZE + 4 * (p[0] & 0x0F)
    two_byte = bool(p[0] & 0x10) and (p[at] << 8 | p[at + 1]) != ONE_BYTE_PROFILE
    want = [(translator.id_map[xid], value) for xid, value in elements
            if xid in translator.id_map and (not two_byte or 1 <= len(value) <= 16)]
    assert list(iter_extensions(out)) == want
    assert bool(first & 0x10) == bool(want)
    levels = [value[0] & 0x7F for xid, value in elements if xid == translator.audio_level_id and value]
    assert level == (levels[-1] if levels else -1)


@FUZZ
@given(PUBLISHER_IDS, PACKETS, st.integers(0, 1 << 63), st.integers(0, 1 << 40))
def test_the_compiled_translation_is_the_python_one_byte_for_byte(ids: dict[str, int], p: bytes, now: int,
                                                                   step: int) -> None:
    # Each side gets its own clock, ticking the same way per read: the abs-send-time stamps must agree,
    # and so must the number and order of clock reads.
    translator = ExtensionTranslator(ids, clock=itertools.count(now, step).__next__)
    compiled = ExtensionTranslator(ids, clock=itertools.count(now, step).__next__).compiled()
    if compiled is None:  # media/_fastsend.c was not built: the Python translation is the only one
        return
    assert compiled(p) == translator.translate(p)


@FUZZ
@given(st.sampled_from(["video/VP8", "video/H264", "audio/opus", "video/vp8", "x/y"]), PACKETS)
def test_keyframe_detectors_return_a_bool_for_any_bytes(mime: str, p: bytes) -> None:
    assert isinstance(keyframe_detector(mime)(p), bool)
    assert isinstance(vp8_keyframe_start(p), bool)
    assert isinstance(h264_keyframe_start(p), bool)


# -- round trips -----------------------------------------------------------------------------------


@FUZZ
@given(ONE_BYTE_ELEMENTS, st.binary(max_size=16), st.integers(0, 15))
def test_an_extension_block_parses_back_to_its_elements(elements: list[tuple[int, bytes]], payload: bytes,
                                                        csrcs: int) -> None:
    p = one_byte_packet(elements, payload, csrcs)
    assert list(iter_extensions(p)) == elements
    assert p[payload_offset(p):] == payload
    assert RtpPacket.parse(p).payload == payload


@FUZZ
@given(ONE_BYTE_ELEMENTS, st.binary(max_size=16), st.integers(0, 15))
def test_identity_translation_keeps_the_packet_without_csrcs(elements: list[tuple[int, bytes]], payload: bytes,
                                                            csrcs: int) -> None:
    translator = ExtensionTranslator({URI_AUDIO_LEVEL: 2, URI_ABS_SEND_TIME: 3}, clock=lambda: 70_000_000_000)
    stamp = abs_send_time(70_000_000_000).to_bytes(3, "big")  # 3-byte abs-send-time values are restamped
    kept = [(xid, stamp if xid == 3 and len(value) == 3 else value) for xid, value in elements if xid in (2, 3)]
    first, tail, _ = translator.translate(one_byte_packet(elements, payload, csrcs))
    assert HEADER.pack(first, 96, 1, 2, 3) + tail == one_byte_packet(kept, payload)


@st.composite
def vp8_payloads(draw: st.DrawFn) -> tuple[bytes, bool]:
    """A VP8 payload descriptor (RFC 7741 section 4.2) and payload header; whether it starts a key frame."""
    start, pid, p_bit = draw(st.booleans()), draw(st.integers(0, 7)), draw(st.integers(0, 1))
    x = draw(st.booleans())
    d = bytes(((0x80 if x else 0) | (0x10 if start else 0) | pid,))
    if x:
        i, long_id, tl0, tk = (draw(st.booleans()) for _ in range(4))
        tk_bits = draw(st.sampled_from([0x10, 0x20, 0x30])) if tk else 0
        d += bytes(((0x80 if i else 0) | (0x40 if tl0 else 0) | tk_bits,))
        if i:
            picture_id = draw(st.integers(0, 0x7FFF))
            d += struct.pack("!H", 0x8000 | picture_id) if long_id else bytes((picture_id & 0x7F,))
        d += b"\x07" if tl0 else b""
        d += b"\x41" if tk else b""
    d += bytes(((draw(st.integers(0, 127)) << 1) | p_bit,)) + draw(st.binary(max_size=8))
    return d, start and pid == 0 and p_bit == 0


@FUZZ
@given(vp8_payloads(), ONE_BYTE_ELEMENTS)
def test_vp8_key_frames_are_found_behind_any_descriptor(drawn: tuple[bytes, bool],
                                                        elements: list[tuple[int, bytes]]) -> None:
    payload, key = drawn
    assert vp8_keyframe_start(one_byte_packet(elements, payload)) is key


H264_NAL = st.tuples(st.integers(0, 7), st.integers(1, 23)).map(lambda t: bytes(((t[0] << 5) | t[1],)))


@st.composite
def h264_payloads(draw: st.DrawFn) -> tuple[bytes, bool]:
    """An RFC 6184 payload: a single NAL unit, a STAP-A or an FU-A; whether it carries an IDR slice or SPS."""
    form = draw(st.sampled_from(["single", "stap", "fu"]))
    if form == "single":
        nal = draw(H264_NAL)
        return nal + draw(st.binary(max_size=8)), nal[0] & 0x1F in (5, 7)
    if form == "stap":
        units = draw(st.lists(st.tuples(H264_NAL, st.binary(max_size=8)), min_size=1, max_size=4))
        body = b"".join(struct.pack("!H", 1 + len(rest)) + nal + rest for nal, rest in units)
        return b"\x78" + body, any(nal[0] & 0x1F in (5, 7) for nal, _ in units)
    nal, start = draw(H264_NAL), draw(st.booleans())
    fu = bytes((0x7C, (0x80 if start else 0) | (nal[0] & 0x1F)))
    return fu + draw(st.binary(max_size=8)), start and nal[0] & 0x1F in (5, 7)


@FUZZ
@given(h264_payloads(), ONE_BYTE_ELEMENTS)
def test_h264_key_frames_are_found_in_every_packetization(drawn: tuple[bytes, bool],
                                                          elements: list[tuple[int, bytes]]) -> None:
    payload, key = drawn
    assert h264_keyframe_start(one_byte_packet(elements, payload)) is key


@FUZZ
@given(PACKETS)
def test_opus_has_no_key_frames_to_wait_for(p: bytes) -> None:
    assert keyframe_detector("audio/opus") is always_keyframe
    assert always_keyframe(p) is True
