"""Host tools for the whole room, driven from the Host tab: mute everyone (members unmute themselves) and
ask everyone to turn their camera on (a request each member answers; nothing is switched on)."""

from __future__ import annotations

import asyncio

import pytest
from playwright.async_api import expect

from tests.support.artifacts import screenshot
from tests.support.pages import enter_room

ROOM = "tuesday-group"
UI_TIMEOUT_MS = 20000


async def enter(browser, url: str, size: tuple[int, int] = (1280, 800)):
    return await enter_room(browser, url, size[0], size[1], timeout_ms=UI_TIMEOUT_MS)


# The therapist's tools work the same from a phone, and a member on a phone gets the same requests.
@pytest.mark.parametrize("size", [(1280, 800), (390, 844)], ids=["desktop", "phone"])
async def test_mute_everyone_and_ask_everyone_for_cameras_are_requests_members_answer(server, browser, size):
    pages = []
    shown = f"{size[0]}x{size[1]}"
    try:
        ana = await enter(browser, server.join_url(ROOM, "Ana", "host", sub="ana"), size)
        ben = await enter(browser, server.join_url(ROOM, "Ben", sub="ben"))
        cal = await enter(browser, server.join_url(ROOM, "Cal", sub="cal"), size)
        pages = [ana, ben, cal]
        for page in (ben, cal):
            await expect(page.get_by_test_id("toggle-audio")).to_be_enabled()
        await expect(ana.locator('.tile[data-participant-id="cal"]')).to_have_attribute("data-mic", "on")

        await ana.get_by_test_id("tab-host").click()
        await ana.get_by_test_id("mute-all").click()
        await expect(ana.get_by_test_id("everyone-status")).to_have_text(
            "2 microphones muted. Members can unmute themselves when they are ready.")
        for page in (ben, cal):
            await expect(page.get_by_test_id("toggle-audio")).to_have_text("Unmute")
            await expect(page.get_by_test_id("room-notice")).to_contain_text("turned off your microphone")
        await expect(ana.get_by_test_id("toggle-audio")).to_have_text("Mute")
        await expect(ana.locator('.tile[data-participant-id="ben"]')).to_have_attribute("data-mic", "muted")

        # Ben unmutes himself: that is always his to do.
        await ben.get_by_test_id("toggle-audio").click()
        await expect(ana.locator('.tile[data-participant-id="ben"]')).to_have_attribute("data-mic", "on")

        # Cal turned his camera off; asking everyone only asks him, and nothing switches on by itself.
        await cal.get_by_test_id("toggle-video").click()
        await expect(ana.locator('.tile[data-participant-id="cal"]')).to_have_attribute("data-camera", "off")
        await ana.get_by_test_id("ask-all-camera").click()
        await expect(ana.get_by_test_id("everyone-status")).to_contain_text(
            "1 member was asked to turn their camera on")
        await expect(cal.get_by_test_id("unmute-prompt")).to_be_visible()
        await expect(cal.get_by_test_id("unmute-prompt")).to_contain_text("invites you to turn your camera on")
        await expect(ben.get_by_test_id("unmute-prompt")).to_be_hidden()
        await screenshot(cal, f"ask-camera-on-{shown}")
        await screenshot(ana, f"host-everyone-tools-{shown}")
        await asyncio.sleep(1)
        await expect(cal.get_by_test_id("toggle-video")).to_have_text("Turn camera on")
        await cal.get_by_test_id("unmute-decline").click()
        await expect(ana.locator('.tile[data-participant-id="cal"]')).to_have_attribute("data-camera", "off")
        assert not any(p.errors for p in pages), [p.errors for p in pages]
    finally:
        for page in pages:
            await page.context.close()


async def test_lower_all_hands_lowers_every_members_hand_and_empties_the_hosts_list(server, browser):
    pages = []
    try:
        ana = await enter(browser, server.join_url(ROOM, "Ana", "host", sub="ana"))
        ben = await enter(browser, server.join_url(ROOM, "Ben", sub="ben"))
        cal = await enter(browser, server.join_url(ROOM, "Cal", sub="cal"))
        pages = [ana, ben, cal]

        # Two members raise their hands; the host sees both, in order, in the list and on their tiles.
        for page in (ben, cal):
            await page.get_by_test_id("raise-hand").click()
            await expect(page.get_by_test_id("raise-hand")).to_have_attribute("aria-pressed", "true")
            await expect(page.get_by_test_id("raise-hand")).to_have_text("Lower hand")
        queue = ana.get_by_test_id("hand-queue-item")
        await expect(queue).to_have_count(2)
        await expect(queue.nth(0)).to_have_attribute("data-participant-name", "Ben")
        await expect(queue.nth(1)).to_have_attribute("data-participant-name", "Cal")
        await expect(ana.get_by_test_id("hands-status")).to_have_text("2 hands are raised, in order:")
        await expect(ana.locator('.tile[data-participant-id="cal"] .tile-badges')).to_have_text("Hand raised")

        # One press in the Host tab lowers them all.
        await ana.get_by_test_id("tab-host").click()
        await ana.get_by_test_id("host-lower-all-hands").click()
        await expect(ana.get_by_test_id("everyone-status")).to_have_text("All hands are lowered.")
        for page in (ben, cal):
            await expect(page.get_by_test_id("raise-hand")).to_have_attribute("aria-pressed", "false")
            await expect(page.get_by_test_id("raise-hand")).to_have_text("Raise hand")
            await expect(page.get_by_test_id("hands-status")).to_have_text(
                "Raise your hand to let the therapist know you'd like to speak.")
        await ana.get_by_test_id("tab-session").click()
        await expect(queue).to_have_count(0)
        await expect(ana.get_by_test_id("hands-status")).to_have_text("No hands are raised.")
        await expect(ana.get_by_test_id("lower-all-hands")).to_be_hidden()
        for member in ("ben", "cal"):
            await expect(ana.locator(f'.tile[data-participant-id="{member}"] .tile-badges')).to_be_hidden()
        await screenshot(ana, "hands-all-lowered-1280x800")

        # The same tool sits beside the list in the Session tab once a hand is up again.
        await ben.get_by_test_id("raise-hand").click()
        await expect(queue).to_have_count(1)
        await ana.get_by_test_id("lower-all-hands").click()
        await expect(ben.get_by_test_id("raise-hand")).to_have_attribute("aria-pressed", "false")
        await expect(queue).to_have_count(0)
        assert not any(p.errors for p in pages), [p.errors for p in pages]
    finally:
        for page in pages:
            await page.context.close()
