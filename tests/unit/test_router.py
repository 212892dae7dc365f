"""Tests for media.router without sockets: who gets a Consumer of whom, what closes when, and moves.

The Router is built with fake transports (tests/support/fake_transports.py): publishing goes through
``Router.publish`` as signaling calls it, and the test plays the client through the fakes (offers get
mids, connections come up with a recording send path, or fail).
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from typing import Any

import pytest

from media.api import LinkQuality, PublishResult, RouterApi, TrackInfo
from media.consumer import Consumer, Slot
from media.errors import MediaError
from media.producer import Producer
from media.reasons import CloseReason, DropReason
from media.router import MediaSettings, Router
from media.rtcp import build_pli
from media.rtp import HEADER
from media.transport import TransportSettings
from tests.support.clock import Clock
from tests.support.fake_transports import FakeTransports

SETTINGS = MediaSettings(TransportSettings(ice_servers=(), announced_ip="", compiled_send=False), max_bitrate=2_500_000)


class FakeListener:
    """Records what the Router tells signaling."""

    def __init__(self) -> None:
        self.consumer_lists: list[tuple[str, list[dict[str, Any]]]] = []
        self.offers: list[tuple[str, int]] = []
        self.failures: list[tuple[str, str]] = []
        self.speakers: list[str | None] = []

    def consumers_changed(self, participant_id: str, consumers: list[dict[str, Any]]) -> None:
        self.consumer_lists.append((participant_id, consumers))

    def subscriber_offer(self, participant_id: str, revision: int, sdp: str) -> None:
        self.offers.append((participant_id, revision))

    def media_failed(self, participant_id: str, reason: str) -> None:
        self.failures.append((participant_id, reason))

    def active_speaker(self, router_id: str, participant_id: str | None) -> None:
        self.speakers.append(participant_id)


@pytest.fixture
def fakes() -> FakeTransports:
    return FakeTransports()


@pytest.fixture
def listener() -> FakeListener:
    return FakeListener()


@pytest.fixture
async def router(fakes: FakeTransports, listener: FakeListener) -> AsyncIterator[Router]:
    router = Router("room-1", SETTINGS, listener, fakes)
    try:
        yield router
    finally:
        await router.close()


_mids = itertools.count()


async def add_track(router: Router, fakes: FakeTransports, owner: str, kind: str = "video",
                    label: str | None = None) -> Producer:
    """Publish one more track of ``owner`` (the offer lists all its tracks, as a client's does)."""
    label = label or ("camera" if kind == "video" else "microphone")
    publish = fakes.publishers.get(owner)
    labels = {mid: p.label for mid, p in publish.producers.items()} if publish is not None else {}
    mid = f"m{next(_mids)}"
    labels[mid] = label
    result = await router.publish(owner, "offer", labels)
    assert [t.label for t in result.started] == [label]
    return fakes.publishers[owner].producers[mid]


def consumers_of(fakes: FakeTransports, member: str) -> dict[str, Consumer]:
    """Return the member's consumers by producer id, read from the slots of its subscribe connection."""
    transport = fakes.subscribers.get(member)
    if transport is None:
        return {}
    return {s.consumer.producer.id: s.consumer for s in transport.slots if s.consumer is not None}


def consumed(fakes: FakeTransports, member: str) -> set[str]:
    """Return the ids of the producers a member has a Consumer of."""
    return set(consumers_of(fakes, member))


async def test_members_receive_each_others_tracks_but_not_their_own(router: Router, fakes: FakeTransports) -> None:
    for pid in ("ann", "bob", "cat"):
        router.add_member(pid)
    ann_cam = await add_track(router, fakes, "ann")
    bob_mic = await add_track(router, fakes, "bob", kind="audio")
    assert consumed(fakes, "ann") == {bob_mic.id}
    assert consumed(fakes, "bob") == {ann_cam.id}
    assert consumed(fakes, "cat") == {ann_cam.id, bob_mic.id}
    assert router.stats()["consumers"] == 4


async def test_a_publish_while_another_members_connection_is_failing_skips_that_member(
        router: Router, fakes: FakeTransports, listener: FakeListener) -> None:
    """Between a subscriber's connection failing and signaling removing the member, others still publish."""
    for pid in ("ann", "bob"):
        router.add_member(pid)
    ann_cam = await add_track(router, fakes, "ann")
    fakes.subscribers["bob"].fail()  # the client closed its connections; its leave is on the way
    assert listener.failures == [("bob", "media-failed")]
    router.add_member("cat")
    cat_mic = await add_track(router, fakes, "cat", kind="audio")  # must not touch bob's closed connection
    assert consumed(fakes, "ann") == {cat_mic.id} and consumed(fakes, "cat") == {ann_cam.id}
    assert consumed(fakes, "bob") == {ann_cam.id}
    await router.remove_member("bob")
    assert "bob" not in router.members


async def test_a_member_who_joins_later_receives_existing_tracks(router: Router, fakes: FakeTransports) -> None:
    router.add_member("ann")
    ann_cam = await add_track(router, fakes, "ann")
    router.add_member("bob")
    assert consumed(fakes, "bob") == {ann_cam.id}
    assert [(owner, t.negotiations) for owner, t in fakes.subscribers.items()] == [("bob", 1)]


async def test_a_member_who_may_not_send_reaches_no_one(router: Router, fakes: FakeTransports) -> None:
    router.add_member("therapist")
    router.add_member("waiting", sending=False)
    await add_track(router, fakes, "waiting")
    therapist_cam = await add_track(router, fakes, "therapist")
    assert consumed(fakes, "therapist") == set()
    assert consumed(fakes, "waiting") == {therapist_cam.id}


async def test_a_member_who_may_not_receive_gets_no_consumers_and_no_connection(
    router: Router, fakes: FakeTransports
) -> None:
    router.add_member("therapist")
    router.add_member("waiting", receiving=False)
    await add_track(router, fakes, "therapist")
    assert consumed(fakes, "waiting") == set()
    assert "waiting" not in fakes.subscribers


async def test_a_waiting_member_neither_sends_nor_receives(router: Router, fakes: FakeTransports) -> None:
    router.add_member("therapist")
    router.add_member("waiting", sending=False, receiving=False)
    await add_track(router, fakes, "therapist")
    await add_track(router, fakes, "waiting")
    assert consumed(fakes, "therapist") == set() and consumed(fakes, "waiting") == set()


async def test_admitting_a_member_starts_its_media_both_ways(router: Router, fakes: FakeTransports) -> None:
    router.add_member("therapist")
    router.add_member("client", sending=False, receiving=False)
    therapist_cam = await add_track(router, fakes, "therapist")
    client_cam = await add_track(router, fakes, "client")
    router.set_member_media("client", sending=True, receiving=True)
    assert consumed(fakes, "therapist") == {client_cam.id}
    assert consumed(fakes, "client") == {therapist_cam.id}


async def test_revoking_sending_tears_down_the_others_consumers_of_that_member(
    router: Router, fakes: FakeTransports
) -> None:
    router.add_member("therapist")
    router.add_member("client")
    client_cam = await add_track(router, fakes, "client")
    fakes.subscribers["therapist"].connect()
    consumer = consumers_of(fakes, "therapist")[client_cam.id]
    assert client_cam.consumers == [consumer]
    router.set_member_media("client", sending=False, receiving=True)
    assert consumed(fakes, "therapist") == set()
    assert consumer.close_reason is CloseReason.NOT_PERMITTED
    assert client_cam.consumers == [] and consumer.slot.consumer is None
    assert client_cam.closed is False


async def test_revoking_receiving_tears_down_the_members_own_consumers(router: Router, fakes: FakeTransports) -> None:
    router.add_member("therapist")
    router.add_member("client")
    therapist_cam = await add_track(router, fakes, "therapist")
    consumer = consumers_of(fakes, "client")[therapist_cam.id]
    router.set_member_media("client", sending=True, receiving=False)
    assert consumed(fakes, "client") == set()
    assert consumer.close_reason is CloseReason.NOT_PERMITTED


async def test_setting_the_same_media_policy_again_changes_nothing(router: Router, fakes: FakeTransports) -> None:
    router.add_member("therapist")
    router.add_member("client")
    therapist_cam = await add_track(router, fakes, "therapist")
    consumer = consumers_of(fakes, "client")[therapist_cam.id]
    router.set_member_media("client", sending=True, receiving=True)
    assert consumers_of(fakes, "client")[therapist_cam.id] is consumer and not consumer.closed


async def test_a_new_consumer_reuses_a_free_slot_of_the_same_codec_without_renegotiating(
    router: Router, fakes: FakeTransports
) -> None:
    router.add_member("therapist")
    router.add_member("client")
    first = await add_track(router, fakes, "therapist")
    subscribe = fakes.subscribers["client"]
    [slot] = subscribe.slots
    router.set_member_media("therapist", sending=False, receiving=True)
    router.set_member_media("therapist", sending=True, receiving=True)
    assert subscribe.slots == [slot]
    assert slot.consumer is consumers_of(fakes, "client")[first.id]
    await add_track(router, fakes, "therapist", kind="audio")
    assert [s.kind for s in subscribe.slots] == ["video", "audio"]
    assert subscribe.negotiations == 2 and "therapist" not in fakes.subscribers


async def test_consumers_become_active_when_their_slots_get_a_send_path(router: Router, fakes: FakeTransports) -> None:
    router.add_member("therapist")
    router.add_member("client")
    therapist_cam = await add_track(router, fakes, "therapist")
    consumer = consumers_of(fakes, "client")[therapist_cam.id]
    assert therapist_cam.consumers == [] and consumer.active is False
    fakes.subscribers["client"].connect()
    assert therapist_cam.consumers == [consumer] and consumer.active is True


async def test_signaling_hears_of_a_members_consumers_once_the_offer_named_their_mids(
    router: Router, fakes: FakeTransports, listener: FakeListener
) -> None:
    router.add_member("ann")
    router.add_member("bob")
    ann_cam = await add_track(router, fakes, "ann")
    assert listener.consumer_lists == [("bob", [])]  # a slot without a mid is not listed yet
    await fakes.subscribers["bob"].offer()
    assert listener.offers == [("bob", 1)]
    assert listener.consumer_lists[1:] == [("bob", [{"mid": "0", "track_id": ann_cam.id, "participant_id": "ann",
                                                  "kind": "video", "label": "camera"}])]
    await router.subscriber_answer("bob", 1, "answer")
    assert fakes.subscribers["bob"].answers == [(1, "answer")]


async def test_an_answer_without_a_subscriber_offer_is_refused(router: Router) -> None:
    router.add_member("ann")
    with pytest.raises(MediaError) as info:
        await router.subscriber_answer("ann", 1, "answer")
    assert info.value.code == "stale-revision"


async def test_a_failed_connection_is_reported_while_the_member_is_in_the_router(
    router: Router, fakes: FakeTransports, listener: FakeListener
) -> None:
    router.add_member("ann")
    router.add_member("bob")
    await add_track(router, fakes, "ann")
    fakes.publishers["ann"].fail()
    fakes.subscribers["bob"].fail("negotiation-timeout")
    assert listener.failures == [("ann", "media-failed"), ("bob", "negotiation-timeout")]
    await router.remove_member("bob")
    fakes.subscribers["bob"].fail()
    assert len(listener.failures) == 2


async def test_removing_a_member_closes_its_producers_and_the_others_consumers_of_them(
    router: Router, fakes: FakeTransports
) -> None:
    for pid in ("ann", "bob", "cat"):
        router.add_member(pid)
    ann_cam = await add_track(router, fakes, "ann")
    ann_mic = await add_track(router, fakes, "ann", kind="audio")
    bob_cam = await add_track(router, fakes, "bob")
    others = [consumers_of(fakes, m)[p.id] for m in ("bob", "cat") for p in (ann_cam, ann_mic)]
    own = consumers_of(fakes, "ann")[bob_cam.id]
    await router.remove_member("ann")
    assert router.stats()["members"] == 2
    assert fakes.publishers["ann"].closed and fakes.subscribers["ann"].closed
    assert ann_cam.closed and ann_mic.closed and not bob_cam.closed
    assert router.stats()["producers"] == 1
    assert [c.close_reason for c in others] == [CloseReason.PRODUCER_CLOSED] * 4
    assert own.close_reason is CloseReason.TRANSPORT_CLOSED
    assert consumed(fakes, "bob") == set() and consumed(fakes, "cat") == {bob_cam.id}
    assert bob_cam.consumers == []  # cat's consumer is not active: its slot never got a send path


async def test_removing_an_unknown_member_does_nothing(router: Router) -> None:
    router.add_member("ann")
    await router.remove_member("nobody")
    assert router.stats()["members"] == 1


async def test_a_member_cannot_join_twice(router: Router) -> None:
    router.add_member("ann")
    with pytest.raises(MediaError) as info:
        router.add_member("ann")
    assert (info.value.code, info.value.message) == ("already-joined", "this participant is already in the router")


async def test_publishing_hands_signaling_plain_track_descriptions(router: Router, fakes: FakeTransports) -> None:
    router.add_member("ann")
    result = await router.publish("ann", "offer-1", {"0": "camera", "1": "microphone"})
    cam, mic = fakes.publishers["ann"].producers["0"], fakes.publishers["ann"].producers["1"]
    assert result == PublishResult("answer to offer-1", [TrackInfo(cam.id, "ann", "video", "camera"),
                                                         TrackInfo(mic.id, "ann", "audio", "microphone")], [])
    result = await router.publish("ann", "offer-2", {"1": "microphone"})
    assert (result.started, result.ended) == ([], [TrackInfo(cam.id, "ann", "video", "camera")])
    assert cam.closed and router.stats()["producers"] == 1
    assert router.unpublish("ann", mic.id) == TrackInfo(mic.id, "ann", "audio", "microphone")


async def test_publishing_before_joining_is_refused(router: Router) -> None:
    with pytest.raises(MediaError) as info:
        await router.publish("nobody", "offer", {"0": "camera"})
    assert info.value.code == "not-joined"


async def test_unpublishing_someone_elses_track_is_refused(router: Router, fakes: FakeTransports) -> None:
    router.add_member("ann")
    router.add_member("bob")
    ann_cam = await add_track(router, fakes, "ann")
    for owner, track in (("bob", ann_cam.id), ("ann", "t-unknown"), ("ann", 7)):
        with pytest.raises(MediaError) as info:
            router.unpublish(owner, track)  # type: ignore[arg-type]
        assert (info.value.code, info.value.message) == ("invalid-track", "no such track of yours")
    assert ann_cam.closed is False


async def test_unpublishing_closes_the_consumers_of_the_track(router: Router, fakes: FakeTransports) -> None:
    router.add_member("ann")
    router.add_member("bob")
    ann_cam = await add_track(router, fakes, "ann")
    consumer = consumers_of(fakes, "bob")[ann_cam.id]
    assert router.unpublish("ann", ann_cam.id) == ann_cam.info()
    assert ann_cam.closed and consumer.close_reason is CloseReason.PRODUCER_CLOSED
    assert consumed(fakes, "bob") == set() and router.stats()["producers"] == 0
    assert fakes.publishers["ann"].producers == {}


async def test_set_paused_reaches_the_producer(router: Router, fakes: FakeTransports) -> None:
    router.add_member("ann")
    ann_mic = await add_track(router, fakes, "ann", kind="audio")
    assert router.set_paused("ann", ann_mic.id, True) is None  # type: ignore[func-returns-value]
    assert ann_mic.paused is True


async def test_the_active_speaker_is_only_chosen_among_members_who_may_send(
    router: Router, fakes: FakeTransports, listener: FakeListener
) -> None:
    router.add_member("ann", sending=False)
    router.add_member("bob")
    ann_mic = await add_track(router, fakes, "ann", kind="audio")
    bob_mic = await add_track(router, fakes, "bob", kind="audio")
    for _ in range(2):
        ann_mic.level_sum, ann_mic.level_count = 120 * 5, 5
        bob_mic.level_sum, bob_mic.level_count = 90 * 5, 5
        router.tick_speakers()
    assert listener.speakers == ["bob"]
    assert (ann_mic.level_sum, ann_mic.level_count) == (0, 0)


async def test_close_closes_every_member_and_is_idempotent(router: Router, fakes: FakeTransports) -> None:
    router.add_member("ann")
    router.add_member("bob")
    ann_cam = await add_track(router, fakes, "ann")
    await router.close()
    await router.close()
    assert (router.stats()["members"], router.stats()["producers"]) == (0, 0) and ann_cam.closed
    assert fakes.publishers["ann"].closed and fakes.subscribers["bob"].closed
    assert router.stats()["drops"] == {}
    assert set(router.drops) == set(DropReason)


async def test_slots_are_only_shared_by_the_same_codec(router: Router, fakes: FakeTransports) -> None:
    router.add_member("ann")
    router.add_member("bob")
    await add_track(router, fakes, "ann", kind="video")
    await add_track(router, fakes, "ann", kind="audio")
    slots: list[Slot] = fakes.subscribers["bob"].slots
    assert sorted(s.codec_key for s in slots) == [("audio", "audio/opus", ""), ("video", "video/vp8", "")]


async def test_the_router_satisfies_the_api_signaling_uses(router: Router) -> None:
    api: RouterApi = router
    assert api.id == "room-1"


# -- moving members between Routers (breakouts) ----------------------------------------------------


def vp8(producer: Producer, seq: int, key: bool) -> bytes:
    return HEADER.pack(0x80, 96, seq, seq * 3000, producer.ssrc or 0) + b"\x10" + (b"\x00" if key else b"\x01")


@pytest.fixture
async def breakout(fakes: FakeTransports, listener: FakeListener) -> AsyncIterator[Router]:
    router = Router("room-1/a", SETTINGS, listener, fakes)
    try:
        yield router
    finally:
        await router.close()


async def test_a_moved_member_stops_everything_in_the_old_router_before_the_new_one_routes(
    router: Router, breakout: Router, fakes: FakeTransports, clock: Clock
) -> None:
    for pid in ("ann", "bob"):
        router.add_member(pid)
    breakout.add_member("cat")
    ann_cam = await add_track(router, fakes, "ann")
    bob_cam = await add_track(router, fakes, "bob")
    cat_cam = await add_track(breakout, fakes, "cat")
    bob_sees_ann = consumers_of(fakes, "bob")[ann_cam.id]
    ann_sees_bob = consumers_of(fakes, "ann")[bob_cam.id]
    offers = len(fakes.publishers["ann"].offers)
    clock.now += 1
    pli_before = ann_cam.keyframe_requests
    router.move_member("ann", breakout)
    assert bob_sees_ann.close_reason is CloseReason.PRODUCER_CLOSED
    assert ann_sees_bob.close_reason is CloseReason.NOT_PERMITTED
    assert consumed(fakes, "bob") == set() and consumed(fakes, "ann") == {cat_cam.id}
    assert consumed(fakes, "cat") == {ann_cam.id}
    assert not ann_cam.closed and len(fakes.publishers["ann"].offers) == offers  # no renegotiation
    assert ann_cam.keyframe_requests == pli_before  # no viewer yet: nothing to ask for
    await fakes.subscribers["cat"].offer()
    fakes.subscribers["cat"].connect()  # cat's viewer starts: it asks for the key frame it starts from
    assert ann_cam.keyframe_requests == pli_before + 1
    assert fakes.publishers["ann"].rtcp[-1] == build_pli(1, ann_cam.ssrc or 0)
    assert (router.stats()["members"], router.stats()["producers"]) == (1, 1)
    assert (breakout.stats()["members"], breakout.stats()["producers"]) == (2, 2)
    # Packets now reach the breakout only.
    fakes.subscribers["cat"].connect()
    bob_path = fakes.subscribers["bob"].connect()
    ann_cam.receive(vp8(ann_cam, 1, key=True))
    assert bob_path.sent == []
    assert fakes.subscribers["cat"].path is not None and len(fakes.subscribers["cat"].path.sent) == 1


async def test_a_moved_members_later_requests_go_to_the_router_it_is_in_now(
    router: Router, breakout: Router, fakes: FakeTransports, listener: FakeListener
) -> None:
    router.add_member("ann")
    router.add_member("bob")
    await add_track(router, fakes, "bob")
    router.move_member("ann", breakout)
    fakes.subscribers["ann"].fail()
    assert listener.failures == [("ann", "media-failed")]
    with pytest.raises(MediaError):
        router.set_paused("ann", "t-any", True)
    result = await breakout.publish("ann", "offer", {"0": "camera"})
    assert [t.owner_id for t in result.started] == ["ann"] and router.stats()["producers"] == 1


async def test_moving_to_a_router_that_has_the_member_is_refused_and_leaves_it_in_place(
    router: Router, breakout: Router, fakes: FakeTransports
) -> None:
    router.add_member("ann")
    router.add_member("bob")
    breakout.add_member("ann")
    ann_cam = await add_track(router, fakes, "ann")
    with pytest.raises(MediaError) as info:
        router.move_member("ann", breakout)
    assert info.value.code == "already-joined"
    assert consumed(fakes, "bob") == {ann_cam.id}


async def test_moving_a_member_to_its_own_router_changes_nothing(router: Router, fakes: FakeTransports) -> None:
    router.add_member("ann")
    router.add_member("bob")
    ann_cam = await add_track(router, fakes, "ann")
    consumer = consumers_of(fakes, "bob")[ann_cam.id]
    router.move_member("ann", router)
    assert consumers_of(fakes, "bob")[ann_cam.id] is consumer and not consumer.closed


async def test_moving_an_unknown_member_is_refused(router: Router, breakout: Router) -> None:
    with pytest.raises(MediaError) as info:
        router.move_member("nobody", breakout)
    assert info.value.code == "not-joined"



async def test_a_publisher_whose_packets_keep_raising_is_failed_once(
    router: Router, fakes: FakeTransports, listener: FakeListener
) -> None:
    from media.transport import MAX_PATH_FAILURES

    router.add_member("ann")
    router.add_member("bob")
    producer = await add_track(router, fakes, "ann")
    producer.failures = MAX_PATH_FAILURES - 1
    router.tick_limits(0.3)
    assert listener.failures == []
    producer.failures += 1
    router.tick_limits(0.3)
    router.tick_limits(0.3)
    assert listener.failures == [("ann", "media-error")]


async def test_the_router_timer_refills_the_publishers_buckets(router: Router, fakes: FakeTransports) -> None:
    router.add_member("ann")
    producer = await add_track(router, fakes, "ann")
    producer.packets_left = producer.bytes_left = 0
    router.tick_limits(0.5)
    assert producer.packets_left == 750
    assert producer.bytes_left == 2 * router.settings.max_bitrate // 8 // 2


async def test_member_quality_reads_each_members_own_links(router: Router, fakes: FakeTransports) -> None:
    for pid in ("ann", "bob"):
        router.add_member(pid)
    ann_cam = await add_track(router, fakes, "ann")
    ann_mic = await add_track(router, fakes, "ann", kind="audio")
    assert router.member_quality("nobody") is None
    assert router.member_quality("bob") == LinkQuality(loss_in=-1.0, loss_out=-1.0, rtt=-1.0, bitrate_in=-1)
    # ann's tracks: what came in, as the Router's timer measures it; our receiver reports' loss.
    for producer, octets in ((ann_cam, 0), (ann_mic, 0)):
        producer.octets_in = octets
        producer.measure_bitrate(100.0)
    ann_cam.octets_in, ann_mic.octets_in = 125_000, 4_000
    ann_cam.measure_bitrate(101.0)
    ann_mic.measure_bitrate(101.0)
    # Her link lost 30 % of her camera's packets at first, but after the repair only 2 % were missing: her
    # link is rated by the 30 %. What the server could not forward (2 %) is no one else's loss.
    ann_cam.link_loss, ann_mic.link_loss = 0.3, 0.25
    ann_cam.loss, ann_mic.loss = 0.02, 0.25
    # bob's receiver reports about the copy of ann's camera sent to him.
    slot = consumers_of(fakes, "bob")[ann_cam.id].slot
    slot.loss, slot.rtt = 0.1, 0.08
    assert router.member_quality("ann") == LinkQuality(loss_in=0.3, loss_out=-1.0, rtt=-1.0, bitrate_in=1_032_000)
    # Of the 10 % bob lost, 2 % never reached the server (ann's uplink): 8 % is his own link's.
    assert router.member_quality("bob") == LinkQuality(loss_in=-1.0, loss_out=pytest.approx(0.08), rtt=0.08,
                                                       bitrate_in=-1)
    # Hearing ann's 25 %-lossy microphone with 26 % lost, bob's own link lost 1 %: the least is his own.
    consumers_of(fakes, "bob")[ann_mic.id].slot.loss = 0.26
    assert router.member_quality("bob").loss_out == pytest.approx(0.01)


async def ann_seen_by_bob(router: Router, fakes: FakeTransports) -> tuple[Producer, Producer]:
    """Ann joins with her camera and microphone, Bob joins and his subscribe connection is up."""
    router.add_member("ann")
    router.add_member("bob")
    cam = await add_track(router, fakes, "ann")
    mic = await add_track(router, fakes, "ann", kind="audio")
    await fakes.subscribers["bob"].offer()
    fakes.subscribers["bob"].connect()
    return cam, mic


# -- audio first (media/allocation.py) -------------------------------------------------------------------


async def test_a_subscriber_whose_link_is_short_loses_video_never_audio_and_gets_it_back(
    router: Router, fakes: FakeTransports, listener: FakeListener
) -> None:
    cam, mic = await ann_seen_by_bob(router, fakes)
    cam.bitrate, mic.bitrate = 600_000, 40_000
    member = router.members["bob"]
    video, audio = consumers_of(fakes, "bob")[cam.id], consumers_of(fakes, "bob")[mic.id]

    def second(now: float, sent_bits: int, estimate: int) -> None:
        video.slot.sender.octets += sent_bits // 8  # what the second sent it
        video.remb = estimate
        router._allocate(member, now)

    router._allocate(member, 0.0)
    second(1.0, 640_000, 2_000_000)
    assert video.active and not video.suspended
    second(2.0, 640_000, 150_000)  # its estimate fell far below what it is sent: congested
    assert video.suspended and not video.active and cam.consumers == []
    assert audio.active and audio in mic.consumers  # audio is never cut
    assert listener.consumer_lists[-1][1][0] == {"mid": "0", "track_id": cam.id, "participant_id": "ann",
                                                 "kind": "video", "label": "camera", "paused": "bandwidth"}
    for now in range(3, 60):  # calm: the ceiling is raised step by step until the video fits again
        second(float(now), 40_000, 150_000)
        if not video.suspended:
            break
    assert not video.suspended and video in cam.consumers
    assert "paused" not in listener.consumer_lists[-1][1][0]


async def test_subscribers_are_told_how_long_a_tracks_repairs_take_and_only_for_that_track(
    router: Router, fakes: FakeTransports, listener: FakeListener
) -> None:
    router.add_member("cat")
    clear = await add_track(router, fakes, "cat")
    lossy, mic = await ann_seen_by_bob(router, fakes)
    for producer in (lossy, clear):
        producer.receive(vp8(producer, 1, key=True))
        producer.receive(vp8(producer, 2, key=False))
    lossy.receive(vp8(lossy, 4, key=False))  # 3 went missing on ann's uplink
    lossy.receive(vp8(lossy, 3, key=False))  # and came back, a frame's time late (3000 of 90,000)
    for seq in (1, 3, 2):  # her audio is repaired too, but audio buffers need no telling
        mic.receive(HEADER.pack(0x80, 96, seq, seq * 960, mic.ssrc or 0) + b"opus")
    assert mic.repair is not None and mic.repair.repaired == 1
    router._rtcp_tick()
    bobs = [listing for member, listing in listener.consumer_lists if member == "bob"]
    entries = {e["track_id"]: e for e in bobs[-1]}
    assert entries[lossy.id]["repair_ms"] == 100  # 33 ms unnoticed, the repair, 30 ms for decoding
    assert "repair_ms" not in entries[clear.id] and "repair_ms" not in entries[mic.id]
    told = len(listener.consumer_lists)
    router._rtcp_tick()
    assert len(listener.consumer_lists) == told  # unchanged: not sent again


async def test_video_waits_while_the_members_own_publish_connection_is_connecting(
    router: Router, fakes: FakeTransports, listener: FakeListener
) -> None:
    router.add_member("ann")
    router.add_member("bob")
    await add_track(router, fakes, "bob", kind="audio")
    fakes.publishers["bob"].connecting = True  # his handshake is under way, perhaps on a narrow link
    cam = await add_track(router, fakes, "ann")
    mic = await add_track(router, fakes, "ann", kind="audio")
    await fakes.subscribers["bob"].offer()
    fakes.subscribers["bob"].connect()
    video, audio = consumers_of(fakes, "bob")[cam.id], consumers_of(fakes, "bob")[mic.id]
    # Ann's video would fill his link and starve his handshake: it waits; her audio does not.
    assert audio.active and not video.active and cam.consumers == []
    router._rtcp_tick()
    assert not video.active and not video.suspended  # held, not paused: he is not told "paused"
    assert all("paused" not in e for member, listing in listener.consumer_lists if member == "bob" for e in listing)
    fakes.publishers["bob"].connecting = False  # connected (or failed: then he is removed anyway)
    router._rtcp_tick()
    assert video.active and video in cam.consumers and not router.members["bob"].held


async def test_video_already_flowing_stops_while_the_members_first_publish_connection_connects(
    router: Router, fakes: FakeTransports
) -> None:
    router.add_member("ann")
    router.add_member("bob")
    cam = await add_track(router, fakes, "ann")
    await fakes.subscribers["bob"].offer()
    fakes.subscribers["bob"].connect()
    video = consumers_of(fakes, "bob")[cam.id]
    assert video.active  # bob only watches so far: his subscribe connection came up first
    await add_track(router, fakes, "bob", kind="audio")  # now he publishes: a new connection's handshake
    fakes.publishers["bob"].connecting = True
    assert not video.active and cam.consumers == [] and not video.suspended
    router._rtcp_tick()
    assert not video.active
    fakes.publishers["bob"].connecting = False
    router._rtcp_tick()
    assert video.active and video in cam.consumers
    # A later offer on the same connection (another track) holds nothing.
    await add_track(router, fakes, "bob", kind="video")
    assert video.active


async def test_tile_sizes_are_kept_per_member_and_refused_for_strangers(router: Router, fakes: FakeTransports) -> None:
    router.add_member("ann")
    router.set_tile_heights("ann", {"t-1": 180, "t-2": 0})
    assert router.members["ann"].tile_heights == {"t-1": 180, "t-2": 0}
    with pytest.raises(MediaError):
        router.set_tile_heights("stranger", {})
