"""Taking part at one's own comfort, as a member does it: join with the camera off, hide one's own video,
quiet reactions on the tile, a check-in typed into the round; the choices stay in the browser for next time."""

from __future__ import annotations

from playwright.async_api import expect

from tests.support.artifacts import screenshot
from tests.support.pages import open_page, press_join

ROOM = "tuesday-group"
UI_TIMEOUT_MS = 20000


async def test_a_member_joins_camera_off_hides_self_view_reacts_and_types_a_check_in(server, browser):
    contexts = []
    try:
        ana_context = await browser.new_context(viewport={"width": 1280, "height": 800})
        ben_context = await browser.new_context(viewport={"width": 1280, "height": 800})
        contexts = [ana_context, ben_context]
        ana = await press_join(await open_page(ana_context, server.join_url(ROOM, "Ana", "host", sub="ana")))
        await expect(ana.get_by_test_id("agenda-bar")).to_be_visible()

        # Ben chooses, before joining, to come in with his camera off.
        ben = await open_page(ben_context, server.join_url(ROOM, "Ben", sub="ben"), UI_TIMEOUT_MS)
        await ben.get_by_test_id("prejoin-camera-toggle").uncheck()
        await press_join(ben)
        await expect(ben.get_by_test_id("agenda-bar")).to_be_visible()
        await expect(ben.get_by_test_id("toggle-video")).to_have_text("Turn camera on")
        await expect(ana.locator('.tile[data-participant-id="ben"]')).to_have_attribute("data-camera", "off")

        # He hides his own video from himself; Ana's tile takes the room.
        await ben.get_by_test_id("hide-self-view").check()
        await expect(ben.locator("#local-tile")).to_be_hidden()
        await expect(ben.locator('#tiles > .tile[data-participant-id="ana"]')).to_be_visible()

        # A quiet reaction shows on his tile at Ana's for a few seconds, then goes.
        await ben.get_by_test_id("react-heart").click()
        reaction = ana.locator('.tile[data-participant-id="ben"] [data-testid="tile-reaction"]')
        await expect(reaction).to_have_text("♥ Heart")
        await screenshot(ana, "reaction-on-tile-1280x800")
        await expect(reaction).to_have_count(0, timeout=10000)

        # Camera off, he still checks in: typed into the round, read by the host.
        await ana.get_by_test_id("checkin-start").click()
        await expect(ben.get_by_test_id("checkin-text-hint")).to_have_text("Only the hosts read it. It is not saved.")
        await ben.get_by_test_id("checkin-text-input").fill("Tired today, but I want to be here.")
        await ben.get_by_test_id("checkin-text-send").click()
        typed = ana.locator('[data-testid="checkin-person"][data-participant-name="Ben"] [data-testid="checkin-typed"]')
        await expect(typed).to_have_text("Tired today, but I want to be here.")
        await screenshot(ben, "typed-check-in-1280x800")

        # Next time, in the same browser, his choices are still his.
        await ben.get_by_test_id("leave-button").click()
        await expect(ben.get_by_test_id("ended-title")).to_have_text("You left the session")
        again = await open_page(ben_context, server.join_url(ROOM, "Ben", sub="ben"), UI_TIMEOUT_MS)
        await expect(again.get_by_test_id("prejoin-camera-toggle")).not_to_be_checked()
        await press_join(again)
        await expect(again.get_by_test_id("agenda-bar")).to_be_visible()
        await expect(again.get_by_test_id("hide-self-view")).to_be_checked()
        await expect(again.locator("#local-tile")).to_be_hidden()
        assert not ana.errors and not ben.errors and not again.errors, ana.errors + ben.errors + again.errors
    finally:
        for context in contexts:
            await context.close()
