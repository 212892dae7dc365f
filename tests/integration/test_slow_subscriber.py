"""A subscriber that loses packets or stops reading cannot disturb what the others receive."""

from __future__ import annotations

import asyncio
import random

from media import adapter
from media.reasons import DropReason
from tests.integration.test_breakouts import count_from, publish_tagged
from tests.support.client import connect
from tests.support.peers import eventually


async def test_a_lossy_and_a_dead_subscriber_do_not_change_what_a_healthy_one_receives(haven_each_path):
    haven = haven_each_path
    publisher = await connect(haven, "pub", "host")
    healthy = await connect(haven, "good")
    lossy = await connect(haven, "lossy")
    dead = await connect(haven, "dead")
    clients = [publisher, healthy, lossy, dead]
    try:
        await publish_tagged(publisher)
        await eventually(lambda: all(count_from(c, "pub") > 30 for c in (healthy, lossy, dead)), 20,
                         what="everyone to receive the publisher")
        # The lossy subscriber's network drops 30 % of what reaches it.
        rng = random.Random(7)
        original = lossy.counter.on_rtp
        lossy.counter.on_rtp = lambda p: None if rng.random() < 0.3 else original(p)
        adapter.hook_dtls(adapter.dtls_transport(lossy.subscribe_pc), lossy.counter.on_rtp, lambda data: None)
        # The dead subscriber stops reading its socket altogether.
        for protocol in adapter.dtls_transport(dead.subscribe_pc).transport._connection._protocols:
            protocol.datagram_received = lambda data, addr: None

        video = publisher.publish_pc.getTransceivers()[0].sender.track
        audio = publisher.publish_pc.getTransceivers()[1].sender.track
        sent_before = video.frames_sent + audio.sent
        got_before = count_from(healthy, "pub")
        await asyncio.sleep(4)
        sent = video.frames_sent + audio.sent - sent_before
        got = count_from(healthy, "pub") - got_before
        # Every frame and audio packet is one tagged RTP packet here; allow for packets in flight.
        assert got >= sent - 10, f"the healthy subscriber got {got} of {sent} packets"
        router = haven.sessions.live["group"].router
        assert router.drops[DropReason.HOOK_ERROR] == 0
        assert "dead" in router.members and "lossy" in router.members
    finally:
        for client in clients:
            await client.close()
