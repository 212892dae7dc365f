"""The room's layout as a person sees it, on a desktop (1280x800) and a phone (390x844): tiles never overlap,
names are not cut to one letter, tile tools stay off the faces and the control bar off the tiles, the phone
shows the other members without scrolling, banners stack (one visible and a count), and speaker view, a pin
and a host's spotlight show one person large. Screenshots go to the test artifacts."""

from __future__ import annotations

import math
import struct
import wave

from playwright.async_api import expect

from tests.browser.conftest import CHROMIUM, WEBRTC_ARGS
from tests.support.artifacts import screenshot
from tests.support.pages import join_in

ROOM = "tuesday-group"
UI_TIMEOUT_MS = 20000
DESKTOP = (1280, 800)
PHONE = (390, 844)

# Every shown tile's box, its name's box and text, its tools' boxes, and the control bar's box.
GEOMETRY = """() => {
  const box = (el) => {
    const r = el.getBoundingClientRect();
    return {x: r.x, y: r.y, width: r.width, height: r.height};
  };
  const tiles = [...document.querySelectorAll('#tiles > .tile, #tiles > .screen-stage')].filter((t) => !t.hidden)
    .map((t) => {
      const name = t.querySelector('.tile-name');
      return {id: t.dataset.layoutId, box: box(t), focused: t.dataset.focused === 'true',
              name: name ? name.textContent : null, nameCut: name ? name.scrollWidth > name.clientWidth + 1 : false,
              tools: [...t.querySelectorAll('.tile-menu, .tile-pin')]
                .filter((b) => Number(getComputedStyle(b).opacity) > 0.5).map(box)};
    });
  return {tiles, controls: box(document.querySelector('.controls')), viewport: {width: innerWidth, height: innerHeight},
          banners: [...document.querySelectorAll('#banners > *')].filter((b) => b.offsetParent !== null).length};
}"""


def overlap(a: dict, b: dict) -> bool:
    return a["x"] < b["x"] + b["width"] - 1 and b["x"] < a["x"] + a["width"] - 1 and \
        a["y"] < b["y"] + b["height"] - 1 and b["y"] < a["y"] + a["height"] - 1


def face(tile: dict) -> dict:
    """The middle of a tile, where a face is."""
    return {"x": tile["x"] + tile["width"] * 0.25, "y": tile["y"] + tile["height"] * 0.25,
            "width": tile["width"] * 0.5, "height": tile["height"] * 0.5}


async def assert_layout_sound(page, expected_tiles: int, phone: bool) -> dict:
    """Assert what a person sees of the tiles; return the geometry."""
    geometry = await page.evaluate(GEOMETRY)
    tiles = geometry["tiles"]
    assert len(tiles) == expected_tiles, [t["id"] for t in tiles]
    for i, a in enumerate(tiles):
        for b in tiles[i + 1:]:
            assert not overlap(a["box"], b["box"]), f"tiles {a['id']} and {b['id']} overlap: {a['box']} {b['box']}"
        if a["name"] is not None:
            assert not a["nameCut"] and len(a["name"]) > 1, f"the name {a['name']!r} is cut short on its tile"
        for tool in a["tools"]:
            assert not overlap(tool, face(a["box"])), f"a tool covers the face on {a['id']}'s tile"
        assert not overlap(a["box"], geometry["controls"]), f"the control bar covers {a['id']}'s tile"
        if phone:
            # Every member is on the first screen: nothing to scroll to see them.
            assert a["box"]["y"] >= 0 and a["box"]["y"] + a["box"]["height"] <= geometry["controls"]["y"] + 1, \
                f"{a['id']}'s tile is off the screen: {a['box']}"
        assert a["box"]["width"] >= 120, f"{a['id']}'s tile is only {a['box']['width']}px wide"
    return geometry


async def enter(browser, url: str, size: tuple[int, int]):
    context = await browser.new_context(viewport={"width": size[0], "height": size[1]})
    page = await join_in(context, url, UI_TIMEOUT_MS)
    await expect(page.get_by_test_id("agenda-bar")).to_be_attached()
    return page


async def test_a_group_of_four_on_desktop_and_phone(server, browser):
    pages = []
    try:
        ana = await enter(browser, server.join_url(ROOM, "Ana", "host", sub="ana"), DESKTOP)
        jordan = await enter(browser, server.join_url(ROOM, "Jordan", sub="jordan"), PHONE)
        ben = await enter(browser, server.join_url(ROOM, "Benedikt", sub="ben"), DESKTOP)
        cal = await enter(browser, server.join_url(ROOM, "Cal", sub="cal"), PHONE)
        pages = [ana, jordan, ben, cal]
        for page in pages:
            await expect(page.locator("#tiles > .tile")).to_have_count(4)

        await assert_layout_sound(ana, 4, phone=False)
        await screenshot(ana, "layout-grid-host-1280x800")
        await assert_layout_sound(ben, 4, phone=False)
        await assert_layout_sound(jordan, 4, phone=True)
        await screenshot(jordan, "layout-grid-member-390x844")

        # Badges (a raised hand, the check-in turn) never squeeze a name to one letter.
        await ben.get_by_test_id("raise-hand").click()
        await ana.get_by_test_id("checkin-start").click()
        await expect(ana.locator('.tile[data-participant-id="jordan"] .tile-badges')).to_have_text("Check-in turn")
        await expect(ana.locator('.tile[data-participant-id="ben"] .tile-badges')).to_have_text("Hand raised")
        await assert_layout_sound(ana, 4, phone=False)
        await assert_layout_sound(cal, 4, phone=True)

        # Two notices at once: one is shown, with a count of the other.
        await ana.locator('[data-testid="participant-menu"][data-participant-name="Cal"]').click()
        await ana.get_by_test_id("give-floor").click()
        await expect(cal.get_by_test_id("floor-banner")).to_have_text("You have the floor")
        await ana.locator('[data-testid="participant-menu"][data-participant-name="Cal"]').click()
        await ana.get_by_test_id("mute-microphone").click()
        await expect(cal.get_by_test_id("room-notice")).to_contain_text("turned off your microphone")
        await expect(cal.get_by_test_id("floor-banner")).to_be_hidden()
        await expect(cal.get_by_test_id("banner-more")).to_have_text("1 more notice")
        geometry = await assert_layout_sound(cal, 4, phone=True)
        assert geometry["banners"] == 1
        await screenshot(cal, "layout-banners-member-390x844")
        await cal.get_by_test_id("banner-more").click()
        await expect(cal.get_by_test_id("floor-banner")).to_be_visible()
        await expect(cal.get_by_test_id("room-notice")).to_be_hidden()

        # Speaker view: one tile large, the others in a strip, still apart and readable.
        await ben.get_by_test_id("view-mode").click()
        await expect(ben.get_by_test_id("view-mode")).to_have_attribute("aria-pressed", "true")
        await ben.get_by_test_id("pin-tile").and_(ben.locator('[data-participant-name="Ana"]')).click()
        await expect(ben.locator('.tile[data-participant-id="ana"]')).to_have_attribute("data-focused", "true")
        geometry = await assert_layout_sound(ben, 4, phone=False)
        focused = next(t for t in geometry["tiles"] if t["focused"])
        assert all(focused["box"]["width"] > 2 * t["box"]["width"] for t in geometry["tiles"] if not t["focused"])
        await screenshot(ben, "layout-pinned-1280x800")
        # The choice of view stays with the member in this browser.
        assert await ben.evaluate("localStorage.getItem('haven.view-mode')") == "speaker"

        # A host's spotlight shows Jordan large for everyone, on the phone too.
        await ana.locator('[data-testid="participant-menu"][data-participant-name="Jordan"]').click()
        await ana.get_by_test_id("spotlight").click()
        for page in (cal, ben):
            await expect(page.locator('.tile[data-participant-id="jordan"]')).to_have_attribute("data-focused", "true")
        await assert_layout_sound(cal, 4, phone=True)
        await screenshot(cal, "layout-spotlight-member-390x844")
        assert not any(p.errors for p in pages), [p.errors for p in pages]
    finally:
        for page in pages:
            await page.context.close()


async def test_a_shared_screen_is_large_with_a_strip_of_readable_tiles_beside_or_below_it(server, browser):
    pages = []
    try:
        ana = await enter(browser, server.join_url(ROOM, "Ana", "host", sub="ana"), DESKTOP)
        ben = await enter(browser, server.join_url(ROOM, "Benedikt", sub="ben"), DESKTOP)
        cal = await enter(browser, server.join_url(ROOM, "Cal", sub="cal"), PHONE)
        dee = await enter(browser, server.join_url(ROOM, "Dee", sub="dee"), DESKTOP)
        pages = [ana, ben, cal, dee]
        for page in pages:
            await expect(page.locator("#tiles > .tile")).to_have_count(4)

        await ana.get_by_test_id("share-screen").click()
        for page in (ben, cal):
            await expect(page.get_by_test_id("screen-stage")).to_be_visible()
            await expect(page.get_by_test_id("screen-stage")).to_have_attribute("data-focused", "true")
        geometry = await assert_layout_sound(ben, 5, phone=False)
        stage = next(t for t in geometry["tiles"] if t["id"] == "~screen")
        strip = [t for t in geometry["tiles"] if t["id"] != "~screen"]
        assert all(t["box"]["x"] >= stage["box"]["x"] + stage["box"]["width"] for t in strip), "the strip is beside it"
        assert stage["box"]["width"] > 500
        await screenshot(ben, "layout-screen-share-1280x800")
        await assert_layout_sound(cal, 5, phone=True)
        await screenshot(cal, "layout-screen-share-390x844")
        assert not any(p.errors for p in pages), [p.errors for p in pages]
    finally:
        for page in pages:
            await page.context.close()


def write_tone(path) -> str:
    """A steady 440 Hz tone at -12 dBFS, 4 s (Chromium loops it): a fake microphone that is clearly speaking.
    Chromium's default fake microphone only beeps briefly each second, below the speaking threshold on average."""
    rate = 48000
    amplitude = int(32767 * 10 ** (-12 / 20))
    frames = b"".join(struct.pack("<h", int(amplitude * math.sin(2 * math.pi * 440 * i / rate)))
                      for i in range(rate * 4))
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(frames)
    return str(path)


async def test_speaker_view_with_no_pin_shows_whoever_is_speaking_large(server, browser, tmp_path):
    tone = write_tone(tmp_path / "tone.wav")
    speaking = await browser.browser_type.launch(
        executable_path=CHROMIUM, headless=True, args=[*WEBRTC_ARGS, f"--use-file-for-fake-audio-capture={tone}"])
    pages = []
    try:
        ana = await enter(speaking, server.join_url(ROOM, "Ana", "host", sub="ana"), DESKTOP)
        ben = await enter(speaking, server.join_url(ROOM, "Ben", sub="ben"), DESKTOP)
        cal = await enter(speaking, server.join_url(ROOM, "Cal", sub="cal"), DESKTOP)
        pages = [ana, ben, cal]
        for page in pages:
            await expect(page.locator("#tiles > .tile")).to_have_count(3)

        # Only Cal's microphone is on.
        for page in (ana, ben):
            await page.get_by_test_id("toggle-audio").click()
            await expect(page.get_by_test_id("toggle-audio")).to_have_text("Unmute")
        await ana.get_by_test_id("view-mode").click()
        await expect(ana.get_by_test_id("view-mode")).to_have_attribute("aria-pressed", "true")
        await expect(ana.locator('.tile[data-participant-id="cal"]')).to_have_attribute("data-focused", "true")
        geometry = await assert_layout_sound(ana, 3, phone=False)
        focused = next(t for t in geometry["tiles"] if t["focused"])
        assert all(focused["box"]["width"] > 2 * t["box"]["width"] for t in geometry["tiles"] if not t["focused"])
        await screenshot(ana, "layout-speaker-view-1280x800")

        # Cal falls silent and Ben speaks: the large tile follows, with nobody pinned.
        await ben.get_by_test_id("toggle-audio").click()
        await cal.get_by_test_id("toggle-audio").click()
        await expect(ana.locator('.tile[data-participant-id="ben"]')).to_have_attribute("data-focused", "true")
        await expect(ana.locator('.tile[data-participant-id="cal"]')).to_have_attribute("data-focused", "false")
        await assert_layout_sound(ana, 3, phone=False)

        # Grid view again: nobody large.
        await ana.get_by_test_id("view-mode").click()
        await expect(ana.locator('#tiles > .tile[data-focused="true"]')).to_have_count(0)
        assert not any(p.errors for p in pages), [p.errors for p in pages]
    finally:
        for page in pages:
            await page.context.close()
        await speaking.close()
