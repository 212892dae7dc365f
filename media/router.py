"""Router: one per Room; decides who receives whose Producers and owns the media timers.

Forwarding policy lives here, not in the UI (media/policy.py says who consumes whom): a member that
may not send reaches no one and a member that may not receive gets no Consumer at all (the waiting
room uses both). Connections come from a TransportFactory, so the Router runs on fakes in tests.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from .allocation import PAUSED, UNLIMITED, Ceiling, Video, allocate
from .consumer import Consumer, Slot
from .errors import MediaError
from .policy import consumable_tracks
from .producer import Producer, TrackInfo
from .reasons import CloseReason, DropReason
from .simulcast import LayeredConsumer
from .speaker import ActiveSpeakerDetector
from .transport import (
    AIORTC_TRANSPORTS,
    MAX_PATH_FAILURES,
    PublishSide,
    SubscribeSide,
    SubscribeTransport,
    TransportFactory,
    TransportSettings,
)

SPEAKER_TICK = 0.3
RTCP_INTERVAL = 1.0
# The lifetime counters of Router.totals(), by name (server/metrics.py exports each).
COUNTERS = ("packets_in", "forwarded", "keyframe_requests", "bytes_forwarded", "nacks", "retransmissions",
            "upstream_nacks", "upstream_repaired", "layer_switches")


class RouterListener(Protocol):
    """What a Router tells the signaling layer; every method is called synchronously and must not block."""

    def consumers_changed(self, participant_id: str, consumers: list[dict[str, Any]]) -> None: ...

    def subscriber_offer(self, participant_id: str, revision: int, sdp: str) -> None: ...

    def media_failed(self, participant_id: str, reason: str) -> None: ...

    def active_speaker(self, router_id: str, participant_id: str | None) -> None: ...


@dataclass(frozen=True)
class MediaSettings:
    """Per-server media options (built from the [media] and [ice] config by server/layers.py)."""

    transport: TransportSettings
    max_bitrate: int  # bits per second: the REMB cap sent to publishers


@dataclass
class Member:
    """A participant as the Router sees it: two transports, consumers by producer id, and policy."""

    id: str
    sending: bool = True
    receiving: bool = True
    publish: PublishSide | None = None
    subscribe: SubscribeSide | None = None
    consumers: dict[str, Consumer] = field(default_factory=dict)
    last_consumers: list[dict[str, Any]] | None = None
    closed: bool = False
    # The Router the member is in now; its transports' callbacks go through it, so a member can
    # move between Routers (breakout rooms) without renegotiating.
    router: Router | None = None
    # What its link can take (media/allocation.py), how large it shows each video (track id -> device
    # pixels high, as its client said), and what it was sent by the last allocation: (time, bytes).
    ceiling: Ceiling = field(default_factory=Ceiling)
    tile_heights: dict[str, int] = field(default_factory=dict)
    sent_mark: tuple[float, int] | None = None
    # Video to it waits while its publish connection's handshake is under way (Router._held).
    held: bool = False


@dataclass(frozen=True)
class LinkQuality:
    """One member's links as the server sees them (``Router.member_quality``); -1 where unknown."""

    loss_in: float
    loss_out: float
    rtt: float
    bitrate_in: int


@dataclass(frozen=True)
class PublishResult:
    """The answer to a publish offer and the tracks it started and ended."""

    answer: str
    started: list[TrackInfo]
    ended: list[TrackInfo]


class Router:
    """Routes the Producers of a room's members to Consumers of the other members."""

    def __init__(self, router_id: str, settings: MediaSettings, listener: RouterListener,
                 transports: TransportFactory = AIORTC_TRANSPORTS) -> None:
        self.id = router_id
        self.settings = settings
        self.listener = listener
        self.transports = transports
        self.members: dict[str, Member] = {}
        self.producers: dict[str, Producer] = {}
        self.drops: dict[DropReason, int] = {reason: 0 for reason in DropReason}
        # What the Producers closed here and the Consumers that left it had counted, so `totals()` never
        # goes down (read by the metrics).
        self.retired: dict[str, int] = dict.fromkeys(COUNTERS, 0)
        self.speaker = ActiveSpeakerDetector()
        self.closed = False
        self._timer = asyncio.ensure_future(self._run_timers())

    # -- members ----------------------------------------------------------------------------------

    def add_member(self, participant_id: str, sending: bool = True, receiving: bool = True) -> None:
        """Register a participant; it receives the others' tracks once it can receive."""
        if participant_id in self.members:
            raise MediaError("already-joined", "this participant is already in the router")
        member = Member(participant_id, sending=sending, receiving=receiving, router=self)
        self.members[participant_id] = member
        self._update(member)

    def move_member(self, participant_id: str, destination: Router) -> None:
        """Move a member and its producers to another Router without renegotiating (breakout rooms).

        Everything it received here and everything it sent to others here stops before the destination
        routes anything; there, each new viewer starts at a key frame (Producer.add_consumer).
        """
        member = self._member(participant_id)
        if destination is self:
            return
        if participant_id in destination.members:
            raise MediaError("already-joined", "this participant is already in the router")
        del self.members[participant_id]
        self._end_consumers(member, CloseReason.NOT_PERMITTED)
        for producer in self.producers_of(participant_id):
            self._drop_producer(producer)
        member.router = None
        destination._adopt(member)

    def _adopt(self, member: Member) -> None:
        member.router = self
        self.members[member.id] = member
        if member.publish is not None:
            for producer in member.publish.producers.values():
                self.producers[producer.id] = producer
        # Each new viewer's consumer asks for the key frame it starts from, of the layer it starts on,
        # and one request serves all who start meanwhile: a camera moved to no viewers costs nothing.
        self._update_all()

    def set_member_media(self, participant_id: str, sending: bool, receiving: bool) -> None:
        """Change whether a member's media reaches others and whether it receives theirs."""
        member = self.members[participant_id]
        if (member.sending, member.receiving) == (sending, receiving):
            return
        member.sending, member.receiving = sending, receiving
        self._update_all()

    async def remove_member(self, participant_id: str) -> None:
        """Remove a participant: its consumers, producers and transports close; others are updated."""
        member = self.members.pop(participant_id, None)
        if member is None:
            return
        member.closed = True
        self._end_consumers(member, CloseReason.TRANSPORT_CLOSED)
        for producer in [p for p in self.producers.values() if p.owner_id == participant_id]:
            self._close_producer(producer)
        # Forwarding to and from the member stopped above; closing the connections may take a while.
        transports = [t for t in (member.publish, member.subscribe) if t is not None]
        await asyncio.gather(*(t.close() for t in transports), return_exceptions=True)

    # -- publishing -------------------------------------------------------------------------------

    async def publish(self, participant_id: str, offer: str, labels: dict[str, str]) -> PublishResult:
        """Apply a participant's publish offer and route its new tracks to everyone allowed."""
        member = self._member(participant_id)
        if member.publish is None:
            member.publish = self.transports.publish_transport(
                participant_id, self.settings.transport, self.drops, _new_id,
                lambda: _via_router(member, lambda r: r._transport_failed(participant_id, "media-failed")),
            )
            self._hold_video(member)
        publish = member.publish
        try:
            answer, started, ended = await publish.negotiate(offer, labels)
        except MediaError:
            if publish.closed and member.publish is publish and not publish.producers:
                member.publish = None  # it never carried media (no UDP port): the next offer starts afresh
            raise
        router = member.router
        if member.closed or router is None:
            raise MediaError("not-joined", "the participant left during negotiation")
        # The member may have moved to another Router while the offer was being applied.
        for producer in ended:
            router._close_producer(producer)
        for producer in started:
            router.producers[producer.id] = producer
        router._update_all()
        return PublishResult(answer, [p.info() for p in started], [p.info() for p in ended])

    def unpublish(self, participant_id: str, track_id: str) -> TrackInfo:
        """End one of a participant's tracks."""
        producer = self._own_producer(participant_id, track_id)
        publish = self.members[participant_id].publish
        if publish is not None:
            publish.forget(producer)
        self._close_producer(producer)
        return producer.info()

    def set_paused(self, participant_id: str, track_id: str, paused: bool) -> None:
        """Pause (mute) or resume one of a participant's tracks."""
        self._own_producer(participant_id, track_id).set_paused(paused)

    def set_tile_heights(self, participant_id: str, heights: dict[str, int]) -> None:
        """Record how large a member shows each video (device pixels high; 0: not shown) and re-allocate."""
        member = self._member(participant_id)
        member.tile_heights = {k: v for k, v in heights.items() if isinstance(k, str) and isinstance(v, int)}
        self._allocate(member, time.monotonic(), feedback=False)

    def producers_of(self, participant_id: str) -> list[Producer]:
        """List a participant's live producers."""
        return [p for p in self.producers.values() if p.owner_id == participant_id]

    # -- subscribing ------------------------------------------------------------------------------

    async def subscriber_answer(self, participant_id: str, revision: int, sdp: str) -> None:
        """Apply a participant's answer to its subscribe connection's outstanding offer."""
        member = self._member(participant_id)
        if member.subscribe is None:
            raise MediaError("stale-revision", "no subscriber offer was sent")
        await member.subscribe.apply_answer(revision, sdp)

    def _update_all(self) -> None:
        for member in list(self.members.values()):
            self._update(member)

    def _update(self, member: Member) -> None:
        """Make a member's consumers match what it may receive: tear down first, then add."""
        if member.closed or self.closed or (member.subscribe is not None and member.subscribe.closed):
            return  # a failed subscribe connection: the member is being removed (media_failed)
        desired = {p.id: p for p in consumable_tracks(member.id, self.members, self.producers.values())
                   if not p.closed}
        for producer_id in [pid for pid in member.consumers if pid not in desired]:
            self._end_consumer(member.consumers.pop(producer_id), CloseReason.NOT_PERMITTED)
        needs_offer = False
        for producer in desired.values():
            if producer.id in member.consumers:
                continue
            subscribe = member.subscribe
            if subscribe is None:
                subscribe = member.subscribe = self._subscribe_transport(member)
            slot = self._free_slot(subscribe, producer)
            if slot is None:
                try:
                    slot = subscribe.add_slot(producer.kind, producer.codec_key, producer.owner_id)
                except MediaError:
                    break  # its connection closed under it: the member is being removed (media_failed)
                needs_offer = True
            if len(producer.layers) > 1:
                consumer: Consumer = LayeredConsumer(_new_id("c"), self._first_layer(member, producer), slot, member.id)
            else:
                consumer = Consumer(_new_id("c"), producer, slot, member.id)
            member.consumers[producer.id] = consumer
            if slot.ready and not self._held(member, consumer):
                consumer.producer.add_consumer(consumer)
        self._emit_consumers(member)
        if needs_offer and member.subscribe is not None:
            member.subscribe.request_negotiation()

    @staticmethod
    def _free_slot(transport: SubscribeSide, producer: Producer) -> Slot | None:
        for slot in transport.slots:
            if slot.consumer is None and slot.codec_key == producer.codec_key:
                return slot
        return None

    def _subscribe_transport(self, member: Member) -> SubscribeSide:
        pid = member.id
        transport = self.transports.subscribe_transport(
            pid, self.settings.transport,
            send_offer=lambda revision, sdp: self._send_offer(pid, revision, sdp),
            on_mids=lambda: _via_router(member, lambda r: r._emit_consumers(member)),
            on_ready=lambda: _via_router(member, lambda r: r._activate(member)),
            on_failed=lambda reason: _via_router(member, lambda r: r._transport_failed(pid, reason)),
        )
        if isinstance(transport, SubscribeTransport):
            transport.drops = self.drops  # its drops count with the Router's, as a publisher's do
        return transport

    async def _send_offer(self, participant_id: str, revision: int, sdp: str) -> None:
        self.listener.subscriber_offer(participant_id, revision, sdp)

    def _activate(self, member: Member) -> None:
        for consumer in member.consumers.values():
            if not consumer.active and not consumer.closed and not consumer.suspended and consumer.slot.ready:
                if not self._held(member, consumer):
                    consumer.producer.add_consumer(consumer)

    @staticmethod
    def _hold_video(member: Member) -> None:
        """A publish connection starts: stop the video already flowing to its member until it is up (``_held``).

        Its subscribe connection may have come up first, and the others' video with it.
        """
        for consumer in member.consumers.values():
            if consumer.producer.kind == "video" and consumer.active and not consumer.closed:
                consumer.producer.suspend(consumer)
                member.held = True

    @staticmethod
    def _held(member: Member, consumer: Consumer) -> bool:
        """Hold a video back from a member whose publish connection is still connecting (and mark the member held).

        On a narrow downlink the others' video would fill it and starve that handshake: not connected
        within its 15 s, the member would be removed and have to be let in again. Audio goes on; the
        video starts at the next RTCP tick once the handshake is done (or failed).
        """
        if consumer.producer.kind != "video" or not _publish_connecting(member):
            return False
        member.held = True
        return True

    def _emit_consumers(self, member: Member) -> None:
        if member.closed or member.subscribe is None:
            return
        listing: list[dict[str, Any]] = []
        now = time.monotonic()
        for slot in member.subscribe.slots:
            consumer = slot.consumer
            if slot.mid is None or consumer is None:
                continue
            producer = consumer.producer
            entry: dict[str, Any] = {"mid": slot.mid, "track_id": producer.id, "participant_id": producer.owner_id,
                                     "kind": producer.kind, "label": producer.label}
            if consumer.suspended:
                entry["paused"] = "bandwidth"  # audio first: this video waits for the link to recover
            # The track's repairs arrive this late: the subscriber's jitter buffer should wait for them.
            wait = producer.track.repair_wait_ms(now) if producer.kind == "video" else 0
            if wait:
                entry["repair_ms"] = wait
            listing.append(entry)
        if listing != member.last_consumers:
            member.last_consumers = listing
            self.listener.consumers_changed(member.id, listing)

    # -- internals --------------------------------------------------------------------------------

    def _member(self, participant_id: str) -> Member:
        member = self.members.get(participant_id)
        if member is None:
            raise MediaError("not-joined", "the participant is not in this room")
        return member

    def _own_producer(self, participant_id: str, track_id: object) -> Producer:
        producer = self.producers.get(track_id) if isinstance(track_id, str) else None
        if producer is None or producer.owner_id != participant_id:
            raise MediaError("invalid-track", "no such track of yours")
        return producer

    def _close_producer(self, producer: Producer) -> None:
        producer.close()
        retired = self.retired
        for layer in producer.layers:
            retired["packets_in"] += layer.packets_in
            retired["forwarded"] += layer.forwarded
            retired["keyframe_requests"] += layer.keyframe_requests
            retired["upstream_nacks"] += layer.repair.nacked
            retired["upstream_repaired"] += layer.repair.repaired
        self._drop_producer(producer)

    def _streams(self) -> list[Producer]:
        """Every incoming stream: each track's layers (a plain track is its own one layer)."""
        return [layer for producer in self.producers.values() for layer in producer.layers]

    def _end_consumers(self, member: Member, reason: CloseReason) -> None:
        for consumer in member.consumers.values():
            self._end_consumer(consumer, reason)
        member.consumers.clear()

    def _end_consumer(self, consumer: Consumer, reason: CloseReason) -> None:
        """Detach a consumer that leaves this Router, keeping what it counted in the Router's totals."""
        consumer.detach(reason)
        retired = self.retired
        retired["bytes_forwarded"] += consumer.bytes_sent
        retired["nacks"] += consumer.nacks
        retired["retransmissions"] += consumer.retransmissions
        retired["layer_switches"] += consumer.switches

    def _drop_producer(self, producer: Producer) -> None:
        """Stop routing a producer here: every consumer of it in this Router is detached."""
        self.producers.pop(producer.id, None)
        for member in self.members.values():
            consumer = member.consumers.pop(producer.id, None)
            if consumer is not None:
                self._end_consumer(consumer, CloseReason.PRODUCER_CLOSED)
                self._emit_consumers(member)

    def _transport_failed(self, participant_id: str, reason: str) -> None:
        if participant_id in self.members and not self.closed:
            self.listener.media_failed(participant_id, reason)

    async def _run_timers(self) -> None:
        ticks_per_rtcp = max(1, round(RTCP_INTERVAL / SPEAKER_TICK))
        tick = 0
        while not self.closed:
            await asyncio.sleep(SPEAKER_TICK)
            tick += 1
            try:
                self.tick_limits(SPEAKER_TICK)
                self.tick_speakers()
                if tick % ticks_per_rtcp == 0:
                    self._rtcp_tick()
            except Exception:
                self.drops[DropReason.HOOK_ERROR] += 1

    def tick_limits(self, seconds: float) -> None:
        """Refill the publishers' token buckets; fail a publisher whose packet path keeps raising."""
        max_bitrate = self.settings.max_bitrate
        for producer in self._streams():
            producer.refill(seconds, max_bitrate)
            if producer.failures >= MAX_PATH_FAILURES and not producer.failure_reported:
                producer.failure_reported = True
                self._transport_failed(producer.owner_id, "media-error")

    def tick_speakers(self) -> None:
        """Run one step of active-speaker detection (the Router's timer does, every 300 ms)."""
        loudness: dict[str, float] = {}
        for producer in self.producers.values():
            if producer.kind != "audio" or producer.label != "microphone":
                continue
            count = producer.level_count
            value = producer.level_sum / count if count else 0.0
            producer.level_sum = producer.level_count = 0
            owner = self.members.get(producer.owner_id)
            if owner is not None and owner.sending and not producer.paused:
                loudness[producer.owner_id] = value
        changed, speaker = self.speaker.tick(loudness)
        if changed:
            self.listener.active_speaker(self.id, speaker)

    def _rtcp_tick(self) -> None:
        now = time.monotonic()
        for producer in self._streams():
            producer.measure_bitrate(now)
        for member in self.members.values():
            if member.held and not _publish_connecting(member):
                member.held = False
                self._activate(member)
            self._allocate(member, now)
            self._emit_consumers(member)  # sent only if it changed: a pause, or a track's repair wait
            publish = member.publish
            if publish is None or not publish.connected:
                continue
            report = b"".join(layer.receiver_report(self.settings.max_bitrate)
                              for p in publish.producers.values() for layer in p.layers)
            if report:
                publish.send_rtcp(report)

    # -- which video each subscriber gets (media/allocation.py) ------------------------------------

    def _first_layer(self, member: Member, track: Producer) -> Producer:
        """The layer a new viewer starts on: the one its tile wants, if the link is not known to be short."""
        live = track.live_layers() or track.layers
        if member.ceiling.value != UNLIMITED:
            return live[0]
        return live[-1] if member.tile_heights.get(track.id, -1) != 0 else live[0]

    def _allocate(self, member: Member, now: float, feedback: bool = True) -> None:
        """Give each of a member's videos a layer, or pause it, so that what it is sent fits its link.

        ``feedback``: fold the last second's feedback into the member's ceiling first (the RTCP timer);
        without it (a tile-size change) the last ceiling is used.
        """
        consumers = [c for c in member.consumers.values() if not c.closed]
        videos = [c for c in consumers if c.producer.kind == "video"]
        sent_bytes = sum(c.bytes_sent for c in consumers)
        if feedback:
            mark, member.sent_mark = member.sent_mark, (now, sent_bytes)
            if mark is None or now <= mark[0] or not videos:
                return
            sent = int((sent_bytes - mark[1]) * 8 / (now - mark[0]))
            estimate = sum(c.remb for c in videos)
            member.ceiling.update(now, estimate, sent, _own_loss(consumers))
        if not videos or member.held:  # held: nothing is sent to it yet, and nothing may start (_held)
            return
        audio = sum(max(c.producer.bitrate, 0) for c in consumers if c.producer.kind == "audio")
        heights = member.tile_heights
        shown = [h for h in heights.values() if h > 0]
        smallest = min(shown, default=0)
        speaker = self.speaker.current
        wanted: list[Video] = []
        choices: list[list[Producer]] = []
        videos = [c for c in videos if not c.producer.track.paused]  # muted: it sends nothing anyway
        if not videos:
            return
        for c in videos:
            track = c.producer.track
            live = track.live_layers() or [c.producer]
            tile = heights.get(track.id, -1)
            important = (track.owner_id == speaker or track.label == "screen"
                         or (smallest > 0 and tile >= 2 * smallest))
            wanted.append(Video(tuple(layer.bitrate for layer in live), tuple(layer.height for layer in live),
                                tile if tile > 0 else (-1 if tile < 0 else 1), important))
            choices.append(live)
        layers = allocate(member.ceiling.value - audio, wanted)
        changed = False
        for c, live, choice in zip(videos, choices, layers, strict=True):
            if choice == PAUSED:
                if not c.suspended:
                    c.suspended = changed = True
                    c.producer.suspend(c)
                continue
            target = live[choice]
            if c.suspended:
                c.suspended, changed = False, True
                if target is c.producer:
                    if c.slot.ready:
                        target.add_consumer(c)
                else:  # back on another layer: it continues the old one's numbering at its key frame
                    c.producer.track.switch(c, target)
            elif target is not c.producer and c.pending is not target:
                c.producer.track.switch(c, target)
            elif c.pending is not None:
                c.pending.request_keyframe()  # the switch still waits for a key frame: ask again (throttled)
        if changed:
            self._emit_consumers(member)

    def stats(self) -> dict[str, Any]:
        """Return counters for health checks and tests: packets in and out, drops by reason."""
        return {
            "members": len(self.members),
            "producers": len(self.producers),
            "consumers": sum(len(m.consumers) for m in self.members.values()),
            "packets_in": sum(p.packets_in for p in self._streams()),
            "forwarded": sum(p.forwarded for p in self._streams()),
            "drops": {reason.value: n for reason, n in self.drops.items() if n},
        }

    def link_quality(self) -> tuple[list[float], list[float], list[float]]:
        """Return, per stream, the latest round trips to subscribers (seconds) and the fractions lost on
        the way to them and on the way in from publishers, as their reports and ours last said.

        Read at scrape time for the metrics' summaries; streams without a report yet are left out.
        """
        rtts: list[float] = []
        down: list[float] = []
        for member in self.members.values():
            for consumer in member.consumers.values():
                slot = consumer.slot
                if slot.rtt >= 0:
                    rtts.append(slot.rtt)
                if slot.loss >= 0:
                    down.append(slot.loss)
        up = [p.loss for p in self._streams() if p.loss >= 0]
        return rtts, down, up

    def member_quality(self, participant_id: str) -> LinkQuality | None:
        """Return how one member's links look from the server, or None if the member is not here.

        ``loss_in`` is the worst fraction lost on the way in over the member's published tracks (found
        missing at first, repaired or not), ``loss_out`` the worst the member's own receiver reports said of the streams
        sent to them, ``rtt`` the longest round trip to them (seconds), ``bitrate_in`` what they publish
        (bits/s over the last report interval). -1 where nothing has told yet. Read on a timer by
        signaling for hosts' per-tile connection quality; never per packet.
        """
        member = self.members.get(participant_id)
        if member is None:
            return None
        streams = [p for p in self._streams() if p.owner_id == participant_id]
        # What their link loses, not what is left after the repair: a repaired link is still a poor one.
        losses_in = [p.link_loss for p in streams if p.link_loss >= 0]
        bitrates = [p.bitrate for p in streams if p.bitrate >= 0]
        consumers = list(member.consumers.values())
        rtts = [c.slot.rtt for c in consumers if c.slot.rtt >= 0]
        return LinkQuality(
            loss_in=max(losses_in, default=-1.0),
            loss_out=_own_loss(consumers),
            rtt=max(rtts, default=-1.0),
            bitrate_in=sum(bitrates) if bitrates else -1,
        )

    def totals(self) -> dict[str, int]:
        """Return the Router's lifetime ``COUNTERS``: what its live Producers and Consumers counted (wherever
        they began) plus what those that closed or left here had counted. Read at scrape time, never on the
        packet path: the hot path only adds to ints the objects already have."""
        live = self._streams()
        consumers = [c for m in list(self.members.values()) for c in list(m.consumers.values())]
        retired = self.retired
        return {
            "packets_in": retired["packets_in"] + sum(p.packets_in for p in live),
            "forwarded": retired["forwarded"] + sum(p.forwarded for p in live),
            "keyframe_requests": retired["keyframe_requests"] + sum(p.keyframe_requests for p in live),
            "bytes_forwarded": retired["bytes_forwarded"] + sum(c.bytes_sent for c in consumers),
            "nacks": retired["nacks"] + sum(c.nacks for c in consumers),
            "retransmissions": retired["retransmissions"] + sum(c.retransmissions for c in consumers),
            "upstream_nacks": retired["upstream_nacks"] + sum(p.repair.nacked for p in live),
            "upstream_repaired": retired["upstream_repaired"] + sum(p.repair.repaired for p in live),
            "layer_switches": retired["layer_switches"] + sum(c.switches for c in consumers),
        }

    async def close(self) -> None:
        """Close every member's media and stop the timers (idempotent)."""
        if self.closed:
            return
        for participant_id in list(self.members):
            await self.remove_member(participant_id)
        self.closed = True
        self._timer.cancel()


def _own_loss(consumers: list[Consumer]) -> float:
    """Return the fraction a member's own downlink loses, from its receiver reports; -1 before any.

    What a subscriber reports lost includes what never reached the server (the publisher's uplink loss,
    which our own receiver reports measure): only the loss beyond that is the subscriber's. Its own link
    loses on every stream alike, a publisher's only on that publisher's streams, so the least is its own
    (and reports covering different intervals do not add up to a false loss).
    """
    beyond = [max(c.slot.loss - max(c.producer.loss, 0.0), 0.0) for c in consumers if c.slot.loss >= 0]
    return min(beyond) if beyond else -1.0


def _publish_connecting(member: Member) -> bool:
    """Tell whether the member's publish connection is still in its handshake (its video is held meanwhile)."""
    return member.publish is not None and member.publish.connecting


def _via_router(member: Member, call: Callable[[Router], None]) -> None:
    """Run a transport callback on the Router the member is in now (none once it left)."""
    if member.router is not None and not member.closed:
        call(member.router)


def _new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"
