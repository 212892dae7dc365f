"""Breakout rooms and screen sharing through the web client: a host drives them by clicks in real browsers
against a real `haven serve`, and the pages prove what they receive from the decoder's statistics."""

from __future__ import annotations

import asyncio

from playwright.async_api import expect

from tests.support import waiting
from tests.support.pages import open_page, press_join

ROOM = "tuesday-group"
UI_TIMEOUT_MS = 30000
MEDIA_TIMEOUT = 45.0

# Frames decoded so far from one participant's track with the given label, found through the client's
# consumers (mid → participant and label) and the subscribe connection's inbound-rtp statistics.
FRAMES_DECODED = """async ([name, label]) => {
  const client = window.haven && window.haven.client;
  const pc = client && client.subscribePc;
  if (!pc) return null;
  const person = [...client.participants.values()].find(p => p.name === name);
  if (!person) return null;
  const consumer = [...client.consumers.values()].find(c => c.participant_id === person.id && c.label === label);
  if (!consumer) return null;
  let frames = null;
  (await pc.getStats()).forEach(r => {
    if (r.type === 'inbound-rtp' && r.kind === 'video' && r.mid === consumer.mid) frames = r.framesDecoded || 0;
  });
  return frames;
}"""

# What each remote tile shows and what its slot receives, to explain a failure.
MEDIA_DETAIL = """async () => {
  const client = window.haven.client;
  const stats = {};
  if (client.subscribePc) (await client.subscribePc.getStats()).forEach(r => {
    if (r.type === 'inbound-rtp' && r.kind === 'video')
      stats[r.mid] = {frames: r.framesDecoded, packets: r.packetsReceived,
      keyframes: r.keyFramesDecoded, plis: r.pliCount, firs: r.firCount};
  });
  const consumers = [...client.consumers.values()].filter(c => c.kind === 'video');
  return [...document.querySelectorAll('[data-testid="remote-video"]')].map(v => {
    const consumer = consumers.find(c => c.participant_id === v.dataset.participantId && c.label === 'camera');
    const track = v.srcObject && v.srcObject.getTracks()[0];
    return {name: v.dataset.participantName, width: v.videoWidth, mid: consumer ? consumer.mid : null,
      track: track ? {state: track.readyState, muted: track.muted} : null,
      stats: consumer ? stats[consumer.mid] : null};
  });
}"""

# Keeps every stream getDisplayMedia hands out, so a test can check that the capture was stopped.
RECORD_DISPLAY_STREAMS = """() => {
  const devices = navigator.mediaDevices;
  const original = devices.getDisplayMedia.bind(devices);
  window.displayStreams = [];
  devices.getDisplayMedia = async (constraints) => {
    const stream = await original(constraints);
    window.displayStreams.push(stream);
    return stream;
  };
}"""


async def eventually_async(make, what: str, timeout: float = MEDIA_TIMEOUT):
    """Poll an async predicate with this file's media time-out."""
    return await waiting.eventually_async(make, what, timeout)


async def join(browser, server, name: str, role: str = "participant"):
    """Open a join link, choose low-bandwidth video (2 cores for everyone), join and accept the agreement."""
    context = await browser.new_context(viewport={"width": 1280, "height": 860})
    page = await open_page(context, server.join_url(ROOM, name, role, sub=name.lower()), UI_TIMEOUT_MS)
    page.name = name
    await page.get_by_test_id("video-quality").select_option("low")
    await press_join(page)
    await expect(page.get_by_test_id("agenda-bar")).to_be_visible()
    return page


async def close_all(pages) -> None:
    for page in pages:
        await page.context.close()


async def shown_tiles(page) -> list[str]:
    return sorted(await page.get_by_test_id("remote-video").evaluate_all(
        "videos => videos.map(v => v.dataset.participantName)"))


async def expect_tiles(page, names: list[str], playing: bool = False, timeout: float = MEDIA_TIMEOUT) -> None:
    """Wait until the page shows exactly these participants' tiles (and, if asked, each video playing)."""
    async def ready():
        if await shown_tiles(page) != sorted(names):
            return False
        if not playing:
            return True
        widths = await page.get_by_test_id("remote-video").evaluate_all("videos => videos.map(v => v.videoWidth)")
        return all(width > 0 for width in widths)

    what = "playing tiles" if playing else "tiles"
    try:
        await eventually_async(ready, f"{page.name} to show {what} of {sorted(names)}", timeout)
    except AssertionError as exc:
        detail = await page.evaluate(MEDIA_DETAIL)
        raise AssertionError(f"{exc}; shown: {detail}") from None


async def expect_frames_decoding(page, name: str, label: str) -> None:
    """Wait until the page decodes frames of the named participant's track, and more of them later."""
    async def frames():
        return await page.evaluate(FRAMES_DECODED, [name, label])

    first = await eventually_async(frames, f"{page.name} to decode {name}'s {label}")
    await eventually_async(lambda: _more_than(frames, first + 5),
                           f"{page.name} to keep decoding {name}'s {label} (after {first} frames)")


async def _more_than(frames, count: int) -> bool:
    value = await frames()
    return value is not None and value > count


async def in_breakout(page, partner: str, room: str) -> None:
    """The page is in the breakout with only its partner, whose video it decodes."""
    await expect(page.get_by_test_id("breakout-location")).to_contain_text(room)
    await expect_tiles(page, [partner], playing=True)
    await expect_frames_decoding(page, partner, "camera")
    assert await shown_tiles(page) == [partner], f"{page.name} shows someone from another room"
    await expect(page.get_by_test_id("breakout-countdown")).to_contain_text("Back to the main room in")
    await expect(page.get_by_test_id("ask-for-help")).to_be_visible()
    # The timer is shorter than a minute, so the one-minute warning comes at once.
    await expect(page.get_by_test_id("breakout-warning")).to_be_visible()


async def test_host_runs_timed_breakouts_and_everyone_returns(haven_process, browser):
    names = ["Ben", "Cy", "Dee", "Eve"]
    pages = [await join(browser, haven_process, "Ana", "host")]
    try:
        for name in names:
            pages.append(await join(browser, haven_process, name))
        host, everyone = pages[0], {page.name: page for page in pages}
        await asyncio.gather(*(expect_tiles(page, [n for n in everyone if n != page.name], playing=True)
                               for page in pages))

        await host.get_by_test_id("tab-breakouts").click()
        await host.get_by_test_id("breakout-count").fill("2")
        await host.get_by_test_id("breakout-create").click()
        await expect(host.get_by_test_id("breakout-room")).to_have_count(2)
        plan = {"Ben": "Room 1", "Cy": "Room 1", "Dee": "Room 2", "Eve": "Room 2"}
        for name, room in plan.items():
            await host.locator(f'[data-testid="breakout-assign"][data-participant-name="{name}"]').select_option(room)
        for name, room in plan.items():
            members = host.locator(f'[data-testid="breakout-room"][data-room-name="{room}"] '
                                   '[data-testid="breakout-room-members"]')
            await expect(members).to_contain_text(name)
        await host.get_by_test_id("breakout-timer").fill("0.25")
        await host.get_by_test_id("breakout-open").click()

        partners = {"Ben": "Cy", "Cy": "Ben", "Dee": "Eve", "Eve": "Dee"}
        await asyncio.gather(*(in_breakout(everyone[n], partners[n], plan[n]) for n in names))
        # The host stayed in the main room, alone, and sees who is where.
        await expect(host.get_by_test_id("remote-video")).to_have_count(0)
        await expect(host.locator('[data-testid="breakout-room"][data-room-name="Room 2"]')).to_contain_text("Dee")

        # When the timer runs out everyone is back in the main room, seeing everyone else again.
        await asyncio.gather(*(expect_tiles(page, [n for n in everyone if n != page.name], playing=True)
                               for page in pages))
        for page in pages:
            await expect(page.get_by_test_id("breakout-banner")).to_be_hidden()
        await expect(host.get_by_test_id("breakout-room")).to_have_count(0)
        for page in pages:
            assert not page.errors, (page.name, page.errors)
    finally:
        await close_all(pages)


async def test_host_shares_a_screen_that_a_participant_sees(haven_process, browser):
    pages = [await join(browser, haven_process, "Ana", "host")]
    try:
        ana = pages[0]
        ben = await join(browser, haven_process, "Ben")
        pages.append(ben)
        await expect_tiles(ben, ["Ana"], playing=True)

        share = ana.get_by_test_id("share-screen")
        await share.click()
        await expect(share).to_have_attribute("aria-pressed", "true")
        screen = ben.locator('[data-testid="screen-video"][data-participant-name="Ana"]')
        await expect(screen).to_have_count(1)
        await eventually_async(lambda: screen.evaluate("v => v.videoWidth > 0"), "Ana's screen to play at Ben")
        await expect_frames_decoding(ben, "Ana", "screen")
        # Her camera tile stays beside the screen.
        await expect_tiles(ben, ["Ana"], playing=True)

        await share.click()
        await expect(share).to_have_attribute("aria-pressed", "false")
        await expect(ben.get_by_test_id("screen-video")).to_have_count(0)
        await expect(ben.get_by_test_id("screen-stage")).to_be_hidden()
        for page in pages:
            assert not page.errors, (page.name, page.errors)
    finally:
        await close_all(pages)


async def test_participant_shares_only_while_a_host_allows_it(haven_process, browser):
    pages = [await join(browser, haven_process, "Ana", "host")]
    try:
        ana = pages[0]
        for name in ("Ben", "Cy"):
            pages.append(await join(browser, haven_process, name))
        ben, cy = pages[1], pages[2]
        await expect_tiles(ben, ["Ana", "Cy"])
        await expect(ben.get_by_test_id("share-screen")).to_be_hidden()

        menu = ana.locator('[data-testid="participant-menu"][data-participant-name="Ben"]')
        await menu.click()
        allow = ana.get_by_test_id("allow-screen-share")
        await expect(allow).to_have_text("Allow screen sharing")
        await allow.click()
        share = ben.get_by_test_id("share-screen")
        await expect(share).to_be_visible()

        await ben.evaluate(RECORD_DISPLAY_STREAMS)
        await share.click()
        await expect(share).to_have_attribute("aria-pressed", "true")
        for viewer in (cy, ana):
            screen = viewer.locator('[data-testid="screen-video"][data-participant-name="Ben"]')
            await expect(screen).to_have_count(1)
        await expect_frames_decoding(cy, "Ben", "screen")

        await menu.click()
        await expect(allow).to_have_text("Stop allowing screen sharing")
        await allow.click()
        await expect(ben.get_by_test_id("room-notice")).to_contain_text("stopped allowing you to share")
        await expect(share).to_be_hidden()
        await eventually_async(
            lambda: ben.evaluate("() => !window.haven.client.sharingScreen && window.displayStreams.length === 1 && "
                                 "window.displayStreams[0].getTracks().every(t => t.readyState === 'ended')"),
            "Ben's screen capture to stop")
        for viewer in (cy, ana):
            await expect(viewer.get_by_test_id("screen-video")).to_have_count(0)
        for page in pages:
            assert not page.errors, (page.name, page.errors)
    finally:
        await close_all(pages)
