"""The room's words say the state: the microphone and camera buttons name what a press does next (with
aria-pressed for the state), the check-in badge does not say "Sharing", and the end screen says that the
session ended once. Driven by clicks in real browsers against a real `haven serve`."""

from __future__ import annotations

from playwright.async_api import expect

from tests.support.artifacts import screenshot
from tests.support.pages import enter_room

ROOM = "tuesday-group"
UI_TIMEOUT_MS = 20000


async def enter(browser, url: str):
    return await enter_room(browser, url, timeout_ms=UI_TIMEOUT_MS)


async def test_buttons_badges_and_the_end_screen_say_the_state_once(server, browser):
    pages = []
    try:
        ana = await enter(browser, server.join_url(ROOM, "Ana", "host", sub="ana"))
        ben = await enter(browser, server.join_url(ROOM, "Ben", sub="ben"))
        pages = [ana, ben]

        mic, camera = ben.get_by_test_id("toggle-audio"), ben.get_by_test_id("toggle-video")
        await expect(mic).to_have_text("Mute")
        await expect(mic).to_have_attribute("aria-pressed", "false")
        await expect(camera).to_have_text("Turn camera off")
        await mic.click()
        await expect(mic).to_have_text("Unmute")
        await expect(mic).to_have_attribute("aria-pressed", "true")
        await camera.click()
        await expect(camera).to_have_text("Turn camera on")
        await expect(camera).to_have_attribute("aria-pressed", "true")
        await expect(ana.locator('.tile[data-participant-id="ben"]')).to_have_attribute("data-mic", "muted")
        await screenshot(ben, "labels-muted-camera-off-1280x800")
        await mic.click()
        await expect(mic).to_have_text("Mute")
        await camera.click()
        await expect(camera).to_have_text("Turn camera off")

        # Ben's check-in turn: the badge on his tile says so, without "Sharing" (that is screen sharing).
        await ana.get_by_test_id("checkin-start").click()
        badge = ana.locator('.tile[data-participant-id="ben"] .tile-badges')
        await expect(badge).to_have_text("Check-in turn")
        await expect(ben.get_by_test_id("checkin-status")).to_have_text(
            "It's your turn to check in. You can also pass.")
        await expect(ana.locator("#screen-room")).not_to_contain_text("Sharing")

        # The end screen says the session ended once, not in its title, its text and the status pill.
        await ana.get_by_test_id("tab-host").click()
        await ana.get_by_test_id("end-session").click()
        await ana.get_by_test_id("end-session-confirm").click()
        await expect(ben.get_by_test_id("ended-title")).to_have_text("The session has ended")
        await expect(ben.get_by_test_id("ended-message")).to_contain_text("Thank you for being part of today's group")
        await expect(ben.get_by_text("The session has ended").filter(visible=True)).to_have_count(1)
        await expect(ben.get_by_test_id("connection-status")).to_be_hidden()
        await screenshot(ben, "ended-screen-1280x800")
        assert not any(p.errors for p in pages), [p.errors for p in pages]
    finally:
        for page in pages:
            await page.context.close()
