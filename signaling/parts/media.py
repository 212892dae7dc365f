"""Media requests: publishing, unpublishing and muting one's tracks, and answering subscriber offers."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, TypeVar

from media.api import MediaError

from ..errors import ProtocolError
from ..room import Participant, Track
from ..schema import SCREEN_LABELS
from .context import Context
from .screenshare import ScreenShare
from .tracks import announce_mute, end_track

T = TypeVar("T")


async def media_call(operation: Awaitable[T]) -> T:
    """Await a media operation, turning its refusal into the protocol's error."""
    try:
        return await operation
    except MediaError as exc:
        raise ProtocolError(exc.code, exc.message) from None


def refused_as_protocol(exc: MediaError) -> ProtocolError:
    """Return the protocol error for a media refusal."""
    return ProtocolError(exc.code, exc.message)


class Media:
    """A participant's own tracks, in their Router and in the roster."""

    def __init__(self, ctx: Context, screen: ScreenShare) -> None:
        self.ctx = ctx
        self.screen = screen

    async def publish(self, participant: Participant, sdp: str, tracks: list[dict[str, str]],
                      replace_screen: bool) -> dict[str, Any]:
        """Apply a publish offer; a new screen share must be allowed and is one per room."""
        labels = {t["mid"]: t["label"] for t in tracks}
        if len(labels) != len(tracks):
            raise ProtocolError("invalid-track", "a mid is listed twice")
        sharing = SCREEN_LABELS & set(labels.values())
        if sharing - {t.label for t in participant.tracks.values()}:
            replaced = self.ctx.room.check_new_share(participant, replace_screen)
            if replaced is not None:
                self.screen.stop(replaced, reason="replaced")
        router = self.ctx.placement.router_of(participant.id)
        result = await media_call(router.publish(participant.id, sdp, labels))
        for ended in result.ended:
            end_track(self.ctx, participant, ended.id)
        for started in result.started:
            track = Track(started.id, started.kind, started.label)
            participant.tracks[track.track_id] = track
            if participant.admitted:
                self.ctx.events.broadcast_to(participant.location, {
                    "type": "track-published", "participant_id": participant.id, "track": track.describe()},
                    exclude=participant.id)
        if sharing:
            self.ctx.events.room_state()
        by_label = {t.label: t for t in participant.tracks.values()}
        return {"sdp": result.answer,
                "tracks": [{"mid": mid, **by_label[label].describe()} for mid, label in labels.items()
                           if label in by_label]}

    def unpublish(self, participant: Participant, track_id: str) -> None:
        """End one of one's tracks."""
        try:
            self.ctx.placement.router_of(participant.id).unpublish(participant.id, track_id)
        except MediaError as exc:
            raise refused_as_protocol(exc) from None
        track = participant.tracks.get(track_id)
        end_track(self.ctx, participant, track_id)
        if track is not None and track.label in SCREEN_LABELS:
            self.ctx.events.room_state()

    def mute(self, participant: Participant, track_id: str, muted: bool) -> None:
        """Mute or unmute one of one's tracks (the server stops forwarding a muted track)."""
        self.pause(participant, track_id, muted)
        announce_mute(self.ctx, participant, participant.tracks[track_id], muted)

    def pause(self, participant: Participant, track_id: str, paused: bool) -> None:
        """Stop or resume forwarding one of a participant's tracks."""
        try:
            self.ctx.placement.router_of(participant.id).set_paused(participant.id, track_id, paused)
        except MediaError as exc:
            raise refused_as_protocol(exc) from None

    def tile_sizes(self, participant: Participant, heights: dict[str, int]) -> None:
        """Record how large the participant shows each video, so that each gets the layer it needs (6.5)."""
        try:
            self.ctx.placement.router_of(participant.id).set_tile_heights(participant.id, heights)
        except MediaError as exc:
            raise refused_as_protocol(exc) from None

    async def subscriber_answer(self, participant: Participant, revision: int, sdp: str) -> None:
        """Apply the answer to the participant's subscribe connection's outstanding offer."""
        router = self.ctx.placement.router_of(participant.id)
        await media_call(router.subscriber_answer(participant.id, revision, sdp))
