"""The last host leaving or dropping, over real connections and real media: members are told at once,
their media to each other pauses (unless the host allowed it), nobody is admitted meanwhile, a co-host
keeps the session running, and the returning host learns how long the group was alone."""

from __future__ import annotations

import asyncio

from tests.support.client import ProtocolClient, connect
from tests.support.peers import RandomVp8Track, ToneTrack, eventually

WAITING_ROOM = "[session]\nwaiting_room = true\n"


async def publish(client: ProtocolClient) -> None:
    client.published = await client.publish({"camera": RandomVp8Track(), "microphone": ToneTrack()})


async def admitted_group(haven, *members: str) -> list[ProtocolClient]:
    """The host (rivera) and admitted members, everyone publishing and receiving everyone else."""
    host = await connect(haven, "rivera", "host")
    clients = [host]
    for name in members:
        member = await connect(haven, name)
        if member.joined["state"] == "waiting":
            await host.request("admit", participant_id=name)
        clients.append(member)
    for client in clients:
        await publish(client)
    return clients


def host_away(client: ProtocolClient) -> dict | None:
    states = client.events_of("room-state")
    return states[-1]["room"]["host_away"] if states else None


async def still(count, seconds: float = 1.5) -> bool:
    """Whether a packet count stays where it is for a while (forwarding stopped)."""
    before = count()
    await asyncio.sleep(seconds)
    return count() == before


async def test_a_host_who_steps_out_pauses_the_group_until_they_return(haven_factory):
    haven = await haven_factory(WAITING_ROOM)
    host, ana, ben = clients = await admitted_group(haven, "ana", "ben")
    late = None
    try:
        await eventually(lambda: ben.received_from("ana", "camera") > 20, 20, what="the members' call")
        await host.request("leave")

        await eventually(lambda: host_away(ben), 5, what="the members to be told the host stepped out")
        away = host_away(ben)
        assert away["reason"] == "left" and away["media_paused"] is True
        assert away["ends_at"] - away["since"] == 600_000
        await asyncio.sleep(0.5)  # packets already on their way
        assert await still(lambda: ben.received_from("ana", "camera")), "members' media went on without a host"

        # Someone who joins now waits, whatever the waiting-room setting: nobody admits them.
        late = await connect(haven, "cal")
        assert late.joined["state"] == "waiting"

        # The host comes back with their resume credential: media flows, and they learn how long it was.
        await host.reconnect()
        assert host.joined["state"] == "admitted"
        absence = host.joined["host_absence"]
        assert absence["since"] == away["since"] and absence["ends_at"] == away["ends_at"]
        assert absence["returned_at"] >= absence["since"] and absence["media_paused"] is True
        await eventually(lambda: host_away(ben) is None, 5, what="the members to see the host back")
        before = ben.received_from("ana", "camera")
        await eventually(lambda: ben.received_from("ana", "camera") > before + 10, 20, what="members' media again")
        assert late.events_of("admitted") == [], "the host's return admitted the waiting room"
    finally:
        for client in [*clients, late]:
            if client is not None:
                await client.close()


async def test_a_dropped_host_is_announced_at_once_and_media_goes_on_when_allowed(haven):
    host, ana, ben = clients = await admitted_group(haven, "ana", "ben")
    try:
        await host.request("set-room", members_media_without_host=True)
        await eventually(lambda: ben.received_from("ana", "camera") > 20, 20, what="the members' call")
        await host.drop()
        await eventually(lambda: host_away(ben), 5, what="the members to be told the host's connection dropped")
        assert host_away(ben)["reason"] == "disconnected" and host_away(ben)["media_paused"] is False
        before = ben.received_from("ana", "camera")
        await eventually(lambda: ben.received_from("ana", "camera") > before + 10, 10,
                         what="members' media to go on as the host allowed")
    finally:
        for client in clients:
            await client.close()


async def test_a_cohost_takes_over_when_the_host_leaves(haven):
    host, ana, ben = clients = await admitted_group(haven, "ana", "ben")
    try:
        await host.request("set-role", participant_id="ana", role="cohost")
        await eventually(lambda: ben.received_from("ana", "camera") > 20, 20, what="the members' call")
        await host.request("leave")
        await eventually(lambda: [e for e in ben.events_of("participant-left") if e["participant_id"] == "rivera"],
                         5, what="the host to leave")
        assert ben.events_of("room-state")[-1]["room"]["host_present"] is True
        assert host_away(ben) is None
        before = ben.received_from("ana", "camera")
        await eventually(lambda: ben.received_from("ana", "camera") > before + 10, 10, what="the co-host's media")
        # The co-host runs the session: a newcomer waits for them, and they can admit.
        await ana.request("set-room", waiting_room=True)
        cal = await connect(haven, "cal")
        clients.append(cal)
        assert cal.joined["state"] == "waiting"
        await ana.request("admit", participant_id="cal")
        await eventually(lambda: cal.events_of("admitted"), 5, what="the co-host to admit Cal")
    finally:
        for client in clients:
            await client.close()
