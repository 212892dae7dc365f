"""Simulcast with real Chromium (docs/protocol.md 6.5): a camera goes out in two layers, and each viewer gets
the layer its tile needs, switched at key frames without the viewer's decoder noticing.

Ana publishes; Ben watches her. Ben's window starts large (her tile wants the full picture), shrinks to a
small window (half size is enough) and grows again. Everything is read from the browsers' own statistics:
Ana's encoder sends both layers; Ben's decoder shows the height the server chose, keeps decoding across
every switch, loses no packets (loopback loses none, so any gap would be a numbering error of the switch)
and asks for few key frames (a broken stream makes the decoder ask again and again).
"""

from __future__ import annotations

import asyncio

from playwright.async_api import expect

from tests.browser.impaired import enter
from tests.support.pages import enter_room
from tests.support.waiting import eventually_async

ROOM = "simulcast-group"
FULL, HALF = 480, 240  # the fake camera's 640x480 and its half-size layer

# Ana's publish connection: the RIDs her camera is encoding and sending.
SENT_LAYERS = """async () => {
  const pc = window.haven.client.publishPc;
  const out = {};
  if (!pc) return out;
  (await pc.getStats()).forEach(r => {
    if (r.type === 'outbound-rtp' && r.kind === 'video' && r.rid) out[r.rid] = r.framesEncoded || 0;
  });
  return out;
}"""

# Ben's view of Ana's camera: the decoded height, frames, losses and key-frame requests.
RECEIVED_VIDEO = """async () => {
  const client = window.haven.client;
  const pc = client.subscribePc;
  let out = null;
  if (!pc) return out;
  (await pc.getStats()).forEach(r => {
    const consumer = r.type === 'inbound-rtp' && client.consumers.get(r.mid);
    if (consumer && consumer.kind === 'video') out = {height: r.frameHeight || 0, frames: r.framesDecoded || 0,
      lost: r.packetsLost || 0, plis: r.pliCount || 0, keyFrames: r.keyFramesDecoded || 0,
      freezes: r.freezeCount || 0};
  });
  return out;
}"""


async def _received(page) -> dict:
    return await page.evaluate(RECEIVED_VIDEO) or {}


async def _shows(page, height: int, after_frames: int) -> dict | None:
    """Ben decodes Ana's camera at ``height``, and has decoded more frames since ``after_frames``."""
    stats = await _received(page)
    return stats if stats.get("height") == height and stats.get("frames", 0) > after_frames + 30 else None


async def test_each_viewer_gets_the_layer_its_tile_needs_and_switches_cleanly(server, browser):
    ana = await enter_room(browser, server.join_url(ROOM, "Ana", "host", sub="ana"))
    ben = await enter_room(browser, server.join_url(ROOM, "Ben", "host", sub="ben"))
    try:
        await expect(ben.locator('[data-testid="remote-video"][data-participant-name="Ana"]')).to_be_attached()

        async def both_layers():
            first = await ana.evaluate(SENT_LAYERS)
            return first if set(first) == {"l", "h"} and min(first.values()) > 0 else None
        first = await eventually_async(both_layers, "Ana's camera to send both simulcast layers", 30)

        async def both_growing():
            now = await ana.evaluate(SENT_LAYERS)
            return all(now.get(rid, 0) > first[rid] + 30 for rid in ("l", "h"))
        await eventually_async(both_growing, "both layers to keep being encoded", 30)

        # A large tile: the full picture.
        large = await eventually_async(lambda: _shows(ben, FULL, 0), "Ben to get Ana's full-size layer", 30)
        # A small window: half size is sharp enough, and is what Ben gets.
        await ben.set_viewport_size({"width": 480, "height": 360})
        small = await eventually_async(lambda: _shows(ben, HALF, large["frames"]), "Ben to get the half-size layer",
                                       30)
        # And back.
        await ben.set_viewport_size({"width": 1280, "height": 800})
        again = await eventually_async(lambda: _shows(ben, FULL, small["frames"]), "Ben to get the full layer again",
                                       30)

        # Two switches, each at a key frame of the layer switched to; nothing lost or renumbered on the way.
        print("SIMULCAST", first, large, small, again)
        assert again["lost"] == 0, again
        assert again["keyFrames"] >= 3, again
        # Each switch needs one key frame; a stream the decoder could not follow would make it ask for many.
        assert again["plis"] <= 6, again
        assert again["freezes"] <= 2, again
        assert not ana.errors and not ben.errors, (ana.errors, ben.errors)
    finally:
        await ana.context.close()
        await ben.context.close()


# -- behind a narrow link (tests/support/impairment.py: a real tbf bottleneck on a veth pair) -------------

# Per publisher: what the page decodes of their camera (height, frames) and hears of their microphone.
BY_PUBLISHER = """async () => {
  const client = window.haven.client;
  const out = {};
  if (!client.subscribePc) return out;
  (await client.subscribePc.getStats()).forEach(r => {
    const consumer = r.type === 'inbound-rtp' && client.consumers.get(r.mid);
    if (!consumer) return;
    out[consumer.participant_id + '/' + r.kind] = {height: r.frameHeight || 0, frames: r.framesDecoded || 0,
      concealed: r.concealedSamples || 0, samples: r.totalSamplesReceived || 0};
  });
  return out;
}"""
SAMPLES = 20  # one reading a second


async def _heights(page, publisher: str) -> list[int]:
    """Read, once a second for SAMPLES seconds, the height the page decodes a publisher's camera at."""
    heights = []
    for _ in range(SAMPLES):
        heights.append((await page.evaluate(BY_PUBLISHER)).get(f"{publisher}/video", {}).get("height", 0))
        await asyncio.sleep(1)
    return heights


def _concealed(before: dict, after: dict, stream: str) -> float:
    samples = after[stream]["samples"] - before[stream]["samples"]
    return (after[stream]["concealed"] - before[stream]["concealed"]) / max(samples, 1)


async def test_a_viewer_behind_300_kbits_gets_the_low_layer_and_all_the_audio_while_others_keep_high(
        network, browsers):
    host, server = network
    local, remote = browsers
    await enter(local, server, "ana", "host")
    ben = await enter(remote, server, "ben", camera=False)  # behind the narrow link; only watches
    host.limit(300_000, "down")  # once the page has loaded: the link is narrow, not the test's patience
    cal = await enter(local, server, "cal", camera=False)
    # Both show Ana large, so both would want her full picture: only Ben's link says otherwise.
    for page in (ben, cal):
        await page.locator('[data-testid="pin-tile"][data-participant-name="Ana"]').click()
    async def settled():
        stats = await ben.evaluate(BY_PUBLISHER)
        return stats.get("ana/video", {}).get("height") == HALF
    await eventually_async(settled, "Ben, behind 300 kbit/s, to get Ana's half-size layer", 60)
    before = await ben.evaluate(BY_PUBLISHER)
    ben_heights, cal_heights = await asyncio.gather(_heights(ben, "ana"), _heights(cal, "ana"))
    after = await ben.evaluate(BY_PUBLISHER)
    print(f"\nbehind 300 kbit/s: {ben_heights}; unimpaired: {cal_heights}; "
          f"audio concealed {_concealed(before, after, 'ana/audio'):.3%}")
    # The server tries a higher layer now and then, to see whether the link grew; most of the time Ben
    # watches the layer his link carries.
    assert sum(h == HALF for h in ben_heights) >= 0.75 * SAMPLES, ben_heights
    assert all(h == FULL for h in cal_heights[2:]), cal_heights  # the others are not held back by Ben
    # And it plays: frames keep coming (how many a second depends on the publisher's encoder and the cores).
    assert after["ana/video"]["frames"] > before["ana/video"]["frames"] + 2 * SAMPLES
    # Audio first: Ben hears Ana all along. Opus conceals a lost packet; a gap would show as concealment.
    assert _concealed(before, after, "ana/audio") < 0.05, (before, after)


async def test_a_viewer_whose_link_cannot_carry_video_keeps_the_audio_and_gets_video_back_when_it_recovers(
        network, browsers):
    host, server = network
    local, remote = browsers
    ana = await enter(local, server, "ana", "host")
    ben = await enter(remote, server, "ben", camera=False)
    host.limit(110_000, "down")
    paused = ben.get_by_test_id("video-paused")
    await expect(paused).to_be_visible(timeout=60_000)
    await expect(paused).to_have_text("Video paused to keep audio clear")
    tile = ben.locator('.tile[data-participant-name="Ana"]')
    await expect(tile).to_have_attribute("data-camera", "off")  # her name and initial instead of a frozen frame
    await expect(tile.locator(".tile-name")).to_have_text("Ana")
    async def hearing():  # the start, before the pause, may have lost audio in the full queue: from now on
        stats = await ben.evaluate(BY_PUBLISHER)
        return stats if stats.get("ana/audio", {}).get("samples", 0) > 0 else None
    before = await eventually_async(hearing, "Ben to hear Ana", 30)
    await asyncio.sleep(10)
    after = await ben.evaluate(BY_PUBLISHER)
    assert _concealed(before, after, "ana/audio") < 0.05, (before, after)
    assert not await ana.get_by_test_id("video-paused").is_visible()

    host.clear()  # the link recovers: the server finds out by trying, and the video comes back
    await expect(paused).to_be_hidden(timeout=90_000)
    frames = after.get("ana/video", {}).get("frames", 0)
    async def decoding_again():
        stats = await ben.evaluate(BY_PUBLISHER)
        return stats.get("ana/video", {}).get("frames", 0) > frames + 30
    await eventually_async(decoding_again, "Ben to see Ana's video again", 30)
