"""Breakout rooms and screen sharing: media isolation proven packet by packet with publisher tags."""

from __future__ import annotations

import asyncio

import pytest

from server.app import STORAGE
from tests.support.client import ProtocolClient, ServerError, connect
from tests.support.peers import TaggedAudioTrack, TaggedVideoTrack, eventually

MEMBERS = ("p1", "p2", "p3", "p4")


async def publish_tagged(client: ProtocolClient) -> None:
    client.published = await client.publish({"camera": TaggedVideoTrack(client.name),
                                             "microphone": TaggedAudioTrack(client.name)})


def assert_phases(client: ProtocolClient, phases: list[set[str]]) -> None:
    """Every tagged packet the client received fits the phases, in order, with no going back.

    A packet from a source not allowed in the current phase moves to the next phase that allows it; a
    packet that fits no later phase is a leak, and a packet of an earlier phase after a later one means
    the client received from two places at once.
    """
    phase = 0
    for index, tag in enumerate(client.counter.tags):
        while tag not in phases[phase]:
            phase += 1
            if phase == len(phases):
                raise AssertionError(f"{client.name} received a packet of {tag} (#{index}) outside its rooms: "
                                     f"phases {phases}")


def count_from(client: ProtocolClient, tag: str, since: int = 0) -> int:
    return client.counter.tags[since:].count(tag)


async def test_breakout_members_receive_only_their_own_room_through_moves_visits_and_the_timer(haven_each_path):
    haven = haven_each_path
    host = await connect(haven, "host", "host")
    members = {name: await connect(haven, name) for name in MEMBERS}
    everyone = [host, *members.values()]
    p1, p2, p3, p4 = (members[n] for n in MEMBERS)
    try:
        for client in everyone:
            await publish_tagged(client)
        await eventually(lambda: all(count_from(c, o.name) > 10 for c in everyone for o in everyone if o is not c),
                         20, what="everyone to receive everyone in the main room")

        await host.request("breakout-create", names=["A", "B"])
        for name, room in (("p1", "A"), ("p2", "A"), ("p3", "B"), ("p4", "B")):
            await host.request("breakout-assign", participant_id=name, room=room)
        await host.request("breakout-open", minutes=0.25)
        for client, room in ((p1, "A"), (p2, "A"), (p3, "B"), (p4, "B")):
            await eventually(lambda c=client: c.events_of("moved"), 5, what=f"{client.name} to move")
            assert client.events_of("moved")[-1]["location"] == room
        assert {p["id"] for p in p2.events_of("moved")[-1]["participants"]} == {"p1"}

        marks = {c.name: len(c.counter.tags) for c in everyone}
        await eventually(lambda: count_from(p1, "p2", marks["p1"]) > 20 and count_from(p3, "p4", marks["p3"]) > 20,
                         10, what="media inside the breakouts")
        await asyncio.sleep(1.0)
        assert set(p1.counter.tags[marks["p1"] + 200:]) <= {"p2"}

        # A move while open: p2 goes from A to B.
        await host.request("breakout-assign", participant_id="p2", room="B")
        await eventually(lambda: p2.events_of("moved")[-1]["location"] == "B", 5, what="p2 to move to B")
        marks = {c.name: len(c.counter.tags) for c in everyone}
        await eventually(lambda: count_from(p2, "p3", marks["p2"]) > 20 and count_from(p3, "p2", marks["p3"]) > 20,
                         10, what="p2 and p3 to hear each other in B")

        # The therapist visits A and is visible there.
        await host.request("breakout-visit", room="A")
        await eventually(lambda: [e for e in p1.events_of("participant-joined") if e["participant"]["id"] == "host"],
                         5, what="p1 to see the therapist arrive")
        marks = {c.name: len(c.counter.tags) for c in everyone}
        await eventually(lambda: count_from(p1, "host", marks["p1"]) > 20, 10, what="p1 to receive the host in A")
        await host.request("breakout-visit", room=None)

        # The timer (15 s) brings everyone back.
        await eventually(lambda: all(c.events_of("breakout-warning") for c in (p1, p3)), 20, what="the warning")
        await eventually(lambda: all(c.events_of("moved") and c.events_of("moved")[-1]["location"] == "main"
                                     for c in members.values()), 30, what="the timer to bring everyone back")
        marks = {c.name: len(c.counter.tags) for c in everyone}
        await eventually(lambda: all(count_from(c, o.name, marks[c.name]) > 10
                                     for c in everyone for o in everyone if o is not c),
                         15, what="everyone to receive everyone again")

        main = set(MEMBERS) | {"host"}
        assert_phases(p1, [main - {"p1"}, {"p2"}, set(), {"host"}, set(), main - {"p1"}])
        assert_phases(p2, [main - {"p2"}, {"p1"}, {"p3", "p4"}, main - {"p2"}])
        assert_phases(p3, [main - {"p3"}, {"p4"}, {"p2", "p4"}, main - {"p3"}])
        assert_phases(p4, [main - {"p4"}, {"p3"}, {"p2", "p3"}, main - {"p4"}])
        assert_phases(host, [main - {"host"}, set(), {"p1"}, set(), main - {"host"}])
        live = haven.sessions.live["group"]
        assert set(live.routers) == {"main"}, "breakout Routers were not closed"
        storage = haven.app[STORAGE]
        storage.flush()
        moves = [e for e in storage.audit_entries() if e["action"] == "breakout-move"]
        assert len(moves) >= 9, "breakout moves are audited"
    finally:
        for client in everyone:
            await client.close()


async def test_breakout_chat_speaking_and_roster_stay_inside_the_breakout(haven):
    host = await connect(haven, "host", "host")
    p1, p2, p3 = [await connect(haven, n) for n in ("p1", "p2", "p3")]
    everyone = [host, p1, p2, p3]
    try:
        await host.request("breakout-create", count=2)
        await host.request("breakout-assign", participant_id="p1", room="Room 1")
        await host.request("breakout-assign", participant_id="p2", room="Room 2")
        await host.request("breakout-open")
        await eventually(lambda: p1.events_of("moved") and p2.events_of("moved"), 5, what="the moves")
        await p1.request("chat", to="room", text="only for room 1")
        await p3.request("chat", to="room", text="main room words")
        await p2.request("ask-for-help")
        await eventually(lambda: host.events_of("help-requested"), 5, what="the help request at the host")
        assert host.events_of("help-requested")[0]["room"] == "Room 2"
        await host.request("breakout-broadcast", text="Five minutes left")
        await eventually(lambda: all(c.events_of("breakout-broadcast") for c in everyone), 5, what="the broadcast")
        await asyncio.sleep(0.3)
        assert [m["message"]["text"] for m in p1.events_of("chat-message")] == ["only for room 1"]
        assert not p2.events_of("chat-message")
        assert [m["message"]["text"] for m in p3.events_of("chat-message")] == ["main room words"]
        with pytest.raises(ServerError) as refused:
            await p1.request("breakout-choose", room="Room 2")
        assert refused.value.code == "not-permitted"
        await host.request("breakout-settings", self_select=True)
        await p1.request("breakout-choose", room="Room 2")
        await eventually(lambda: [e for e in p2.events_of("participant-joined") if e["participant"]["id"] == "p1"],
                         5, what="p2 to see p1 arrive")
        await host.request("breakout-close-all")
        await eventually(lambda: all(c.events_of("moved")[-1]["location"] == "main" for c in (p1, p2)), 5,
                         what="everyone back")
    finally:
        for client in everyone:
            await client.close()


async def test_screen_sharing_needs_permission_and_a_revoked_share_stops_reaching_anyone(haven):
    host = await connect(haven, "host", "host")
    p1 = await connect(haven, "p1")
    p2 = await connect(haven, "p2")
    everyone = [host, p1, p2]
    try:
        for client in everyone:
            await publish_tagged(client)

        async def share(client: ProtocolClient, label: str | None = "screen", **extra):
            """Renegotiate the publish connection with an extra screen m-line (as a browser would)."""
            from aiortc import RTCSessionDescription
            pc = client.publish_pc
            transceiver = pc.addTransceiver(TaggedVideoTrack(client.name + "s"), direction="sendonly")
            await pc.setLocalDescription(await pc.createOffer())
            tracks = [{"mid": t["mid"], "label": t["label"]} for t in client.published["tracks"]]
            if label:
                tracks.append({"mid": transceiver.mid, "label": label})
            data = await client.request("publish", sdp=pc.localDescription.sdp, tracks=tracks, **extra)
            await pc.setRemoteDescription(RTCSessionDescription(sdp=data["sdp"], type="answer"))
            return data

        # A modified client that labels its screen without permission is refused outright...
        with pytest.raises(ServerError) as refused:
            await share(p1)
        assert refused.value.code == "not-permitted"
        # ...and one that sends an unlabelled extra stream reaches no one.
        p2_share = await share(p2, label=None)
        assert {t["label"] for t in p2_share["tracks"]} == {"camera", "microphone"}
        await asyncio.sleep(1.5)
        assert count_from(host, "p2s") == 0 and count_from(p1, "p2s") == 0

        await host.request("allow-screen-share", participant_id="p1", allowed=True)
        p1.publish_pc = None
        await p1.close()
        p1 = await connect(haven, "p1")  # a fresh publish connection for a clean renegotiation
        everyone[1] = p1
        await publish_tagged(p1)
        await share(p1)
        await eventually(lambda: count_from(host, "p1s") > 20 and count_from(p2, "p1s") > 20, 15,
                         what="the screen share to reach everyone")
        room = host.events_of("room-state")[-1]["room"]
        assert room["screen_share"]["participant_id"] == "p1"

        await host.request("allow-screen-share", participant_id="p1", allowed=False)
        await eventually(lambda: p1.events_of("screen-share-stopped"), 5, what="p1 to be told")
        assert p1.events_of("screen-share-stopped")[0]["reason"] == "revoked"
        await asyncio.sleep(0.3)
        frozen = count_from(host, "p1s"), count_from(p2, "p1s")
        await asyncio.sleep(1.5)
        assert (count_from(host, "p1s"), count_from(p2, "p1s")) == frozen, "a revoked share kept flowing"
        assert count_from(host, "p1") > 0

        # One share per room: a second sharer must ask to replace.
        await host.request("allow-screen-share", participant_id="p1", allowed=True)
        host_share = await share(host)
        assert any(t["label"] == "screen" for t in host_share["tracks"])
        with pytest.raises(ServerError) as refused:
            await p1.request("publish", sdp=p1.publish_pc.localDescription.sdp,
                             tracks=[*({"mid": t["mid"], "label": t["label"]} for t in p1.published["tracks"]),
                                     {"mid": "9", "label": "screen"}])
        assert refused.value.code == "screen-share-active"
    finally:
        for client in everyone:
            await client.close()


async def test_a_participant_sent_from_a_breakout_to_the_waiting_room_is_cut_off_and_can_be_readmitted(haven):
    host = await connect(haven, "host", "host")
    p1, p2 = [await connect(haven, n) for n in ("p1", "p2")]
    everyone = [host, p1, p2]
    try:
        for client in everyone:
            await publish_tagged(client)
        await host.request("breakout-create", names=["A"])
        for name in ("p1", "p2"):
            await host.request("breakout-assign", participant_id=name, room="A")
        await host.request("breakout-open")
        await eventually(lambda: count_from(p1, "p2") > 20, 15, what="p1 and p2 talking in A")
        await host.request("send-to-waiting", participant_id="p2")
        await eventually(lambda: p2.events_of("sent-to-waiting"), 5, what="p2 to be sent to the waiting room")
        live = haven.sessions.live["group"]
        assert "p2" in live.router.members and "p2" not in live.routers["A"].members
        await asyncio.sleep(0.3)
        mark_p1, mark_p2 = len(p1.counter.tags), len(p2.counter.tags)
        await asyncio.sleep(1.0)
        assert count_from(p1, "p2", mark_p1) == 0 and len(p2.counter.tags) == mark_p2
        await host.request("admit", participant_id="p2")
        await eventually(lambda: count_from(host, "p2") > 20 and count_from(p2, "host") > 20, 15,
                         what="p2 back in the main room with the host")
    finally:
        for client in everyone:
            await client.close()
