"""Hosts see who is on a poor connection: a member whose uplink really loses packets is marked on their tile,
with the loss and what they send as visible text (a tooltip is unreadable on a touch screen), in the name row,
off the face and without cutting the name, on a desktop and on a phone.

The lossy member is a real aiortc peer whose DTLS transport drops every fourth RTP datagram before it leaves
(a real loss on the wire: the server's receiver reports count it); the host is Chromium and reads the tile.
"""

from __future__ import annotations

import itertools
import re

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
# "Poor connection · 25% lost · 412 kbit/s": the words, the loss, and the bitrate the member publishes.
POOR_TEXT = re.compile(r"^Poor connection · (\d+)% lost · (\d+(?:\.\d)?) (kbit|Mbit)/s$")
# One tile's box, its name row's box, its quality text's box, and whether the name or that text is cut short.
TILE_GEOMETRY = """t => {
  const box = (el) => {
    const r = el.getBoundingClientRect();
    return {x: r.x, y: r.y, width: r.width, height: r.height};
  };
  const name = t.querySelector('.tile-name'), quality = t.querySelector('.tile-quality');
  const cut = (el) => el.scrollWidth > el.clientWidth + 1
    || [...el.querySelectorAll('span')].some((s) => s.getBoundingClientRect().right > t.getBoundingClientRect().right);
  return {tile: box(t), label: box(t.querySelector('.tile-label')), quality: box(quality),
          nameCut: cut(name), qualityCut: cut(quality)};
}"""


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


def inside(inner: dict, outer: dict) -> bool:
    return inner["x"] >= outer["x"] - 1 and inner["y"] >= outer["y"] - 1 and \
        inner["x"] + inner["width"] <= outer["x"] + outer["width"] + 1 and \
        inner["y"] + inner["height"] <= outer["y"] + outer["height"] + 1


def covers_face(label: dict, tile: dict) -> bool:
    """Whether the label reaches into the middle of the tile (the middle half each way), where a face is."""
    return label["y"] < tile["y"] + tile["height"] * 0.75 and label["x"] < tile["x"] + tile["width"] * 0.75 \
        and label["x"] + label["width"] > tile["x"] + tile["width"] * 0.25


async def assert_quality_readable(tile, phone: bool) -> None:
    """The quality text is whole, inside the tile, beside an uncut name, and below the face."""
    geometry = await tile.evaluate(TILE_GEOMETRY)
    assert inside(geometry["quality"], geometry["tile"]), f"the quality text leaves the tile: {geometry}"
    assert not geometry["qualityCut"], f"the quality text is cut short: {geometry}"
    assert not geometry["nameCut"], f"the name is cut short: {geometry}"
    if phone:
        # A small tile gives the label more rows, but never past the middle of the picture.
        tile_box = geometry["tile"]
        assert geometry["label"]["y"] >= tile_box["y"] + tile_box["height"] * 0.5, \
            f"the label covers the face: {geometry}"
    else:
        assert not covers_face(geometry["label"], geometry["tile"]), f"the label covers the face: {geometry}"


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
        quality = ben.get_by_test_id("tile-quality")
        await expect(quality).to_have_text(POOR_TEXT, timeout=UI_TIMEOUT_MS)
        await expect(quality).to_be_visible()
        await expect(ben).to_have_attribute("data-quality", "poor")
        shown = POOR_TEXT.match(await quality.inner_text())
        assert shown is not None and int(shown[1]) >= 10 and float(shown[2]) > 0, shown
        title = await quality.get_attribute("title")
        assert title is not None and title.startswith("Lost on the way in: ") and "they send: " in title
        await expect(cal.get_by_test_id("tile-quality")).to_have_count(0)  # a good link says nothing
        await assert_quality_readable(ben, phone=False)
        await screenshot(host, "link-quality-host-1280x800")

        # The same host on a phone: the tile is small, the text still whole and readable.
        await host.set_viewport_size({"width": 390, "height": 844})
        await host.wait_for_function("""() => [...document.querySelectorAll('#tiles > .tile')]
          .every((t) => t.getBoundingClientRect().right <= innerWidth)""")
        await expect(quality).to_have_text(POOR_TEXT)
        await assert_quality_readable(ben, phone=True)
        await screenshot(host, "link-quality-host-390x844")
    finally:
        for client in clients:
            await client.close()
        await context.close()
