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


async def press_join(page: Any) -> Any:
    """Press Join and accept the group agreement, as everyone entering a room does."""
    await page.get_by_test_id("join-button").click()
    await page.get_by_test_id("consent-accept").click()
    return page


async def join_in(context: Any, url: str, timeout_ms: int = PAGE_TIMEOUT_MS) -> Any:
    """Open a join link in the context and enter the room (the waiting room, if there is one)."""
    return await press_join(await open_page(context, url, timeout_ms))
