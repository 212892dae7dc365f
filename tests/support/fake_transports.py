"""In-memory stand-ins for a member's publish and subscribe connections, for testing the Router.

``FakeTransports`` is a media.transport.TransportFactory: the Router builds its connections through
it, and a test reaches every connection it made by owner (``publishers``/``subscribers``) to play the
client's part: publish offers become Producers, subscriber offers get mids, a connection comes up
with a recording send path, or fails.
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable

from media.consumer import Slot
from media.errors import MediaError
from media.producer import Producer
from media.reasons import DropReason
from media.transport import LABEL_KINDS, TransportSettings

_ssrcs = itertools.count(0x5100_0001)


class FakeSendPath:
    """What a connected transport hands its slots; records instead of encrypting and sending."""

    def __init__(self) -> None:
        self.addr = ("198.51.100.7", 40000)
        self.sent: list[bytes] = []
        self.queued = 0

    def protect(self, data: bytes) -> bytes:
        return data

    def protect_rtcp(self, data: bytes) -> bytes:
        return data

    def sendto(self, data: bytes, addr: tuple[str, int]) -> None:
        self.sent.append(data)

    def buffer_size(self) -> int:
        return self.queued


class FakePublishTransport:
    """A publish connection: each label of an offer becomes a Producer, as PublishTransport does."""

    def __init__(self, owner_id: str, settings: TransportSettings, drops: dict[DropReason, int],
                 new_id: Callable[[str], str], on_failed: Callable[[], None]) -> None:
        self.owner_id = owner_id
        self.drops = drops
        self._new_id = new_id
        self._on_failed = on_failed
        self.producers: dict[str, Producer] = {}
        self.offers: list[str] = []
        self.rtcp: list[bytes] = []
        self.connected = False
        self.connecting = False  # a test sets it to hold the member's incoming video (Router._held)
        self.closed = False

    async def negotiate(self, offer: str, labels: dict[str, str]) -> tuple[str, list[Producer], list[Producer]]:
        self.offers.append(offer)
        started = []
        for mid, label in labels.items():
            if mid in self.producers:
                continue
            kind = LABEL_KINDS[label]
            producer = Producer(
                producer_id=self._new_id("t"), owner_id=self.owner_id, kind=kind, label=label,
                mime_type="video/VP8" if kind == "video" else "audio/opus",
                clock_rate=90000 if kind == "video" else 48000, extension_ids={}, rtcp_ssrc=1,
                send_rtcp=self.send_rtcp, drops=self.drops, ssrc=next(_ssrcs), payload_type=96,
            )
            self.producers[mid] = producer
            started.append(producer)
        ended = [p for mid, p in self.producers.items() if mid not in labels]
        for producer in ended:
            self.forget(producer)
        return f"answer to {offer}", started, ended

    def forget(self, producer: Producer) -> None:
        self.producers = {mid: p for mid, p in self.producers.items() if p is not producer}

    def send_rtcp(self, data: bytes) -> bool:
        self.rtcp.append(data)
        return True

    def fail(self) -> None:
        """Report the connection failed, as ICE consent loss would."""
        self._on_failed()

    async def close(self) -> None:
        self.closed = True


class FakeSubscribeTransport:
    """A subscribe connection: slots are added, offers and answers are played by the test."""

    def __init__(self, owner_id: str, settings: TransportSettings, send_offer: Callable[[int, str], Awaitable[None]],
                 on_mids: Callable[[], None], on_ready: Callable[[], None], on_failed: Callable[[str], None]) -> None:
        self.owner_id = owner_id
        self._send_offer = send_offer
        self._on_mids = on_mids
        self._on_ready = on_ready
        self._on_failed = on_failed
        self.slots: list[Slot] = []
        self.negotiations = 0  # how often the Router asked for a (re)offer
        self.revision = 0
        self.answers: list[tuple[int, str]] = []
        self.path: FakeSendPath | None = None
        self.closed = False

    def add_slot(self, kind: str, codec_key: tuple[str, str, str], stream_id: str) -> Slot:
        if self.closed:  # as the real one on a closed connection
            raise MediaError("transport-closed", "the subscribe connection is closed")
        slot = Slot(None, kind, codec_key, next(_ssrcs), "fake-cname")
        self.slots.append(slot)
        return slot

    def request_negotiation(self) -> None:
        self.negotiations += 1

    async def offer(self) -> None:
        """Make the offer the Router asked for: every new slot gets a mid, and signaling is told."""
        for slot in self.slots:
            if slot.mid is None:
                slot.mid = str(self.slots.index(slot))
        self._on_mids()
        self.revision += 1
        await self._send_offer(self.revision, f"offer {self.revision}")

    async def apply_answer(self, revision: int, sdp: str) -> None:
        self.answers.append((revision, sdp))

    def connect(self) -> FakeSendPath:
        """Bring the connection up: every slot gets the send path (payload type 96) and is ready."""
        path = self.path = self.path or FakeSendPath()
        for slot in self.slots:
            if not slot.ready:
                slot.attach_send_path(path, 96)
        self._on_ready()
        return path

    def fail(self, reason: str = "media-failed") -> None:
        """The connection failed or the client closed it: reported, and closed at once (as the real one)."""
        self._on_failed(reason)
        self.closed = True

    async def close(self) -> None:
        self.closed = True
        for slot in self.slots:
            slot.ready = False


class FakeTransports:
    """A TransportFactory that makes fakes and keeps every one of them by owner."""

    def __init__(self) -> None:
        self.publishers: dict[str, FakePublishTransport] = {}
        self.subscribers: dict[str, FakeSubscribeTransport] = {}

    def publish_transport(self, owner_id: str, settings: TransportSettings, drops: dict[DropReason, int],
                          new_id: Callable[[str], str], on_failed: Callable[[], None]) -> FakePublishTransport:
        transport = self.publishers[owner_id] = FakePublishTransport(owner_id, settings, drops, new_id, on_failed)
        return transport

    def subscribe_transport(
        self, owner_id: str, settings: TransportSettings, send_offer: Callable[[int, str], Awaitable[None]],
        on_mids: Callable[[], None], on_ready: Callable[[], None], on_failed: Callable[[str], None],
    ) -> FakeSubscribeTransport:
        transport = FakeSubscribeTransport(owner_id, settings, send_offer, on_mids, on_ready, on_failed)
        self.subscribers[owner_id] = transport
        return transport
