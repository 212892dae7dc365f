""" "Test my setup" in real Chromium against a real `haven serve`: preview, level meter, test tone, and a
connection test whose media goes through the SFU's shared UDP port and back."""

from __future__ import annotations

import json
import re

from playwright.async_api import async_playwright

from tests.browser.conftest import CHROMIUM, WEBRTC_ARGS
from tests.support.waiting import eventually_async

# Without the fake permission UI, a camera request nobody answers is refused, as when a person chooses Block.
PROMPTING_ARGS = [arg for arg in WEBRTC_ARGS if arg != "--use-fake-ui-for-media-stream"]


async def open_setup(browser, url: str):
    context = await browser.new_context()
    page = await context.new_page()
    await page.goto(url)
    return context, page


async def test_setup_page_previews_meters_plays_and_passes_the_connection_test(haven_process, browser):
    context, page = await open_setup(browser, f"{haven_process.base_url}/setup#invite=member-invite-secret")
    sent: list[dict] = []
    page.on(
        "request",
        lambda request: (
            sent.append({"url": request.url, "body": request.post_data})
            if request.method == "POST" and request.url.endswith("/api/v1/setup-check")
            else None
        ),
    )
    try:
        preview = page.get_by_test_id("camera-preview")

        async def camera_shown():
            return await preview.evaluate("(v) => v.videoWidth > 0 && !v.paused")

        await eventually_async(camera_shown, "the camera preview to show a picture", 20)
        assert await page.get_by_test_id("camera-status").get_attribute("data-state") == "working"
        assert await page.get_by_test_id("device-advice").is_hidden()

        meter = page.get_by_test_id("mic-level")

        async def meter_moved():
            return float(await meter.get_attribute("data-peak") or 0) > 0.01

        await eventually_async(meter_moved, "the microphone meter to move with the fake microphone's beeps", 20)

        await page.get_by_test_id("speaker-test").click()
        assert "tone" in (await page.get_by_test_id("speaker-status").text_content() or "")

        await page.get_by_test_id("connection-test").click()
        status = page.get_by_test_id("connection-status")

        async def finished():
            return await status.get_attribute("data-state") in ("passed", "failed")

        await eventually_async(finished, "the connection test to finish", 40)
        assert await status.get_attribute("data-state") == "passed", await status.text_content()
        udp = page.get_by_test_id("result-udp")
        assert await udp.get_attribute("data-udp") == "true"
        assert (await udp.text_content() or "").startswith("UDP works")
        assert re.fullmatch(r"Round trip: \d+ ms", await page.get_by_test_id("result-rtt").text_content() or "")
        assert re.fullmatch(r"Packet loss: \d+\.\d%", await page.get_by_test_id("result-loss").text_content() or "")
        assert await page.get_by_test_id("result-verdict").text_content() == "Your connection is ready."
        assert await page.get_by_test_id("result-support").text_content()
        # The invite travels in the body of the start request, never in a URL the server sees.
        assert [json.loads(r["body"]) for r in sent] == [{"invite": "member-invite-secret"}]
    finally:
        await context.close()


async def test_blocked_camera_shows_what_to_do(haven_process):
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=PROMPTING_ARGS)
        try:
            await check_blocked_camera_advice(browser, f"{haven_process.base_url}/setup")
        finally:
            await browser.close()


async def check_blocked_camera_advice(browser, url: str) -> None:
    context, page = await open_setup(browser, url)
    try:
        advice = page.get_by_test_id("device-advice")

        async def advice_shown():
            return await advice.is_visible()

        await eventually_async(advice_shown, "the blocked-camera advice", 20)
        text = await advice.text_content() or ""
        assert "blocking the camera and microphone" in text and "Allow" in text
        assert await page.get_by_test_id("camera-status").get_attribute("data-state") == "failed"
        assert await page.get_by_test_id("retry-devices").is_visible()
        await page.get_by_test_id("connection-test").click()
        assert "allow one of them first" in (await page.get_by_test_id("connection-status").text_content() or "")
    finally:
        await context.close()
