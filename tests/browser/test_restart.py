"""A server restart in the middle of a session, as the people in it see it: they are told the service is
restarting, come back by themselves to the room (not the waiting room) with the agenda where it was, while
someone who was waiting still waits."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from tests.support.artifacts import screenshot
from tests.support.pages import join_in
from tests.support.server_process import ServerProcess

ROOM = "tuesday-group"
UI_TIMEOUT_MS = 20000
BACK_MS = 45000  # the client reconnects with backoff and jitter


@pytest.fixture
def server(tmp_path):
    server = ServerProcess(tmp_path, "[session]\nwaiting_room = true\n")
    server.start()
    yield server
    server.stop()


async def enter(browser, url: str):
    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    return await join_in(context, url, UI_TIMEOUT_MS)


async def test_members_return_to_the_room_and_the_agenda_after_a_restart(server, browser):
    pages = []
    try:
        ana = await enter(browser, server.join_url(ROOM, "Ana", "host", sub="ana"))
        await expect(ana.get_by_test_id("agenda-bar")).to_be_visible()
        ben = await enter(browser, server.join_url(ROOM, "Ben", sub="ben"))
        pages = [ana, ben]
        await ana.locator('[data-testid="waiting-list"] [data-testid="admit-button"]'
                          '[data-participant-name="Ben"]').click()
        await expect(ben.get_by_test_id("agenda-bar")).to_be_visible()
        wes = await enter(browser, server.join_url(ROOM, "Wes", sub="wes"))
        pages.append(wes)
        await expect(wes.get_by_test_id("waiting-screen")).to_be_visible()
        await ana.get_by_test_id("agenda-template").select_option("default")
        await ana.get_by_test_id("agenda-start").click()
        await ana.get_by_test_id("agenda-next").click()
        await expect(ben.get_by_test_id("agenda-phase")).to_have_text("Topic introduction")

        server.stop()
        server.start()

        for page in (ana, ben):
            await expect(page.get_by_test_id("connection-status")).to_have_text("Connected", timeout=BACK_MS)
            await expect(page.get_by_test_id("agenda-phase")).to_have_text("Topic introduction")
            await expect(page.get_by_test_id("waiting-screen")).to_be_hidden()
        await expect(ben.locator('.tile[data-participant-id="ana"]')).to_have_count(1)
        await expect(wes.get_by_test_id("connection-status")).to_have_text("Connected", timeout=BACK_MS)
        await expect(wes.get_by_test_id("waiting-screen")).to_be_visible()
        await screenshot(ben, "after-restart-member-1280x800")
        assert not any(p.errors for p in pages), [p.errors for p in pages]
    finally:
        for page in pages:
            await page.context.close()
