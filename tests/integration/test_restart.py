"""A real `haven serve` process restarted in the middle of a session: the agenda, the check-in round, the
raised hands and the breakouts come back (from SQLite, never the chat); admitted members who reconnect with
their resume credential return where they were — the main room or their breakout — not to the waiting room,
while someone who was waiting, or is new, still waits."""

from __future__ import annotations

import asyncio

import pytest

from tests.support.client import ProtocolClient
from tests.support.peers import eventually
from tests.support.server_process import ServerProcess

ROOM = "group"


@pytest.fixture
def server(tmp_path):
    server = ServerProcess(tmp_path, "[session]\nwaiting_room = true\n")
    server.start()
    yield server
    server.stop()


def client(server: ServerProcess, name: str, role: str = "participant") -> ProtocolClient:
    token = server.issuer.issue(ROOM, name.title(), role, 3600, sub=name)
    return ProtocolClient(server.base_url, token, ROOM, name)


def room_state(c: ProtocolClient) -> dict:
    states = c.events_of("room-state")
    return states[-1]["room"] if states else c.joined["room"]


async def test_a_restart_keeps_the_sessions_structure_and_everyone_admitted_returns_where_they_were(server):
    host, ana, ben, wes = (client(server, "rivera", "host"), client(server, "ana"), client(server, "ben"),
                           client(server, "wes"))
    clients = [host, ana, ben, wes]
    try:
        await host.connect()
        for member in (ana, ben):
            await member.connect()
            await host.request("admit", participant_id=member.name)
        await wes.connect()
        assert wes.joined["state"] == "waiting"
        session_id = host.joined["session_id"]

        await host.request("agenda-start", template="default")
        await host.request("agenda-next")
        await host.request("checkin-start", order=["ana", "ben"])
        await ana.request("checkin-pass")
        await ana.request("raise-hand")
        await host.request("chat", to="room", text="this chat must not survive the restart")
        await host.request("breakout-create", names=["Garden", "Library"])
        await host.request("breakout-assign", participant_id="ben", room="Library")
        await host.request("breakout-open", minutes=15)
        await eventually(lambda: ben.events_of("moved"), 5, what="ben to go to the Library")
        before = room_state(host)

        # The restart: SIGTERM (the drain closes every socket with 1001), then the same config again.
        server.stop()
        await eventually(lambda: all(c.close_code == 1001 for c in clients), 10, what="the drain's 1001 closes")
        server.start()

        # Members come back before the host: admitted, where they were; the one who waited still waits.
        for member in (ben, ana):
            await member.reconnect()
        assert ben.joined["state"] == "admitted" and ben.joined["session_id"] == session_id
        assert ben.joined["room"]["location"] == "Library"
        assert ana.joined["state"] == "admitted" and ana.joined["room"]["location"] == "main"
        assert ana.joined["chat"] == [], "chat survived the restart"
        assert ana.joined["room"]["host_present"] is False and ana.joined["room"]["host_away"]["media_paused"]
        await wes.reconnect()
        assert wes.joined["state"] == "waiting"

        await host.reconnect()
        after = host.joined["room"]
        assert host.joined["session_id"] == session_id
        for key in ("agenda", "checkin", "hands", "started_at"):
            assert after[key] == before[key], key
        assert after["breakouts"]["open"] is True
        assert after["breakouts"]["ends_at"] == before["breakouts"]["ends_at"]
        assert {r["name"] for r in after["breakouts"]["rooms"]} == {"Garden", "Library"}
        assert "host_absence" in host.joined
        await eventually(lambda: room_state(ana)["host_present"], 5, what="the members to see the host back")
        assert room_state(ana)["host_away"] is None
        # The waiting room is the host's to admit, as before.
        await asyncio.sleep(0.3)
        assert not wes.events_of("admitted")
    finally:
        for c in clients:
            await c.close()
