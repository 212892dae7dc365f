"""Tests for media.router policy without sockets: who gets a Consumer of whom, and what closes when.

Producers are handed to the Router the way ``Router.publish`` does after a negotiation (no publish
connection is made: that would gather ICE candidates). Subscribe connections are real
RTCPeerConnections that never negotiate: ``request_negotiation`` is replaced by a recorder, and slots
get a fake send path the way a connected transport would attach one.
"""

from __future__ import annotations

import pytest

from media.consumer import Slot
from media.errors import MediaError
from media.producer import Producer
from media.reasons import CloseReason, DropReason
from media.router import MediaSettings, Router
from media.transport import SubscribeTransport


class FakeListener:
    """Records what the Router tells signaling."""

    def __init__(self) -> None:
        self.consumer_lists: list[tuple[str, list[dict]]] = []
        self.offers: list[tuple[str, int]] = []
        self.failures: list[tuple[str, str]] = []
        self.speakers: list[str | None] = []

    def consumers_changed(self, participant_id: str, consumers: list[dict]) -> None:
        self.consumer_lists.append((participant_id, consumers))

    def subscriber_offer(self, participant_id: str, revision: int, sdp: str) -> None:
        self.offers.append((participant_id, revision))

    def media_failed(self, participant_id: str, reason: str) -> None:
        self.failures.append((participant_id, reason))

    def active_speaker(self, router_id: str, participant_id: str | None) -> None:
        self.speakers.append(participant_id)


class FakeSendPath:
    def __init__(self) -> None:
        self.addr = ("198.51.100.7", 40000)
        self.sent: list[bytes] = []

    def protect(self, data: bytes) -> bytes:
        return data

    def protect_rtcp(self, data: bytes) -> bytes:
        return data

    def sendto(self, data: bytes, addr: tuple[str, int]) -> None:
        self.sent.append(data)

    def buffer_size(self) -> int:
        return 0


@pytest.fixture
def negotiations(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Replace subscribe renegotiation (which would gather ICE candidates) by a record of who needed one."""
    asked: list[str] = []
    monkeypatch.setattr(SubscribeTransport, "request_negotiation", lambda self: asked.append(self.owner_id))
    return asked


@pytest.fixture
async def router(negotiations: list[str]):
    router = Router("room-1", MediaSettings(), FakeListener())
    try:
        yield router
    finally:
        await router.close()


def add_track(router: Router, owner: str, kind: str = "video", label: str | None = None, n: int = 1) -> Producer:
    """Hand the Router a producer as ``Router.publish`` does once the publish offer is applied."""
    producer = Producer(
        producer_id=f"t-{owner}-{kind}-{n}", owner_id=owner, kind=kind,
        label=label or ("camera" if kind == "video" else "microphone"),
        mime_type="video/VP8" if kind == "video" else "audio/opus", clock_rate=90000 if kind == "video" else 48000,
        extension_ids={}, rtcp_ssrc=1, send_rtcp=lambda data: True, drops=router.drops, ssrc=1000 + n, payload_type=96,
    )
    router.producers[producer.id] = producer
    router._update_all()
    return producer


def consumed(router: Router, member: str) -> set[str]:
    """Return the ids of the producers a member has a Consumer of."""
    return set(router.members[member].consumers)


def connect(router: Router, member: str) -> FakeSendPath:
    """Attach a send path to every slot of a member, as its connected subscribe transport would."""
    path = FakeSendPath()
    transport = router.members[member].subscribe
    for slot in transport.slots:
        slot.attach_send_path(path, 96)
    transport._on_ready()
    return path


async def test_members_receive_each_others_tracks_but_not_their_own(router: Router) -> None:
    for pid in ("ann", "bob", "cat"):
        router.add_member(pid)
    ann_cam = add_track(router, "ann")
    bob_mic = add_track(router, "bob", kind="audio")
    assert consumed(router, "ann") == {bob_mic.id}
    assert consumed(router, "bob") == {ann_cam.id}
    assert consumed(router, "cat") == {ann_cam.id, bob_mic.id}
    assert router.stats()["consumers"] == 4


async def test_a_member_who_joins_later_receives_existing_tracks(router: Router, negotiations: list[str]) -> None:
    router.add_member("ann")
    ann_cam = add_track(router, "ann")
    router.add_member("bob")
    assert consumed(router, "bob") == {ann_cam.id}
    assert negotiations == ["bob"]


async def test_a_member_who_may_not_send_reaches_no_one(router: Router) -> None:
    router.add_member("therapist")
    router.add_member("waiting", sending=False)
    add_track(router, "waiting")
    therapist_cam = add_track(router, "therapist")
    assert consumed(router, "therapist") == set()
    assert consumed(router, "waiting") == {therapist_cam.id}


async def test_a_member_who_may_not_receive_gets_no_consumers_and_no_connection(router: Router) -> None:
    router.add_member("therapist")
    router.add_member("waiting", receiving=False)
    add_track(router, "therapist")
    assert consumed(router, "waiting") == set()
    assert router.members["waiting"].subscribe is None


async def test_a_waiting_member_neither_sends_nor_receives(router: Router) -> None:
    router.add_member("therapist")
    router.add_member("waiting", sending=False, receiving=False)
    add_track(router, "therapist")
    add_track(router, "waiting")
    assert consumed(router, "therapist") == set() and consumed(router, "waiting") == set()


async def test_admitting_a_member_starts_its_media_both_ways(router: Router) -> None:
    router.add_member("therapist")
    router.add_member("client", sending=False, receiving=False)
    therapist_cam = add_track(router, "therapist")
    client_cam = add_track(router, "client")
    router.set_member_media("client", sending=True, receiving=True)
    assert consumed(router, "therapist") == {client_cam.id}
    assert consumed(router, "client") == {therapist_cam.id}


async def test_revoking_sending_tears_down_the_others_consumers_of_that_member(router: Router) -> None:
    router.add_member("therapist")
    router.add_member("client")
    client_cam = add_track(router, "client")
    connect(router, "therapist")
    consumer = router.members["therapist"].consumers[client_cam.id]
    assert client_cam.consumers == [consumer]
    router.set_member_media("client", sending=False, receiving=True)
    assert consumed(router, "therapist") == set()
    assert consumer.close_reason is CloseReason.NOT_PERMITTED
    assert client_cam.consumers == [] and consumer.slot.consumer is None
    assert client_cam.closed is False


async def test_revoking_receiving_tears_down_the_members_own_consumers(router: Router) -> None:
    router.add_member("therapist")
    router.add_member("client")
    therapist_cam = add_track(router, "therapist")
    consumer = router.members["client"].consumers[therapist_cam.id]
    router.set_member_media("client", sending=True, receiving=False)
    assert consumed(router, "client") == set()
    assert consumer.close_reason is CloseReason.NOT_PERMITTED


async def test_setting_the_same_media_policy_again_changes_nothing(router: Router) -> None:
    router.add_member("therapist")
    router.add_member("client")
    therapist_cam = add_track(router, "therapist")
    consumer = router.members["client"].consumers[therapist_cam.id]
    router.set_member_media("client", sending=True, receiving=True)
    assert router.members["client"].consumers[therapist_cam.id] is consumer and not consumer.closed


async def test_a_new_consumer_reuses_a_free_slot_of_the_same_codec_without_renegotiating(
    router: Router, negotiations: list[str]
) -> None:
    router.add_member("therapist")
    router.add_member("client")
    first = add_track(router, "therapist", n=1)
    [slot] = router.members["client"].subscribe.slots
    router.set_member_media("therapist", sending=False, receiving=True)
    router.set_member_media("therapist", sending=True, receiving=True)
    assert router.members["client"].subscribe.slots == [slot]
    assert slot.consumer is router.members["client"].consumers[first.id]
    add_track(router, "therapist", kind="audio", n=2)
    assert [s.kind for s in router.members["client"].subscribe.slots] == ["video", "audio"]
    assert negotiations == ["client", "client"]


async def test_consumers_become_active_when_their_slots_get_a_send_path(router: Router) -> None:
    router.add_member("therapist")
    router.add_member("client")
    therapist_cam = add_track(router, "therapist")
    consumer = router.members["client"].consumers[therapist_cam.id]
    assert therapist_cam.consumers == [] and consumer.active is False
    connect(router, "client")
    assert therapist_cam.consumers == [consumer] and consumer.active is True


async def test_removing_a_member_closes_its_producers_and_the_others_consumers_of_them(router: Router) -> None:
    for pid in ("ann", "bob", "cat"):
        router.add_member(pid)
    ann_cam = add_track(router, "ann", n=1)
    ann_mic = add_track(router, "ann", kind="audio", n=2)
    bob_cam = add_track(router, "bob", n=3)
    others = [router.members[m].consumers[p.id] for m in ("bob", "cat") for p in (ann_cam, ann_mic)]
    own = router.members["ann"].consumers[bob_cam.id]
    await router.remove_member("ann")
    assert "ann" not in router.members
    assert ann_cam.closed and ann_mic.closed and not bob_cam.closed
    assert set(router.producers) == {bob_cam.id}
    assert [c.close_reason for c in others] == [CloseReason.PRODUCER_CLOSED] * 4
    assert own.close_reason is CloseReason.TRANSPORT_CLOSED
    assert consumed(router, "bob") == set() and consumed(router, "cat") == {bob_cam.id}
    assert bob_cam.consumers == []  # cat's consumer is not active: its slot never got a send path


async def test_removing_an_unknown_member_does_nothing(router: Router) -> None:
    router.add_member("ann")
    await router.remove_member("nobody")
    assert list(router.members) == ["ann"]


async def test_a_member_cannot_join_twice(router: Router) -> None:
    router.add_member("ann")
    with pytest.raises(MediaError) as info:
        router.add_member("ann")
    assert (info.value.code, info.value.message) == ("already-joined", "this participant is already in the router")


async def test_unpublishing_someone_elses_track_is_refused(router: Router) -> None:
    router.add_member("ann")
    router.add_member("bob")
    ann_cam = add_track(router, "ann")
    for owner, track in (("bob", ann_cam.id), ("ann", "t-unknown"), ("ann", 7)):
        with pytest.raises(MediaError) as info:
            router.unpublish(owner, track)
        assert (info.value.code, info.value.message) == ("invalid-track", "no such track of yours")
    assert ann_cam.closed is False


async def test_unpublishing_closes_the_consumers_of_the_track(router: Router) -> None:
    router.add_member("ann")
    router.add_member("bob")
    ann_cam = add_track(router, "ann")
    consumer = router.members["bob"].consumers[ann_cam.id]
    assert router.unpublish("ann", ann_cam.id) is ann_cam
    assert ann_cam.closed and consumer.close_reason is CloseReason.PRODUCER_CLOSED
    assert consumed(router, "bob") == set() and router.producers == {}


async def test_set_paused_reaches_the_producer(router: Router) -> None:
    router.add_member("ann")
    ann_mic = add_track(router, "ann", kind="audio")
    assert router.set_paused("ann", ann_mic.id, True) is ann_mic and ann_mic.paused is True


async def test_the_active_speaker_is_only_chosen_among_members_who_may_send(router: Router) -> None:
    router.add_member("ann", sending=False)
    router.add_member("bob")
    ann_mic = add_track(router, "ann", kind="audio", n=1)
    bob_mic = add_track(router, "bob", kind="audio", n=2)
    for _ in range(2):
        ann_mic.level_sum, ann_mic.level_count = 120 * 5, 5
        bob_mic.level_sum, bob_mic.level_count = 90 * 5, 5
        router._speaker_tick()
    assert router.listener.speakers == ["bob"]
    assert (ann_mic.level_sum, ann_mic.level_count) == (0, 0)


async def test_close_closes_every_member_and_is_idempotent(router: Router) -> None:
    router.add_member("ann")
    router.add_member("bob")
    ann_cam = add_track(router, "ann")
    await router.close()
    await router.close()
    assert router.members == {} and router.producers == {} and ann_cam.closed
    assert router.stats()["drops"] == {}
    assert set(router.drops) == set(DropReason)


async def test_slots_are_only_shared_by_the_same_codec(router: Router) -> None:
    router.add_member("ann")
    router.add_member("bob")
    add_track(router, "ann", kind="video", n=1)
    add_track(router, "ann", kind="audio", n=2)
    slots: list[Slot] = router.members["bob"].subscribe.slots
    assert sorted(s.codec_key for s in slots) == [("audio", "audio/opus", ""), ("video", "video/vp8", "")]
