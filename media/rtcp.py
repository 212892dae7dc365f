"""RTCP the SFU sends and reads: PLI, RR+REMB upstream, translated SRs downstream, subscriber feedback.

Built on aiortc's public RTCP packet classes (aiortc.rtp). None of this runs per forwarded packet.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from aiortc.rtp import (
    RTCP_PSFB_APP,
    RTCP_PSFB_FIR,
    RTCP_PSFB_PLI,
    RTCP_RTPFB_NACK,
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
    unpack_remb_fci,
)

# The largest compound RTCP packet the parsers read; longer ones are ignored whole. Browsers and aiortc
# keep RTCP within one unfragmented datagram (libwebrtc: at most 1500 bytes on the wire), but a peer
# holds its own SRTCP keys and may send up to 64 KB in one datagram, which aiortc's parser takes about
# a microsecond per byte to read: ~60 ms of the event loop that forwards every packet of the server.
MAX_RTCP_BYTES = 1500


def build_pli(sender_ssrc: int, media_ssrc: int) -> bytes:
    """Build a Picture Loss Indication (RFC 4585 section 6.3.1)."""
    return bytes(RtcpPsfbPacket(fmt=RTCP_PSFB_PLI, ssrc=sender_ssrc, media_ssrc=media_ssrc))


def build_nack(sender_ssrc: int, media_ssrc: int, lost: list[int]) -> bytes:
    """Build a Generic NACK (RFC 4585 section 6.2.1) for 16-bit sequence numbers ``lost``."""
    return bytes(RtcpRtpfbPacket(fmt=RTCP_RTPFB_NACK, ssrc=sender_ssrc, media_ssrc=media_ssrc,
                                 lost=sorted({seq & 0xFFFF for seq in lost})))


def build_receiver_report(
    sender_ssrc: int,
    media_ssrc: int,
    fraction_lost: int,
    packets_lost: int,
    highest_sequence: int,
    lsr: int,
    dlsr: int,
    remb_bitrate: int | None,
) -> bytes:
    """Build an RR for one stream (RFC 3550 section 6.4.2), followed by a REMB when a bitrate is given.

    REMB (draft-alvestrand-rmcat-remb) is the only bandwidth feedback aiortc and browsers share here:
    without it publishers stay at their start bitrate.
    """
    report = RtcpReceiverInfo(
        ssrc=media_ssrc,
        fraction_lost=fraction_lost,
        packets_lost=min(packets_lost, 0x7FFFFF),
        highest_sequence=highest_sequence,
        jitter=0,
        lsr=lsr,
        dlsr=dlsr,
    )
    data = bytes(RtcpRrPacket(ssrc=sender_ssrc, reports=[report]))
    if remb_bitrate is not None:
        data += bytes(
            RtcpPsfbPacket(
                fmt=RTCP_PSFB_APP, ssrc=sender_ssrc, media_ssrc=0, fci=pack_remb_fci(remb_bitrate, [media_ssrc])
            )
        )
    return data


def build_sender_report(
    ssrc: int, ntp_timestamp: int, rtp_timestamp: int, packets: int, octets: int, cname: str
) -> bytes:
    """Build an SR plus SDES CNAME for a forwarded stream (RFC 3550 sections 6.4.1 and 6.5)."""
    sr = RtcpSrPacket(
        ssrc=ssrc,
        sender_info=RtcpSenderInfo(
            ntp_timestamp=ntp_timestamp,
            rtp_timestamp=rtp_timestamp & 0xFFFFFFFF,
            packet_count=packets & 0xFFFFFFFF,
            octet_count=octets & 0xFFFFFFFF,
        ),
    )
    sdes = RtcpSdesPacket(chunks=[RtcpSourceInfo(ssrc=ssrc, items=[(1, cname.encode())])])
    return bytes(sr) + bytes(sdes)


@dataclass
class Feedback:
    """What one compound RTCP packet from a subscriber asks of the SFU, keyed by media SSRC."""

    keyframe: set[int] = field(default_factory=set)
    nacks: dict[int, list[int]] = field(default_factory=dict)
    remb: dict[int, int] = field(default_factory=dict)
    # Report blocks (RFC 3550 6.4.1): media SSRC -> (fraction lost in 1/256, LSR, DLSR in 1/65536 s)
    reports: dict[int, tuple[int, int, int]] = field(default_factory=dict)


def parse_feedback(data: bytes) -> Feedback:
    """Extract PLI/FIR, NACK, REMB and report blocks from a subscriber's RTCP; malformed or oversized
    input yields none."""
    feedback = Feedback()
    if len(data) > MAX_RTCP_BYTES:
        return feedback
    try:
        packets = RtcpPacket.parse(data)
    except (ValueError, struct.error, IndexError):
        return feedback
    for packet in packets:
        if isinstance(packet, RtcpPsfbPacket):
            if packet.fmt == RTCP_PSFB_PLI:
                feedback.keyframe.add(packet.media_ssrc)
            elif packet.fmt == RTCP_PSFB_FIR:
                # RFC 5104 section 4.3.1: the target SSRCs are in the FCI entries (8 bytes each).
                fci = packet.fci
                for i in range(0, len(fci) - 7, 8):
                    feedback.keyframe.add(struct.unpack_from("!I", fci, i)[0])
            elif packet.fmt == RTCP_PSFB_APP:
                try:
                    bitrate, ssrcs = unpack_remb_fci(packet.fci)
                except (ValueError, struct.error):
                    continue
                # One estimate for the whole transport, listing every video SSRC it covers: share it.
                if ssrcs:
                    share = bitrate // len(ssrcs)
                    for ssrc in ssrcs:
                        feedback.remb[ssrc] = share
        elif isinstance(packet, RtcpRtpfbPacket) and packet.fmt == RTCP_RTPFB_NACK:
            feedback.nacks.setdefault(packet.media_ssrc, []).extend(packet.lost)
        elif isinstance(packet, (RtcpRrPacket, RtcpSrPacket)):
            for block in packet.reports:
                feedback.reports[block.ssrc] = (block.fraction_lost, block.lsr, block.dlsr)
    return feedback


RTPFB, NACK = 205, 1


def nack_entries(data: bytes) -> int:
    """Count the NACK FCI entries (PID+BLP, up to 17 losses each) of a compound packet without parsing it.

    Only the 4-byte headers are read, so a subscriber's NACK budget can be charged before the lists
    are expanded (RFC 4585 section 6.2.1).
    """
    entries = 0
    pos = 0
    end = len(data) - 3
    while pos < end:
        words = (data[pos + 2] << 8) | data[pos + 3]
        if data[pos + 1] == RTPFB and data[pos] & 0x1F == NACK and words > 2:
            entries += words - 2
        pos += 4 + 4 * words
    return entries


def parse_sender_reports(data: bytes) -> list[RtcpSrPacket]:
    """Return the Sender Reports in a publisher's compound RTCP packet (none if malformed or oversized)."""
    if len(data) > MAX_RTCP_BYTES:
        return []
    try:
        return [p for p in RtcpPacket.parse(data) if isinstance(p, RtcpSrPacket)]
    except (ValueError, struct.error, IndexError):
        return []
