"""The media layer's surface for signaling: everything signaling may use from media/ is named here."""

from .adapter import set_host_addresses
from .consumer import compiled_available
from .errors import MediaError
from .producer import Producer
from .reasons import CloseReason, DropReason
from .router import MediaSettings, PublishResult, Router, RouterListener
from .transport import LABEL_KINDS, TransportSettings

__all__ = [
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
