"""Fuzz target: media/vp8.py, the VP8 payload descriptor a simulcast switch reads and rewrites per packet.

For any bytes, ``counters`` and ``keyframe_height`` return values in range or NO_VALUE and never raise;
``rewrite`` never raises, changes nothing but the picture id and TL0PICIDX bytes (the length and every
other byte stay), and shifting by an offset and back gives the bytes it started from.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from media.rtp import HEADER
from media.vp8 import NO_VALUE, PICTURE_ID_MASK, TL0_MASK, counters, keyframe_height, rewrite
from tests.fuzz.support import FUZZ

# Descriptors with every combination of the X, I (7 or 15 bits), L and T/K bits, then some payload.
DESCRIPTORS = st.builds(
    lambda x, i, m, l_bit, tk, picture, tl0, rest: bytes(
        [0x90 if x else 0x10]
        + ([(0x80 if i else 0) | (0x40 if l_bit else 0) | (0x20 if tk else 0)] if x else [])
        + (([0x80 | (picture >> 8), picture & 0xFF] if m else [picture & 0x7F]) if x and i else [])
        + ([tl0] if x and l_bit else [])
        + ([0] if x and tk else [])) + rest,
    st.booleans(), st.booleans(), st.booleans(), st.booleans(), st.booleans(),
    st.integers(0, PICTURE_ID_MASK), st.integers(0, TL0_MASK), st.binary(max_size=24))
PAYLOADS = st.one_of(st.binary(max_size=40), DESCRIPTORS, DESCRIPTORS.flatmap(
    lambda d: st.integers(0, max(0, len(d) - 1)).map(lambda cut: d[:cut])))


@FUZZ
@given(PAYLOADS, st.integers(-4, 50))
def test_counters_and_height_are_in_range_or_absent(payload: bytes, off: int) -> None:
    picture, tl0 = counters(payload, off)
    assert picture == NO_VALUE or 0 <= picture <= PICTURE_ID_MASK
    assert tl0 == NO_VALUE or 0 <= tl0 <= TL0_MASK
    assert keyframe_height(payload, off) == NO_VALUE or 0 <= keyframe_height(payload, off) <= 0x3FFF


@FUZZ
@given(PAYLOADS, st.integers(0, PICTURE_ID_MASK), st.integers(0, TL0_MASK))
def test_rewrite_shifts_only_the_counters_and_undoes_exactly(payload: bytes, picture_off: int, tl0_off: int) -> None:
    shifted = rewrite(payload, 0x80, picture_off, tl0_off)
    assert len(shifted) == len(payload)
    before, after = counters(payload, 0), counters(shifted, 0)
    fifteen_bits = len(payload) > 3 and payload[0] & 0x80 and payload[1] & 0x80 and payload[2] & 0x80
    if fifteen_bits and before[0] != NO_VALUE:
        assert after[0] == (before[0] + picture_off) & PICTURE_ID_MASK
    else:  # a 7-bit picture id is left as it is
        assert after[0] == before[0]
    assert rewrite(shifted, 0x80, -picture_off, -tl0_off) == payload
    assert counters(HEADER.pack(0x80, 96, 0, 0, 1) + shifted, 12) == after


# A payload behind CSRCs and a header extension: the rewrite finds the descriptor past both.
@FUZZ
@given(st.integers(0, 3), st.integers(0, 3), DESCRIPTORS, st.integers(0, PICTURE_ID_MASK))
def test_rewrite_finds_the_descriptor_behind_csrcs_and_extensions(csrcs: int, words: int, payload: bytes,
                                                                  picture_off: int) -> None:
    extension = b"\xbe\xde" + words.to_bytes(2, "big") + b"\x00" * 4 * words
    tail = b"\x00" * 4 * csrcs + extension + payload
    first = 0x90 | csrcs
    shifted = rewrite(tail, first, picture_off, 0)
    assert shifted[: len(tail) - len(payload)] == tail[: len(tail) - len(payload)]
    assert shifted[len(tail) - len(payload):] == rewrite(payload, 0x80, picture_off, 0)



# The compiled fan-out shifts the counters itself (media/_fastsend.c ``vp8_shift``): for any packet it
# must put on the wire exactly what the pure-Python step sends for ``rewrite``'s bytes.
@FUZZ
@given(st.integers(0, 3), st.integers(-1, 3), PAYLOADS, st.integers(0, PICTURE_ID_MASK), st.integers(0, TL0_MASK))
def test_the_compiled_shift_sends_the_bytes_rewrite_makes(csrcs: int, words: int, payload: bytes, picture_off: int,
                                                          tl0_off: int) -> None:
    import socket

    from media.consumer import PythonSender, compiled_available, compiled_sender, fan_out, flush_sends
    from tests.unit.test_fastsend import Path

    if not compiled_available():
        pytest.skip("media/_fastsend.c was not built")
    extension = b"" if words < 0 else b"\xbe\xde" + words.to_bytes(2, "big") + b"\x01" * 4 * words
    tail = b"\x00" * 4 * csrcs + extension + payload
    first = 0x80 | (0x10 if extension else 0) | csrcs
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as receiver:
        receiver.bind(("127.0.0.1", 0))
        receiver.settimeout(2)
        python = PythonSender(Path(sender, receiver.getsockname()), 7)
        compiled = compiled_sender(Path(sender, receiver.getsockname()), 7)
        compiled.pt, compiled.picture_off, compiled.tl0_off = 96, picture_off, tl0_off
        python.emit(first, 96, 1, 2, rewrite(tail, first, picture_off, tl0_off))
        expected = receiver.recv(4096)
        assert fan_out((compiled,), first, 0, 1, 2, tail, 0) == 0
        assert flush_sends() == 0
        assert receiver.recv(4096) == expected
