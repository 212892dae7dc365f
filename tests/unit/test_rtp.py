"""Tests for media.rtp: serial arithmetic across the wraps, header walking, extensions, key frames."""

from __future__ import annotations

import struct

import pytest

from media.rtp import (
    FORWARDED_EXTENSION_IDS,
    HEADER,
    URI_ABS_SEND_TIME,
    URI_AUDIO_LEVEL,
    URI_MID,
    ExtensionTranslator,
    always_keyframe,
    build_extension_block,
    h264_keyframe_start,
    is_rtcp,
    iter_extensions,
    keyframe_detector,
    payload_offset,
    seq_add,
    seq_newer,
    ts_add,
    vp8_keyframe_start,
)

URI_TRANSPORT_CC = "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01"

# The ids Chrome offers for audio (and, for the last three, video).
CHROME_IDS = {URI_AUDIO_LEVEL: 1, URI_ABS_SEND_TIME: 2, URI_TRANSPORT_CC: 3, URI_MID: 4}


def one_byte_block(elements: list[tuple[int, bytes]], pad: int = 0) -> bytes:
    """Build an RFC 8285 one-byte extension block by hand (independently of build_extension_block)."""
    body = b"".join(bytes([(xid << 4) | (len(v) - 1)]) + v for xid, v in elements) + b"\x00" * pad
    body += b"\x00" * (-len(body) % 4)
    return struct.pack("!HH", 0xBEDE, len(body) // 4) + body


def two_byte_block(elements: list[tuple[int, bytes]], appbits: int = 0) -> bytes:
    """Build an RFC 8285 two-byte extension block by hand."""
    body = b"".join(bytes([xid, len(v)]) + v for xid, v in elements)
    body += b"\x00" * (-len(body) % 4)
    return struct.pack("!HH", 0x1000 | appbits, len(body) // 4) + body


def rtp(
    payload: bytes = b"",
    seq: int = 1,
    ts: int = 1000,
    ssrc: int = 0x11223344,
    pt: int = 96,
    marker: bool = False,
    csrcs: tuple[int, ...] = (),
    extension: bytes | None = None,
    padding_bit: bool = False,
) -> bytes:
    """Build an RTP packet: fixed header, CSRCs, an optional ready-made extension block, payload."""
    b0 = 0x80 | len(csrcs) | (0x10 if extension is not None else 0) | (0x20 if padding_bit else 0)
    b1 = (0x80 if marker else 0) | pt
    data = HEADER.pack(b0, b1, seq, ts, ssrc) + b"".join(struct.pack("!I", c) for c in csrcs)
    return data + (extension or b"") + payload


# -- serial arithmetic -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seq", "delta", "expected"),
    [
        (0, 0, 0),
        (0, 1, 1),
        (65534, 1, 65535),
        (65535, 1, 0),
        (65535, 2, 1),
        (65000, 1000, 464),
        (0, -1, 65535),
        (1, -2, 65535),
        (100, 65536, 100),
        (100, -65536, 100),
        (32768, 32768, 0),
    ],
)
def test_seq_add_wraps_modulo_two_to_the_sixteen(seq: int, delta: int, expected: int) -> None:
    assert seq_add(seq, delta) == expected


@pytest.mark.parametrize(
    ("ts", "delta", "expected"),
    [
        (0, 0, 0),
        (0, 3000, 3000),
        (0xFFFFFFFE, 1, 0xFFFFFFFF),
        (0xFFFFFFFF, 1, 0),
        (0xFFFFFFFF, 3000, 2999),
        (0, -1, 0xFFFFFFFF),
        (10, 2**32, 10),
        (0x80000000, 0x80000000, 0),
    ],
)
def test_ts_add_wraps_modulo_two_to_the_thirty_two(ts: int, delta: int, expected: int) -> None:
    assert ts_add(ts, delta) == expected


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (1, 0, True),
        (0, 1, False),
        (5, 5, False),
        (0, 65535, True),
        (65535, 0, False),
        (10, 65530, True),
        (65530, 10, False),
        (0x7FFF, 0, True),
        (0x8000, 0, False),
        (0, 0x8001, True),
        (65535, 65534, True),
    ],
)
def test_seq_newer_uses_serial_arithmetic_across_the_wrap(a: int, b: int, expected: bool) -> None:
    assert seq_newer(a, b) is expected


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (bytes([0x80, 200]), True),  # SR
        (bytes([0x81, 201]), True),  # RR
        (bytes([0x81, 205]), True),  # RTPFB
        (bytes([0x81, 206]), True),  # PSFB
        (bytes([0x80, 192]), True),
        (bytes([0x80, 223]), True),
        (bytes([0x80, 191]), False),
        (bytes([0x80, 224]), False),
        (bytes([0x80, 96]), False),  # RTP PT 96, no marker
        (bytes([0x80, 0x80 | 96]), False),  # RTP PT 96 with marker
        (bytes([0x80, 111]), False),
        (bytes([0x80]), False),
        (b"", False),
    ],
)
def test_is_rtcp_tells_rtcp_from_rtp_by_packet_type(data: bytes, expected: bool) -> None:
    assert is_rtcp(data) is expected


# -- payload_offset ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("packet", "expected"),
    [
        (rtp(b"payload"), 12),
        (rtp(b""), 12),
        (rtp(b"x", csrcs=(1,)), 16),
        (rtp(b"x", csrcs=tuple(range(15))), 12 + 60),
        (rtp(b"x", extension=one_byte_block([(1, b"\x01")])), 20),
        (rtp(b"x", extension=struct.pack("!HH", 0xBEDE, 0)), 16),
        (rtp(b"x", csrcs=(1,), extension=one_byte_block([(1, b"\x01\x02\x03\x04\x05")])), 16 + 4 + 8),
        (rtp(b"x", extension=two_byte_block([(1, b"\x01\x02\x03")])), 12 + 4 + 8),
        (rtp(b"x", csrcs=(1, 2), extension=two_byte_block([(200, b"")])), 20 + 4 + 4),
    ],
)
def test_payload_offset_skips_csrcs_and_extension(packet: bytes, expected: int) -> None:
    assert payload_offset(packet) == expected


@pytest.mark.parametrize(
    "packet",
    [
        rtp(b"payload"),
        rtp(b"payload", csrcs=(1, 2, 3)),
        rtp(b"payload", extension=one_byte_block([(1, b"\x81"), (4, b"0")])),
        rtp(b"payload", csrcs=(7,), extension=two_byte_block([(1, b"\x81"), (20, b"abcdef")])),
    ],
)
def test_payload_offset_of_every_truncation_is_minus_one_or_the_full_offset(packet: bytes) -> None:
    full = payload_offset(packet)
    for cut in range(len(packet) + 1):
        expected = full if cut >= full else -1
        assert payload_offset(packet[:cut]) == expected, f"cut at {cut}"


def test_payload_offset_refuses_an_extension_length_past_the_end() -> None:
    packet = rtp(b"", extension=struct.pack("!HH", 0xBEDE, 3) + b"\x10\x01\x00\x00")
    assert payload_offset(packet) == -1


def test_payload_offset_refuses_a_csrc_count_past_the_end() -> None:
    packet = bytearray(rtp(b"\x00" * 8))
    packet[0] |= 0x03  # claims 3 CSRCs (12 bytes) but only 8 follow
    assert payload_offset(bytes(packet)) == -1


# -- header extensions -------------------------------------------------------------------------------


def test_iter_extensions_reads_one_byte_elements_and_skips_padding() -> None:
    block = struct.pack("!HH", 0xBEDE, 3) + bytes([0x10, 0xFF, 0x00, 0x00, 0x22, 1, 2, 3, 0x40, 0x30, 0, 0])
    packet = rtp(b"payload", extension=block)
    assert list(iter_extensions(packet)) == [(1, b"\xff"), (2, b"\x01\x02\x03"), (4, b"0")]


def test_iter_extensions_reads_one_byte_elements_after_csrcs() -> None:
    packet = rtp(b"payload", csrcs=(9, 10), extension=one_byte_block([(3, b"\x12\x34")]))
    assert list(iter_extensions(packet)) == [(3, b"\x12\x34")]


def test_iter_extensions_stops_at_reserved_id_fifteen() -> None:
    block = struct.pack("!HH", 0xBEDE, 2) + bytes([0x10, 0xAA, 0xF0, 0x00, 0x20, 0xBB, 0x00, 0x00])
    assert list(iter_extensions(rtp(b"", extension=block))) == [(1, b"\xaa")]


def test_iter_extensions_reads_two_byte_elements_including_empty_ones() -> None:
    block = two_byte_block([(1, b"\x81"), (20, b""), (255, b"abcdefghijklmnopq")], appbits=0x5)
    assert list(iter_extensions(rtp(b"payload", extension=block))) == [
        (1, b"\x81"),
        (20, b""),
        (255, b"abcdefghijklmnopq"),
    ]


def test_iter_extensions_skips_two_byte_padding() -> None:
    block = struct.pack("!HH", 0x1000, 2) + bytes([0, 0, 3, 1, 0x7F, 0, 0, 0])
    assert list(iter_extensions(rtp(b"", extension=block))) == [(3, b"\x7f")]


def test_iter_extensions_yields_nothing_without_an_extension_or_with_an_unknown_profile() -> None:
    assert list(iter_extensions(rtp(b"payload", csrcs=(1,)))) == []
    unknown = struct.pack("!HH", 0xABAC, 1) + b"\x10\x01\x00\x00"
    assert list(iter_extensions(rtp(b"payload", extension=unknown))) == []


@pytest.mark.parametrize(
    "packet",
    [
        rtp(b"payload", extension=one_byte_block([(1, b"\x81"), (2, b"\x01\x02\x03"), (4, b"0")])),
        rtp(b"payload", csrcs=(5,), extension=two_byte_block([(1, b"\x81"), (9, b"abcdef")])),
    ],
)
def test_iter_extensions_of_every_truncation_never_raises(packet: bytes) -> None:
    full = list(iter_extensions(packet))
    end = payload_offset(packet)
    for cut in range(1, len(packet) + 1):
        found = list(iter_extensions(packet[:cut]))
        assert found == (full if cut >= end else []), f"cut at {cut}"


def test_iter_extensions_of_empty_bytes_yields_nothing() -> None:
    assert list(iter_extensions(b"")) == []


def test_iter_extensions_never_reads_an_element_past_the_extension_block() -> None:
    # The block is one word: id 1 claims 4 value bytes but only 3 remain before the payload.
    packet = rtp(b"\xdd\xee", extension=struct.pack("!HH", 0xBEDE, 1) + bytes([0x13, 0xAA, 0xBB, 0xCC]))
    assert all(0xDD not in value for _, value in iter_extensions(packet))


@pytest.mark.parametrize(
    ("elements", "expected"),
    [
        ([], b"\xbe\xde\x00\x00"),
        ([(1, b"\x01")], b"\xbe\xde\x00\x01\x10\x01\x00\x00"),
        ([(2, b"\x85"), (3, b"\x01\x02\x03")], b"\xbe\xde\x00\x02\x20\x85\x32\x01\x02\x03\x00\x00"),
        ([(3, b"\x01\x02\x03")], b"\xbe\xde\x00\x01\x32\x01\x02\x03"),
        ([(14, bytes(range(16)))], b"\xbe\xde\x00\x05\xef" + bytes(range(16)) + b"\x00\x00\x00"),
    ],
)
def test_build_extension_block_pads_to_a_multiple_of_four(elements, expected: bytes) -> None:
    assert build_extension_block(elements) == expected


@pytest.mark.parametrize("size", range(1, 17))
def test_build_extension_block_round_trips_through_iter_extensions(size: int) -> None:
    elements = [(1, bytes([0x81])), (7, bytes(range(1, size + 1))), (14, b"\x42\x43")]
    block = build_extension_block(elements)
    assert len(block) % 4 == 0
    packet = rtp(b"payload", extension=block)
    assert list(iter_extensions(packet)) == elements
    assert packet[payload_offset(packet):] == b"payload"


# -- ExtensionTranslator -----------------------------------------------------------------------------


def test_translator_maps_chrome_ids_to_the_forwarded_layout() -> None:
    translator = ExtensionTranslator(CHROME_IDS)
    assert translator.id_map == {
        1: FORWARDED_EXTENSION_IDS[URI_AUDIO_LEVEL],
        2: FORWARDED_EXTENSION_IDS[URI_ABS_SEND_TIME],
    }
    assert translator.id_map == {1: 2, 2: 3}
    assert translator.audio_level_id == 1


def test_translator_forwards_audio_level_and_abs_send_time_and_drops_mid_transport_cc_and_csrcs() -> None:
    # abs-send-time is restamped with the SFU's clock: 2.5 s is 0x0A0000 in 6.18 fixed point.
    translator = ExtensionTranslator(CHROME_IDS, clock=lambda: 2_500_000_000)
    block = one_byte_block([(1, b"\x85"), (2, b"\x01\x02\x03"), (3, b"\x00\x07"), (4, b"0")])
    packet = rtp(b"opus-payload", marker=True, csrcs=(0xAAAAAAAA, 0xBBBBBBBB), extension=block)
    first, tail, level = translator.translate(packet)
    assert first == 0x90  # V=2, X=1, CC=0
    assert tail == b"\xbe\xde\x00\x02\x20\x85\x32\x0a\x00\x00\x00\x00opus-payload"
    assert level == 5


def test_translator_extracts_the_audio_level_without_the_voice_activity_bit() -> None:
    translator = ExtensionTranslator(CHROME_IDS)
    packet = rtp(b"x", extension=one_byte_block([(1, bytes([0x80 | 127]))]))
    assert translator.translate(packet)[2] == 127


def test_translator_drops_the_extension_bit_when_nothing_is_forwarded() -> None:
    translator = ExtensionTranslator(CHROME_IDS)
    packet = rtp(b"video-payload", extension=one_byte_block([(3, b"\x00\x07"), (4, b"1")]))
    assert translator.translate(packet) == (0x80, b"video-payload", -1)


def test_translator_drops_csrcs_of_a_packet_without_extension() -> None:
    translator = ExtensionTranslator(CHROME_IDS)
    packet = rtp(b"payload", csrcs=(1, 2, 3))
    assert translator.translate(packet) == (0x80, b"payload", -1)


def test_translator_keeps_the_padding_bit() -> None:
    translator = ExtensionTranslator(CHROME_IDS)
    packet = rtp(b"payload\x00\x02", csrcs=(1,), padding_bit=True)
    assert translator.translate(packet) == (0xA0, b"payload\x00\x02", -1)


def test_translator_fast_path_returns_the_bytes_after_the_header_unchanged() -> None:
    translator = ExtensionTranslator(CHROME_IDS)
    packet = rtp(b"\x10\x00\x9d\x01\x2a", marker=True)
    first, tail, level = translator.translate(packet)
    assert (first, tail, level) == (0x80, packet[12:], -1)


def test_translator_rewrites_two_byte_elements_into_one_byte_form() -> None:
    translator = ExtensionTranslator({URI_AUDIO_LEVEL: 10, URI_ABS_SEND_TIME: 13}, clock=lambda: 2_500_000_000)
    packet = rtp(b"p", extension=two_byte_block([(10, b"\x90"), (13, b"\x01\x02\x03"), (31, b"")]))
    assert translator.translate(packet) == (0x90, b"\xbe\xde\x00\x02\x20\x90\x32\x0a\x00\x00\x00\x00p", 16)


def test_translator_ignores_publisher_ids_outside_the_one_byte_range() -> None:
    translator = ExtensionTranslator({URI_AUDIO_LEVEL: 15, URI_ABS_SEND_TIME: 200})
    assert translator.id_map == {}


def test_translator_with_aiortc_ids_is_the_identity() -> None:
    assert ExtensionTranslator({URI_AUDIO_LEVEL: 2, URI_ABS_SEND_TIME: 3, URI_MID: 1}).identity is True
    assert ExtensionTranslator(CHROME_IDS).identity is False


def test_translator_survives_every_truncation() -> None:
    translator = ExtensionTranslator(CHROME_IDS)
    block = one_byte_block([(1, b"\x85"), (2, b"\x01\x02\x03"), (4, b"0")])
    packet = rtp(b"payload", csrcs=(1,), extension=block)
    end = payload_offset(packet)
    for cut in range(12, len(packet) + 1):
        first, tail, level = translator.translate(packet[:cut])
        if cut < end:
            assert (first, tail, level) == (-1, b"", -1), f"cut at {cut}"
        else:
            assert tail.endswith(packet[end:cut]) and level == 5, f"cut at {cut}"


# -- VP8 key frames (RFC 7741) -----------------------------------------------------------------------

# Descriptors are built so that skipping one byte too few or too many lands on an odd byte (P=1).
VP8_CASES = [
    ("S, no X, key frame", b"\x10\x00\x9d\x01\x2a", True),
    ("S, no X, N set, key frame", b"\x30\x00", True),
    ("S, no X, inter frame", b"\x10\x01", False),
    ("no S", b"\x00\x00", False),
    ("X set but S clear", b"\x80\x80\x05\x00", False),
    ("partition index 1", b"\x11\x00", False),
    ("partition index 7", b"\x17\x00", False),
    ("X, no optional fields", b"\x90\x00\x00", True),
    ("X, no optional fields, inter", b"\x90\x00\x01", False),
    ("X, I with 7-bit picture id", b"\x90\x80\x05\x00", True),
    ("X, I with 7-bit picture id, inter", b"\x90\x80\x04\x01", False),
    ("X, I with 15-bit picture id", b"\x90\x80\x81\x01\x00", True),
    ("X, I with 15-bit picture id, inter", b"\x90\x80\x81\x00\x01", False),
    ("X, L", b"\x90\x40\x01\x00", True),
    ("X, T", b"\x90\x20\x01\x00", True),
    ("X, K", b"\x90\x10\x01\x00", True),
    ("X, T and K share one byte", b"\x90\x30\x01\x00", True),
    ("X, I 15-bit, L, T, K", b"\x90\xf0\x81\x01\x01\x01\x00", True),
    ("X, I 15-bit, L, T, K, inter", b"\x90\xf0\x81\x00\x00\x00\x01", False),
    ("X, I 7-bit, L", b"\x90\xc0\x03\x01\x00", True),
    ("S only, payload header missing", b"\x10", False),
    ("X, descriptor cut before the VP8 header", b"\x90\xf0\x81\x01\x01\x01", False),
    ("empty payload", b"", False),
]


@pytest.mark.parametrize(("name", "payload", "expected"), VP8_CASES, ids=[c[0] for c in VP8_CASES])
def test_vp8_keyframe_start_reads_the_payload_descriptor(name: str, payload: bytes, expected: bool) -> None:
    assert vp8_keyframe_start(rtp(payload)) is expected


def test_vp8_keyframe_start_looks_past_csrcs_and_extensions() -> None:
    packet = rtp(b"\x90\x80\x81\x01\x00", csrcs=(1,), extension=one_byte_block([(4, b"\x01")]))
    assert vp8_keyframe_start(packet) is True


@pytest.mark.parametrize(("name", "payload", "expected"), VP8_CASES, ids=[c[0] for c in VP8_CASES])
def test_vp8_keyframe_start_of_every_truncation_never_raises(name: str, payload: bytes, expected: bool) -> None:
    packet = rtp(payload, extension=one_byte_block([(1, b"\x01")]))
    for cut in range(len(packet) + 1):
        assert vp8_keyframe_start(packet[:cut]) in (True, False)
    assert vp8_keyframe_start(packet) is expected


# -- H.264 key frames (RFC 6184) ---------------------------------------------------------------------

H264_CASES = [
    ("single NAL IDR", b"\x65\x88\x84", True),
    ("single NAL SPS", b"\x67\x42\xc0\x1f", True),
    ("single NAL PPS", b"\x68\xce\x3c\x80", False),
    ("single NAL non-IDR", b"\x41\x9a\x02", False),
    ("single NAL SEI", b"\x06\x05", False),
    ("STAP-A with SPS, PPS, IDR", b"\x78\x00\x04\x67\x42\xc0\x1f\x00\x02\x68\xce\x00\x02\x65\x88", True),
    ("STAP-A with IDR second", b"\x78\x00\x02\x06\x05\x00\x02\x65\x88", True),
    ("STAP-A of non-IDR only", b"\x78\x00\x02\x41\x9a\x00\x02\x41\x9b", False),
    ("STAP-A with no unit", b"\x78", False),
    ("FU-A start of IDR", b"\x7c\x85\x88\x84", True),
    ("FU-A start of SPS", b"\x7c\x87\x42", True),
    ("FU-A middle of IDR", b"\x7c\x05\x88", False),
    ("FU-A end of IDR", b"\x7c\x45\x88", False),
    ("FU-A start of non-IDR", b"\x5c\x81\x9a", False),
    ("FU-A without FU header", b"\x7c", False),
    ("empty payload", b"", False),
]


@pytest.mark.parametrize(("name", "payload", "expected"), H264_CASES, ids=[c[0] for c in H264_CASES])
def test_h264_keyframe_start_finds_idr_and_sps(name: str, payload: bytes, expected: bool) -> None:
    assert h264_keyframe_start(rtp(payload)) is expected


@pytest.mark.parametrize(("name", "payload", "expected"), H264_CASES, ids=[c[0] for c in H264_CASES])
def test_h264_keyframe_start_of_every_truncation_never_raises(name: str, payload: bytes, expected: bool) -> None:
    packet = rtp(payload, csrcs=(3,), extension=one_byte_block([(1, b"\x01")]))
    for cut in range(len(packet) + 1):
        assert h264_keyframe_start(packet[:cut]) in (True, False)
    assert h264_keyframe_start(packet) is expected


@pytest.mark.parametrize(
    ("mime", "detector"),
    [
        ("video/VP8", vp8_keyframe_start),
        ("video/vp8", vp8_keyframe_start),
        ("VIDEO/H264", h264_keyframe_start),
        ("video/h264", h264_keyframe_start),
        ("audio/opus", always_keyframe),
        ("audio/PCMU", always_keyframe),
    ],
)
def test_keyframe_detector_picks_the_test_for_the_codec(mime: str, detector) -> None:
    assert keyframe_detector(mime) is detector


def test_always_keyframe_accepts_anything() -> None:
    assert always_keyframe(b"") is True
    assert always_keyframe(rtp(b"\x10\x01")) is True
