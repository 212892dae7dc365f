"""Table tests for media.sequence: what number each packet of a source gets on a subscriber's slot.

Every table is a list of events and the outcome expected for each. The same tables run twice: through
the pure ``SequenceMunger`` (with the key-frame gating of Producer/Consumer spelled out in a small
driver), and through a real Producer and Consumer with a recording send path, which inline the
per-packet arithmetic, so the two can never drift apart.

Events: ``("key", seq, ts)`` a packet starting a key frame, ``("pkt", seq, ts)`` any other packet,
``("congest", seq, ts)`` a packet that meets a full send buffer, ``("pause",)``, ``("resume",)``,
``("reuse",)`` the consumer ends and a new consumer of the same source takes the slot, ``("nack", n)``
the subscriber asks for its number ``n`` again. Outcomes: ``(seq, ts)`` as sent to the subscriber,
``"late"``, ``"wait"`` (dropped before a key frame), ``"paused"``, ``"congested"``, and for a NACK
``("nack", source)`` with the source number resent, or ``("nack", None)``.
"""

from __future__ import annotations

from typing import Any

import pytest

import media.producer
from media.consumer import CONGESTION_BYTES, NEXT_FRAME_TICKS, Consumer, Slot
from media.producer import Producer
from media.reasons import CloseReason, DropReason
from media.rtp import HEADER
from media.sequence import LATE, SequenceMunger, SlotNumbering, extend
from tests.support.fake_transports import FakeSendPath

SSRC = 0x0A0B0C0D
Event = tuple[Any, ...]
Outcome = Any


def key(seq: int, ts: int = 0) -> Event:
    return ("key", seq, ts)


def pkt(seq: int, ts: int = 0) -> Event:
    return ("pkt", seq, ts)


def congest(seq: int, ts: int = 0) -> Event:
    return ("congest", seq, ts)


def nack(number: int) -> Event:
    return ("nack", number)


PAUSE, RESUME, REUSE = ("pause",), ("resume",), ("reuse",)

# (name, slot's next seq, slot's next ts, events, outcomes)
TABLES: list[tuple[str, int, int, list[Event], list[Outcome]]] = [
    ("in order, numbering starts at the slot's next number", 1000, 500_000,
     [key(10, 9000), pkt(11, 9000), pkt(12, 12000)],
     [(1000, 500_000), (1001, 500_000), (1002, 503_000)]),
    ("packets before the first key frame wait", 1000, 0,
     [pkt(8), pkt(9), key(10), pkt(11)],
     ["wait", "wait", (1000, 0), (1001, 0)]),
    ("reordered packets inside the epoch map normally and can be NACKed", 1000, 0,
     [key(10), pkt(12), pkt(11), pkt(14), pkt(13), nack(1001), nack(1004)],
     [(1000, 0), (1002, 0), (1001, 0), (1004, 0), (1003, 0), ("nack", 11), ("nack", 14)]),
    ("duplicates map to the number they had", 1000, 0,
     [key(10), pkt(11), pkt(11), pkt(10), pkt(12)],
     [(1000, 0), (1001, 0), (1001, 0), (1000, 0), (1002, 0)]),
    ("a loss stays a gap the subscriber can see", 1000, 0,
     [key(10), pkt(11), pkt(14), pkt(15), nack(1001), nack(1005), nack(1006)],
     [(1000, 0), (1001, 0), (1004, 0), (1005, 0), ("nack", 11), ("nack", 15), ("nack", None)]),
    ("the source's sequence number wraps", 10, 100,
     [key(65534, 3000), pkt(65535, 3000), pkt(0, 6000), pkt(1, 6000)],
     [(10, 100), (11, 100), (12, 3100), (13, 3100)]),
    ("the subscriber's sequence number wraps", 65534, 0,
     [key(5), pkt(6), pkt(7), pkt(8), nack(65535), nack(0)],
     [(65534, 0), (65535, 0), (0, 0), (1, 0), ("nack", 6), ("nack", 7)]),
    ("a packet reordered across the wrap still maps", 65535, 0,
     [key(65533), pkt(65535), pkt(0), pkt(65534), pkt(1)],
     [(65535, 0), (1, 0), (2, 0), (0, 0), (3, 0)]),
    ("the subscriber's timestamp wraps", 0, 0xFFFFFFFF - 2999,
     [key(5, 0), pkt(6, 3000), pkt(7, 6000)],
     [(0, 0xFFFFFFFF - 2999), (1, 0), (2, 3000)]),
    ("the source's timestamp wraps", 0, 7,
     [key(40000, 0xFFFFF000), pkt(40001, 0xFFFFF000), pkt(40002, 0x00000BB8)],
     [(0, 7), (1, 7), (2, 7 + 0x1000 + 0xBB8)]),
    ("after pause and resume numbering continues and late packets are dropped", 1000, 0,
     [key(100, 0), pkt(101, 3000), PAUSE, pkt(102, 6000), RESUME, pkt(104, 12000), key(105, 15000),
      pkt(103, 9000), pkt(101, 3000), pkt(106, 18000), nack(1001), nack(1002), nack(1003)],
     [(1000, 0), (1001, 3000), None, "paused", None, "wait", (1002, 15000),
      "late", "late", (1003, 18000), ("nack", None), ("nack", 105), ("nack", 106)]),
    ("a packet just before the resume point is late", 1000, 0,
     [key(100), PAUSE, RESUME, key(200), pkt(199), pkt(201)],
     [(1000, 0), None, None, (1001, 0), "late", (1002, 0)]),
    ("a reused slot continues the numbering and the timestamp line", 1000, 500_000,
     [key(10, 30000), pkt(11, 30000), pkt(12, 33000), REUSE, pkt(13, 33000), key(14, 36000), pkt(12, 33000),
      pkt(15, 36000), nack(1002), nack(1003)],
     [(1000, 500_000), (1001, 500_000), (1002, 503_000), None, "wait", (1003, 506_000), "late",
      (1004, 506_000), ("nack", None), ("nack", 14)]),
    ("a late key frame after reuse opens the epoch under fresh numbers", 1000, 0,
     [key(10), pkt(11), pkt(12), REUSE, key(11), pkt(12), pkt(13)],
     [(1000, 0), (1001, 0), (1002, 0), None, (1003, 3000), (1004, 3000), (1005, 3000)]),
    ("a key frame after congestion never lands on delivered numbers", 0, 0,
     [key(1), pkt(2), pkt(4), congest(3), pkt(5), nack(3), key(6), pkt(7), pkt(3), nack(3), nack(4)],
     [(0, 0), (1, 0), (3, 0), "congested", "wait", ("nack", None), (4, 0), (5, 0), "late", ("nack", None),
      ("nack", 6)]),
    ("congestion on an in-order stream leaves no gap", 0, 0,
     [key(1), pkt(2), congest(3), pkt(4), key(5), pkt(6)],
     [(0, 0), (1, 0), "congested", "wait", (2, 0), (3, 0)]),
    ("a repeat of the newest packet that meets congestion never gives its number away again", 0, 0,
     [key(1), pkt(2), congest(2), pkt(3), key(4), pkt(5)],
     [(0, 0), (1, 0), "congested", "wait", (2, 0), (3, 0)]),
    ("the epoch start is found across a source wrap", 0, 0,
     [key(65534), pkt(65535), pkt(0), pkt(1), pkt(65533), pkt(65534)],
     [(0, 0), (1, 0), (2, 0), (3, 0), "late", (0, 0)]),
]


class MungerDriver:
    """The pure munger with what Producer and Consumer put around it: extended numbers, pause, key frames."""

    def __init__(self, next_seq: int, next_ts: int) -> None:
        self.numbering = SlotNumbering(next_seq, next_ts)
        self.munger = SequenceMunger(self.numbering)
        self.paused = False
        self.newest: int | None = None  # extended number of the newest packet seen, and its timestamp
        self.newest_ts: int | None = None
        self.repeated = -1

    def run(self, event: Event) -> Outcome:
        kind = event[0]
        munger = self.munger
        if kind == "pause":
            self.paused = True
            if self.newest is not None:
                munger.hold(self.newest + 1)
            return None
        if kind == "resume":
            self.paused = False
            return None
        if kind == "reuse":
            munger.stop(self.newest, self.newest_ts, NEXT_FRAME_TICKS["video"])
            self.munger = SequenceMunger(self.numbering)
            return None
        if kind == "nack":
            source = munger.lookup(event[1], self.newest)
            return ("nack", source & 0xFFFF if source >= 0 else None)
        _, seq, ts = event
        ext = seq if self.newest is None else extend(seq, self.newest)
        if self.newest is None or ext >= self.newest:
            if ext == self.newest:
                self.repeated = ext
            self.newest, self.newest_ts = ext, ts
        if self.paused:
            return "paused"
        if munger.waiting_key:
            if kind != "key":
                return "wait"
            munger.resume(ext, ts)
        number = munger.map(ext)
        if number == LATE:
            return "late"
        if kind == "congest":
            fresh = ext == self.newest and self.repeated != ext
            munger.hold(ext if fresh else self.newest + 1)
            return "congested"
        return (number, munger.map_ts(ts))


class ForwardingDriver:
    """A real Producer and Consumer on a Slot; outcomes are read from the bytes sent and the drop counters."""

    def __init__(self, next_seq: int, next_ts: int) -> None:
        self.producer = Producer(
            producer_id="t-1", owner_id="ann", kind="video", label="camera", mime_type="video/VP8",
            clock_rate=90000, extension_ids={}, rtcp_ssrc=1, send_rtcp=lambda data: True,
            drops={reason: 0 for reason in DropReason}, ssrc=SSRC, payload_type=96,
        )
        # No Router refills its token buckets here: give it more than any table sends.
        self.producer.packets_left = self.producer.bytes_left = 10**9
        self.slot = Slot(None, "video", ("video", "video/vp8", ""), 0x51070001, "cname")
        self.slot.next_seq, self.slot.next_ts = next_seq, next_ts
        self.path = FakeSendPath()
        self.slot.attach_send_path(self.path, 100)
        self.consumer = self._subscribe()

    def _subscribe(self) -> Consumer:
        consumer = Consumer("c", self.producer, self.slot, "bob")
        self.producer.add_consumer(consumer)
        return consumer

    def run(self, event: Event) -> Outcome:
        kind = event[0]
        if kind == "pause":
            self.producer.set_paused(True)
            return None
        if kind == "resume":
            self.producer.set_paused(False)
            return None
        if kind == "reuse":
            self.consumer.detach(CloseReason.NOT_PERMITTED)
            # As if the next viewer came long after the last key frame: this table is about numbering
            # across a wait, not about starting from the cache (tests/unit/test_consumer.py).
            self.producer.key_at = float("-inf")
            self.consumer = self._subscribe()
            return None
        sent = len(self.path.sent)
        if kind == "nack":
            if not self.consumer.retransmit(event[1]):
                return ("nack", None)
            resent = self.path.sent[sent]
            assert HEADER.unpack_from(resent, 0)[2] == event[1]
            return ("nack", int.from_bytes(resent[-2:], "big"))
        _, seq, ts = event
        before = dict(self.producer.drops)
        # The packet carries its source number at the end, so a NACK's answer shows which packet it was.
        packet = HEADER.pack(0x80, 96, seq, ts, SSRC) + b"\x10" + (b"\x00" if kind == "key" else b"\x01") + \
            seq.to_bytes(2, "big")
        self.path.queued = CONGESTION_BYTES + 1 if kind == "congest" else 0
        self.producer.receive(packet)
        self.path.queued = 0
        if len(self.path.sent) > sent:
            _, _, number, stamp, _ = HEADER.unpack_from(self.path.sent[sent], 0)
            return (number, stamp)
        [reason] = [r for r, n in self.producer.drops.items() if n != before[r]]
        return {DropReason.LATE_PACKET: "late", DropReason.WAITING_KEYFRAME: "wait", DropReason.PAUSED: "paused",
                DropReason.SUBSCRIBER_CONGESTED: "congested"}[reason]


@pytest.fixture(autouse=True)
def no_keyframe_throttle(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep time still: the Producer's PLI throttle plays no part in numbering."""
    monkeypatch.setattr(media.producer.time, "monotonic", lambda: 1000.0)


@pytest.mark.parametrize("driver", [MungerDriver, ForwardingDriver], ids=["munger", "producer-and-consumer"])
@pytest.mark.parametrize(("name", "next_seq", "next_ts", "events", "outcomes"), TABLES, ids=[t[0] for t in TABLES])
def test_each_packet_gets_the_number_the_table_says(
    driver: type[MungerDriver] | type[ForwardingDriver], name: str, next_seq: int, next_ts: int,
    events: list[Event], outcomes: list[Outcome],
) -> None:
    run = driver(next_seq, next_ts)
    assert [run.run(event) for event in events] == outcomes


@pytest.mark.parametrize("driver", [MungerDriver, ForwardingDriver], ids=["munger", "producer-and-consumer"])
def test_an_epoch_longer_than_the_sequence_space_still_places_reordered_and_late_packets(
    driver: type[MungerDriver] | type[ForwardingDriver],
) -> None:
    run = driver(0, 0)
    assert run.run(key(100)) == (0, 0)
    for n in range(1, 70_001):  # more than one full cycle of the 16-bit space
        run.run(pkt((100 + n) & 0xFFFF))
    newest = (100 + 70_000) & 0xFFFF
    assert run.run(pkt(newest - 5)) == ((70_000 - 5) & 0xFFFF, 0)
    assert run.run(nack((70_000 - 3) & 0xFFFF)) == ("nack", newest - 3)
    assert run.run(pkt(newest + 1)) == ((70_001) & 0xFFFF, 0)


def test_a_new_munger_on_a_slot_starts_at_the_slots_numbering() -> None:
    numbering = SlotNumbering(0x1FFFF, 0x1_0000_0005)
    assert (numbering.next_seq, numbering.next_ts) == (0xFFFF, 5)
    munger = SequenceMunger(numbering)
    assert munger.waiting_key and munger.lookup(0xFFFF, 7) == -1
    munger.resume(7, 70)
    assert (munger.map(7), munger.map_ts(70), munger.lookup(0xFFFF, 7)) == (0xFFFF, 5, 7)


@pytest.mark.parametrize(("seq", "newest", "expected"), [
    (5, 5, 5), (6, 5, 6), (4, 5, 4), (0, 65535, 65536), (65535, 65536, 65535), (65535, 65536 * 3, 65536 * 3 - 1),
    (1, 65536 * 2 + 65535, 65536 * 3 + 1), (0x8004, 4, 0x8004 - 65536), (0x8003, 4, 0x8003),
])
def test_extend_places_a_16_bit_number_nearest_the_newest_extended_one(seq: int, newest: int, expected: int) -> None:
    assert extend(seq, newest) == expected


def test_holding_twice_keeps_the_numbering_where_the_first_hold_left_it() -> None:
    numbering = SlotNumbering(50, 0)
    munger = SequenceMunger(numbering)
    munger.resume(1, 0)
    munger.hold(2)
    munger.hold(40)
    assert numbering.next_seq == 51


def test_stopping_before_anything_was_received_leaves_the_slot_alone() -> None:
    numbering = SlotNumbering(50, 777)
    SequenceMunger(numbering).stop(None, None, 3000)
    assert (numbering.next_seq, numbering.next_ts) == (50, 777)


def test_stopping_a_munger_that_never_opened_an_epoch_leaves_the_slot_alone() -> None:
    numbering = SlotNumbering(50, 777)
    SequenceMunger(numbering).stop(12, 123_456, 3000)
    assert (numbering.next_seq, numbering.next_ts) == (50, 777)


def test_stopping_moves_the_timestamp_line_one_frame_past_the_newest_source_timestamp() -> None:
    numbering = SlotNumbering(0, 0xFFFFFFFF)
    munger = SequenceMunger(numbering)
    munger.resume(1, 1000)
    munger.stop(1, 4000, 3000)
    assert (numbering.next_seq, numbering.next_ts) == (1, (0xFFFFFFFF + 3000 + 3000) & 0xFFFFFFFF)
