"""abs-send-time is rewritten per hop: a subscriber gets the SFU's send time, never the publisher's.

The pure-Python translation (media/rtp.py) and the compiled one (media/_fastsend.c) are held to the same
bytes for the same clock value; replays and retransmissions from the cache carry the time they are sent.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable

import pytest

from media.consumer import Consumer, Slot
from media.producer import REPLAY_WINDOW, Producer
from media.rtp import (
    FORWARDED_EXTENSION_IDS,
    HEADER,
    URI_ABS_SEND_TIME,
    URI_AUDIO_LEVEL,
    ExtensionTranslator,
    abs_send_time,
    iter_extensions,
)
from tests.support.clock import Clock
from tests.unit.test_consumer import FakeSendPath, make_producer, subscribe, vp8
from tests.unit.test_rtp import CHROME_IDS, URI_TRANSPORT_CC

# Chrome's ids (tests/unit/test_rtp.py): audio-level 1, abs-send-time 2, transport-cc 3, mid 4 (forwarded as 2 and 3).
ABS_OUT = FORWARDED_EXTENSION_IDS[URI_ABS_SEND_TIME]
LEVEL_OUT = FORWARDED_EXTENSION_IDS[URI_AUDIO_LEVEL]
NS = 1_000_000_000


def packet(block: bytes, payload: bytes = b"payload") -> bytes:
    return HEADER.pack(0x90, 96, 7, 9000, 0x11223344) + block + payload


def one_byte(elements: list[tuple[int, bytes]]) -> bytes:
    body = b"".join(bytes([(xid << 4) | (len(v) - 1)]) + v for xid, v in elements)
    body += b"\x00" * (-len(body) % 4)
    return struct.pack("!HH", 0xBEDE, len(body) // 4) + body


def two_byte(elements: list[tuple[int, bytes]]) -> bytes:
    body = b"".join(bytes([xid, len(v)]) + v for xid, v in elements)
    body += b"\x00" * (-len(body) % 4)
    return struct.pack("!HH", 0x1000, len(body) // 4) + body


def translations(ids: dict[str, int], now: int) -> list[Callable[[bytes], tuple[int, bytes, int]]]:
    """The Python translation and, when built, the compiled one, both on a clock pinned at ``now`` ns."""
    translator = ExtensionTranslator(ids, clock=lambda: now)
    compiled = translator.compiled()
    return [translator.translate] + ([compiled] if compiled is not None else [])


def stamp(now: int) -> bytes:
    return abs_send_time(now).to_bytes(3, "big")


# -- the value ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("ns", "value"), [
    (0, 0),
    (NS, 1 << 18),  # one second is 2^18
    (2 * NS + NS // 2, 0x0A0000),
    (NS // (1 << 18) + 1, 1),  # one tick is 1/2^18 s, about 3.8 us
    (64 * NS - 1, 0xFFFFFF),  # 64 s wraps
    (64 * NS, 0),
    (65 * NS, 1 << 18),
    (100_000 * NS + 250_000_000, ((100_000 << 18) + (1 << 16)) & 0xFFFFFF),  # past 2^46 ns: no 64-bit overflow
])
def test_abs_send_time_is_24_bit_6_18_fixed_point_seconds(ns: int, value: int) -> None:
    assert abs_send_time(ns) == value


# -- both forms, both paths ------------------------------------------------------------------------


@pytest.mark.parametrize("now", [5 * NS, 64 * NS - 1, 64 * NS, 123_456_789_012_345, (1 << 63) + 12345])
def test_a_one_byte_abs_send_time_element_carries_the_sfu_send_time(now: int) -> None:
    p = packet(one_byte([(1, b"\x85"), (2, b"\x01\x02\x03"), (3, b"\x00\x07"), (4, b"0")]))
    want = one_byte([(LEVEL_OUT, b"\x85"), (ABS_OUT, stamp(now))]) + b"payload"
    for translate in translations(CHROME_IDS, now):
        assert translate(p) == (0x90, want, 5)


@pytest.mark.parametrize("now", [5 * NS, 64 * NS - 1, 64 * NS, 123_456_789_012_345])
def test_a_two_byte_abs_send_time_element_carries_the_sfu_send_time(now: int) -> None:
    ids = {URI_AUDIO_LEVEL: 10, URI_ABS_SEND_TIME: 13, URI_TRANSPORT_CC: 20}
    p = packet(two_byte([(10, b"\x90"), (13, b"\x01\x02\x03"), (20, b"\x00\x07"), (31, b"")]))
    want = one_byte([(LEVEL_OUT, b"\x90"), (ABS_OUT, stamp(now))]) + b"payload"
    for translate in translations(ids, now):
        assert translate(p) == (0x90, want, 16)


def test_the_other_elements_keep_their_bytes_and_order() -> None:
    now = 42 * NS
    p = packet(one_byte([(2, b"\xaa\xbb\xcc"), (4, b"xyz"), (1, b"\x7f")]))
    for translate in translations(CHROME_IDS, now):
        first, tail, level = translate(p)
        assert list(iter_extensions(HEADER.pack(first, 96, 7, 9000, 1) + tail)) == [
            (ABS_OUT, stamp(now)), (LEVEL_OUT, b"\x7f")]
        assert tail.endswith(b"payload") and level == 127


def test_the_compiled_and_python_translations_give_the_same_bytes() -> None:
    cases = [
        (CHROME_IDS, one_byte([(1, b"\x85"), (2, b"\x01\x02\x03"), (3, b"\x00\x07"), (4, b"0")])),
        (CHROME_IDS, one_byte([(2, b"\x01\x02\x03"), (2, b"\x04\x05\x06")])),  # two of them: each restamped
        ({URI_AUDIO_LEVEL: 2, URI_ABS_SEND_TIME: 3}, one_byte([(3, b"\x01\x02\x03"), (2, b"\x10")])),  # identity
        ({URI_ABS_SEND_TIME: 13}, two_byte([(13, b"\x01\x02\x03")])),
        (CHROME_IDS, one_byte([(2, b"\x01\x02")])),
        (CHROME_IDS, one_byte([(2, b"\x01\x02\x03\x04")])),
    ]
    for now in (0, 3 * NS + 1, 64 * NS - 1, 987_654_321_987_654):
        for ids, block in cases:
            python, *compiled = translations(ids, now)
            if not compiled:
                pytest.skip("media/_fastsend.c was not built")
            p = packet(block)
            assert compiled[0](p) == python(p), (ids, block, now)


def test_without_a_pinned_clock_both_paths_read_the_monotonic_clock() -> None:
    translator = ExtensionTranslator(CHROME_IDS)
    compiled = translator.compiled()
    p = packet(one_byte([(2, b"\x01\x02\x03")]))
    for translate in [translator.translate] + ([compiled] if compiled is not None else []):
        before = abs_send_time(time.monotonic_ns())
        _, tail, _ = translate(p)
        after = abs_send_time(time.monotonic_ns())
        got = int.from_bytes(tail[5:8], "big")
        assert (got - before) % (1 << 24) <= (after - before) % (1 << 24)


# -- what is left alone ------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [b"\x01", b"\x01\x02", b"\x01\x02\x03\x04", bytes(range(16))])
def test_an_abs_send_time_element_of_another_length_is_forwarded_unchanged(value: bytes) -> None:
    p = packet(one_byte([(2, value)]))
    for translate in translations(CHROME_IDS, 7 * NS):
        assert translate(p) == (0x90, one_byte([(ABS_OUT, value)]) + b"payload", -1)


@pytest.mark.parametrize("value", [b"\x01\x02", b"\x01\x02\x03\x04"])
def test_a_two_byte_abs_send_time_element_of_another_length_is_forwarded_unchanged(value: bytes) -> None:
    p = packet(two_byte([(13, value)]))
    for translate in translations({URI_ABS_SEND_TIME: 13}, 7 * NS):
        assert translate(p) == (0x90, one_byte([(ABS_OUT, value)]) + b"payload", -1)


def test_a_publisher_without_abs_send_time_gets_no_stamp_in_its_three_byte_elements() -> None:
    # Id 2 is the publisher's audio level here: a 3-byte element of it is not a send time.
    ids = {URI_AUDIO_LEVEL: 2}
    p = packet(one_byte([(2, b"\x85\x00\x00")]))
    for translate in translations(ids, 7 * NS):
        assert translate(p) == (0x90, one_byte([(LEVEL_OUT, b"\x85\x00\x00")]) + b"payload", 5)


@pytest.mark.parametrize("form", [one_byte, two_byte])
def test_transport_wide_cc_is_never_forwarded(form: Callable[[list[tuple[int, bytes]]], bytes]) -> None:
    # Its sequence numbers count one hop's packets: a subscriber must never see the publisher's.
    p = packet(form([(3, b"\x00\x07"), (2, b"\x01\x02\x03")]))
    for translate in translations(CHROME_IDS, 9 * NS):
        _, tail, _ = translate(p)
        assert [xid for xid, _ in iter_extensions(HEADER.pack(0x90, 96, 7, 9000, 1) + tail)] == [ABS_OUT]
    assert URI_TRANSPORT_CC not in FORWARDED_EXTENSION_IDS


# -- packets sent again from the cache -------------------------------------------------------------


class NsClock:
    def __init__(self, now: int) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


def with_clock(ids: dict[str, int], ns: NsClock) -> Producer:
    """A Producer whose translator reads ``ns`` for the abs-send-time it writes."""
    producer = make_producer(extension_ids=ids)
    producer.translator = ExtensionTranslator(ids, clock=ns)
    producer.translate = producer.translator.translate
    return producer


def sent_stamp(data: bytes) -> bytes:
    return dict(iter_extensions(data))[ABS_OUT]


def test_a_retransmission_carries_the_time_it_is_sent(clock: Clock) -> None:
    ns = NsClock(10 * NS)
    producer = with_clock(CHROME_IDS, ns)
    consumer, _, path = subscribe(producer, next_seq=1000)
    producer.receive(vp8(100, 9000, key=True, extension=one_byte([(2, b"\x01\x02\x03")])))
    assert sent_stamp(path.sent[-1]) == stamp(10 * NS)
    ns.now = 11 * NS
    assert consumer.retransmit(1000) is True
    assert sent_stamp(path.sent[-1]) == stamp(11 * NS)
    assert path.sent[-1][12:].endswith(path.sent[0][20:])  # the rest is the same


def test_a_key_frame_replayed_to_a_new_viewer_carries_the_time_it_is_sent(clock: Clock) -> None:
    ns = NsClock(20 * NS)
    producer = with_clock(CHROME_IDS, ns)
    _, _, early = subscribe(producer, next_seq=0, ssrc=1)
    slot = Slot(None, "video", ("video", "video/vp8", ""), 2, "cname-late")
    slot.next_seq, slot.next_ts = 500, 0
    late = FakeSendPath()
    slot.attach_send_path(late, 100)
    consumer = Consumer("c-late", producer, slot, "cy")
    producer.receive(vp8(1, 0, key=True, extension=one_byte([(2, b"\x01\x02\x03")])))
    producer.receive(vp8(2, 3000, marker=True, extension=one_byte([(2, b"\x01\x02\x04")])))
    clock.now += REPLAY_WINDOW / 2
    ns.now = 21 * NS
    producer.add_consumer(consumer)
    assert producer.replays == 1 and len(late.sent) == 2
    assert [sent_stamp(p) for p in early.sent] == [stamp(20 * NS)] * 2
    assert [sent_stamp(p) for p in late.sent] == [stamp(21 * NS)] * 2
