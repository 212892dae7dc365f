"""Before joining: a microphone level meter that moves when the microphone hears something, a speaker test,
and a clear message with what to do when the camera and microphone are blocked or missing."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from tests.support.artifacts import screenshot
from tests.support.pages import open_page, press_join
from tests.support.waiting import eventually_async

ROOM = "tuesday-group"
UI_TIMEOUT_MS = 20000
# What the browser answers when the person (or a policy) blocks the devices, or when there are none:
# getUserMedia rejects with these DOMException names.
REFUSE_MEDIA = """name => { navigator.mediaDevices.getUserMedia =
  () => Promise.reject(new DOMException('refused', name)); }"""


async def test_the_microphone_meter_moves_and_the_speakers_can_be_tested(server, browser):
    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        page = await open_page(context, server.join_url(ROOM, "Ben", sub="ben"), UI_TIMEOUT_MS)
        # Chromium's fake microphone beeps: the meter shows it.
        await eventually_async(lambda: page.get_by_test_id("mic-level").evaluate("m => m.value > 0.05"),
                               "the microphone meter to move")
        await expect(page.get_by_test_id("mic-level-hint")).to_have_text("Your microphone hears you.")
        await page.get_by_test_id("speaker-test").click()
        status = page.get_by_test_id("speaker-test-status")
        await expect(status).to_contain_text("Did you hear a tone?")
        await screenshot(page, "prejoin-checks-1280x800")

        # Microphone off for joining: the meter says so instead of showing silence.
        await page.get_by_test_id("prejoin-microphone-toggle").uncheck()
        await expect(page.get_by_test_id("mic-level-hint")).to_contain_text("Your microphone is off")
        assert not page.errors, page.errors
    finally:
        await context.close()


@pytest.mark.parametrize(("error", "words"), [
    ("NotAllowedError", "allow the camera and microphone for this site, then choose Try again"),
    ("NotFoundError", "Check that they are plugged in and switched on"),
])
async def test_blocked_or_missing_devices_say_what_to_do_and_joining_still_works(server, browser, error, words):
    context = await browser.new_context(viewport={"width": 390, "height": 844})
    try:
        await context.add_init_script(f"({REFUSE_MEDIA})({error!r})")
        page = await open_page(context, server.join_url(ROOM, "Ben", sub="ben"), UI_TIMEOUT_MS)
        message = page.locator("#media-message")
        await expect(message).to_be_visible()
        await expect(message).to_contain_text(words)
        await expect(page.get_by_test_id("media-retry")).to_be_visible()
        await expect(page.get_by_test_id("mic-level-hint")).to_contain_text("No microphone is in use")
        await screenshot(page, f"prejoin-{error}-390x844")
        await press_join(page)
        await expect(page.get_by_test_id("agenda-bar")).to_be_attached()
        await expect(page.get_by_test_id("toggle-audio")).to_be_disabled()
        assert not page.errors, page.errors
    finally:
        await context.close()
