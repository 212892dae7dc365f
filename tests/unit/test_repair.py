"""Upstream repair: gaps in a publisher's video are NACKed, retried a bounded number of times, and the
publisher's RTX retransmissions (RFC 4588) are unwrapped into the original stream and forwarded."""

from __future__ import annotations

import struct

import pytest
from aiortc.rtp import RTCP_RTPFB_NACK, RtcpPacket, RtcpRtpfbPacket

from media.reasons import DropReason
from media.repair import (
    AUDIO_MAX_AGE,
    LATE_WINDOW,
    MAX_AGE,
    MAX_ATTEMPTS,
    MAX_GAP,
    MAX_PENDING,
    MAX_WAIT,
    UpstreamRepair,
)
from media.rtp import HEADER
from tests.unit.test_consumer import (
    PUBLISHER_SSRC,
    SFU_RTCP_SSRC,
    VP8_PT,
    drops,
    make_producer,
    opus,
    subscribe,
    vp8,
)

RTX_PT = 97
RTX_SSRC = 0x0E0E0E0E


def nacked(rtcp: list[bytes]) -> list[list[int]]:
    """The lost sequence numbers of each NACK sent, in order."""
    out = []
    for data in rtcp:
        for packet in RtcpPacket.parse(data):
            if isinstance(packet, RtcpRtpfbPacket) and packet.fmt == RTCP_RTPFB_NACK:
                assert packet.ssrc == SFU_RTCP_SSRC and packet.media_ssrc == PUBLISHER_SSRC
                out.append(packet.lost)
    return out


def rtx(original: bytes, rtx_seq: int, padding: int = 0) -> bytes:
    """Wrap a packet as its RTX retransmission: own PT, SSRC and numbering, the original seq first."""
    b0, b1, seq, ts, _ = HEADER.unpack_from(original, 0)
    body = struct.pack("!H", seq) + original[12:]
    if padding:
        b0 |= 0x20
        body += b"\x00" * (padding - 1) + bytes([padding])
    return HEADER.pack(b0, (b1 & 0x80) | RTX_PT, rtx_seq, ts, RTX_SSRC) + body


# -- the state machine ------------------------------------------------------------------------------


def test_a_gap_is_asked_for_at_once_and_its_arrival_counts_as_a_repair() -> None:
    repair = UpstreamRepair()
    assert repair.lost(11, 13, now=0.0) == [11, 12, 13]
    assert repair.arrived(12, now=0.03) and not repair.arrived(12, now=0.03)
    assert sorted(repair.pending) == [11, 13]
    assert repair.repaired == 1 and repair.nacked == 3
    assert repair.rtt == 0.03  # the first answer times a round trip


def test_retries_wait_a_round_trip_stop_after_the_attempts_and_expire_with_age() -> None:
    repair = UpstreamRepair()
    repair.lost(5, 5, now=0.0)
    assert repair.due(now=0.01) == []  # not yet a round trip
    attempts = 1
    now = 0.0
    while repair.pending:
        now += repair.retry_interval()
        if repair.due(now):
            attempts += 1
    assert attempts == MAX_ATTEMPTS and repair.abandoned == 1
    repair.lost(7, 7, now=10.0)
    repair.pending[7][1] = 10.0 + MAX_AGE  # as if just retried: age alone ends it
    assert repair.due(now=10.0 + MAX_AGE + 0.01) == [] and not repair.pending


def test_a_jump_too_large_to_repair_and_a_full_table_stay_bounded() -> None:
    repair = UpstreamRepair()
    assert repair.lost(1, MAX_GAP + 1, now=0.0) == []  # a restart or an outage: the key frame repairs it
    start = 0
    while len(repair.pending) < MAX_PENDING:
        repair.lost(start, start + MAX_GAP - 1, now=0.0)
        start += MAX_GAP + 1
    repair.lost(start, start + 9, now=0.0)
    assert len(repair.pending) == MAX_PENDING and start + 9 in repair.pending
    assert 0 not in repair.pending and repair.abandoned == 10


def test_receivers_are_asked_to_wait_as_long_as_most_repairs_came_late_and_no_longer() -> None:
    repair = UpstreamRepair(clock=90_000)
    assert repair.wait_ms(now=0.0) == 0  # nothing repaired: no one's jitter buffer waits
    # A frame's one packet (media time 3000) went unnoticed until the next frame's (6000, 33 ms later) and
    # came back 5 ms after the NACK: 38 ms late. With the margin for decoding, the wait is two 50 ms steps.
    repair.lost(11, 11, now=10.0, ts=6000)
    assert repair.arrived(11, now=10.005, ts=3000)
    assert repair.wait_ms(now=10.5) == 100
    # Packets lost inside a frame (the same media time as the packet after the gap) are late only by
    # their repair; one packet lost three times over is not worth delaying every frame for.
    for ext in range(20, 40):
        repair.lost(ext, ext, now=11.0, ts=9000)
        assert repair.arrived(ext, now=11.002, ts=9000)
    repair.lost(50, 50, now=12.0, ts=12000)
    assert repair.arrived(50, now=12.35, ts=12000)
    assert repair.wait_ms(now=12.5) == 50
    # Once no repair came for a while, nothing is waited for.
    assert repair.wait_ms(now=12.35 + LATE_WINDOW + 0.1) == 0
    # However late repairs come, the wait stays one a conversation bears.
    for ext in range(60, 70):
        repair.lost(ext, ext, now=100.0, ts=0)
        assert repair.arrived(ext, now=100.9, ts=0)
    assert repair.wait_ms(now=101.0) == round(MAX_WAIT * 1000)
    # A packet older than the one before the gap (the timestamps wrapped or were reset) counts no media time.
    repair = UpstreamRepair(clock=90_000)
    repair.lost(5, 5, now=0.0, ts=100)
    assert repair.arrived(5, now=0.001, ts=200)
    assert repair.wait_ms(now=0.1) == 50


# -- in the Producer --------------------------------------------------------------------------------


def test_a_producer_nacks_what_went_missing_and_forwards_it_when_it_comes_back(clock) -> None:
    rtcp: list[bytes] = []
    producer = make_producer(rtcp=rtcp)
    producer.rtx_payload_type = RTX_PT
    consumer, slot, path = subscribe(producer)
    rtcp.clear()  # the key frame request of the subscription
    producer.receive(vp8(100, 9000, key=True))
    producer.receive(vp8(101, 9000))
    lost = vp8(102, 9000)
    producer.receive(vp8(103, 9000, marker=True))
    assert nacked(rtcp) == [[102]]
    # The retransmission arrives on the RTX stream and goes out in its place in the subscriber's numbering.
    producer.receive_rtx(rtx(lost, 5000))
    assert path.seqs() == [1000, 1001, 1003, 1002]
    assert path.sent[-1][12:] == lost[12:]
    assert producer.repair is not None and producer.repair.repaired == 1 and producer.rtx_in == 1
    # A subscriber's NACK for the repaired packet is answered from the cache.
    assert consumer.retransmit(1002)
    assert path.sent[-1][12:] == lost[12:]
    assert drops(producer) == {}


def test_a_producer_says_how_long_its_repairs_keep_receivers_waiting(clock) -> None:
    producer = make_producer()
    producer.rtx_payload_type = RTX_PT
    subscribe(producer)
    producer.receive(vp8(100, 0, key=True, marker=True))
    assert producer.repair_wait_ms(clock.now) == 0
    producer.receive(vp8(102, 6000, marker=True))  # 101, the frame at 3000, went missing
    clock.now += 0.01
    producer.receive_rtx(rtx(vp8(101, 3000, marker=True), 5000))
    # 33 ms unnoticed, 10 ms to repair, 30 ms for decoding: two steps of 50 ms.
    assert producer.repair_wait_ms(clock.now) == 100


def test_a_video_packet_given_up_on_asks_the_publisher_for_a_key_frame_at_once(clock) -> None:
    rtcp: list[bytes] = []
    producer = make_producer(rtcp=rtcp)
    subscribe(producer)
    producer.receive(vp8(100, 0, key=True, marker=True))
    producer.receive(vp8(102, 6000, marker=True))  # 101 went missing
    requests = producer.keyframe_requests
    while producer.repair is not None and producer.repair.pending:
        clock.now += producer.repair.retry_interval()
        producer._repair_tick()  # every retry lost too, until it is given up on
    assert producer.repair.abandoned == 1 and producer.keyframe_requests == requests + 1


def test_rtx_padding_probes_and_foreign_payload_types_are_dropped_and_counted(clock) -> None:
    producer = make_producer()
    producer.rtx_payload_type = RTX_PT
    _, _, path = subscribe(producer)
    producer.receive(vp8(1, 0, key=True))
    probe = HEADER.pack(0xA0, RTX_PT, 7, 0, RTX_SSRC) + b"\x00" * 199 + bytes([200])
    producer.receive_rtx(probe)
    producer.receive_rtx(rtx(vp8(2, 0), 8)[:1] + bytes([VP8_PT]) + rtx(vp8(2, 0), 8)[2:])
    producer.receive_rtx(b"\x80")
    assert drops(producer) == {DropReason.RTX_PADDING: 1, DropReason.MALFORMED: 2}
    # A padded retransmission still carries its packet.
    producer.receive_rtx(rtx(vp8(2, 0), 9, padding=4))
    assert path.seqs() == [1000, 1001]


def test_audio_lost_upstream_is_nacked_and_its_resend_forwarded_in_place_while_still_playable(clock) -> None:
    rtcp: list[bytes] = []
    producer = make_producer(kind="audio", mime="audio/opus", rtcp=rtcp)
    _, _, path = subscribe(producer)
    producer.receive(opus(1, 0))
    lost = opus(2, 960)
    producer.receive(opus(3, 1920))
    assert nacked(rtcp) == [[2]]
    # Audio has no RTX stream: the browser resends the packet itself, on the audio stream.
    clock.now += 0.02
    producer.receive(lost)
    assert path.seqs()[-1] == path.seqs()[0] + 1 and path.sent[-1][12:] == lost[12:]
    assert producer.repair is not None and producer.repair.repaired == 1
    # The link is rated by what it lost at first (1 of 3), not by what was left after the repair (none).
    producer.receiver_report(0)
    assert producer.loss == 0.0 and producer.link_loss == pytest.approx(1 / 3)
    # Subscribers are not asked to wait for audio: their audio buffers play what comes in time.
    assert producer.repair_wait_ms(clock.now) > 0  # measured, but the Router sends it for video only
    # A lost packet is asked for only while it could still be played.
    producer.receive(opus(5, 3840))
    assert nacked(rtcp)[-1] == [4]
    clock.now += AUDIO_MAX_AGE + 0.01
    producer._repair_tick()
    assert producer.repair.pending == {} and producer.repair.abandoned == 1
