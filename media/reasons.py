"""Why media objects close and why packets are dropped: every teardown and drop is named and counted."""

from __future__ import annotations

import enum


class CloseReason(enum.Enum):
    """Why a Transport, Producer or Consumer closed."""

    REQUESTED = "requested"  # the participant unpublished or left
    TRANSPORT_CLOSED = "transport-closed"  # its RTCPeerConnection closed
    TRANSPORT_FAILED = "transport-failed"  # ICE consent lost / DTLS failed
    PRODUCER_CLOSED = "producer-closed"  # a Consumer whose Producer went away
    NOT_PERMITTED = "not-permitted"  # the Router's policy no longer lets the subscriber receive it
    ROUTER_CLOSED = "router-closed"  # the room ended


class DropReason(enum.Enum):
    """Why a packet was not forwarded; counted per Router (the shared port's own reasons per server)."""

    UNKNOWN_SSRC = "unknown-ssrc"  # not a primary stream we negotiated (RTX, probing, stray)
    UNPROTECT_FAILED = "unprotect-failed"  # SRTP authentication or replay check failed
    MALFORMED = "malformed"  # too short to be RTP
    PAUSED = "paused"  # the Producer is muted
    WAITING_KEYFRAME = "waiting-keyframe"  # the Consumer starts or resumes at a key frame
    LATE_PACKET = "late-packet"  # older than where the Consumer's numbering (re)started: its number is taken
    SUBSCRIBER_CONGESTED = "subscriber-congested"  # the subscriber's send buffer is full
    SEND_FAILED = "send-failed"  # protect or sendto raised
    HOOK_ERROR = "hook-error"  # an unexpected exception inside the forwarding hook
    OVERSIZE = "oversize"  # an SRTP/SRTCP datagram longer than libsrtp's 1,500-byte buffer
    TRUNCATED = "truncated"  # an empty datagram, or one shorter than an RTP/RTCP header
    NO_KEYS = "no-keys"  # SRTP before the DTLS handshake made keys
    NOT_ICE = "not-ice"  # neither STUN, DTLS nor RTP/RTCP by its first byte (RFC 7983)
    STUN_ERROR = "stun-error"  # aioice could not parse a STUN message (malformed attribute)
    UNWANTED_RTP = "unwanted-rtp"  # RTP on a subscribe connection, which receives none
    RATE_LIMITED = "rate-limited"  # past the publisher's packet-rate or bitrate cap
    NACK_LIMITED = "nack-limited"  # a NACK past the subscriber's per-second budget
    RTX_PADDING = "rtx-padding"  # a padding-only packet of a publisher's RTX stream (a bandwidth probe)
    # On the shared media port (media/udp_mux.py), counted per server rather than per Router:
    UNKNOWN_SOURCE = "unknown-source"  # not STUN, from an address no live connection has authenticated
    UNKNOWN_UFRAG = "unknown-ufrag"  # a STUN check naming no live connection's username fragment
    STUN_UNAUTHENTICATED = "stun-unauthenticated"  # a STUN check whose MESSAGE-INTEGRITY does not verify
    ADDRESS_CONFLICT = "address-conflict"  # an address another connection owns, or one address too many


# media.adapter.GuardDrop codes, by value, as DropReasons.
GUARD_DROPS = (
    DropReason.OVERSIZE,
    DropReason.TRUNCATED,
    DropReason.UNPROTECT_FAILED,
    DropReason.NO_KEYS,
    DropReason.NOT_ICE,
    DropReason.STUN_ERROR,
    DropReason.UNWANTED_RTP,
    DropReason.HOOK_ERROR,
)
