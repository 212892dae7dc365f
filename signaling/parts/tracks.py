"""Roster changes of published tracks, shared by the parts that end or mute them."""

from __future__ import annotations

from ..room import Participant, Track
from .context import Context


def end_track(ctx: Context, participant: Participant, track_id: str) -> None:
    """Forget an ended track and tell the others in the participant's room."""
    if participant.tracks.pop(track_id, None) is not None and participant.admitted:
        ctx.events.broadcast_to(participant.location, {"type": "track-unpublished", "participant_id": participant.id,
                                                       "track_id": track_id}, exclude=participant.id)


def announce_mute(ctx: Context, participant: Participant, track: Track, muted: bool) -> None:
    """Record a track's mute state and tell the room (a waiting participant hears only of their own)."""
    track.muted = muted
    message = {"type": "track-muted", "participant_id": participant.id, "track_id": track.track_id, "muted": muted}
    if participant.admitted:
        ctx.events.broadcast_to(participant.location, message)
    else:
        ctx.events.send_to(participant.id, message)
