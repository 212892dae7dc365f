"""Fuzz target: media/rtcp.py, parsing the compound RTCP subscribers and publishers send (RFC 3550, 4585, 5104).

For any bytes, ``parse_feedback`` and ``parse_sender_reports`` return their value (empty when malformed)
and never raise. Compound packets are drawn from SR, RR, SDES, BYE, PLI, FIR, NACK and REMB (and unknown
types), then sometimes truncated or changed; a well-formed one must give exactly the feedback it carries.
What the SFU builds (PLI, RR+REMB, SR+SDES) parses back to what it was built from; and one datagram of
any size, however many NACKs it lists, is parsed in bounded time.
"""

from __future__ import annotations

import struct
import timeit

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
    RtcpSourceInfo,
    RtcpSrPacket,
    pack_remb_fci,
)
from hypothesis import given
from hypothesis import strategies as st

from media.rtcp import (
    MAX_RTCP_BYTES,
    Feedback,
    build_pli,
    build_receiver_report,
    build_sender_report,
    parse_feedback,
    parse_sender_reports,
)
from tests.fuzz.support import FUZZ

SSRC = st.integers(0, 0xFFFFFFFF)
U8, U16, U32 = st.integers(0, 0xFF), st.integers(0, 0xFFFF), st.integers(0, 0xFFFFFFFF)
# The largest payload a UDP datagram can carry (IPv4): the most one SRTCP packet can be.
MAX_DATAGRAM = 65507


def receiver_info() -> st.SearchStrategy[RtcpReceiverInfo]:
    return st.builds(RtcpReceiverInfo, ssrc=SSRC, fraction_lost=U8, packets_lost=st.integers(-(2**23), 2**23 - 1),
                     highest_sequence=U32, jitter=U32, lsr=U32, dlsr=U32)


@st.composite
def rtcp_parts(draw: st.DrawFn) -> tuple[bytes, Feedback]:
    """One RTCP packet of a compound, and the feedback it carries to the SFU."""
    kind = draw(st.sampled_from(["pli", "fir", "nack", "remb", "rr", "sr", "sdes", "bye", "app", "psfb", "unknown"]))
    sender = draw(SSRC)
    if kind == "pli":
        media = draw(SSRC)
        return bytes(RtcpPsfbPacket(fmt=RTCP_PSFB_PLI, ssrc=sender, media_ssrc=media)), Feedback(keyframe={media})
    if kind == "fir":
        targets = draw(st.lists(SSRC, max_size=5))
        fci = b"".join(struct.pack("!IB3x", ssrc, n & 0xFF) for n, ssrc in enumerate(targets))
        return (bytes(RtcpPsfbPacket(fmt=RTCP_PSFB_FIR, ssrc=sender, media_ssrc=0, fci=fci)),
                Feedback(keyframe=set(targets)))
    if kind == "nack":
        media = draw(SSRC)
        lost = sorted(draw(st.sets(U16, min_size=1, max_size=40)))
        data = bytes(RtcpRtpfbPacket(fmt=RTCP_RTPFB_NACK, ssrc=sender, media_ssrc=media, lost=lost))
        return data, Feedback(nacks={media: lost})
    if kind == "remb":
        bitrate, ssrcs = draw(st.integers(0, 2**40)), draw(st.lists(SSRC, max_size=6, unique=True))
        fci = pack_remb_fci(bitrate, ssrcs)
        data = bytes(RtcpPsfbPacket(fmt=RTCP_PSFB_APP, ssrc=sender, media_ssrc=0, fci=fci))
        exponent, mantissa = (fci[5] >> 2), ((fci[5] & 3) << 16) | (fci[6] << 8) | fci[7]
        sent = mantissa << exponent  # what the 18-bit mantissa keeps of the bitrate
        return data, Feedback(remb={s: sent // len(ssrcs) for s in ssrcs})
    if kind == "rr":
        blocks = draw(st.lists(receiver_info(), max_size=3))
        return bytes(RtcpRrPacket(ssrc=sender, reports=blocks)), Feedback(reports=report_blocks(blocks))
    if kind == "sr":
        info = st.builds(RtcpSenderInfo, ntp_timestamp=st.integers(0, 2**64 - 1), rtp_timestamp=U32,
                         packet_count=U32, octet_count=U32)
        blocks = draw(st.lists(receiver_info(), max_size=2))
        return (bytes(RtcpSrPacket(ssrc=sender, sender_info=draw(info), reports=blocks)),
                Feedback(reports=report_blocks(blocks)))
    if kind == "sdes":
        chunks = draw(st.lists(st.builds(RtcpSourceInfo, ssrc=SSRC, items=st.lists(
            st.tuples(st.integers(1, 8), st.binary(max_size=20)), max_size=3)), max_size=3))
        return bytes(RtcpSdesPacket(chunks=chunks)), Feedback()
    if kind == "bye":
        return bytes(RtcpByePacket(sources=draw(st.lists(SSRC, max_size=4)))), Feedback()
    body = draw(st.binary(max_size=32))
    body += b"\x00" * (-len(body) % 4)
    if kind == "psfb":  # application feedback that is not a REMB, or a feedback format we ignore
        fmt = draw(st.sampled_from([RTCP_PSFB_APP, 2, 3, 5, 15, 31]))  # not PLI (1) or FIR (4)
        return bytes(RtcpPsfbPacket(fmt=fmt, ssrc=sender, media_ssrc=draw(SSRC), fci=body)), Feedback()
    packet_type = 204 if kind == "app" else draw(st.sampled_from([195, 207, 210, 223]))
    return struct.pack("!BBH", 0x80 | draw(st.integers(0, 31)), packet_type, len(body) // 4) + body, Feedback()


def merged(parts: list[Feedback]) -> Feedback:
    """The feedback of a compound packet: its parts' in order (a later REMB for an SSRC wins)."""
    total = Feedback()
    for part in parts:
        total.keyframe |= part.keyframe
        for ssrc, lost in part.nacks.items():
            total.nacks.setdefault(ssrc, []).extend(lost)
        total.remb.update(part.remb)
        total.reports.update(part.reports)
    return total


def report_blocks(blocks: list[RtcpReceiverInfo]) -> dict[int, tuple[int, int, int]]:
    """What parse_feedback keeps of report blocks: the latest block per SSRC."""
    return {b.ssrc: (b.fraction_lost, b.lsr, b.dlsr) for b in blocks}


COMPOUNDS = st.lists(rtcp_parts(), min_size=1, max_size=6)


@st.composite
def damaged(draw: st.DrawFn) -> bytes:
    """A compound packet truncated, extended or with one byte changed."""
    data = b"".join(part for part, _ in draw(COMPOUNDS))
    how = draw(st.integers(0, 2))
    if how == 0:
        return data[: draw(st.integers(0, len(data)))]
    if how == 1:
        i = draw(st.integers(0, len(data) - 1))
        return data[:i] + bytes((draw(U8),)) + data[i + 1 :]
    return data + draw(st.binary(min_size=1, max_size=12))


ANY_RTCP = st.one_of(st.binary(max_size=64), damaged())


def assert_well_typed(feedback: Feedback) -> None:
    for ssrc in [*feedback.keyframe, *feedback.nacks, *feedback.remb]:
        assert 0 <= ssrc <= 0xFFFFFFFF
    for lost in feedback.nacks.values():
        # aiortc does not wrap PID + 1..16 past 65535; consumers mask to 16 bits (tests/unit/test_rtcp.py).
        assert all(0 <= seq <= 0xFFFF + 16 for seq in lost)
    assert all(bitrate >= 0 for bitrate in feedback.remb.values())


# -- never raise -----------------------------------------------------------------------------------


@FUZZ
@given(ANY_RTCP)
def test_parse_feedback_never_raises(data: bytes) -> None:
    feedback = parse_feedback(data)
    assert isinstance(feedback, Feedback)
    assert_well_typed(feedback)


@FUZZ
@given(ANY_RTCP)
def test_parse_sender_reports_never_raises(data: bytes) -> None:
    reports = parse_sender_reports(data)
    assert all(isinstance(report, RtcpSrPacket) for report in reports)


@FUZZ
@given(COMPOUNDS)
def test_a_well_formed_compound_gives_exactly_its_feedback(parts: list[tuple[bytes, Feedback]]) -> None:
    data = b"".join(part for part, _ in parts)
    assert parse_feedback(data) == merged([feedback for _, feedback in parts])
    want = [packet for packet in RtcpPacket.parse(data) if isinstance(packet, RtcpSrPacket)]
    assert parse_sender_reports(data) == want


# -- round trips of what the SFU builds -----------------------------------------------------------


@FUZZ
@given(SSRC, SSRC)
def test_a_built_pli_parses_back(sender: int, media: int) -> None:
    assert parse_feedback(build_pli(sender, media)) == Feedback(keyframe={media})


@FUZZ
@given(SSRC, SSRC, U8, st.integers(0, 2**40), U32, U32, U32, st.none() | st.integers(0, 2**40))
def test_a_built_receiver_report_parses_back(sender: int, media: int, fraction: int, lost: int, highest: int,
                                             lsr: int, dlsr: int, bitrate: int | None) -> None:
    data = build_receiver_report(sender, media, fraction, lost, highest, lsr, dlsr, bitrate)
    packets = RtcpPacket.parse(data)
    assert packets[0] == RtcpRrPacket(ssrc=sender, reports=[RtcpReceiverInfo(
        ssrc=media, fraction_lost=fraction, packets_lost=min(lost, 0x7FFFFF), highest_sequence=highest, jitter=0,
        lsr=lsr, dlsr=dlsr)])
    feedback = parse_feedback(data)
    assert feedback.reports == {media: (fraction, lsr, dlsr)}
    if bitrate is None:
        assert len(packets) == 1 and not feedback.remb
    else:
        assert list(feedback.remb) == [media]
        # An 18-bit mantissa: the estimate is exact below 2**18 and within 2**-17 of it above.
        assert 0 <= bitrate - feedback.remb[media] <= bitrate >> 17


@FUZZ
@given(SSRC, st.integers(0, 2**64 - 1), st.integers(0, 2**40), st.integers(0, 2**40), st.integers(0, 2**40),
       st.text(max_size=40))
def test_a_built_sender_report_parses_back(ssrc: int, ntp: int, rtp_ts: int, packets: int, octets: int,
                                           cname: str) -> None:
    data = build_sender_report(ssrc, ntp, rtp_ts, packets, octets, cname)
    assert parse_sender_reports(data) == [RtcpSrPacket(ssrc=ssrc, sender_info=RtcpSenderInfo(
        ntp_timestamp=ntp, rtp_timestamp=rtp_ts & 0xFFFFFFFF, packet_count=packets & 0xFFFFFFFF,
        octet_count=octets & 0xFFFFFFFF))]
    assert parse_feedback(data) == Feedback()


# -- bounded work ----------------------------------------------------------------------------------


def nack_of_size(size: int, pid: int = 100, blp: int = 0xFFFF) -> bytes:
    """One NACK filling ``size`` bytes, every FCI entry reporting 17 losses."""
    entries = max(1, (size - 12) // 4)
    payload = struct.pack("!II", 1, 2) + struct.pack("!HH", pid, blp) * entries
    return struct.pack("!BBH", 0x81, 205, len(payload) // 4) + payload


@FUZZ
@given(st.integers(12, MAX_DATAGRAM), U16, U16)
def test_a_nack_of_any_size_parses_in_bounded_work(size: int, pid: int, blp: int) -> None:
    data = nack_of_size(size, pid, blp)
    feedback = parse_feedback(data)
    # The fastest of three: a spike of a loaded machine does not count, work proportional to 64 KB does.
    elapsed = min(timeit.repeat(lambda: parse_feedback(data), number=1, repeat=3))
    assert_well_typed(feedback)
    # The event loop that forwards every packet of the server runs this: one datagram must not hold it.
    # Work is bounded by what is read (MAX_RTCP_BYTES); the time bound is generous for a loaded machine.
    assert sum(len(lost) for lost in feedback.nacks.values()) <= 17 * (MAX_RTCP_BYTES // 4)
    assert elapsed < 0.02, f"{elapsed * 1000:.1f} ms for a {len(data)}-byte NACK"
