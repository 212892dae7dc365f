"""Per-participant connection quality for hosts: the media layer's readings in words a person can act on.

The Router knows, for each member, the loss on the way in (their published tracks), the loss and round
trip on the way out (what their own browser reports of the streams sent to them) and what they publish
(``media.api.LinkQuality``). Hosts get one word per participant on the tile (good, weak or poor), with the
figures beside it. The thresholds follow what a person notices on a call: a few per cent of loss or a
quarter-second round trip makes video stutter and speech overlap; a tenth lost or half a second breaks
the conversation.
"""

from __future__ import annotations

from typing import Any

from media.api import LinkQuality

WEAK_LOSS, POOR_LOSS = 0.03, 0.10
WEAK_RTT, POOR_RTT = 0.25, 0.5  # seconds


def rate(quality: LinkQuality) -> str:
    """Return ``good``, ``weak``, ``poor``, or ``unknown`` while no report has told anything yet."""
    losses = [v for v in (quality.loss_in, quality.loss_out) if v >= 0]
    if not losses and quality.rtt < 0:
        return "unknown"
    loss = max(losses, default=0.0)
    if loss >= POOR_LOSS or quality.rtt >= POOR_RTT:
        return "poor"
    if loss >= WEAK_LOSS or quality.rtt >= WEAK_RTT:
        return "weak"
    return "good"


def describe(participant_id: str, quality: LinkQuality) -> dict[str, Any]:
    """One entry of the ``link-quality`` event (docs/protocol.md 9.12); unknown figures are null."""

    def fraction(value: float) -> float | None:
        return round(value, 3) if value >= 0 else None

    return {
        "participant_id": participant_id,
        "quality": rate(quality),
        "loss_in": fraction(quality.loss_in),
        "loss_out": fraction(quality.loss_out),
        "rtt_ms": round(quality.rtt * 1000) if quality.rtt >= 0 else None,
        "bitrate_in": quality.bitrate_in if quality.bitrate_in >= 0 else None,
    }
