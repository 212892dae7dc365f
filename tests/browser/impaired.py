"""Joining a room whose server the tests/browser/conftest.py fixtures ``network`` and ``browsers`` set up: one
member's Chromium behind a really impaired link (tests/support/impairment.py), the others on the test's side.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from playwright.async_api import expect

from tests.support.pages import press_join
from tests.support.server_process import ServerProcess

ROOM = "tuesday-group"
UI_TIMEOUT_MS = 30000
# Every media connection the page has made is up (ICE and DTLS done), and it has made one to publish.
MEDIA_CONNECTED = """() => {
  const client = window.haven && window.haven.client;
  if (!client || !client.publishPc) return false;
  return [client.publishPc, client.subscribePc].every(pc => !pc || pc.connectionState === 'connected');
}"""


async def enter(browser, server: ServerProcess, name: str, role: str = "participant", camera: bool = True,
                room: str = ROOM, loaded: Callable[[], object] | None = None):
    """Open a join link in a new context of ``browser`` and enter the room (no waiting room in tests).

    The page's own ``link-quality`` events are collected from its WebSocket in ``page.link_quality``, as the
    entries each held, so a test can tell what the page was told without reaching into it, and the
    WebSockets it opened in ``page.sockets`` (a reconnect opens another). ``loaded`` runs once the page
    has loaded, before Join is pressed.
    """
    page = await (await browser.new_context()).new_page()
    page.set_default_timeout(UI_TIMEOUT_MS)
    page.link_quality = []
    page.sockets = []

    def frame(payload) -> None:
        if isinstance(payload, str) and '"link-quality"' in payload:
            page.link_quality.append(json.loads(payload)["participants"])

    def opened(socket) -> None:
        page.sockets.append(socket)
        socket.on("framereceived", frame)

    page.on("websocket", opened)
    await page.goto(server.join_url(room, name.title(), role, sub=name))
    try:
        await page.get_by_test_id("join-button").wait_for(state="visible", timeout=UI_TIMEOUT_MS / 2)
    except Exception:
        # Seen about once in twenty page loads of these tests (never in the loopback-only ones): the page
        # stays at "Loading…" with the server idle. Loading it again gets it going; what stalls is not
        # known yet, and a second stall still fails the test below.
        await page.reload()
    if not camera:
        await page.get_by_test_id("prejoin-camera-toggle").uncheck()
    if loaded is not None:
        loaded()
    try:
        await press_join(page)
    except Exception as exc:  # say what the page showed instead of the Join button
        shown = await page.evaluate("() => document.body.innerText.slice(0, 400)")
        raise AssertionError(f"{name} could not press Join: the page showed {shown!r}") from exc
    await expect(page.get_by_test_id("agenda-bar")).to_be_visible(timeout=UI_TIMEOUT_MS)
    # The tests impair a member's link once the member is in. A handshake still under way then would be
    # caught by the impairment (a publish connection not up in 15 s fails, and the member is removed):
    # that is a different test from the one each of them means, so they start with the connections up.
    await page.wait_for_function(MEDIA_CONNECTED, timeout=UI_TIMEOUT_MS)
    return page
