"""The media layer's surface for signaling: everything signaling may use from media/ is named here.

Only plain values cross it (TrackInfo, PublishResult, strings, counters): signaling never holds a live
Producer, Consumer or member object, so the media layer can change shape (or move into a worker
process) without signaling noticing.
"""

from __future__ import annotations

from typing import Any, Protocol, Self

from .adapter import host_addresses, set_host_addresses
from .consumer import compiled_available
from .errors import MediaError
from .producer import TrackInfo
from .reasons import CloseReason, DropReason
from .router import COUNTERS, LinkQuality, MediaSettings, PublishResult, Router, RouterListener
from .transport import LABEL_KINDS, TransportSettings
from .udp_mux import UdpMux


class RouterApi(Protocol):
    """What signaling uses of a Router, and nothing more."""

    @property
    def id(self) -> str: ...

    def add_member(self, participant_id: str, sending: bool, receiving: bool) -> None: ...

    async def remove_member(self, participant_id: str) -> None: ...

    def move_member(self, participant_id: str, destination: Self) -> None: ...

    def set_member_media(self, participant_id: str, sending: bool, receiving: bool) -> None: ...

    async def publish(self, participant_id: str, offer: str, labels: dict[str, str]) -> PublishResult: ...

    def unpublish(self, participant_id: str, track_id: str) -> TrackInfo: ...

    def set_paused(self, participant_id: str, track_id: str, paused: bool) -> None: ...

    async def subscriber_answer(self, participant_id: str, revision: int, sdp: str) -> None: ...

    def set_tile_heights(self, participant_id: str, heights: dict[str, int]) -> None: ...

    def stats(self) -> dict[str, Any]: ...

    def member_quality(self, participant_id: str) -> LinkQuality | None: ...

    async def close(self) -> None: ...


__all__ = [
    "COUNTERS",
    "CloseReason",
    "DropReason",
    "LABEL_KINDS",
    "LinkQuality",
    "MediaError",
    "MediaSettings",
    "PublishResult",
    "Router",
    "RouterApi",
    "RouterListener",
    "TrackInfo",
    "TransportSettings",
    "UdpMux",
    "compiled_available",
    "host_addresses",
    "set_host_addresses",
]
