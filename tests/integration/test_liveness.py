"""A participant that goes silent or loses its media connection leaves the room, fully cleaned up."""

from __future__ import annotations

import asyncio

from tests.integration.test_call import close_all, start_call
from tests.support.peers import eventually

FAST_HEARTBEAT = "[limits]\nheartbeat_interval = \"1s\"\nheartbeat_timeout = \"3s\"\n"


async def test_a_participant_that_stops_answering_pings_is_removed(haven_factory):
    haven = await haven_factory(FAST_HEARTBEAT)
    clients, _ = await start_call(haven, names=("ana", "ben"))
    ana, ben = clients
    try:
        await eventually(lambda: ana.events_of("ping"), 5, what="a heartbeat ping")
        ben.answer_pings = False  # as if ben's network went away
        await eventually(lambda: ben.close_code is not None, 15, what="the silent participant to be closed")
        assert ben.close_code == 4408
        router = haven.sessions.live["group"].router
        await eventually(lambda: "ben" not in router.members, 5, what="ben to leave the router")
        left = await eventually(
            lambda: [e for e in ana.events_of("participant-left") if e["participant_id"] == "ben"], 5,
            what="participant-left for ben")
        assert left[0]["reason"] == "timeout"
        assert not [p for p in router.producers.values() if p.owner_id == "ben"]
    finally:
        await close_all(clients)


async def test_a_participant_whose_media_connection_closes_is_removed(haven):
    clients, _ = await start_call(haven, names=("ana", "ben"))
    ana, ben = clients
    try:
        await eventually(lambda: ana.received_from("ben", "camera") > 10, 20, what="the call to start")
        await ben.publish_pc.close()  # DTLS close_notify: the server's publish transport closes
        await eventually(lambda: ben.close_code is not None, 15, what="ben's socket to close")
        assert ben.close_code == 4410
        await eventually(lambda: "ben" not in haven.sessions.live["group"].router.members, 5, what="ben to leave")
    finally:
        await close_all(clients)


async def test_an_empty_room_releases_its_router_transports_and_tasks(haven):
    await asyncio.sleep(0.2)
    baseline = len(asyncio.all_tasks())
    clients, _ = await start_call(haven, names=("ana", "ben"))
    live = haven.sessions.live["group"]
    transports = [t for m in live.router.members.values() for t in (m.publish, m.subscribe) if t is not None]
    await eventually(lambda: clients[0].received_from("ben", "camera") > 5, 20, what="the call to start")
    for client in clients:
        await client.request("leave")
    await eventually(lambda: "group" not in haven.sessions.live, 5, what="the room to close")
    assert live.router.closed and live.router._timer.done()
    await eventually(lambda: all(t.pc.connectionState == "closed" for t in transports), 5,
                     what="every server-side peer connection to close")
    await close_all(clients)
    # Every task the call started (sessions, negotiation, aiortc's RTP/RTCP loops) has ended.
    await eventually(lambda: len(asyncio.all_tasks()) <= baseline, 10,
                     what=f"tasks to return to {baseline} (now {len(asyncio.all_tasks())})")
