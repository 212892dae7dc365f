"""Hosts see who is on a poor connection: a member whose uplink really loses packets is marked on their tile.

The lossy member is a real aiortc peer whose DTLS transport drops every fourth RTP datagram before it leaves
(a real loss on the wire: the server's receiver reports count it); the host is Chromium and reads the tile.
"""

from __future__ import annotations

import itertools

from playwright.async_api import expect

from media import adapter
from tests.support.artifacts import screenshot
from tests.support.client import ProtocolClient
from tests.support.pages import join_in
from tests.support.peers import RandomVp8Track, ToneTrack
from tests.support.server_process import ServerProcess
from tests.support.waiting import eventually

ROOM = "thursday-group"
UI_TIMEOUT_MS = 30000


def drop_every_fourth_rtp_packet(client: ProtocolClient) -> None:
    dtls = adapter.dtls_transport(client.publish_pc)
    send = dtls._send_rtp
    counter = itertools.count()

    async def lossy(data: bytes) -> None:
        if next(counter) % 4 != 3:
            await send(data)

    dtls._send_rtp = lossy


async def member(server: ServerProcess, name: str, lossy: bool, clients: list[ProtocolClient]) -> None:
    """Join as ``name`` (the test server's rooms have no waiting room), publish camera and microphone."""
    adapter.set_host_addresses(["127.0.0.1"])  # aioice skips loopback; in this namespace there is nothing else
    client = ProtocolClient(server.base_url, server.issuer.issue(ROOM, name.title(), "participant", 3600, sub=name),
                            name=name)
    clients.append(client)
    await client.connect()
    assert client.joined["state"] == "admitted"
    await client.publish({"camera": RandomVp8Track(), "microphone": ToneTrack()})
    if lossy:
        drop_every_fourth_rtp_packet(client)


async def test_the_host_sees_a_poor_connection_on_the_lossy_members_tile_only(server, browser):
    clients: list[ProtocolClient] = []
    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        host = await join_in(context, server.join_url(ROOM, "Ana", "host", sub="ana"), UI_TIMEOUT_MS)
        await expect(host.get_by_test_id("agenda-bar")).to_be_visible(timeout=UI_TIMEOUT_MS)
        await member(server, "ben", True, clients)
        await member(server, "cal", False, clients)
        await eventually(lambda: all(c.publish_pc.connectionState == "connected" for c in clients), 20,
                         what="both members to publish")
        ben = host.locator('.tile[data-participant-id="ben"]')
        cal = host.locator('.tile[data-participant-id="cal"]')
        await expect(ben.get_by_test_id("tile-quality")).to_have_text("Poor connection", timeout=UI_TIMEOUT_MS)
        await expect(ben).to_have_attribute("data-quality", "poor")
        title = await ben.get_by_test_id("tile-quality").get_attribute("title")
        assert title is not None and title.startswith("Lost on the way in: ")
        await expect(cal.get_by_test_id("tile-quality")).to_have_count(0)  # a good link says nothing
        await screenshot(host, "link-quality-host")
    finally:
        for client in clients:
            await client.close()
        await context.close()
