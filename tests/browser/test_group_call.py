"""Three real browsers join one room through the web client and see and hear each other."""

from __future__ import annotations

import asyncio
import os
import time

from tests.support.pages import join_in
from tests.support.peers import eventually
from tests.support.waiting import eventually_async
from tests.support.webrtc_stats import INBOUND_STATS

# Standard deviation of the grey levels of a 64x48 thumbnail: a flat (blank) frame gives ~0.
PIXEL_SPREAD = """(video) => {
  if (!video.videoWidth) return 0;
  const canvas = document.createElement('canvas');
  canvas.width = 64; canvas.height = 48;
  const g = canvas.getContext('2d');
  g.drawImage(video, 0, 0, 64, 48);
  const d = g.getImageData(0, 0, 64, 48).data;
  let sum = 0, squares = 0, n = 0;
  for (let i = 0; i < d.length; i += 4) { const v = (d[i] + d[i + 1] + d[i + 2]) / 3; sum += v; squares += v * v; n++; }
  const mean = sum / n;
  return Math.sqrt(Math.max(0, squares / n - mean * mean));
}"""


async def join(browser, url: str):
    return await join_in(await browser.new_context(), url)


async def inbound(page) -> list[dict]:
    return await page.evaluate(INBOUND_STATS)


async def test_three_browsers_see_and_hear_each_other(haven_process, browser):
    names = ["Ana", "Ben", "Cy"]
    roles = {"Ana": "host"}
    pages = [await join(browser,
                        haven_process.join_url("tuesday", name, roles.get(name, "participant"), sub=name.lower()))
             for name in names]
    try:
        for page, name in zip(pages, names, strict=True):
            others = sorted(n for n in names if n != name)

            async def tiles_ready(page=page, others=others):
                videos = page.get_by_test_id("remote-video")
                if await videos.count() != 2:
                    return False
                shown = sorted([await videos.nth(i).get_attribute("data-participant-name") for i in range(2)])
                return shown == others

            await eventually_async(tiles_ready, f"{name} to show tiles for {others}", 30)
            status = page.get_by_test_id("connection-status")
            assert await status.get_attribute("data-state") == "connected"

        for page, name in zip(pages, names, strict=True):
            async def media_flows(page=page):
                stats = await inbound(page)
                video = [s for s in stats if s["kind"] == "video" and s["frames"] > 10 and s["width"] > 0]
                audio = [s for s in stats if s["kind"] == "audio" and s["packets"] > 10]
                return len(video) >= 2 and len(audio) >= 2 and stats

            first = await eventually_async(media_flows, f"{name} to decode two videos and receive two audios", 30)
            await asyncio.sleep(2)
            second = {(s["kind"], s["mid"]): s for s in await inbound(page)}
            for s in first:
                later = second[(s["kind"], s["mid"])]
                if s["kind"] == "video" and s["frames"] > 10:
                    assert later["frames"] > s["frames"], f"{name}: video on mid {s['mid']} stopped decoding"
                if s["kind"] == "audio" and s["packets"] > 10:
                    assert later["packets"] > s["packets"], f"{name}: audio on mid {s['mid']} stopped"

            videos = page.get_by_test_id("remote-video")
            for i in range(await videos.count()):
                video = videos.nth(i)
                spread = await video.evaluate(PIXEL_SPREAD)
                assert spread > 3, f"{name}: remote video {i} looks blank (pixel spread {spread:.1f})"

        cpu_before, t_before = haven_process.cpu_seconds(), time.monotonic()
        await asyncio.sleep(5)
        cpu = (haven_process.cpu_seconds() - cpu_before) / (time.monotonic() - t_before)
        report = os.environ.get("HAVEN_TEST_ARTIFACTS")
        if report:
            os.makedirs(report, exist_ok=True)
            with open(os.path.join(report, "browser-cpu.txt"), "w") as out:
                out.write(f"server CPU with 3 browsers (3x A+V, all-to-all): {cpu * 100:.1f}% of one core\n")
        for page in pages:
            assert not page.errors, page.errors
    finally:
        for page in pages:
            await page.context.close()


async def test_mute_camera_off_and_leave_reach_the_others(haven_process, browser):
    ana = await join(browser, haven_process.join_url("thursday", "Ana", "host", sub="ana"))
    ben = await join(browser, haven_process.join_url("thursday", "Ben", sub="ben"))
    try:
        ana_tile = ben.locator('[data-testid="remote-video"][data-participant-name="Ana"]')
        await ana_tile.wait_for()
        await eventually_async(lambda: ana_tile.evaluate("v => v.videoWidth > 0"), "Ana's video at Ben")

        await ana.get_by_test_id("toggle-audio").click()
        assert await ana.get_by_test_id("toggle-audio").get_attribute("aria-pressed") == "true"
        await eventually_async(
            lambda: ben.evaluate("() => [...window.haven.client.participants.values()]"
                                 ".some(p => p.name === 'Ana'"
                                 " && p.tracks.some(t => t.label === 'microphone' && t.muted))"),
            "Ben to learn that Ana's microphone is muted")

        await ana.get_by_test_id("toggle-video").click()
        await eventually_async(
            lambda: ben.evaluate("() => [...window.haven.client.participants.values()]"
                                 ".some(p => p.name === 'Ana' && p.tracks.some(t => t.label === 'camera' && t.muted))"),
            "Ben to learn that Ana's camera is off")

        # Ana hosts: Leave asks whether to step out or end for everyone; she steps out.
        await ana.get_by_test_id("leave-button").click()
        await ana.get_by_test_id("leave-confirm").click()
        await eventually_async(lambda: _count_is(ana_tile, 0), "Ana's tile to disappear at Ben")
        await eventually(lambda: haven_process.health()["participants"] == 1, 10, what="the server to see one left")
    finally:
        await ana.context.close()
        await ben.context.close()


async def _count_is(locator, n: int) -> bool:
    return await locator.count() == n



async def test_the_client_reconnects_by_itself_after_the_server_restarts(haven_process, browser):
    # Two hosts, so whoever reconnects first is admitted without waiting for the other.
    ana = await join(browser, haven_process.join_url("friday", "Ana", "host", sub="ana"))
    ben = await join(browser, haven_process.join_url("friday", "Ben", "host", sub="ben"))
    try:
        tile = ana.locator('[data-testid="remote-video"][data-participant-name="Ben"]')
        await tile.wait_for()
        await eventually_async(lambda: tile.evaluate("v => v.videoWidth > 0"), "Ben's video at Ana")
        status = ana.get_by_test_id("connection-status")

        haven_process.stop()
        await eventually_async(lambda: _state_is(status, "reconnecting"), "Ana to show that she is reconnecting")
        haven_process.start()
        await eventually_async(lambda: _state_is(status, "connected"), "Ana to reconnect", 45)
        tile = ana.locator('[data-testid="remote-video"][data-participant-name="Ben"]')
        await eventually_async(lambda: tile.evaluate("v => v.videoWidth > 0 && !v.paused"), "Ben's video again", 45)
        stats_ok = """async () => {
          const pc = window.haven.client.subscribePc;
          if (!pc) return 0;
          let frames = 0;
          (await pc.getStats()).forEach(r => {
            if (r.type === 'inbound-rtp' && r.kind === 'video') frames += r.framesDecoded || 0;
          });
          return frames;
        }"""
        first = await eventually_async(lambda: ana.evaluate(stats_ok), "frames on the new connection", 45)
        await eventually_async(lambda: _grew(ana, stats_ok, first), "frames to keep decoding")
        assert haven_process.health()["participants"] == 2
    finally:
        await ana.context.close()
        await ben.context.close()


async def _state_is(locator, state: str) -> bool:
    return await locator.get_attribute("data-state") == state


async def _grew(page, script: str, before: int) -> bool:
    return await page.evaluate(script) > before
