"""Banners belong to the room they are about and go when their cause ends: inside breakouts nobody sees
"Someone who left has the floor" for a floor holder in another room, a message to every room and a help
request are cleared once the rooms close, and the floor banner comes back for everyone in the main room."""

from __future__ import annotations

from playwright.async_api import expect

from tests.support.artifacts import screenshot
from tests.support.pages import open_page, press_join
from tests.support.server_process import ServerProcess

ROOM = "tuesday-group"
UI_TIMEOUT_MS = 20000


async def enter(browser, server: ServerProcess, name: str, role: str = "participant"):
    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    page = await open_page(context, server.join_url(ROOM, name, role, sub=name.lower()), UI_TIMEOUT_MS)
    await page.get_by_test_id("video-quality").select_option("low")
    await press_join(page)
    await expect(page.get_by_test_id("agenda-bar")).to_be_visible()
    return page


async def test_floor_broadcast_and_help_banners_stay_in_their_room_and_clear_when_breakouts_close(server, browser):
    pages = []
    try:
        ana = await enter(browser, server, "Ana", "host")
        ben = await enter(browser, server, "Ben")
        cal = await enter(browser, server, "Cal")
        pages = [ana, ben, cal]

        await ana.locator('[data-testid="participant-menu"][data-participant-name="Ben"]').click()
        await ana.get_by_test_id("give-floor").click()
        await expect(cal.get_by_test_id("floor-banner")).to_have_text("Ben has the floor")

        await ana.get_by_test_id("tab-breakouts").click()
        await ana.get_by_test_id("breakout-count").fill("2")
        await ana.get_by_test_id("breakout-create").click()
        await expect(ana.get_by_test_id("breakout-room")).to_have_count(2)
        for name, room in (("Ben", "Room 1"), ("Cal", "Room 2")):
            await ana.locator(f'[data-testid="breakout-assign"][data-participant-name="{name}"]').select_option(room)
            await expect(ana.locator(f'[data-testid="breakout-room"][data-room-name="{room}"] '
                                     '[data-testid="breakout-room-members"]')).to_contain_text(name)
        await ana.get_by_test_id("breakout-open").click()
        await expect(cal.get_by_test_id("breakout-location")).to_contain_text("Room 2")

        # In Room 2 the floor holder is elsewhere: no floor banner, and never "Someone who left".
        await expect(cal.get_by_test_id("floor-banner")).to_be_hidden()
        await expect(cal.locator("#screen-room")).not_to_contain_text("Someone who left")
        await expect(ben.get_by_test_id("floor-banner")).to_have_text("You have the floor")

        # A message to every room, and a help request from Room 2.
        await ana.get_by_test_id("breakout-broadcast-input").fill("Five more minutes, please.")
        await ana.get_by_test_id("breakout-broadcast-send").click()
        await expect(cal.get_by_test_id("breakout-message-text")).to_have_text("Five more minutes, please.")
        await cal.get_by_test_id("ask-for-help").click()
        await expect(ana.get_by_test_id("room-notice")).to_contain_text("asked for help")
        await screenshot(cal, "banners-in-breakout-1280x800")

        # The rooms close: the message and the help request go, and the floor banner is back for Cal.
        await ana.get_by_test_id("breakout-close-all").click()
        await expect(cal.get_by_test_id("breakout-location")).to_be_hidden()
        await expect(cal.get_by_test_id("breakout-message")).to_be_hidden()
        await expect(ana.get_by_test_id("room-notice")).to_be_hidden()
        await expect(cal.get_by_test_id("floor-banner")).to_have_text("Ben has the floor")
        await expect(cal.locator("#banners > *:visible")).to_have_count(1)
        assert not any(p.errors for p in pages), [p.errors for p in pages]
    finally:
        for page in pages:
            await page.context.close()
