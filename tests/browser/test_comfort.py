"""Taking part at one's own comfort, as a member does it: join with the camera off, hide one's own video,
quiet reactions on the tile, a check-in typed into the round; the choices stay in the browser for next time."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from tests.support.artifacts import screenshot
from tests.support.pages import enter_room, open_page, press_join

ROOM = "tuesday-group"
UI_TIMEOUT_MS = 20000


@pytest.mark.parametrize("size", [(1280, 800), (390, 844)], ids=["desktop", "phone"])
async def test_a_member_joins_camera_off_hides_self_view_reacts_and_types_a_check_in(server, browser, size):
    contexts = []
    shown = f"{size[0]}x{size[1]}"
    try:
        ana_context = await browser.new_context(viewport={"width": 1280, "height": 800})
        ben_context = await browser.new_context(viewport={"width": size[0], "height": size[1]})
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
        await screenshot(ben, f"typed-check-in-{shown}")

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


async def test_when_the_host_allows_it_the_group_reads_a_typed_check_in_on_a_phone_too(server, browser):
    pages = []
    try:
        ana = await enter_room(browser, server.join_url(ROOM, "Ana", "host", sub="ana"), timeout_ms=UI_TIMEOUT_MS)
        ben = await enter_room(browser, server.join_url(ROOM, "Ben", sub="ben"), 390, 844, UI_TIMEOUT_MS)
        cal = await enter_room(browser, server.join_url(ROOM, "Cal", sub="cal"), 390, 844, UI_TIMEOUT_MS)
        pages = [ana, ben, cal]

        # The host lets everyone read typed check-ins, in the Host tab.
        await ana.get_by_test_id("tab-host").click()
        await ana.get_by_test_id("room-checkin-text-visible").check()
        await ana.get_by_test_id("tab-session").click()
        await ana.get_by_test_id("checkin-start").click()

        # Ben, on his phone, is told before he types that the group will read it, and sends it.
        await expect(ben.get_by_test_id("checkin-text-hint")).to_have_text(
            "Everyone in the group reads it, as if you had said it. It is not saved.")
        await ben.get_by_test_id("checkin-text-input").fill("Slept badly, a bit anxious, glad to be here.")
        await ben.get_by_test_id("checkin-text-send").click()
        ben_typed = '[data-testid="checkin-person"][data-participant-name="Ben"] [data-testid="checkin-typed"]'
        for page in (ana, cal):
            await expect(page.locator(ben_typed)).to_have_text("Slept badly, a bit anxious, glad to be here.")
        await screenshot(cal, "typed-check-in-read-by-member-390x844")

        # Switched back off, the next typed check-in reaches the hosts only.
        await ana.get_by_test_id("tab-host").click()
        await ana.get_by_test_id("room-checkin-text-visible").uncheck()
        await ana.get_by_test_id("tab-session").click()
        await ana.get_by_test_id("checkin-next").click()
        await expect(cal.get_by_test_id("checkin-text-hint")).to_have_text("Only the hosts read it. It is not saved.")
        await cal.get_by_test_id("checkin-text-input").fill("Okay today.")
        await cal.get_by_test_id("checkin-text-send").click()
        cal_typed = '[data-testid="checkin-person"][data-participant-name="Cal"] [data-testid="checkin-typed"]'
        await expect(ana.locator(cal_typed)).to_have_text("Okay today.")
        await expect(ben.locator(cal_typed)).to_be_hidden()
        assert not any(p.errors for p in pages), [p.errors for p in pages]
    finally:
        for page in pages:
            await page.context.close()
