"""Tests for media.rtcp: what the SFU builds parses back with aiortc, and subscriber feedback parsing."""

from __future__ import annotations

import random
import struct

import pytest
from aiortc.rtp import (
    RTCP_PSFB_APP,
    RTCP_PSFB_FIR,
    RTCP_PSFB_PLI,
    RTCP_RTPFB_NACK,
    RtcpByePacket,
    RtcpPacket,
    RtcpPsfbPacket,
    RtcpReceiverInfo,
    RtcpRrPacket,
    RtcpRtpfbPacket,
    RtcpSdesPacket,
    RtcpSenderInfo,
    RtcpSrPacket,
    pack_remb_fci,
    unpack_remb_fci,
)

from media.rtcp import (
    Feedback,
    build_pli,
    build_receiver_report,
    build_sender_report,
    parse_feedback,
    parse_sender_reports,
)

SFU = 0x5F0A5F0A
MEDIA = 0x11223344
OTHER = 0x55667788


def pli(media_ssrc: int = MEDIA) -> bytes:
    return bytes(RtcpPsfbPacket(fmt=RTCP_PSFB_PLI, ssrc=SFU, media_ssrc=media_ssrc))


def fir(*targets: int) -> bytes:
    fci = b"".join(struct.pack("!IB3x", ssrc, n) for n, ssrc in enumerate(targets))
    return bytes(RtcpPsfbPacket(fmt=RTCP_PSFB_FIR, ssrc=SFU, media_ssrc=0, fci=fci))


def nack(media_ssrc: int, lost: list[int]) -> bytes:
    return bytes(RtcpRtpfbPacket(fmt=RTCP_RTPFB_NACK, ssrc=SFU, media_ssrc=media_ssrc, lost=lost))


def remb(bitrate: int, ssrcs: list[int]) -> bytes:
    return bytes(RtcpPsfbPacket(fmt=RTCP_PSFB_APP, ssrc=SFU, media_ssrc=0, fci=pack_remb_fci(bitrate, ssrcs)))


def rr() -> bytes:
    info = RtcpReceiverInfo(ssrc=MEDIA, fraction_lost=0, packets_lost=0, highest_sequence=9, jitter=0, lsr=0, dlsr=0)
    return bytes(RtcpRrPacket(ssrc=SFU, reports=[info]))


def compound() -> list[bytes]:
    """A browser-like compound packet, as its separate RTCP packets."""
    sdes = bytes(RtcpSdesPacket())
    return [rr(), pli(MEDIA), nack(OTHER, [100, 101, 103]), remb(900_000, [MEDIA, OTHER, 0x99]), fir(OTHER), sdes]


# -- what the SFU sends --------------------------------------------------------------------------------


def test_build_pli_is_a_psfb_fmt_one_for_the_media_ssrc() -> None:
    data = build_pli(SFU, MEDIA)
    assert data == b"\x81\xce\x00\x02" + struct.pack("!II", SFU, MEDIA)
    assert RtcpPacket.parse(data) == [RtcpPsfbPacket(fmt=RTCP_PSFB_PLI, ssrc=SFU, media_ssrc=MEDIA, fci=b"")]


def test_build_receiver_report_without_bitrate_is_one_rr() -> None:
    data = build_receiver_report(SFU, MEDIA, 12, 34, 0x0001_FFFF, 0xAABBCCDD, 0x00010000, None)
    [report] = RtcpPacket.parse(data)
    assert report == RtcpRrPacket(
        ssrc=SFU,
        reports=[
            RtcpReceiverInfo(
                ssrc=MEDIA, fraction_lost=12, packets_lost=34, highest_sequence=0x0001_FFFF, jitter=0,
                lsr=0xAABBCCDD, dlsr=0x00010000,
            )
        ],
    )


def test_build_receiver_report_appends_a_remb_for_the_media_ssrc() -> None:
    data = build_receiver_report(SFU, MEDIA, 0, 0, 100, 0, 0, 1_000_000)
    report, feedback = RtcpPacket.parse(data)
    assert isinstance(report, RtcpRrPacket) and report.reports[0].ssrc == MEDIA
    assert isinstance(feedback, RtcpPsfbPacket)
    assert (feedback.fmt, feedback.ssrc, feedback.media_ssrc) == (RTCP_PSFB_APP, SFU, 0)
    assert unpack_remb_fci(feedback.fci) == (1_000_000, [MEDIA])


def test_build_receiver_report_clamps_the_cumulative_loss_to_24_bits() -> None:
    [report] = RtcpPacket.parse(build_receiver_report(SFU, MEDIA, 0, 10**9, 100, 0, 0, None))
    assert report.reports[0].packets_lost == 0x7FFFFF


def test_build_sender_report_carries_the_mapping_and_the_cname() -> None:
    data = build_sender_report(MEDIA, 0xE1234567_89ABCDEF, 2**32 + 5, 2**32 + 7, 123456, "haven-cname")
    sr, sdes = RtcpPacket.parse(data)
    assert sr == RtcpSrPacket(
        ssrc=MEDIA,
        sender_info=RtcpSenderInfo(
            ntp_timestamp=0xE1234567_89ABCDEF, rtp_timestamp=5, packet_count=7, octet_count=123456
        ),
    )
    assert isinstance(sdes, RtcpSdesPacket)
    assert [(c.ssrc, c.items) for c in sdes.chunks] == [(MEDIA, [(1, b"haven-cname")])]


def test_parse_sender_reports_finds_the_sr_of_a_compound_packet() -> None:
    data = rr() + build_sender_report(MEDIA, 1 << 32, 90000, 10, 1000, "c")
    [sr] = parse_sender_reports(data)
    assert (sr.ssrc, sr.sender_info.rtp_timestamp, sr.sender_info.packet_count) == (MEDIA, 90000, 10)


@pytest.mark.parametrize("data", [b"", b"\x00", b"\x80\xc8\x00\x06", b"garbage!" * 5])
def test_parse_sender_reports_of_garbage_is_empty(data: bytes) -> None:
    assert parse_sender_reports(data) == []


def test_parse_sender_reports_of_every_truncation_never_raises() -> None:
    data = build_sender_report(MEDIA, 1 << 32, 90000, 10, 1000, "cname")
    sr_len = 28
    for cut in range(len(data)):
        found = parse_sender_reports(data[:cut])
        assert len(found) == (1 if cut == sr_len else 0), f"cut at {cut}"


# -- what subscribers send -----------------------------------------------------------------------------


def test_parse_feedback_reads_a_pli_as_a_keyframe_request_for_its_media_ssrc() -> None:
    assert parse_feedback(pli(MEDIA)) == Feedback(keyframe={MEDIA})


def test_parse_feedback_reads_the_target_ssrcs_of_a_fir_from_its_fci() -> None:
    assert parse_feedback(fir(MEDIA, OTHER)) == Feedback(keyframe={MEDIA, OTHER})


def test_parse_feedback_ignores_a_fir_entry_cut_short() -> None:
    fci = struct.pack("!IB3x", MEDIA, 1) + b"\x00" * 4
    data = bytes(RtcpPsfbPacket(fmt=RTCP_PSFB_FIR, ssrc=SFU, media_ssrc=0, fci=fci))
    assert parse_feedback(data) == Feedback(keyframe={MEDIA})


@pytest.mark.parametrize(
    ("lost", "expected"),
    [
        ([5], [5]),
        ([10, 11, 13, 26], [10, 11, 13, 26]),
        ([10, 27], [10, 27]),
        ([0, 16, 17, 40], [0, 16, 17, 40]),
    ],
)
def test_parse_feedback_lists_the_sequence_numbers_a_nack_reports_lost(lost: list[int], expected: list[int]) -> None:
    assert parse_feedback(nack(MEDIA, lost)) == Feedback(nacks={MEDIA: expected})


def test_parse_feedback_reads_a_nack_bitmask_by_hand() -> None:
    # PID 65535, BLP bits 0 and 2: 65535, 65536 and 65538 (aiortc does not wrap; consumers mask to 16 bits).
    data = b"\x81\xcd\x00\x03" + struct.pack("!IIHH", SFU, MEDIA, 65535, 0b101)
    assert parse_feedback(data) == Feedback(nacks={MEDIA: [65535, 65536, 65538]})


def test_parse_feedback_joins_two_nacks_for_one_ssrc() -> None:
    data = nack(MEDIA, [1, 2]) + nack(OTHER, [7]) + nack(MEDIA, [50])
    assert parse_feedback(data) == Feedback(nacks={MEDIA: [1, 2, 50], OTHER: [7]})


def test_parse_feedback_shares_a_remb_between_the_ssrcs_it_lists() -> None:
    shares = {MEDIA: 300_000, OTHER: 300_000, 0x99: 300_000}
    assert parse_feedback(remb(900_000, [MEDIA, OTHER, 0x99])) == Feedback(remb=shares)


def test_parse_feedback_gives_one_ssrc_the_whole_remb() -> None:
    assert parse_feedback(remb(1_000_000, [MEDIA])) == Feedback(remb={MEDIA: 1_000_000})


def test_parse_feedback_ignores_a_remb_that_lists_no_ssrc() -> None:
    assert parse_feedback(remb(1_000_000, [])) == Feedback()


@pytest.mark.parametrize(
    "fci",
    [
        b"REMX\x01\x08\x00\x00" + struct.pack("!I", MEDIA),  # not REMB: an unknown application
        b"REMB\x02\x08\x00\x00" + struct.pack("!I", MEDIA),  # lists two SSRCs, carries one
        b"REMB",
    ],
)
def test_parse_feedback_skips_a_bad_application_feedback_and_keeps_the_rest(fci: bytes) -> None:
    bad = bytes(RtcpPsfbPacket(fmt=RTCP_PSFB_APP, ssrc=SFU, media_ssrc=0, fci=fci))
    assert parse_feedback(bad + pli(OTHER)) == Feedback(keyframe={OTHER})


def test_parse_feedback_of_a_browser_compound_packet_collects_everything() -> None:
    assert parse_feedback(b"".join(compound())) == Feedback(
        keyframe={MEDIA, OTHER},
        nacks={OTHER: [100, 101, 103]},
        remb={MEDIA: 300_000, OTHER: 300_000, 0x99: 300_000},
        reports={MEDIA: (0, 0, 0)},
    )


def test_parse_feedback_keeps_only_the_report_blocks_of_reports_and_ignores_bye() -> None:
    assert parse_feedback(rr() + bytes(RtcpByePacket(sources=[MEDIA]))) == Feedback(reports={MEDIA: (0, 0, 0)})


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x81",
        b"\x81\xce\x00",
        b"\x41\xce\x00\x02" + b"\x00" * 8,  # version 1
        b"\x81\xce\x00\x09" + b"\x00" * 8,  # length past the end
        b"\x81\xce\x00\x01" + b"\x00" * 4,  # PSFB shorter than its two SSRCs
        b"\x81\xcd\x00\x03" + b"\x00" * 10,  # NACK cut inside an FCI
        b"\xa1\xce\x00\x02" + b"\x00" * 8,  # padding bit with a zero pad count
        b"\x81\xc9\x00\x02" + b"\x00" * 8,  # RR claiming one report without it
        b"\x81\xca\x00\x00",  # SDES claiming a chunk without it
    ],
)
def test_parse_feedback_of_malformed_bytes_is_empty(data: bytes) -> None:
    assert parse_feedback(data) == Feedback()


def test_parse_feedback_of_every_truncation_of_a_compound_packet_never_raises() -> None:
    parts = compound()
    data = b"".join(parts)
    boundaries = {}
    end = 0
    for i, part in enumerate(parts):
        end += len(part)
        boundaries[end] = b"".join(parts[: i + 1])
    for cut in range(len(data)):
        expected = parse_feedback(boundaries[cut]) if cut in boundaries else Feedback()
        assert parse_feedback(data[:cut]) == expected, f"cut at {cut}"


def test_parse_feedback_of_any_corrupted_byte_never_raises() -> None:
    data = b"".join(compound())
    for i in range(len(data)):
        for value in (0x00, 0xFF, data[i] ^ 0x80, data[i] ^ 0x01):
            corrupted = data[:i] + bytes([value]) + data[i + 1 :]
            assert isinstance(parse_feedback(corrupted), Feedback)


def test_parse_feedback_of_random_bytes_never_raises() -> None:
    rng = random.Random(7741)
    for _ in range(3000):
        n = rng.randrange(0, 80)
        data = bytes([0x80 | rng.randrange(32), rng.choice([200, 201, 202, 203, 205, 206, rng.randrange(256)])])
        data += struct.pack("!H", rng.randrange(0, 20)) + rng.randbytes(n)
        assert isinstance(parse_feedback(data), Feedback)


# -- counting NACK entries before parsing -----------------------------------------------------------


def test_nack_entries_counts_the_fci_entries_of_every_nack_in_a_compound_packet() -> None:
    from media.rtcp import nack_entries

    data = rr() + nack(MEDIA, [1, 2]) + nack(OTHER, [100, 200, 300]) + pli(MEDIA)
    assert nack_entries(data) == 1 + 3  # 1 and 2 share one PID+BLP; 100, 200, 300 need three


@pytest.mark.parametrize(
    "data", [b"", b"\x81", b"\x81\xcd\x00", b"\x81\xcd\xff\xff", b"\x81\xcd\x00\x02" + b"\x00" * 8]
)
def test_nack_entries_of_truncated_or_empty_input_never_raises(data: bytes) -> None:
    from media.rtcp import nack_entries

    assert nack_entries(data) >= 0


def test_parse_feedback_reads_the_report_blocks_of_a_subscribers_rr() -> None:
    block = RtcpReceiverInfo(ssrc=MEDIA, fraction_lost=64, packets_lost=3, highest_sequence=9, jitter=0,
                             lsr=0x12345678, dlsr=0x8000)
    feedback = parse_feedback(bytes(RtcpRrPacket(ssrc=SFU, reports=[block])))
    assert feedback.reports == {MEDIA: (64, 0x12345678, 0x8000)}
