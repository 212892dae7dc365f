"""Opening Haven's page in Playwright the way a participant does: follow the link, press Join, accept."""

from __future__ import annotations

from typing import Any

PAGE_TIMEOUT_MS = 20000


async def open_page(context: Any, url: str, timeout_ms: int = PAGE_TIMEOUT_MS) -> Any:
    """Open ``url`` in a new page of the browser context; uncaught page errors collect in ``page.errors``
    and the page's own HTTP response is ``page.response``."""
    page = await context.new_page()
    page.set_default_timeout(timeout_ms)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.errors = errors
    page.response = await page.goto(url)
    return page


# Resolves once the page either asks for the member's emergency information or is done joining (in, or not).
ASKED_OR_JOINED = """() => document.getElementById('emergency-dialog').open
  || document.getElementById('join-button').textContent !== 'Joining…'"""


async def press_join(page: Any, location: str = "At home, Springfield", contact: str = "Sam, 555-0100") -> Any:
    """Press Join and accept the group agreement, as everyone entering a room does; a member then confirms
    where they are and an emergency contact (prefilled from last time in this browser, when kept)."""
    await page.get_by_test_id("join-button").click()
    await page.get_by_test_id("consent-accept").click()
    await page.wait_for_function(ASKED_OR_JOINED)
    if await page.get_by_test_id("emergency-dialog").is_visible():
        if not await page.get_by_test_id("emergency-location").input_value():
            await page.get_by_test_id("emergency-location").fill(location)
        if not await page.get_by_test_id("emergency-contact").input_value():
            await page.get_by_test_id("emergency-contact").fill(contact)
        await page.get_by_test_id("emergency-confirm").click()
    return page


async def join_in(context: Any, url: str, timeout_ms: int = PAGE_TIMEOUT_MS) -> Any:
    """Open a join link in the context and enter the room (the waiting room, if there is one)."""
    return await press_join(await open_page(context, url, timeout_ms))


async def enter_room(browser: Any, url: str, width: int = 1280, height: int = 800,
                     timeout_ms: int = PAGE_TIMEOUT_MS) -> Any:
    """Open a join link in a new browser context of that size and enter the room, until its agenda bar shows."""
    from playwright.async_api import expect

    context = await browser.new_context(viewport={"width": width, "height": height})
    page = await join_in(context, url, timeout_ms)
    await expect(page.get_by_test_id("agenda-bar")).to_be_visible()
    return page
