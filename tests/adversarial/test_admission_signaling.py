"""Signaling gaps a hostile peer could use (issue 13): a banned peer's socket stays open, role changes
leak across breakouts, a waiting-room flood keeps a co-therapist out, a resuming co-host loses the role,
and a peer that stops reading keeps its place forever."""

from __future__ import annotations

import asyncio
import socket

from server.app import CONNECTIONS
from tests.support.client import ProtocolClient, ServerError, connect
from tests.support.peers import eventually

WAITING_ROOM = "[session]\nwaiting_room = true\n"


async def close_all(*clients: ProtocolClient) -> None:
    for client in clients:
        await client.close()


async def test_a_banned_participant_is_refused_and_the_socket_closes_4403(haven):
    host = await connect(haven, "rivera", "host")
    ana = await connect(haven, "ana")
    again = ProtocolClient(haven.base_url, haven.token(name="Ana", sub="ana"), name="ana")
    try:
        await host.request("remove", participant_id="ana", ban=True)
        await eventually(lambda: ana.close_code is not None, 5, what="ana to be closed")
        try:
            await again.connect()
        except ServerError as refused:
            assert refused.code == "banned"
        else:
            raise AssertionError("a banned participant joined")
        await eventually(lambda: again.close_code is not None, 5, what="the socket to close after banned")
        assert again.close_code == 4403
    finally:
        await close_all(host, ana, again)


async def test_role_changed_does_not_cross_breakouts_but_reaches_every_host(haven):
    host = await connect(haven, "rivera", "host")
    members = {name: await connect(haven, name) for name in ("ana", "ben", "cy")}
    try:
        await host.request("breakout-create", names=["A", "B"])
        for name, room in (("ana", "A"), ("cy", "A"), ("ben", "B")):
            await host.request("breakout-assign", participant_id=name, room=room)
        await host.request("breakout-open")
        await host.request("breakout-visit", room="B")
        await host.request("set-role", participant_id="ana", role="cohost")
        await eventually(lambda: members["cy"].events_of("role-changed"), 5, what="cy (in A) to see the change")
        await eventually(lambda: host.events_of("role-changed"), 5, what="the host (in B) to see the change")
        await asyncio.sleep(0.3)
        assert members["ben"].events_of("role-changed") == [], "role-changed reached another breakout"
    finally:
        await close_all(host, *members.values())


async def test_a_flood_of_waiting_joins_keeps_no_co_therapist_out(haven_factory):
    haven = await haven_factory(WAITING_ROOM + "[limits]\nmax_participants_per_room = 3\n")
    host = await connect(haven, "rivera", "host")
    flood = []
    try:
        for n in range(3):
            flood.append(await connect(haven, f"flood{n}"))
            assert flood[-1].joined["state"] == "waiting"
        extra = ProtocolClient(haven.base_url, haven.token(name="Flood", sub="flood3"), name="flood3")
        flood.append(extra)
        try:
            await extra.connect()
        except ServerError as refused:
            assert refused.code == "room-full"  # the waiting room has a cap of its own
        else:
            raise AssertionError("the waiting room took more than its cap")
        cotherapist = await connect(haven, "lee", "host")
        flood.append(cotherapist)
        assert cotherapist.joined["state"] == "admitted", "waiting joins kept the co-therapist out"
        await host.request("admit", participant_id="flood0")
    finally:
        await close_all(host, *flood)


async def test_a_co_host_who_resumes_from_a_breakout_keeps_role_and_breakout(haven):
    host = await connect(haven, "rivera", "host")
    ana = await connect(haven, "ana")
    ben = await connect(haven, "ben")
    try:
        await host.request("set-role", participant_id="ana", role="cohost")
        await host.request("breakout-create", names=["A"])
        await host.request("breakout-assign", participant_id="ana", room="A")
        await host.request("breakout-open")
        await eventually(lambda: ana.events_of("moved"), 5, what="ana to move to A")
        joined = await ana.reconnect()
        assert joined["self"]["role"] == "cohost", "the co-host came back as a participant"
        assert joined["room"]["location"] == "A", "the co-host came back to the main room"
        await ana.request("admit-all")  # host requests still work
    finally:
        await close_all(host, ana, ben)


async def test_a_participant_that_stops_reading_is_dropped_from_roster_and_attendance(haven_factory):
    haven = await haven_factory('[limits]\nmessages_per_second = 1000\nmessage_burst = 10000\n')
    host = await connect(haven, "rivera", "host")
    deaf = await connect(haven, "deaf")
    try:
        transport = deaf.ws._response.connection.transport  # type: ignore[union-attr]
        transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        transport.pause_reading()  # the peer reads nothing more: the server's writes back up
        text = "x" * 990
        live = haven.sessions.live["group"]
        for n in range(40000):  # bounded: about 40 MB, far beyond any socket buffer
            await host.send_json({"type": "chat", "id": f"c{n}", "to": "room", "text": text})
            if n % 200 == 199:
                await asyncio.sleep(0.02)
                if "deaf" not in live.room.participants:
                    break
        print("chats sent", n)
        await eventually(lambda: "deaf" not in live.room.participants, 15,
                         what="the participant that stopped reading to leave the roster")
        left = await eventually(lambda: [e for e in host.events_of("participant-left")
                                         if e["participant_id"] == "deaf"], 5, what="participant-left for deaf")
        assert left
        # The server stopped serving the socket: its handler returned instead of hanging in the close.
        await eventually(lambda: not [c for c in haven.app[CONNECTIONS] if c.participant_id == "deaf"], 10,
                         what="the server to let go of the socket")
    finally:
        await close_all(host, deaf)
