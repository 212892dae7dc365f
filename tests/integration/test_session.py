"""The therapy session over real connections: waiting room isolation at packet level, moderation,
permissions, attendance and the audit log."""

from __future__ import annotations

import asyncio
import csv
import io

import aiohttp
import pytest

from server.app import STORAGE
from server.cli import main as haven_cli
from tests.support.client import ProtocolClient, ServerError, connect
from tests.support.peers import RandomVp8Track, ToneTrack, eventually

WAITING_ROOM = "[session]\nwaiting_room = true\n"
ADMIN_KEY = "admin-key-for-tests-0123456789-abcdef"


async def publish(client: ProtocolClient) -> dict:
    client.published = await client.publish({"camera": RandomVp8Track(), "microphone": ToneTrack()})
    return client.published


def audit_actions(haven) -> list[dict]:
    storage = haven.app[STORAGE]
    storage.flush()
    return storage.audit_entries()


async def test_a_waiting_participant_receives_no_rtp_and_its_rtp_reaches_no_one(haven_factory):
    haven = await haven_factory(WAITING_ROOM)
    host = await connect(haven, "rivera", "host")
    member = await connect(haven, "ana")
    waiting_members = [c for c in (member,) if c.joined["state"] == "waiting"]
    assert waiting_members == [member]
    await host.request("admit", participant_id="ana")
    guest = await connect(haven, "sam")
    clients = [host, member, guest]
    try:
        assert guest.joined["state"] == "waiting"
        assert guest.joined["participants"] == [] and guest.joined["chat"] == []
        assert set(guest.joined["room"]) == {"session_id", "starts_at", "support_text", "host_present"}
        for client in clients:
            await publish(client)
        await eventually(lambda: member.received_from("rivera", "camera") > 30 and
                         host.received_from("ana", "camera") > 30, 20, what="the admitted members' call")
        await eventually(lambda: [e for e in host.events_of("waiting-list") if e["waiting"]], 5,
                         what="the host to see the waiting list")
        await asyncio.sleep(1.5)  # the call runs on; the waiting participant must stay cut off
        assert guest.counter.total() == 0, "a waiting participant received RTP"
        assert "sam" not in host.ssrcs_by_participant() and "sam" not in member.ssrcs_by_participant()
        router = haven.sessions.live["group"].router
        assert not router.members["sam"].consumers
        assert all(c.producer.owner_id != "sam" for m in router.members.values() for c in m.consumers.values())
        sam_producers = [p for p in router.producers.values() if p.owner_id == "sam"]
        assert sam_producers and all(p.packets_in > 0 and p.forwarded == 0 for p in sam_producers)
        seen = {e["type"] for e in guest.events}
        assert not seen & {"participant-joined", "track-published", "room-state", "active-speaker",
                           "consumers", "subscriber-offer"}
        assert not [e for e in member.events_of("participant-joined") if e["participant"]["id"] == "sam"]

        await host.request("admit", participant_id="sam")
        await eventually(lambda: guest.events_of("admitted"), 5, what="sam to be admitted")
        await eventually(lambda: guest.received_from("rivera", "camera") > 10 and
                         member.received_from("sam", "camera") > 10, 20, what="media both ways after admission")
        admitted = guest.events_of("admitted")[0]
        assert {p["id"] for p in admitted["participants"]} == {"rivera", "ana"}
    finally:
        for client in clients:
            await client.close()


async def test_a_removed_participant_stops_receiving_at_once_and_a_banned_one_cannot_rejoin(haven):
    host = await connect(haven, "rivera", "host")
    member = await connect(haven, "ana")
    clients = [host, member]
    try:
        await publish(host)
        await publish(member)
        await eventually(lambda: member.received_from("rivera", "camera") > 20, 20, what="the call to start")
        await host.request("remove", participant_id="ana", ban=True)
        await eventually(lambda: member.events_of("removed"), 2, what="the removed event")
        await asyncio.sleep(0.3)
        frozen = member.counter.total()
        await asyncio.sleep(1.0)
        assert member.counter.total() == frozen, "a removed participant kept receiving media"
        await eventually(lambda: member.close_code is not None, 5, what="the removed socket to close")
        assert member.close_code == 4403
        assert member.events_of("removed")[0]["reason"] == "removed"

        again = ProtocolClient(haven.base_url, haven.token(name="Ana", sub="ana"), name="ana")
        clients.append(again)
        with pytest.raises(ServerError) as refused:
            await again.connect()
        assert refused.value.code == "banned"
        actions = [(e["action"], e["subject"]) for e in audit_actions(haven)]
        assert ("remove", "ana") in actions
    finally:
        for client in clients:
            await client.close()


HOST_ONLY = [
    ("admit", {"participant_id": "ben"}), ("admit-all", {}), ("deny", {"participant_id": "ben"}),
    ("send-to-waiting", {"participant_id": "ben"}),
    ("mute-participant", {"participant_id": "rivera", "label": "camera"}),
    ("ask-unmute", {"participant_id": "ben", "label": "microphone"}), ("remove", {"participant_id": "rivera"}),
    ("set-role", {"participant_id": "ana", "role": "cohost"}), ("set-room", {"locked": True}), ("end-session", {}),
    ("agenda-start", {"template": "process"}), ("agenda-next", {}), ("agenda-set-phase", {"index": 1}),
    ("agenda-update", {"phases": [{"title": "x", "minutes": 5}]}), ("checkin-start", {}), ("checkin-next", {}),
    ("checkin-end", {}), ("lower-all-hands", {}), ("give-floor", {"participant_id": "ana"}),
    ("homework", {"text": "mine"}), ("lower-hand", {"participant_id": "ben"}),
]


async def test_a_participant_cannot_perform_host_actions_and_each_attempt_is_audited(haven):
    host = await connect(haven, "rivera", "host")
    ana = await connect(haven, "ana")
    ben = await connect(haven, "ben")
    try:
        await ben.request("raise-hand")
        for kind, fields in HOST_ONLY:
            with pytest.raises(ServerError) as refused:
                await ana.request(kind, **fields)
            assert refused.value.code == "not-permitted", kind
        assert haven.sessions.live["group"].room.agenda is None
        assert not haven.sessions.live["group"].room.settings.locked
        refusals = [e for e in audit_actions(haven) if e["action"] == "not-permitted" and e["actor"] == "ana"]
        assert len(refusals) == len(HOST_ONLY)
        assert host.close_code is None and ben.close_code is None
    finally:
        for client in (host, ana, ben):
            await client.close()


async def test_hosts_run_the_session_structure_and_everyone_sees_it(haven):
    host = await connect(haven, "rivera", "host")
    ana = await connect(haven, "ana")
    ben = await connect(haven, "ben")
    clients = [host, ana, ben]

    def last_room(client):
        states = client.events_of("room-state")
        return states[-1]["room"] if states else client.joined["room"]

    try:
        await publish(ana)
        await host.request("agenda-start", template="default")
        await eventually(lambda: last_room(ana)["agenda"] is not None, 5, what="the agenda at ana")
        assert last_room(ana)["agenda"]["phases"][0] == {"title": "Check-in", "minutes": 10}
        await host.request("checkin-start", order=["ben", "ana"])
        await eventually(lambda: (last_room(ana)["checkin"] or {}).get("current") == "ben", 5, what="ben to speak")
        with pytest.raises(ServerError) as refused:
            await ana.request("checkin-pass")
        assert refused.value.code == "not-permitted"
        await ben.request("checkin-pass")
        await eventually(lambda: last_room(host)["checkin"]["current"] == "ana", 5, what="ana's turn")
        assert last_room(host)["checkin"]["passed"] == ["ben"]
        await ana.request("checkin-mood", rating=4)
        await eventually(lambda: host.events_of("checkin-mood"), 5, what="the host to get the rating")
        assert host.events_of("checkin-mood")[0] == {"type": "checkin-mood", "participant_id": "ana", "rating": 4}
        await asyncio.sleep(0.3)
        assert not ben.events_of("checkin-mood") and not ana.events_of("checkin-mood")

        await ana.request("raise-hand")
        await ben.request("raise-hand")
        await eventually(lambda: last_room(host)["hands"] == ["ana", "ben"], 5, what="the queue at the host")
        assert last_room(ben)["hands"] == ["ben"], "hands are visible only to hosts by default"
        await host.request("give-floor", participant_id="ana")
        await eventually(lambda: last_room(host)["hands"] == ["ben"] and last_room(host)["floor"] == "ana", 5,
                         what="ana's hand to lower when she gets the floor")
        await host.request("set-room", hands_visible=True)
        await eventually(lambda: last_room(ana)["hands"] == ["ben"], 5, what="the queue to become visible")

        await ana.request("chat", to="room", text="  <b>hello</b> everyone ")
        await ben.request("chat", to="hosts", text="I need a minute")
        with pytest.raises(ServerError) as refused:
            await ben.request("chat", to="ana", text="psst")
        assert refused.value.code == "not-permitted"
        await eventually(lambda: len(host.events_of("chat-message")) == 2, 5, what="two messages at the host")
        assert [m["message"]["text"] for m in ana.events_of("chat-message")] == ["<b>hello</b> everyone"]
        await host.request("set-room", chat_enabled=False)
        with pytest.raises(ServerError) as refused:
            await ana.request("chat", to="room", text="still there?")
        assert refused.value.code == "chat-disabled"

        await host.request("homework", text="Notice three moments of calm this week.")
        await eventually(lambda: (last_room(ben)["homework"] or {}).get("text") ==
                         "Notice three moments of calm this week.", 5, what="homework at ben")

        await host.request("mute-participant", participant_id="ana", label="microphone")
        await eventually(lambda: ana.events_of("muted-by-host"), 5, what="ana to be told she was muted")
        await host.request("ask-unmute", participant_id="ana", label="microphone")
        await eventually(lambda: ana.events_of("unmute-requested"), 5, what="the unmute request")

        await host.request("set-role", participant_id="ana", role="cohost")
        await ana.request("agenda-next")  # a co-host may run the agenda
        await eventually(lambda: last_room(ben)["agenda"]["current"] == 1, 5, what="the next phase")
        with pytest.raises(ServerError) as refused:
            await ana.request("set-role", participant_id="rivera", role="participant")
        assert refused.value.code == "not-permitted"

        await host.request("end-session")
        for client in clients:
            await eventually(lambda c=client: c.close_code is not None, 5, what=f"{client.name} to be closed")
            assert client.close_code == 4000
            assert client.events_of("session-ended")[0]["reason"] == "ended"
        stored = str(audit_actions(haven))
        assert "hello" not in stored and "calm" not in stored, "chat or homework text reached the audit log"
    finally:
        for client in clients:
            await client.close()


async def test_without_a_host_nobody_is_admitted_until_one_returns(haven_factory):
    haven = await haven_factory("[session]\nwaiting_room = false\n")
    early = await connect(haven, "ana")
    try:
        assert early.joined["state"] == "waiting", "nobody is admitted before a host arrives"
        host = await connect(haven, "rivera", "host")
        await eventually(lambda: host.events_of("waiting-list")[-1]["waiting"] if host.events_of("waiting-list")
                         else None, 5, what="ana in the waiting list")
        await host.request("admit", participant_id="ana")
        await eventually(lambda: early.events_of("admitted"), 5, what="ana to be admitted")
        late = await connect(haven, "ben")
        assert late.joined["state"] == "admitted", "with the waiting room off and a host present, ben enters"
        await host.request("leave")
        await eventually(lambda: not haven.sessions.live["group"].room.host_present, 5, what="the host to leave")
        later = await connect(haven, "cy")
        assert later.joined["state"] == "waiting"
        for client in (late, later, host):
            await client.close()
    finally:
        await early.close()


async def test_the_session_ends_after_the_host_grace_period(haven_factory):
    haven = await haven_factory("[session]\nwaiting_room = false\nhost_grace = \"10s\"\n")
    host = await connect(haven, "rivera", "host")
    member = await connect(haven, "ana")
    try:
        await host.close()
        await eventually(lambda: member.events_of("session-ended"), 20, what="the session to end without a host")
        assert member.events_of("session-ended")[0]["reason"] == "no-host"
    finally:
        await member.close()


async def test_a_locked_room_refuses_newcomers_but_not_returning_members(haven):
    host = await connect(haven, "rivera", "host")
    ana = await connect(haven, "ana")
    try:
        await host.request("set-room", locked=True)
        newcomer = ProtocolClient(haven.base_url, haven.token(name="Zed", sub="zed"))
        with pytest.raises(ServerError) as refused:
            await newcomer.connect()
        assert refused.value.code == "room-locked"
        await newcomer.close()
        await ana.close()
        await eventually(lambda: "ana" not in haven.sessions.live["group"].room.participants, 5, what="ana to leave")
        back = await connect(haven, "ana")
        assert back.joined["state"] == "admitted"
        await back.close()
    finally:
        await host.close()


async def test_attendance_is_exported_to_hosts_as_json_and_csv_and_the_audit_chain_verifies(haven_factory, tmp_path):
    haven = await haven_factory(f'[admin]\napi_key = "{ADMIN_KEY}"\n')
    host = await connect(haven, "rivera", "host")
    ana = await connect(haven, "ana")
    session_id = host.joined["session_id"]
    await ana.request("leave")
    await eventually(lambda: ana.close_code is not None, 5, what="ana to leave")
    again = await connect(haven, "ana")
    url = f"{haven.base_url}/api/sessions/{session_id}/attendance"
    try:
        async with aiohttp.ClientSession() as http:
            async def get(token: str | None, suffix: str = ""):
                headers = {"Authorization": f"Bearer {token}"} if token else {}
                async with http.get(url + suffix, headers=headers) as response:
                    return response.status, await response.text()

            await asyncio.sleep(0.2)
            haven.app[STORAGE].flush()
            status, body = await get(haven.token(name="Rivera", sub="rivera", role="host"))
            assert status == 200
            import json
            report = json.loads(body)
            people = {p["participant_id"]: p for p in report["participants"]}
            assert set(people) == {"rivera", "ana"}
            assert people["ana"]["reconnects"] == 1 and people["ana"]["first_join"] is not None
            events = [(e["participant_id"], e["event"]) for e in report["events"]]
            assert ("ana", "left") in events and ("ana", "admitted") in events

            status, body = await get(ADMIN_KEY, "?format=csv")
            assert status == 200
            rows = list(csv.DictReader(io.StringIO(body)))
            assert {r["participant_id"] for r in rows} == {"rivera", "ana"}

            assert (await get(None))[0] == 401
            assert (await get("garbage"))[0] == 401
            assert (await get(haven.token(name="Ana", sub="ana")))[0] == 403
            assert (await get(haven.token(room="other", name="Dr", sub="x", role="host")))[0] == 404
    finally:
        for client in (host, ana, again):
            await client.close()
    actions = {e["action"] for e in audit_actions(haven)}
    assert {"consent-accepted", "join", "leave", "attendance-export", "api-refused"} <= actions
    config_path = tmp_path / "server0" / "haven.toml"
    assert haven_cli(["audit", "verify", "--config", str(config_path)]) == 0
