"""A therapist and a participant run a structured session through the web client: waiting room, agenda,
hands, chat and moderation, each driven by clicks in real browsers against a real `haven serve`."""

from __future__ import annotations

import asyncio
import re

import pytest
from playwright.async_api import expect

from tests.support.pages import join_in
from tests.support.server_process import ServerProcess
from tests.support.waiting import eventually_async

ROOM = "tuesday-group"
# Every session UI element we look for should appear within this many milliseconds.
UI_TIMEOUT_MS = 20000


@pytest.fixture
async def session_server(tmp_path):
    """A Haven server with the waiting room on (the product default), stopped by PID afterwards."""
    with ServerProcess(tmp_path, "[session]\nwaiting_room = true\n").running() as server:
        yield server


async def open_and_join(browser, url: str):
    """Open a join link in a fresh browser context, press Join and accept the group agreement."""
    context = await browser.new_context(viewport={"width": 1280, "height": 860}, accept_downloads=True)
    return await join_in(context, url, UI_TIMEOUT_MS)


async def admit_through_ui(host, name: str) -> None:
    """As the host, admit a waiting participant by clicking their Admit button."""
    admit = host.locator(f'[data-testid="waiting-list"] [data-testid="admit-button"][data-participant-name="{name}"]')
    await admit.click()
    await expect(admit).to_have_count(0)


async def host_and_admitted_participant(browser, server: ServerProcess):
    """A host (Ana) in the room and a participant (Ben) the host admitted from the waiting room."""
    ana = await open_and_join(browser, server.join_url(ROOM, "Ana", "host", sub="ana"))
    await expect(ana.get_by_test_id("agenda-bar")).to_be_visible()
    ben = await open_and_join(browser, server.join_url(ROOM, "Ben", sub="ben"))
    await expect(ben.get_by_test_id("waiting-screen")).to_be_visible()
    await admit_through_ui(ana, "Ben")
    await expect(ben.get_by_test_id("agenda-bar")).to_be_visible()
    return ana, ben


def remote_video(page, name: str):
    return page.locator(f'[data-testid="remote-video"][data-participant-name="{name}"]')


async def wait_for_video(page, name: str, timeout: float = 30.0) -> None:
    """Wait until the page shows the named participant's video with decoded frames."""
    video = remote_video(page, name)
    await video.wait_for(timeout=timeout * 1000)
    await eventually_async(lambda: video.evaluate("v => v.videoWidth > 0"), f"{name}'s video to play", timeout)


def timer_seconds(text: str) -> int:
    """Parse the agenda timer ("09:58", or "1:05:00") into seconds; an overrun is negative."""
    match = re.fullmatch(r"(\+)?(?:(\d+):)?(\d{2}):(\d{2})( over)?", text.strip())
    assert match, f"the agenda timer shows {text!r}, not a countdown"
    seconds = int(match[2] or 0) * 3600 + int(match[3]) * 60 + int(match[4])
    return -seconds if match[1] else seconds


async def close_all(*pages) -> None:
    for page in pages:
        if page is not None:
            await page.context.close()



async def test_host_admits_a_waiting_participant_and_both_see_each_other(session_server, browser):
    ben = ana = None
    try:
        # Ben arrives first: a calm waiting screen that says the therapist is not there yet.
        ben = await open_and_join(browser, session_server.join_url(ROOM, "Ben", sub="ben"))
        waiting = ben.get_by_test_id("waiting-screen")
        await expect(waiting).to_be_visible()
        host_state = ben.get_by_test_id("waiting-host-state")
        await expect(host_state).to_have_attribute("data-host-present", "false")
        await expect(host_state).to_contain_text("hasn't arrived")

        ana = await open_and_join(browser, session_server.join_url(ROOM, "Ana", "host", sub="ana"))
        # The waiting-state event tells Ben that the therapist is here; he still waits to be let in.
        await expect(host_state).to_have_attribute("data-host-present", "true")
        await expect(waiting).to_be_visible()

        waiting_list = ana.get_by_test_id("waiting-list")
        await expect(waiting_list).to_contain_text("Ben")
        await expect(ana.get_by_test_id("remote-video")).to_have_count(0)
        await admit_through_ui(ana, "Ben")

        await expect(waiting).to_be_hidden()
        await expect(ana.get_by_test_id("waiting-panel")).to_be_hidden()
        await wait_for_video(ben, "Ana")
        await wait_for_video(ana, "Ben")
        assert not ana.errors and not ben.errors, ana.errors + ben.errors
    finally:
        await close_all(ben, ana)


async def test_agenda_phase_and_countdown_reach_the_participant(session_server, browser):
    ana = ben = None
    try:
        ana, ben = await host_and_admitted_participant(browser, session_server)
        await expect(ben.get_by_test_id("agenda-empty")).to_be_visible()

        await ana.get_by_test_id("agenda-template").select_option("default")
        await ana.get_by_test_id("agenda-start").click()

        phase = ben.get_by_test_id("agenda-phase")
        timer = ben.get_by_test_id("agenda-timer")
        await expect(phase).to_have_text("Check-in")
        first = timer_seconds(await timer.text_content())
        await asyncio.sleep(2)
        second = timer_seconds(await timer.text_content())
        assert 0 < second < first <= 10 * 60, f"the timer did not count down: {first}s then {second}s"
        current_phase = ben.locator('[data-testid="agenda-list"] [aria-current="step"]')
        await expect(current_phase).to_contain_text("Check-in")

        await ana.get_by_test_id("agenda-next").click()
        await expect(phase).to_have_text("Topic introduction")
        await expect(current_phase).to_contain_text("Topic introduction")
        assert 9 * 60 < timer_seconds(await timer.text_content()) <= 10 * 60, "the new phase starts with its full time"
        # Participants follow the agenda; only hosts can move it.
        await expect(ben.get_by_test_id("agenda-next")).to_be_hidden()
        assert not ana.errors and not ben.errors, ana.errors + ben.errors
    finally:
        await close_all(ben, ana)


async def test_hands_chat_removal_and_ending_the_session(session_server, browser):
    ana = ben = None
    try:
        ana, ben = await host_and_admitted_participant(browser, session_server)
        await wait_for_video(ana, "Ben")

        # A raised hand reaches the host's queue.
        await ben.get_by_test_id("raise-hand").click()
        await expect(ben.get_by_test_id("raise-hand")).to_have_attribute("aria-pressed", "true")
        await expect(ana.locator('[data-testid="hand-queue"] [data-testid="hand-queue-item"]')).to_have_count(1)
        await expect(ana.get_by_test_id("hand-queue")).to_contain_text("Ben")

        # Chat text is shown as text: markup stays literal and never becomes elements.
        literal = "Thank you all <b>not bold</b>"
        await ben.get_by_test_id("tab-chat").click()
        await ben.get_by_test_id("chat-input").fill(literal)
        await ben.get_by_test_id("chat-send").click()
        await expect(ana.get_by_test_id("chat-unread")).to_have_text("1")
        await ana.get_by_test_id("tab-chat").click()
        message = ana.get_by_test_id("chat-message").filter(has_text="not bold")
        await expect(message).to_have_count(1)
        await expect(message.get_by_test_id("chat-text")).to_have_text(literal)
        await expect(message).to_contain_text("Ben")
        assert await message.locator("b").count() == 0, "chat markup was rendered as HTML"

        # Removing Ben takes a confirmation; he sees the end screen and his tile goes away at the host.
        await ana.locator('[data-testid="participant-menu"][data-participant-name="Ben"]').click()
        await ana.get_by_test_id("remove-participant").click()
        await expect(ana.get_by_test_id("remove-ban")).not_to_be_checked()
        await ana.get_by_test_id("remove-confirm").click()
        await expect(ben.get_by_test_id("ended-screen")).to_be_visible()
        await expect(ben.get_by_test_id("ended-title")).to_have_text("You were removed from the session")
        await expect(remote_video(ana, "Ben")).to_have_count(0)

        # Ending the session also asks first, then ends it for the host too.
        await ana.get_by_test_id("tab-host").click()
        await ana.get_by_test_id("end-session").click()
        await ana.get_by_test_id("end-session-confirm").click()
        await expect(ana.get_by_test_id("ended-screen")).to_be_visible()
        await expect(ana.get_by_test_id("ended-title")).to_have_text("The session has ended")
        assert not ana.errors and not ben.errors, ana.errors + ben.errors
    finally:
        await close_all(ben, ana)


async def test_mood_ratings_reach_only_hosts_and_an_unmute_request_never_unmutes(session_server, browser):
    ana = ben = None
    try:
        ana, ben = await host_and_admitted_participant(browser, session_server)
        await wait_for_video(ana, "Ben")

        await ana.get_by_test_id("checkin-start").click()
        await expect(ben.locator('[data-testid="checkin-order"] [aria-current="true"]')).to_have_attribute(
            "data-participant-name", "Ben")
        await expect(ana.locator('.tile[data-participant-id="ben"]')).to_have_attribute("data-turn", "true")
        await expect(ben.get_by_test_id("mood-hint")).to_contain_text("Only your therapist")
        await ben.get_by_test_id("checkin-mood-select").select_option("4")
        await ben.get_by_test_id("checkin-mood-send").click()
        ben_in_order = ana.locator('[data-testid="checkin-person"][data-participant-name="Ben"]')
        await expect(ben_in_order.get_by_test_id("checkin-mood-rating")).to_have_text("Mood 4/10")
        await expect(ben.get_by_test_id("checkin-mood-rating")).to_be_hidden()
        await ben.get_by_test_id("checkin-pass").click()
        await expect(ben_in_order).to_contain_text("Passed")

        # A host mutes Ben; asking him to unmute only asks: his microphone stays off until he chooses.
        await ana.locator('[data-testid="participant-menu"][data-participant-name="Ben"]').click()
        await ana.get_by_test_id("mute-microphone").click()
        toggle = ben.get_by_test_id("toggle-audio")
        await expect(toggle).to_have_attribute("aria-pressed", "true")
        await expect(ben.get_by_test_id("room-notice")).to_contain_text("turned off your microphone")
        await ana.locator('[data-testid="participant-menu"][data-participant-name="Ben"]').click()
        await ana.get_by_test_id("ask-unmute-microphone").click()
        await expect(ben.get_by_test_id("unmute-prompt")).to_be_visible()
        await asyncio.sleep(1)
        await expect(toggle).to_have_attribute("aria-pressed", "true")
        await ben.get_by_test_id("unmute-decline").click()
        await expect(ben.get_by_test_id("unmute-prompt")).to_be_hidden()
        await expect(ana.locator('.tile[data-participant-id="ben"]')).to_have_attribute("data-mic", "muted")
        assert not ana.errors and not ben.errors, ana.errors + ben.errors
    finally:
        await close_all(ben, ana)
