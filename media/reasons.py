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
    """Why a packet was not forwarded; counted per Router."""

    UNKNOWN_SSRC = "unknown-ssrc"  # not a primary stream we negotiated (RTX, probing, stray)
    UNPROTECT_FAILED = "unprotect-failed"  # SRTP authentication or replay check failed
    MALFORMED = "malformed"  # too short to be RTP
    PAUSED = "paused"  # the Producer is muted
    WAITING_KEYFRAME = "waiting-keyframe"  # the Consumer starts or resumes at a key frame
    LATE_PACKET = "late-packet"  # older than where the Consumer's numbering (re)started: its number is taken
    SUBSCRIBER_CONGESTED = "subscriber-congested"  # the subscriber's send buffer is full
    SEND_FAILED = "send-failed"  # protect or sendto raised
    HOOK_ERROR = "hook-error"  # an unexpected exception inside the forwarding hook
