"""A therapist's Leave asks first: step out (a co-host takes over, or the group is told and the session
pauses) or end for everyone; members see a calm notice at once; the therapist comes back with the same link
and learns how long the group was alone. Driven by clicks in real browsers against a real `haven serve`."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import uuid

import pytest
from playwright.async_api import expect

from tests.browser.conftest import CHROMIUM, WEBRTC_ARGS
from tests.support.artifacts import screenshot
from tests.support.pages import enter_room, join_in
from tests.support.server_process import ServerProcess

ROOM = "tuesday-group"
UI_TIMEOUT_MS = 20000


@pytest.fixture
async def server(tmp_path):
    with ServerProcess(tmp_path, "[session]\nwaiting_room = false\n").running() as server:
        yield server


async def enter(browser, url: str, width: int = 1280, height: int = 800):
    return await enter_room(browser, url, width, height, UI_TIMEOUT_MS)


async def test_a_host_who_steps_out_leaves_a_calm_paused_room_and_comes_back(server, browser):
    pages = []
    try:
        ana = await enter(browser, server.join_url(ROOM, "Ana", "host", sub="ana"))
        ben = await enter(browser, server.join_url(ROOM, "Ben", sub="ben"), 390, 844)
        pages = [ana, ben]

        # Leave asks first; Stay keeps the host in the room.
        await ana.get_by_test_id("leave-button").click()
        dialog = ana.get_by_test_id("leave-dialog")
        await expect(dialog).to_be_visible()
        await expect(ana.get_by_test_id("leave-dialog-text")).to_contain_text("No other host is here")
        await expect(ana.get_by_test_id("leave-end")).to_have_text("End for everyone")
        await expect(ana.get_by_test_id("leave-cancel")).to_be_focused()
        await screenshot(ana, "host-leave-dialog-1280x800")
        await ana.get_by_test_id("leave-cancel").click()
        await expect(dialog).to_be_hidden()
        await expect(ben.get_by_test_id("host-away")).to_be_hidden()

        # Stepping out: Ben is told at once, calmly, that the session is paused and what happens next.
        await ana.get_by_test_id("leave-button").click()
        await expect(ana.get_by_test_id("leave-allow-media")).not_to_be_checked()
        await ana.get_by_test_id("leave-confirm").click()
        await expect(ana.get_by_test_id("ended-title")).to_have_text("You stepped out")
        away = ben.get_by_test_id("host-away")
        await expect(away).to_be_visible()
        await expect(ben.get_by_test_id("host-away-title")).to_have_text("Your therapist has stepped out for a moment.")
        await expect(ben.get_by_test_id("host-away-text")).to_contain_text("The session is paused")
        await expect(ben.get_by_test_id("host-away-text")).to_contain_text("If no host is back by")
        await screenshot(ben, "member-host-stepped-out-390x844")

        # Ana returns with the same link; the notice goes for Ben, and Ana learns how long the group was alone.
        await ana.get_by_test_id("rejoin-button").click()
        await ana.get_by_test_id("consent-accept").click()
        await expect(ana.get_by_test_id("agenda-bar")).to_be_visible()
        await expect(ana.get_by_test_id("tab-host")).to_be_visible()
        await expect(ana.get_by_test_id("room-notice")).to_contain_text("No host was here for")
        await expect(ana.get_by_test_id("room-notice")).to_contain_text("the session would have closed")
        await expect(away).to_be_hidden()
        await screenshot(ana, "host-returned-1280x800")
        assert not any(p.errors for p in pages), [p.errors for p in pages]
    finally:
        for page in pages:
            await page.context.close()


async def test_a_host_hands_over_to_a_cohost_before_leaving_and_nothing_pauses(server, browser):
    pages = []
    try:
        ana = await enter(browser, server.join_url(ROOM, "Ana", "host", sub="ana"))
        ben = await enter(browser, server.join_url(ROOM, "Ben", sub="ben"))
        cal = await enter(browser, server.join_url(ROOM, "Cal", sub="cal"))
        pages = [ana, ben, cal]

        await ana.get_by_test_id("leave-button").click()
        await ana.get_by_test_id("leave-handover").select_option("ben")
        await ana.get_by_test_id("leave-confirm").click()
        await expect(ana.get_by_test_id("ended-title")).to_have_text("You left the session")

        # Ben runs the session now, and everyone is told so; Cal's session goes on with no pause.
        await expect(ben.get_by_test_id("tab-host")).to_be_visible()
        await expect(cal.get_by_test_id("room-notice")).to_have_text("Ana left the session. Ben is running it now.")
        await expect(ben.get_by_test_id("room-notice")).to_have_text("Ana left the session. You are running it now.")
        await expect(cal.locator('.tile[data-participant-id="ana"]')).to_have_count(0)
        await expect(cal.get_by_test_id("host-away")).to_be_hidden()

        # A co-host leaving while another host... there is none: Ben is asked, and may end it for everyone.
        await ben.get_by_test_id("leave-button").click()
        await expect(ben.get_by_test_id("leave-dialog-text")).to_contain_text("No other host is here")
        await ben.get_by_test_id("leave-end").click()
        await expect(cal.get_by_test_id("ended-title")).to_have_text("The session has ended")
        assert not any(p.errors for p in pages), [p.errors for p in pages]
    finally:
        for page in pages:
            await page.context.close()


async def test_with_another_host_present_leave_says_who_keeps_running_the_session(server, browser):
    pages = []
    try:
        ana = await enter(browser, server.join_url(ROOM, "Ana", "host", sub="ana"))
        dee = await enter(browser, server.join_url(ROOM, "Dee", "host", sub="dee"))
        pages = [ana, dee]
        await ana.get_by_test_id("leave-button").click()
        await expect(ana.get_by_test_id("leave-dialog-text")).to_have_text(
            "Dee keeps running the session while you are away.")
        await expect(ana.get_by_test_id("leave-alone")).to_be_hidden()
        await ana.get_by_test_id("leave-confirm").click()
        await expect(ana.get_by_test_id("ended-title")).to_have_text("You left the session")
        await expect(dee.get_by_test_id("host-away")).to_be_hidden()
        assert not any(p.errors for p in pages), [p.errors for p in pages]
    finally:
        for page in pages:
            await page.context.close()


async def test_a_member_made_cohost_ahead_of_time_runs_the_session_when_the_therapist_steps_out(server, browser):
    pages = []
    try:
        ana = await enter(browser, server.join_url(ROOM, "Ana", "host", sub="ana"))
        ben = await enter(browser, server.join_url(ROOM, "Ben", sub="ben"))
        cal = await enter(browser, server.join_url(ROOM, "Cal", sub="cal"), 390, 844)
        pages = [ana, ben, cal]

        # Early in the session Ana makes Ben her co-host from his menu; he gets the host tools at once.
        await ana.locator('[data-testid="participant-menu"][data-participant-name="Ben"]').click()
        await expect(ana.get_by_test_id("set-role")).to_have_text("Make co-host")
        await ana.get_by_test_id("set-role").click()
        await expect(ben.get_by_test_id("tab-host")).to_be_visible()
        await expect(cal.get_by_test_id("tab-host")).to_be_hidden()
        await ana.locator('[data-testid="participant-menu"][data-participant-name="Ben"]').click()
        await expect(ana.get_by_test_id("set-role")).to_have_text("Remove co-host")
        await ana.get_by_test_id("participant-dialog-close").click()

        # When she steps out, Leave names him as the one who keeps it running, and nothing pauses for Cal.
        await ana.get_by_test_id("leave-button").click()
        await expect(ana.get_by_test_id("leave-dialog-text")).to_have_text(
            "Ben keeps running the session while you are away.")
        await screenshot(ana, "host-leave-with-cohost-1280x800")
        await ana.get_by_test_id("leave-confirm").click()
        await expect(ana.get_by_test_id("ended-title")).to_have_text("You left the session")
        await expect(cal.locator('.tile[data-participant-id="ana"]')).to_have_count(0)
        await expect(cal.get_by_test_id("host-away")).to_be_hidden()
        await expect(ben.get_by_test_id("host-away")).to_be_hidden()
        await expect(ben.get_by_test_id("tab-host")).to_be_visible()
        assert not any(p.errors for p in pages), [p.errors for p in pages]
    finally:
        for page in pages:
            await page.context.close()


async def test_when_the_last_hosts_connection_drops_members_are_told_calmly_at_once(server, browser):
    # Ana gets a Chromium of her own, so that it can die the way a laptop does: SIGKILL, no Leave, no pagehide.
    tag = f"--haven-test-browser={uuid.uuid4().hex}"
    ana_browser = await browser.browser_type.launch(executable_path=CHROMIUM, headless=True, args=[*WEBRTC_ARGS, tag])
    pages = []
    try:
        ana_context = await ana_browser.new_context(viewport={"width": 1280, "height": 800})
        ana = await join_in(ana_context, server.join_url(ROOM, "Ana", "host", sub="ana"), UI_TIMEOUT_MS)
        await expect(ana.get_by_test_id("agenda-bar")).to_be_visible()
        ben = await enter(browser, server.join_url(ROOM, "Ben", sub="ben"), 390, 844)
        cal = await enter(browser, server.join_url(ROOM, "Cal", sub="cal"))
        pages = [ben, cal]
        await expect(ben.locator('.tile[data-participant-id="ana"]')).to_have_count(1)

        killed = kill_processes_tagged(tag)
        assert killed, "Ana's Chromium was not found"
        for page in (ben, cal):
            await expect(page.get_by_test_id("host-away")).to_be_visible()
            await expect(page.get_by_test_id("host-away-title")).to_have_text(
                "Your therapist's connection dropped. They will probably be back in a moment.")
            await expect(page.get_by_test_id("host-away-text")).to_contain_text("If no host is back by")
        await screenshot(ben, "member-host-connection-dropped-390x844")
        assert not any(p.errors for p in pages), [p.errors for p in pages]
    finally:
        kill_processes_tagged(tag)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(ana_browser.close(), 10)
        for page in pages:
            await page.context.close()


def kill_processes_tagged(tag: str) -> list[int]:
    """SIGKILL every process whose command line carries ``tag`` (one test's own Chromium); return their PIDs."""
    killed = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                arguments = f.read().split(b"\0")
        except OSError:
            continue
        if tag.encode() in arguments:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(entry), signal.SIGKILL)
                killed.append(int(entry))
    return killed
