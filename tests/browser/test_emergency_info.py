"""Emergency information as a member and a therapist meet it: at every join a member confirms where they
are and an emergency contact (kept from last time in their browser, editable); only the host sees it, in
the member's menu; the viewing is audited; members never see it and the server logs none of it."""

from __future__ import annotations

import sqlite3

from playwright.async_api import expect

from tests.support.artifacts import screenshot
from tests.support.pages import join_in, open_page
from tests.support.server_process import ServerProcess
from tests.support.waiting import eventually_async

ROOM = "tuesday-group"
UI_TIMEOUT_MS = 20000
LOCATION = "Flat 3, 12 Elm Street, Springfield"
CONTACT = "Mara Lind (sister) 555-0199"


async def audited_views(server: ServerProcess) -> list[tuple[str, str, str]]:
    """The audit log's emergency-info-viewed entries (actor, subject, detail), read from the real SQLite file."""
    with sqlite3.connect(server.data_dir / "haven.db") as db:
        rows = db.execute("SELECT actor, subject, detail FROM audit WHERE action = 'emergency-info-viewed'").fetchall()
    return rows if len(rows) >= 2 else []


async def test_a_member_confirms_emergency_info_only_the_host_reads_it_and_it_is_audited(server, browser):
    contexts = []
    try:
        ana_context = await browser.new_context(viewport={"width": 1280, "height": 800})
        ben_context = await browser.new_context(viewport={"width": 390, "height": 844})
        cal_context = await browser.new_context(viewport={"width": 1280, "height": 800})
        contexts = [ana_context, ben_context, cal_context]
        ana = await join_in(ana_context, server.join_url(ROOM, "Ana", "host", sub="ana"), UI_TIMEOUT_MS)
        await expect(ana.get_by_test_id("agenda-bar")).to_be_visible()

        # Ben is asked after the group agreement; he cannot join with a blank form.
        ben = await open_page(ben_context, server.join_url(ROOM, "Ben", sub="ben"), UI_TIMEOUT_MS)
        await ben.get_by_test_id("join-button").click()
        await ben.get_by_test_id("consent-accept").click()
        dialog = ben.get_by_test_id("emergency-dialog")
        await expect(dialog).to_be_visible()
        await expect(ben.get_by_test_id("emergency-location")).to_be_focused()
        await screenshot(ben, "emergency-info-form-390x844")
        await ben.get_by_test_id("emergency-confirm").click()
        await expect(ben.get_by_test_id("emergency-error")).to_be_visible()
        await ben.get_by_test_id("emergency-location").fill(LOCATION)
        await ben.get_by_test_id("emergency-contact").fill(CONTACT)
        await ben.get_by_test_id("emergency-confirm").click()
        await expect(ben.get_by_test_id("agenda-bar")).to_be_attached()
        cal = await join_in(cal_context, server.join_url(ROOM, "Cal", sub="cal"), UI_TIMEOUT_MS)
        await expect(cal.get_by_test_id("agenda-bar")).to_be_visible()

        # Ana reads it in Ben's menu.
        await ana.locator('[data-testid="participant-menu"][data-participant-name="Ben"]').click()
        await ana.get_by_test_id("show-emergency-info").click()
        await expect(ana.get_by_test_id("emergency-info-location")).to_have_text(LOCATION)
        await expect(ana.get_by_test_id("emergency-info-contact")).to_have_text(CONTACT)
        await expect(ana.get_by_test_id("emergency-info-note")).to_contain_text("recorded in the audit log")
        await screenshot(ana, "emergency-info-host-1280x800")
        await ana.get_by_test_id("participant-dialog-close").click()

        # Cal, a member, has no such menu and never receives it.
        await expect(cal.get_by_test_id("participant-menu")).to_have_count(0)
        received = await cal.evaluate("JSON.stringify(window.haven.client.roomState) + JSON.stringify("
                                      "[...window.haven.client.participants.values()])")
        assert "Elm Street" not in received and "555-0199" not in received

        # Next time Ben confirms what he said last time, or corrects it.
        await ben.get_by_test_id("leave-button").click()
        again = await open_page(ben_context, server.join_url(ROOM, "Ben", sub="ben"), UI_TIMEOUT_MS)
        await again.get_by_test_id("join-button").click()
        await again.get_by_test_id("consent-accept").click()
        await expect(again.get_by_test_id("emergency-location")).to_have_value(LOCATION)
        await again.get_by_test_id("emergency-location").fill("Office, 4 Main Road, Springfield")
        await again.get_by_test_id("emergency-confirm").click()
        await expect(again.get_by_test_id("agenda-bar")).to_be_attached()
        await ana.locator('[data-testid="participant-menu"][data-participant-name="Ben"]').click()
        await ana.get_by_test_id("show-emergency-info").click()
        await expect(ana.get_by_test_id("emergency-info-location")).to_have_text("Office, 4 Main Road, Springfield")

        # The viewing is audited (who viewed whose, never what), and the server's log holds none of it.
        viewed = await eventually_async(lambda: audited_views(server), "the viewings in the audit log")
        assert [(actor, subject) for actor, subject, _ in viewed] == [("ana", "ben"), ("ana", "ben")]
        assert all("Elm" not in detail and "555" not in detail for _, _, detail in viewed)
        log = server.log_path.read_text()
        assert "Elm Street" not in log and "555-0199" not in log and "Main Road" not in log
        assert not ana.errors and not ben.errors and not cal.errors
    finally:
        for context in contexts:
            await context.close()
