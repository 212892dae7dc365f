"""Joining a room whose server the tests/browser/conftest.py fixtures ``network`` and ``browsers`` set up: one
member's Chromium behind a really impaired link (tests/support/impairment.py), the others on the test's side.
"""

from __future__ import annotations

import json

from playwright.async_api import expect

from tests.support.pages import press_join
from tests.support.server_process import ServerProcess

ROOM = "tuesday-group"
UI_TIMEOUT_MS = 30000


async def enter(browser, server: ServerProcess, name: str, role: str = "participant", camera: bool = True,
                room: str = ROOM):
    """Open a join link in a new context of ``browser`` and enter the room (no waiting room in tests).

    The page's own ``link-quality`` events are collected from its WebSocket in ``page.link_quality``, as the
    entries each held, so a test can tell what the page was told without reaching into it.
    """
    page = await (await browser.new_context()).new_page()
    page.set_default_timeout(UI_TIMEOUT_MS)
    page.link_quality = []

    def frame(payload) -> None:
        if isinstance(payload, str) and '"link-quality"' in payload:
            page.link_quality.append(json.loads(payload)["participants"])

    page.on("websocket", lambda socket: socket.on("framereceived", frame))
    await page.goto(server.join_url(room, name.title(), role, sub=name))
    if not camera:
        await page.get_by_test_id("prejoin-camera-toggle").uncheck()
    await press_join(page)
    await expect(page.get_by_test_id("agenda-bar")).to_be_visible(timeout=UI_TIMEOUT_MS)
    return page
