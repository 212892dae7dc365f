"""The media layer's surface for signaling: everything signaling may use from media/ is named here."""

from typing import Any, Protocol

from .adapter import set_host_addresses
from .consumer import compiled_available
from .errors import MediaError
from .producer import Producer
from .reasons import CloseReason, DropReason
from .router import MediaSettings, PublishResult, Router, RouterListener
from .transport import LABEL_KINDS, TransportSettings



class RouterApi(Protocol):
    """What signaling may do with a Router."""

    id: str

    def add_member(self, participant_id: str, sending: bool = True, receiving: bool = True) -> Any: ...

    async def remove_member(self, participant_id: str) -> None: ...

    def move_member(self, participant_id: str, destination: Any) -> None: ...

    def set_member_media(self, participant_id: str, sending: bool, receiving: bool) -> None: ...

    async def publish(self, participant_id: str, offer: str, labels: dict[str, str]) -> PublishResult: ...

    def unpublish(self, participant_id: str, track_id: str) -> Any: ...

    def set_paused(self, participant_id: str, track_id: str, paused: bool) -> Any: ...

    async def subscriber_answer(self, participant_id: str, revision: int, sdp: str) -> None: ...

    def stats(self) -> dict[str, Any]: ...

    async def close(self) -> None: ...


__all__ = [
    "RouterApi",
    "CloseReason",
    "DropReason",
    "LABEL_KINDS",
    "MediaError",
    "MediaSettings",
    "Producer",
    "PublishResult",
    "Router",
    "RouterListener",
    "TransportSettings",
    "compiled_available",
    "set_host_addresses",
]
