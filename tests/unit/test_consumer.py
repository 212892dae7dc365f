"""Tests for the forwarding path without sockets: Producer fan-out, Consumer rewriting, Slot numbering.

Producers are built directly with a recording ``send_rtcp``; Slots get a fake send path that records
what would have gone to the socket, so every test sees exactly the bytes a subscriber would receive.
"""

from __future__ import annotations

import struct
import time

import pytest
from aiortc.rtp import RTCP_PSFB_APP, RtcpPacket, RtcpPsfbPacket, RtcpRrPacket, unpack_remb_fci

from media.consumer import CONGESTION_BYTES, NEXT_FRAME_TICKS, Consumer, Slot
from media.producer import KEYFRAME_INTERVAL, REPLAY_WINDOW, Producer
from media.reasons import CloseReason, DropReason
from media.rtcp import build_pli
from media.rtp import HEADER, URI_ABS_SEND_TIME, URI_AUDIO_LEVEL, URI_MID, abs_send_time, payload_offset
from tests.support.clock import Clock

PUBLISHER_SSRC = 0x0A0B0C0D
SFU_RTCP_SSRC = 0x5F5F5F5F
VP8_PT = 96
OPUS_PT = 111
CHROME_IDS = {URI_AUDIO_LEVEL: 1, URI_ABS_SEND_TIME: 2, URI_MID: 4}


class FakeSendPath:
    """What adapter.SendPath offers a Slot, recording instead of encrypting and sending."""

    def __init__(self, addr: tuple[str, int] = ("198.51.100.7", 40000)) -> None:
        self.addr = addr
        self.sent: list[bytes] = []
        self.addrs: list[tuple[str, int]] = []
        self.queued = 0
        self.error: Exception | None = None

    def protect(self, data: bytes) -> bytes:
        return data

    def protect_rtcp(self, data: bytes) -> bytes:
        return b"srtcp:" + data

    def sendto(self, data: bytes, addr: tuple[str, int]) -> None:
        if self.error is not None:
            raise self.error
        self.sent.append(data)
        self.addrs.append(addr)

    def buffer_size(self) -> int:
        return self.queued

    def headers(self) -> list[tuple[int, int, int, int, int]]:
        """Return (b0, b1, seq, ts, ssrc) of every packet sent."""
        return [HEADER.unpack_from(p, 0) for p in self.sent]

    def seqs(self) -> list[int]:
        return [h[2] for h in self.headers()]

    def timestamps(self) -> list[int]:
        return [h[3] for h in self.headers()]


def make_producer(kind: str = "video", mime: str = "video/VP8", extension_ids: dict[str, int] | None = None,
                  ssrc: int | None = PUBLISHER_SSRC, rtcp: list[bytes] | None = None) -> Producer:
    sent = rtcp if rtcp is not None else []

    def send_rtcp(data: bytes) -> bool:
        sent.append(data)
        return True

    return Producer(
        producer_id="t-1", owner_id="alice", kind=kind, label="camera" if kind == "video" else "microphone",
        mime_type=mime, clock_rate=90000 if kind == "video" else 48000, extension_ids=extension_ids or {},
        rtcp_ssrc=SFU_RTCP_SSRC, send_rtcp=send_rtcp, drops={reason: 0 for reason in DropReason}, ssrc=ssrc,
        payload_type=VP8_PT if kind == "video" else OPUS_PT,
    )


def make_slot(kind: str = "video", ssrc: int = 0x51070001, next_seq: int = 1000, next_ts: int = 500_000,
              pt: int = 100, path: FakeSendPath | None = None) -> tuple[Slot, FakeSendPath]:
    slot = Slot(None, kind, (kind, "video/vp8" if kind == "video" else "audio/opus", ""), ssrc, "cname-bob")
    slot.next_seq, slot.next_ts = next_seq, next_ts
    path = path or FakeSendPath()
    slot.attach_send_path(path, pt)
    return slot, path


def subscribe(producer: Producer, **slot_args) -> tuple[Consumer, Slot, FakeSendPath]:
    slot, path = make_slot(kind=producer.kind, **slot_args)
    consumer = Consumer(f"c-{len(producer.consumers)}", producer, slot, "bob")
    producer.add_consumer(consumer)
    return consumer, slot, path


def vp8(seq: int, ts: int, key: bool = False, marker: bool = False, body: bytes = b"frame-bytes",
        extension: bytes = b"", csrcs: tuple[int, ...] = ()) -> bytes:
    """Build a VP8 RTP packet starting a frame (S=1, PID=0); P=0 makes it a key frame."""
    b0 = 0x80 | len(csrcs) | (0x10 if extension else 0)
    header = HEADER.pack(b0, (0x80 if marker else 0) | VP8_PT, seq & 0xFFFF, ts & 0xFFFFFFFF, PUBLISHER_SSRC)
    header += b"".join(struct.pack("!I", c) for c in csrcs)
    return header + extension + b"\x10" + (b"\x00" if key else b"\x01") + body


def opus(seq: int, ts: int, body: bytes = b"opus") -> bytes:
    return HEADER.pack(0x80, OPUS_PT, seq & 0xFFFF, ts & 0xFFFFFFFF, PUBLISHER_SSRC) + body


def drops(producer: Producer) -> dict[DropReason, int]:
    return {reason: n for reason, n in producer.drops.items() if n}


# -- joining ---------------------------------------------------------------------------------------


def test_consumer_waits_for_keyframe_after_join(clock: Clock) -> None:
    producer = make_producer()
    consumer, slot, path = subscribe(producer)
    producer.receive(vp8(10, 9000))
    producer.receive(vp8(11, 9000, marker=True))
    assert path.sent == []
    assert drops(producer) == {DropReason.WAITING_KEYFRAME: 2}
    producer.receive(vp8(12, 12000, key=True))
    producer.receive(vp8(13, 12000, marker=True))
    assert path.seqs() == [1000, 1001]
    assert consumer.waiting_key is False and consumer.started is True
    assert drops(producer) == {DropReason.WAITING_KEYFRAME: 2}


def test_joining_asks_the_publisher_for_a_key_frame(clock: Clock) -> None:
    rtcp: list[bytes] = []
    producer = make_producer(rtcp=rtcp)
    subscribe(producer)
    assert rtcp == [build_pli(SFU_RTCP_SSRC, PUBLISHER_SSRC)]
    assert producer.keyframe_requests == 1


def test_an_audio_consumer_starts_at_the_first_packet(clock: Clock) -> None:
    rtcp: list[bytes] = []
    producer = make_producer(kind="audio", mime="audio/opus", rtcp=rtcp)
    _, _, path = subscribe(producer)
    producer.receive(opus(7, 960))
    assert path.seqs() == [1000]
    assert rtcp == []  # audio has no key frames to ask for
    assert drops(producer) == {}


def test_rewritten_header_carries_the_slots_ssrc_and_payload_type(clock: Clock) -> None:
    producer = make_producer()
    _, _, path = subscribe(producer, ssrc=0xCAFEBABE, pt=120)
    producer.receive(vp8(10, 9000, key=True, marker=True))
    producer.receive(vp8(11, 12000))
    assert path.headers() == [
        (0x80, 0x80 | 120, 1000, 500_000, 0xCAFEBABE),
        (0x80, 120, 1001, 503_000, 0xCAFEBABE),
    ]
    assert path.addrs == [("198.51.100.7", 40000)] * 2


# (slot's next seq, next ts, source seqs, source timestamps) -> expected subscriber seqs and timestamps
REWRITES = [
    (1000, 500_000, [10, 11, 12], [9000, 9000, 12000], [1000, 1001, 1002], [500_000, 500_000, 503_000]),
    (10, 100, [65534, 65535, 0, 1], [3000, 3000, 6000, 6000], [10, 11, 12, 13], [100, 100, 3100, 3100]),
    (65534, 0xFFFFFFFF - 2999, [5, 6, 7, 8], [0, 3000, 6000, 9000], [65534, 65535, 0, 1],
     [0xFFFFFFFF - 2999, 0, 3000, 6000]),
    (65535, 0, [65535, 0, 1], [0xFFFFFFFF, 2999, 5999], [65535, 0, 1], [0, 3000, 6000]),
    (0, 7, [40000, 40001, 40002], [0xFFFFF000, 0xFFFFF000, 0x00000BB8], [0, 1, 2], [7, 7, 7 + 0x1000 + 0xBB8]),
]


@pytest.mark.parametrize(("next_seq", "next_ts", "seqs", "tss", "out_seqs", "out_tss"), REWRITES)
def test_sequence_numbers_are_contiguous_from_the_slot_and_timestamps_shift_consistently(
    clock: Clock, next_seq: int, next_ts: int, seqs: list[int], tss: list[int], out_seqs: list[int], out_tss: list[int]
) -> None:
    producer = make_producer()
    _, _, path = subscribe(producer, next_seq=next_seq, next_ts=next_ts)
    for i, (seq, ts) in enumerate(zip(seqs, tss, strict=True)):
        producer.receive(vp8(seq, ts, key=i == 0))
    assert path.seqs() == out_seqs
    assert path.timestamps() == out_tss


def test_the_payload_is_forwarded_byte_exactly(clock: Clock) -> None:
    producer = make_producer()
    _, _, path = subscribe(producer)
    body = bytes(range(256)) * 4
    packet = vp8(10, 9000, key=True, body=body)
    producer.receive(packet)
    [sent] = path.sent
    assert sent[12:] == packet[12:]
    assert len(sent) == len(packet)


def test_extensions_are_translated_and_csrcs_dropped_before_forwarding(clock: Clock) -> None:
    producer = make_producer(extension_ids=CHROME_IDS)
    _, _, path = subscribe(producer)
    # Chrome ids: abs-send-time 2 and mid 4; forwarded as abs-send-time 3, mid dropped.
    extension = struct.pack("!HH", 0xBEDE, 2) + bytes([0x22, 1, 2, 3, 0x40, ord("1"), 0, 0])
    packet = vp8(10, 9000, key=True, extension=extension, csrcs=(77,))
    before = time.monotonic_ns()
    producer.receive(packet)
    after = time.monotonic_ns()
    [sent] = path.sent
    assert sent[0] == 0x90
    # abs-send-time carries the SFU's send time, not the publisher's 1, 2, 3.
    assert sent[12:17] == struct.pack("!HH", 0xBEDE, 1) + b"\x32"
    assert (int.from_bytes(sent[17:20], "big") - abs_send_time(before)) % (1 << 24) <= \
        (abs_send_time(after) - abs_send_time(before)) % (1 << 24)
    assert sent[20:] == packet[12 + 4 + 12:]


def test_every_consumer_gets_its_own_numbering(clock: Clock) -> None:
    producer = make_producer()
    _, _, first = subscribe(producer, next_seq=100, ssrc=1)
    _, _, second = subscribe(producer, next_seq=60000, ssrc=2)
    for seq in range(5):
        producer.receive(vp8(seq, seq * 3000, key=seq == 0))
    assert first.seqs() == [100, 101, 102, 103, 104]
    assert second.seqs() == [60000, 60001, 60002, 60003, 60004]
    assert [p[12:] for p in first.sent] == [p[12:] for p in second.sent]
    assert producer.forwarded == 10


def test_a_late_joiner_waits_for_the_next_key_frame_while_others_continue(clock: Clock) -> None:
    rtcp: list[bytes] = []
    producer = make_producer(rtcp=rtcp)
    _, _, early = subscribe(producer, next_seq=0, ssrc=1)
    producer.receive(vp8(1, 0, key=True))
    producer.receive(vp8(2, 3000))
    clock.now += REPLAY_WINDOW + 0.01  # the key frame is too old to start a viewer from
    _, _, late = subscribe(producer, next_seq=500, ssrc=2)
    producer.receive(vp8(3, 6000))
    producer.receive(vp8(4, 9000, key=True))
    assert early.seqs() == [0, 1, 2, 3]
    assert late.seqs() == [500]
    assert drops(producer) == {DropReason.WAITING_KEYFRAME: 1}
    assert len(rtcp) == 2 and producer.replays == 0


def test_a_viewer_starting_just_after_a_key_frame_is_served_it_from_the_cache(clock: Clock) -> None:
    rtcp: list[bytes] = []
    producer = make_producer(rtcp=rtcp)
    _, _, early = subscribe(producer, next_seq=0, ssrc=1)
    # A second viewer is let in now, but its consumer starts only when its renegotiation completes.
    slot, late = make_slot(ssrc=2, next_seq=500)
    consumer = Consumer("c-late", producer, slot, "cy")
    producer.receive(vp8(1, 0, key=True))  # the key frame the first viewer asked for
    producer.receive(vp8(2, 3000, marker=True))
    clock.now += REPLAY_WINDOW / 2
    producer.add_consumer(consumer)
    # The key frame and what followed it went out at once, in the viewer's numbering, then the live stream.
    assert late.seqs() == [500, 501]
    assert [p[12:] for p in late.sent] == [p[12:] for p in early.sent]
    producer.receive(vp8(3, 6000))
    assert late.seqs() == [500, 501, 502] and late.timestamps()[2] - late.timestamps()[0] == 6000
    assert len(rtcp) == 1 and producer.replays == 1 and drops(producer) == {}


def test_the_cache_never_shows_a_viewer_what_came_before_they_were_let_in(clock: Clock) -> None:
    rtcp: list[bytes] = []
    producer = make_producer(rtcp=rtcp)
    subscribe(producer, next_seq=0, ssrc=1)
    producer.receive(vp8(1, 0, key=True))
    clock.now += 0.01
    _, _, admitted = subscribe(producer, next_seq=500, ssrc=2)  # e.g. admitted from the waiting room
    producer.receive(vp8(2, 3000))
    assert admitted.sent == [] and producer.replays == 0
    assert drops(producer) == {DropReason.WAITING_KEYFRAME: 1}
    assert len(rtcp) == 2, "its own key frame was asked for at once"


def test_a_hole_in_the_cache_means_a_fresh_key_frame_instead(clock: Clock) -> None:
    rtcp: list[bytes] = []
    producer = make_producer(rtcp=rtcp)
    subscribe(producer, next_seq=0, ssrc=1)
    producer.receive(vp8(1, 0, key=True))
    producer.receive(vp8(3, 6000))  # 2 was lost on the way in (and NACKed)
    clock.now += 0.1
    _, _, late = subscribe(producer, next_seq=500, ssrc=2)
    assert late.sent == [] and producer.replays == 0
    assert sum(1 for data in rtcp if data == build_pli(SFU_RTCP_SSRC, PUBLISHER_SSRC)) == 2


# -- pause / resume --------------------------------------------------------------------------------


def test_a_paused_producer_forwards_nothing(clock: Clock) -> None:
    producer = make_producer()
    _, _, path = subscribe(producer)
    producer.receive(vp8(1, 0, key=True))
    producer.set_paused(True)
    for seq in range(2, 6):
        producer.receive(vp8(seq, seq * 3000, key=True))
    assert path.seqs() == [1000]
    assert drops(producer) == {DropReason.PAUSED: 4}


def test_resume_restarts_at_a_key_frame_with_contiguous_sequence_numbers(clock: Clock) -> None:
    rtcp: list[bytes] = []
    producer = make_producer(rtcp=rtcp)
    _, _, path = subscribe(producer, next_seq=65534)
    producer.receive(vp8(100, 0, key=True))
    producer.receive(vp8(101, 3000))
    producer.set_paused(True)
    for seq in range(102, 150):
        producer.receive(vp8(seq, seq * 3000))
    clock.now += 1
    producer.set_paused(False)
    assert rtcp[-1] == build_pli(SFU_RTCP_SSRC, PUBLISHER_SSRC)
    producer.receive(vp8(150, 150 * 3000))
    producer.receive(vp8(151, 151 * 3000, key=True))
    producer.receive(vp8(152, 152 * 3000))
    assert path.seqs() == [65534, 65535, 0, 1]
    offset = path.timestamps()[0] - 0
    assert path.timestamps() == [(offset + ts) & 0xFFFFFFFF for ts in (0, 3000, 151 * 3000, 152 * 3000)]
    assert drops(producer) == {DropReason.PAUSED: 48, DropReason.WAITING_KEYFRAME: 1}


def test_pausing_twice_or_resuming_twice_changes_nothing(clock: Clock) -> None:
    rtcp: list[bytes] = []
    producer = make_producer(rtcp=rtcp)
    _, slot, path = subscribe(producer)
    producer.receive(vp8(1, 0, key=True))
    producer.set_paused(True)
    producer.set_paused(True)
    assert slot.next_seq == 1001
    clock.now += 1
    producer.set_paused(False)
    clock.now += 1
    producer.set_paused(False)
    assert len(rtcp) == 2  # the join and one resume
    producer.receive(vp8(2, 3000, key=True))
    assert path.seqs() == [1000, 1001]


def test_paused_audio_resumes_at_once_with_contiguous_numbers(clock: Clock) -> None:
    producer = make_producer(kind="audio", mime="audio/opus")
    _, _, path = subscribe(producer)
    producer.receive(opus(1, 960))
    producer.set_paused(True)
    producer.receive(opus(2, 1920))
    producer.set_paused(False)
    producer.receive(opus(3, 2880))
    assert path.seqs() == [1000, 1001]
    assert path.timestamps() == [500_000, 500_000 + 1920]


# -- congestion and send failures ------------------------------------------------------------------


def test_a_congested_subscriber_gets_nothing_while_the_other_gets_everything(clock: Clock) -> None:
    producer = make_producer()
    _, _, slow = subscribe(producer, next_seq=0, ssrc=1)
    _, _, fast = subscribe(producer, next_seq=0, ssrc=2)
    producer.receive(vp8(1, 0, key=True))
    slow.queued = CONGESTION_BYTES + 1
    for seq in range(2, 8):
        producer.receive(vp8(seq, seq * 3000))
    assert slow.seqs() == [0]
    assert fast.seqs() == [0, 1, 2, 3, 4, 5, 6]
    assert drops(producer) == {DropReason.SUBSCRIBER_CONGESTED: 1, DropReason.WAITING_KEYFRAME: 5}


def test_a_congested_subscriber_resumes_at_the_next_key_frame_with_contiguous_numbers(clock: Clock) -> None:
    rtcp: list[bytes] = []
    producer = make_producer(rtcp=rtcp)
    _, _, slow = subscribe(producer, next_seq=0, ssrc=1)
    producer.receive(vp8(1, 0, key=True))
    producer.receive(vp8(2, 3000))
    clock.now += 1
    slow.queued = CONGESTION_BYTES + 1
    producer.receive(vp8(3, 6000))
    assert rtcp[-1] == build_pli(SFU_RTCP_SSRC, PUBLISHER_SSRC)  # congestion asks for a key frame
    producer.receive(vp8(4, 9000))
    slow.queued = 0
    producer.receive(vp8(5, 12000))
    producer.receive(vp8(6, 15000, key=True))
    producer.receive(vp8(7, 18000))
    assert slow.seqs() == [0, 1, 2, 3]
    assert [p[12:] for p in slow.sent[2:]] == [vp8(6, 0, key=True)[12:], vp8(7, 0)[12:]]
    assert slow.timestamps() == [500_000, 503_000, 515_000, 518_000]


def test_a_congested_subscriber_that_stays_congested_through_a_key_frame_keeps_waiting(clock: Clock) -> None:
    producer = make_producer()
    _, _, slow = subscribe(producer, next_seq=0, ssrc=1)
    producer.receive(vp8(1, 0, key=True))
    slow.queued = CONGESTION_BYTES + 1
    producer.receive(vp8(2, 3000, key=True))
    producer.receive(vp8(3, 6000, key=True))
    slow.queued = 0
    producer.receive(vp8(4, 9000))
    producer.receive(vp8(5, 12000, key=True))
    assert slow.seqs() == [0, 1]
    assert drops(producer) == {DropReason.SUBSCRIBER_CONGESTED: 2, DropReason.WAITING_KEYFRAME: 1}


def test_a_buffer_exactly_at_the_limit_is_not_congested(clock: Clock) -> None:
    producer = make_producer()
    _, _, path = subscribe(producer)
    path.queued = CONGESTION_BYTES
    producer.receive(vp8(1, 0, key=True))
    assert path.seqs() == [1000]


def test_congested_audio_drops_packets_without_waiting(clock: Clock) -> None:
    producer = make_producer(kind="audio", mime="audio/opus")
    _, _, path = subscribe(producer)
    producer.receive(opus(1, 960))
    path.queued = CONGESTION_BYTES + 1
    producer.receive(opus(2, 1920))
    producer.receive(opus(3, 2880))
    path.queued = 0
    producer.receive(opus(4, 3840))
    assert path.seqs() == [1000, 1003]
    assert drops(producer) == {DropReason.SUBSCRIBER_CONGESTED: 2}


@pytest.mark.parametrize("failure", ["sendto", "protect"])
def test_a_failing_send_path_counts_send_failed_and_does_not_stop_other_consumers(clock: Clock, failure: str) -> None:
    producer = make_producer()
    _, slot, broken = subscribe(producer, next_seq=0, ssrc=1)
    _, _, fine = subscribe(producer, next_seq=0, ssrc=2)
    if failure == "sendto":
        broken.error = OSError(11, "Resource temporarily unavailable")
    else:
        def protect(data: bytes) -> bytes:
            raise ValueError("srtp session closed")

        broken.protect = protect
        slot.attach_send_path(broken, slot.pt)
    for seq in range(1, 4):
        producer.receive(vp8(seq, 0, key=seq == 1))
    assert broken.sent == []
    assert fine.seqs() == [0, 1, 2]
    assert drops(producer) == {DropReason.SEND_FAILED: 3}


def test_a_send_failure_does_not_hold_the_consumer(clock: Clock) -> None:
    producer = make_producer()
    consumer, _, path = subscribe(producer)
    producer.receive(vp8(1, 0, key=True))
    path.error = OSError("network unreachable")
    producer.receive(vp8(2, 3000))
    path.error = None
    producer.receive(vp8(3, 6000))
    assert path.seqs() == [1000, 1002]  # the subscriber sees one loss it can NACK
    assert consumer.packets == 2


# -- malformed input -------------------------------------------------------------------------------


@pytest.mark.parametrize("data", [b"", b"\x80", b"\x80\x60\x00\x01", vp8(1, 0, key=True)[:11]])
def test_a_packet_shorter_than_an_rtp_header_never_raises(clock: Clock, data: bytes) -> None:
    producer = make_producer()
    _, _, path = subscribe(producer)
    producer.receive(data)
    assert path.sent == []
    assert producer.packets_in == 0
    assert sum(producer.drops.values()) == 1
    assert drops(producer).keys() <= {DropReason.MALFORMED, DropReason.HOOK_ERROR}


def test_every_truncation_of_a_packet_never_raises(clock: Clock) -> None:
    producer = make_producer(extension_ids=CHROME_IDS)
    _, _, path = subscribe(producer)
    producer.receive(vp8(1, 0, key=True))
    extension = struct.pack("!HH", 0xBEDE, 2) + bytes([0x22, 1, 2, 3, 0x40, ord("1"), 0, 0])
    packet = vp8(2, 3000, key=True, extension=extension, csrcs=(5, 6))
    for cut in range(len(packet) + 1):
        producer.receive(packet[:cut])
    # Shorter than the fixed header (12 cuts), or cut inside the CSRCs or the extension block.
    refused = 12 + payload_offset(packet) - 12
    assert producer.drops[DropReason.HOOK_ERROR] + producer.drops[DropReason.MALFORMED] == refused
    assert len(path.sent) == 1 + len(packet) + 1 - payload_offset(packet)


def test_a_packet_with_a_truncated_extension_is_not_forwarded(clock: Clock) -> None:
    producer = make_producer(extension_ids=CHROME_IDS)
    _, _, path = subscribe(producer)
    producer.receive(vp8(1, 0, key=True))
    # X=1 and an extension length of 5 words, but only 4 bytes follow the profile/length word.
    packet = HEADER.pack(0x90, VP8_PT, 2, 3000, PUBLISHER_SSRC) + struct.pack("!HH", 0xBEDE, 5) + b"\x22\x01\x02\x03"
    producer.receive(packet)
    assert path.seqs() == [1000]


# -- NACK ------------------------------------------------------------------------------------------


def test_retransmit_maps_the_subscriber_seq_back_and_resends_the_cached_packet_rewritten(clock: Clock) -> None:
    producer = make_producer()
    consumer, _, path = subscribe(producer, next_seq=65530)
    for seq in range(100, 110):
        producer.receive(vp8(seq, seq * 3000, key=seq == 100, body=bytes([seq])))
    original = path.sent[8]  # source 108, subscriber seq 2 after the wrap
    assert HEADER.unpack_from(original, 0)[2] == 2
    assert consumer.retransmit(2) is True
    assert path.sent[-1] == original
    assert consumer.retransmit(2 + 65536) is True  # aiortc does not wrap NACK bitmask entries
    assert path.sent[-1] == original


def test_retransmit_of_a_packet_not_in_the_cache_sends_nothing(clock: Clock) -> None:
    producer = make_producer()
    consumer, _, path = subscribe(producer)
    for seq in range(100, 105):
        producer.receive(vp8(seq, 0, key=seq == 100))
    assert consumer.retransmit(1005) is False  # the future
    assert consumer.retransmit(999) is False  # before the first key frame
    assert len(path.sent) == 5


def test_retransmit_of_a_packet_pushed_out_of_the_cache_sends_nothing(clock: Clock) -> None:
    producer = make_producer()
    consumer, _, path = subscribe(producer, next_seq=0)
    for seq in range(0, 1100):
        producer.receive(vp8(seq, 0, key=seq == 0))
    assert consumer.retransmit(10) is False
    assert consumer.retransmit(1099) is True


def test_retransmit_is_refused_while_waiting_for_a_key_frame_or_for_audio(clock: Clock) -> None:
    producer = make_producer()
    consumer, _, _ = subscribe(producer)
    producer.receive(vp8(100, 0))
    assert consumer.retransmit(1000) is False
    audio = make_producer(kind="audio", mime="audio/opus")
    audio_consumer, _, _ = subscribe(audio)
    audio.receive(opus(1, 960))
    assert audio_consumer.retransmit(1000) is False


def test_retransmit_after_detach_sends_nothing(clock: Clock) -> None:
    producer = make_producer()
    consumer, _, path = subscribe(producer)
    producer.receive(vp8(100, 0, key=True))
    consumer.detach(CloseReason.REQUESTED)
    assert consumer.retransmit(1000) is False
    assert len(path.sent) == 1


def test_a_retransmit_that_meets_congestion_does_not_rewind_the_subscribers_numbering(clock: Clock) -> None:
    producer = make_producer()
    consumer, _, path = subscribe(producer, next_seq=0)
    for seq in range(100, 111):
        producer.receive(vp8(seq, seq * 3000, key=seq == 100))
    assert path.seqs() == list(range(11))
    path.queued = CONGESTION_BYTES + 1
    consumer.retransmit(5)  # the subscriber lost 5; the send buffer is full, so it is dropped
    path.queued = 0
    producer.receive(vp8(111, 111 * 3000, key=True))
    assert path.seqs()[-1] == 11  # not 5 again: 5..10 already reached the subscriber


def test_a_nack_for_a_packet_sent_before_a_pause_never_resends_a_different_packet(clock: Clock) -> None:
    producer = make_producer()
    consumer, _, path = subscribe(producer, next_seq=1000)
    for seq in range(100, 105):
        producer.receive(vp8(seq, seq * 3000, key=seq == 100, body=b"before-%d" % seq))
    producer.set_paused(True)
    for seq in range(105, 200):
        producer.receive(vp8(seq, seq * 3000, body=b"muted-%d" % seq))
    clock.now += 1
    producer.set_paused(False)
    producer.receive(vp8(200, 200 * 3000, key=True))
    sent_before = len(path.sent)
    resent = consumer.retransmit(1002)  # source 102, lost on the way to the subscriber
    assert not resent or path.sent[sent_before] == path.sent[2]


# -- detach and slot reuse -------------------------------------------------------------------------


def test_detach_frees_the_slot_and_the_next_consumer_continues_its_numbering(clock: Clock) -> None:
    first_producer = make_producer()
    consumer, slot, path = subscribe(first_producer, next_seq=65533, next_ts=1000)
    for seq in range(10, 14):
        first_producer.receive(vp8(seq, seq * 3000, key=seq == 10))
    consumer.detach(CloseReason.PRODUCER_CLOSED)
    assert (consumer.closed, consumer.close_reason, consumer.active) == (True, CloseReason.PRODUCER_CLOSED, False)
    assert slot.consumer is None and slot.used is True
    assert first_producer.consumers == []
    assert slot.next_seq == 1
    assert slot.next_ts == 1000 + 3 * 3000 + NEXT_FRAME_TICKS["video"]

    second_producer = make_producer()
    second = Consumer("c-2", second_producer, slot, "bob")
    assert slot.consumer is second
    second_producer.add_consumer(second)
    second_producer.receive(vp8(40000, 7_777_777, key=True))
    second_producer.receive(vp8(40001, 7_780_777))
    assert path.seqs() == [65533, 65534, 65535, 0, 1, 2]
    continued = 1000 + 9000 + NEXT_FRAME_TICKS["video"]
    assert path.timestamps()[4:] == [continued, continued + 3000]


def test_detach_of_a_held_consumer_keeps_the_numbering_where_it_stopped(clock: Clock) -> None:
    producer = make_producer()
    consumer, slot, _ = subscribe(producer, next_seq=50)
    producer.receive(vp8(1, 0, key=True))
    producer.receive(vp8(2, 3000))
    producer.set_paused(True)
    for seq in range(3, 30):
        producer.receive(vp8(seq, seq * 3000))
    consumer.detach(CloseReason.NOT_PERMITTED)
    assert slot.next_seq == 52


def test_detach_before_the_first_packet_leaves_the_slot_numbering_alone(clock: Clock) -> None:
    producer = make_producer()
    consumer, slot, _ = subscribe(producer, next_seq=50, next_ts=777)
    producer.receive(vp8(1, 0))
    consumer.detach(CloseReason.REQUESTED)
    assert (slot.next_seq, slot.next_ts, slot.consumer) == (50, 777, None)


def test_detach_is_idempotent_and_keeps_the_first_reason(clock: Clock) -> None:
    producer = make_producer()
    consumer, _, _ = subscribe(producer)
    consumer.detach(CloseReason.NOT_PERMITTED)
    consumer.detach(CloseReason.ROUTER_CLOSED)
    assert consumer.close_reason is CloseReason.NOT_PERMITTED


def test_closing_a_producer_detaches_its_consumers_once(clock: Clock) -> None:
    producer = make_producer()
    first, _, _ = subscribe(producer, ssrc=1)
    second, _, _ = subscribe(producer, ssrc=2)
    assert producer.close() == [first, second]
    assert producer.close() == []
    assert [c.close_reason for c in (first, second)] == [CloseReason.PRODUCER_CLOSED] * 2
    assert producer.consumers == []
    late, _, _ = subscribe(producer, ssrc=3)
    assert producer.consumers == [] and late.active is False


def test_adding_a_consumer_twice_keeps_one_entry(clock: Clock) -> None:
    producer = make_producer()
    consumer, _, _ = subscribe(producer)
    producer.add_consumer(consumer)
    assert producer.consumers == [consumer]


# -- keyframe requests -----------------------------------------------------------------------------


def test_keyframe_requests_are_throttled_to_one_per_500_ms(clock: Clock) -> None:
    rtcp: list[bytes] = []
    producer = make_producer(rtcp=rtcp)
    results = []
    for offset in (0.0, 0.1, 0.49, 0.5, 0.7, 0.99, 1.0):
        clock.now = 1000.0 + offset
        results.append(producer.request_keyframe())
    assert KEYFRAME_INTERVAL == 0.5
    assert results == [True, False, False, True, False, False, True]
    assert rtcp == [build_pli(SFU_RTCP_SSRC, PUBLISHER_SSRC)] * 3
    assert producer.keyframe_requests == 3


def test_forced_requests_wait_for_the_key_frame_on_its_way_but_not_for_the_throttle(clock: Clock) -> None:
    rtcp: list[bytes] = []
    producer = make_producer(rtcp=rtcp)
    clock.now = 1000.0
    assert producer.request_keyframe() is True
    clock.now = 1000.1
    assert producer.request_keyframe(force=True) is False  # its key frame has not come yet: it serves both
    producer.receive(vp8(1, 0, key=True))
    clock.now = 1000.12
    assert producer.request_keyframe(force=True) is True  # answered: a new request goes past the throttle
    clock.now = 1000.15
    assert producer.request_keyframe(force=True) is False
    clock.now = 1000.7
    assert producer.request_keyframe(force=True) is True  # the one asked for never came: ask again
    assert len(rtcp) == 3


def test_several_consumers_joining_at_once_cause_one_request(clock: Clock) -> None:
    rtcp: list[bytes] = []
    producer = make_producer(rtcp=rtcp)
    for ssrc in (1, 2, 3):
        subscribe(producer, ssrc=ssrc)
    assert len(rtcp) == 1
    clock.now += 0.06
    subscribe(producer, ssrc=4)  # the key frame asked for is still on its way
    assert len(rtcp) == 1
    producer.receive(vp8(1, 0, key=True))
    assert producer.consumers and all(not c.waiting_key for c in producer.consumers)


def test_keyframe_requests_are_never_sent_for_audio_unknown_ssrc_or_a_closed_producer(clock: Clock) -> None:
    rtcp: list[bytes] = []
    for producer in (
        make_producer(kind="audio", mime="audio/opus", rtcp=rtcp),
        make_producer(ssrc=None, rtcp=rtcp),
    ):
        assert producer.request_keyframe(force=True) is False
    closed = make_producer(rtcp=rtcp)
    closed.close()
    assert closed.request_keyframe(force=True) is False
    assert rtcp == []


# -- receiver reports ------------------------------------------------------------------------------


def report_parts(data: bytes) -> tuple[RtcpRrPacket, int | None]:
    packets = RtcpPacket.parse(data)
    rr = packets[0]
    assert isinstance(rr, RtcpRrPacket)
    remb = None
    if len(packets) > 1:
        psfb = packets[1]
        assert isinstance(psfb, RtcpPsfbPacket) and psfb.fmt == RTCP_PSFB_APP
        bitrate, ssrcs = unpack_remb_fci(psfb.fci)
        assert ssrcs == [PUBLISHER_SSRC]
        remb = bitrate
    return rr, remb


@pytest.mark.parametrize(
    ("estimates", "expected"),
    [
        ([], 2_500_000),
        ([0, 0], 2_500_000),
        ([800_000], 800_000),
        ([1_200_000, 800_000, 0], 1_200_000),  # upper median of the two estimates given
        ([50_000, 2_000_000], 2_000_000),  # one slow subscriber does not set everyone's picture
        ([50_000, 60_000, 2_000_000], 60_000),  # most are slow: the publisher follows them
        ([50_000, 900_000, 1_000_000, 1_100_000], 1_000_000),
        ([4_000_000, 3_000_000], 2_500_000),
    ],
)
def test_receiver_report_remb_is_the_upper_median_consumer_estimate_capped(clock: Clock, estimates: list[int],
                                                                            expected: int) -> None:
    producer = make_producer()
    for i, estimate in enumerate(estimates):
        consumer, _, _ = subscribe(producer, ssrc=i + 1)
        consumer.remb = estimate
    producer.receive(vp8(1, 0, key=True))
    _, remb = report_parts(producer.receiver_report(2_500_000))
    assert remb == expected


def test_audio_receiver_report_carries_no_remb(clock: Clock) -> None:
    producer = make_producer(kind="audio", mime="audio/opus")
    producer.receive(opus(1, 960))
    _, remb = report_parts(producer.receiver_report(2_500_000))
    assert remb is None


def test_receiver_report_counts_losses_per_interval_and_in_total(clock: Clock) -> None:
    producer = make_producer()
    for seq in (65530, 65531, 65533, 65535, 0, 2, 3):  # 10 expected, 7 received
        producer.receive(vp8(seq, 0))
    rr, _ = report_parts(producer.receiver_report(2_500_000))
    [info] = rr.reports
    assert (rr.ssrc, info.ssrc) == (SFU_RTCP_SSRC, PUBLISHER_SSRC)
    assert (info.fraction_lost, info.packets_lost, info.highest_sequence) == ((3 << 8) // 10, 3, 65536 + 3)
    for seq in range(4, 8):
        producer.receive(vp8(seq, 0))
    rr, _ = report_parts(producer.receiver_report(2_500_000))
    [info] = rr.reports
    assert (info.fraction_lost, info.packets_lost, info.highest_sequence) == (0, 3, 65536 + 7)


def test_receiver_report_carries_the_last_sender_report_and_its_delay(clock: Clock) -> None:
    producer = make_producer()
    producer.receive(vp8(1, 0))
    producer.last_sr = 0x12345678
    producer.last_sr_time = clock.now
    clock.now += 1.5
    rr, _ = report_parts(producer.receiver_report(2_500_000))
    assert (rr.reports[0].lsr, rr.reports[0].dlsr) == (0x12345678, int(1.5 * 65536))


def test_no_receiver_report_before_the_first_packet_or_without_ssrc(clock: Clock) -> None:
    assert make_producer().receiver_report(2_500_000) == b""
    unknown = make_producer(ssrc=None)
    unknown.receive(vp8(1, 0))
    assert unknown.receiver_report(2_500_000) == b""


def test_audio_levels_are_summed_as_loudness_for_the_speaker_detector(clock: Clock) -> None:
    producer = make_producer(kind="audio", mime="audio/opus", extension_ids=CHROME_IDS)
    for seq, level in enumerate((30, 40, 127)):
        extension = struct.pack("!HH", 0xBEDE, 1) + bytes([0x10, 0x80 | level, 0, 0])
        producer.receive(HEADER.pack(0x90, OPUS_PT, seq, seq * 960, PUBLISHER_SSRC) + extension + b"opus")
    assert (producer.level_sum, producer.level_count) == (97 + 87 + 0, 3)


# -- Slot RTCP -------------------------------------------------------------------------------------


def test_slot_send_rtcp_protects_and_sends_only_when_ready() -> None:
    slot = Slot(None, "video", ("video", "video/vp8", ""), 1, "cname")
    assert slot.send_rtcp(b"sr") is False
    path = FakeSendPath()
    slot.attach_send_path(path, 96)
    assert slot.send_rtcp(b"sr") is True
    assert path.sent == [b"srtcp:sr"]
    path.error = OSError("gone")
    assert slot.send_rtcp(b"sr") is False


def test_a_nack_for_a_packet_of_the_slots_previous_consumer_never_resends_another_tracks_packet(clock: Clock) -> None:
    first_producer = make_producer()
    first, slot, path = subscribe(first_producer, next_seq=1000)
    for seq in range(10, 15):
        first_producer.receive(vp8(seq, seq * 3000, key=seq == 10, body=b"first-%d" % seq))
    first.detach(CloseReason.PRODUCER_CLOSED)
    second_producer = make_producer()
    second = Consumer("c-2", second_producer, slot, "bob")
    second_producer.add_consumer(second)
    for seq in range(495, 501):
        second_producer.receive(vp8(seq, seq * 3000, key=seq == 500, body=b"second-%d" % seq))
    assert path.seqs() == [1000, 1001, 1002, 1003, 1004, 1005]
    resent = second.retransmit(1003)  # the subscriber lost first-13 and asks for it
    assert not resent or path.sent[-1] == path.sent[3]


def test_a_consumer_that_missed_the_requested_key_frame_gets_another_request(clock: Clock) -> None:
    rtcp: list[bytes] = []
    producer = make_producer(rtcp=rtcp)
    first, _, first_path = subscribe(producer)
    producer.receive(vp8(1, 0, key=True))  # the key frame asked for by the first consumer
    clock.now += REPLAY_WINDOW + 0.01
    second, _, second_path = subscribe(producer)  # joins later: the key frame is too old to replay
    rtcp.clear()  # its own request, whose key frame is lost on the way
    clock.now += 0.02
    for seq in range(2, 10):
        clock.now += 0.1
        producer.receive(vp8(seq, seq * 3000))
    assert len(rtcp) == 1, "the waiting consumer's publisher was asked for a key frame again"
    producer.receive(vp8(10, 30000, key=True))
    assert second_path.seqs()[:1] == [1000] and len(first_path.sent) == 10


def test_nobody_waiting_means_no_extra_key_frame_requests(clock: Clock) -> None:
    rtcp: list[bytes] = []
    producer = make_producer(rtcp=rtcp)
    subscribe(producer)
    producer.receive(vp8(1, 0, key=True))
    for seq in range(2, 40):
        clock.now += 0.1
        producer.receive(vp8(seq, seq * 3000))
    assert len(rtcp) == 1


# -- publisher caps (token buckets the Router's timer refills) ----------------------------------------


def test_a_producer_drops_packets_past_its_packet_budget_until_refilled(clock: Clock) -> None:
    from media.producer import PACKETS_PER_SECOND

    producer = make_producer(kind="audio", mime="audio/opus")
    consumer, _, path = subscribe(producer)
    cap = PACKETS_PER_SECOND["audio"]
    for seq in range(cap + 10):
        producer.receive(opus(seq, seq * 960))
    assert producer.packets_in == cap
    assert producer.drops[DropReason.RATE_LIMITED] == 10
    producer.refill(0.1, 2_500_000)
    producer.receive(opus(cap + 10, 0))
    assert producer.packets_in == cap + 1


def test_a_producer_drops_bytes_past_twice_the_bitrate_asked_of_it(clock: Clock) -> None:
    producer = make_producer()
    subscribe(producer)
    producer.refill(1.0, 100_000)  # the bucket never holds more than a second of 2 × 100 kbit/s
    producer.bytes_left = min(producer.bytes_left, 25_000)
    body = bytes(1000)
    for seq in range(40):
        producer.receive(vp8(seq, seq * 3000, key=True, body=body))
    assert producer.packets_in == 24  # 25,000 bytes of ~1,025-byte packets
    assert producer.drops[DropReason.RATE_LIMITED] == 16


def test_refill_never_holds_more_than_one_second(clock: Clock) -> None:
    producer = make_producer()
    producer.refill(30.0, 1_000_000)
    assert producer.bytes_left == 2 * 1_000_000 // 8
    assert producer.packets_left == 1500


def test_a_slot_measures_the_round_trip_on_its_own_clock_and_keeps_the_loss_reported() -> None:
    slot = Slot(None, "video", ("video", "video/vp8", ""), 1, "cname")
    ntp = 0xE1234567_89ABCDEF  # the publisher's clock: whatever it says, only the send time counts
    slot.sent_report(ntp, at=100.0)
    lsr = (ntp >> 16) & 0xFFFFFFFF
    slot.received_report(32, lsr, dlsr=65536 // 2, at=100.6)  # held 0.5 s at the subscriber
    assert abs(slot.rtt - 0.1) < 1e-3 and slot.loss == 32 / 256
    slot.received_report(0, 0x0BAD0BAD, dlsr=0, at=101.0)  # about an SR never sent: no round trip
    assert abs(slot.rtt - 0.1) < 1e-3 and slot.loss == 0
    slot.received_report(0, lsr, dlsr=65536 * 5, at=101.0)  # a DLSR longer than the wait is made up
    assert abs(slot.rtt - 0.1) < 1e-3
    for n in range(10):  # only the latest few SRs are remembered
        slot.sent_report(ntp + (n << 32), at=200.0 + n)
    assert len(slot.reports_sent) == 4
