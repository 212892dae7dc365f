"""A program's records in the dashboard (issue 10), in real browsers against a real `haven serve`: a clinician's
group keeps its members' check-in mood ratings; two of three members join a session through their invites,
one sends a mood rating at check-in, the session ends; the facilitator opens History and sees each member's
attendance and weekly hours in words, excuses the absent member, writes a note on the session's record, opens a
member's mood chart and downloads the CSV. A clinician of another group sees none of it, in the page or from
the API, and an admin's audit log says the hash chain is intact."""

from __future__ import annotations

import datetime
import re
import subprocess
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import expect

from tests.support.pages import open_page, press_join
from tests.support.practice_api import ApiClient
from tests.support.server_process import ROOT, ServerProcess

UI_TIMEOUT_MS = 20000
ADMIN = ("admin@clinic.example", "the admin's long password")
SAM = ("sam@clinic.example", "the clinician's long password")
LEE = ("lee@clinic.example", "another clinician's password")
TZ = "America/Chicago"
MEMBERS = [("Robin", "Europe/London"), ("Kai", "America/Los_Angeles"), ("Asha", "Asia/Kolkata")]


@pytest.fixture
async def records_server(tmp_path):
    """A Haven server with the waiting room on, and its first admin made with `haven admin create-user`."""
    server = ServerProcess(tmp_path, "[session]\nwaiting_room = true\n")
    created = subprocess.run(
        [sys.executable, "-m", "server.cli", "admin", "create-user", "--email", ADMIN[0], "--role", "admin",
         "--config", str(server.config_path)], input=ADMIN[1] + "\n", capture_output=True, text=True, cwd=ROOT,
        timeout=60)
    assert created.returncode == 0, created.stderr
    with server.running():
        yield server


async def new_page(browser, url: str):
    context = await browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    return await open_page(context, url, UI_TIMEOUT_MS)


async def log_in(page, email: str, password: str) -> None:
    await page.get_by_test_id("login-email").fill(email)
    await page.get_by_test_id("login-password").fill(password)
    await page.get_by_test_id("login-submit").click()
    await expect(page.get_by_test_id("who")).to_contain_text(email)


async def logged_in(base_url: str, email: str, password: str) -> ApiClient:
    client = ApiClient(base_url)
    status, body = await client.call("POST", "/api/v1/login", {"email": email, "password": password})
    assert status == 200, body
    return client


async def a_group_meeting_now(server: ServerProcess) -> tuple[dict, dict[str, str], list[ApiClient]]:
    """Sam's group, one session starting this minute, three members; Lee, a clinician of no group. The
    setup goes through the API (the dashboard's own forms are test_practice.py's subject)."""
    admin = await logged_in(server.public_url, *ADMIN)
    for (email, password), name in ((SAM, "Sam"), (LEE, "Lee")):
        status, made = await admin.call("POST", "/api/v1/accounts", {
            "email": email, "role": "clinician", "password": password, "display_name": name, "tz": TZ,
            "totp_required": False})
        assert status == 201, made
    sam = await logged_in(server.public_url, *SAM)
    status, group = await sam.call("POST", "/api/v1/groups", {"name": "Evening process group", "kind": "process",
                                                              "tz": TZ})
    assert status == 201, group
    links = {}
    for name, zone in MEMBERS:
        status, added = await sam.call("POST", f"/api/v1/groups/{group['id']}/members",
                                       {"display_name": name, "tz": zone})
        assert status == 201, added
        links[name] = added["invite_url"]
    now = datetime.datetime.now(ZoneInfo(TZ)).strftime("%Y-%m-%dT%H:%M")
    status, scheduled = await sam.call("PUT", f"/api/v1/groups/{group['id']}/schedule",
                                       {"start": now, "duration": 60, "rrule": None})
    assert status == 200, scheduled
    return group, links, [admin, sam]


async def member_joins(browser, link: str):
    """A member opens their invite, joins and waits in the waiting room."""
    page = await new_page(browser, link)
    await expect(page.get_by_test_id("join-open")).to_be_visible()
    await page.get_by_test_id("invite-join").click()
    await page.wait_for_url("**/r/**")
    await press_join(page)
    await expect(page.get_by_test_id("waiting-screen")).to_be_visible()
    return page


async def test_a_facilitator_reads_the_groups_records_and_nobody_else_can(browser, records_server) -> None:
    group, links, clients = await a_group_meeting_now(records_server)
    gid = group["id"]
    base = records_server.public_url
    pages = []
    try:
        # Sam keeps the group's mood ratings, then starts the session from the dashboard.
        dashboard = await new_page(browser, f"{base}/dashboard")
        pages.append(dashboard)
        await log_in(dashboard, *SAM)
        await dashboard.get_by_test_id("nav-groups").click()
        await dashboard.get_by_test_id("group-open").click()
        keep = dashboard.get_by_test_id("keep-moods")
        await expect(keep).not_to_be_checked()
        await keep.check()
        await expect(dashboard.get_by_test_id("notice")).to_have_text("Members' check-in mood ratings are now kept.")
        await dashboard.get_by_test_id("nav-sessions").click()
        await dashboard.get_by_test_id("sessions-today").get_by_test_id("start-session").first.click()
        host = await new_page(browser, await dashboard.get_by_test_id("session-link").get_attribute("href"))
        pages.append(host)
        await press_join(host)
        await expect(host.get_by_test_id("agenda-bar")).to_be_visible()

        # Robin and Kai join through their invites and are admitted; Asha does not come.
        members = {}
        for name in ("Robin", "Kai"):
            members[name] = await member_joins(browser, links[name])
            pages.append(members[name])
            admit = host.get_by_test_id("waiting-list").locator(
                f'[data-testid="admit-button"][data-participant-name="{name}"]')
            await admit.click()
            await expect(members[name].get_by_test_id("agenda-bar")).to_be_visible()

        # Check-in: Robin sends a mood rating, which the group keeps.
        robin = members["Robin"]
        await host.get_by_test_id("checkin-start").click()
        await robin.get_by_test_id("checkin-mood-select").select_option("6")
        await robin.get_by_test_id("checkin-mood-send").click()
        await expect(host.locator('[data-testid="checkin-person"][data-participant-name="Robin"]')
                     .get_by_test_id("checkin-mood-rating")).to_have_text("Mood 6/10")
        await host.get_by_test_id("tab-host").click()
        await host.get_by_test_id("end-session").click()
        await host.get_by_test_id("end-session-confirm").click()
        await expect(host.get_by_test_id("ended-screen")).to_be_visible()

        # History: this week by default, each member's attendance and the weekly hours in words.
        await dashboard.get_by_test_id("nav-groups").click()
        await dashboard.get_by_test_id("group-open").click()
        await dashboard.get_by_test_id("open-history").click()
        await expect(dashboard.get_by_test_id("history-title")).to_have_text("History: Evening process group")
        row = {name: dashboard.get_by_test_id("history-row").filter(has_text=name) for name, _ in MEMBERS}
        for name in ("Robin", "Kai"):
            await expect(row[name].get_by_test_id("attendance-text")).to_have_text(re.compile(r"^Present [\d.]+ min"))
        await expect(row["Asha"].get_by_test_id("attendance-text")).to_have_text("Absent")
        weeks = dashboard.get_by_test_id("week-row")
        await expect(weeks).to_have_count(3)
        await expect(weeks.filter(has_text="Robin").get_by_test_id("week-met")).to_contain_text("Not met")

        # Asha's absence is excused with a reason, and the excusal can be undone.
        await row["Asha"].get_by_test_id("excuse").click()
        await row["Asha"].get_by_test_id("excuse-reason").fill("Hospital appointment")
        await row["Asha"].get_by_test_id("excuse-save").click()
        await expect(dashboard.get_by_test_id("notice")).to_have_text("Asha is excused.")
        await expect(row["Asha"].get_by_test_id("attendance-text")).to_have_text("Excused: Hospital appointment")
        await row["Asha"].get_by_test_id("unexcuse").click()
        await expect(row["Asha"].get_by_test_id("attendance-text")).to_have_text("Absent")

        # The CSV downloads with every member's rows.
        async with dashboard.expect_download() as download:
            await dashboard.get_by_test_id("history-csv").click()
        csv_text = Path(await (await download.value).path()).read_text()
        for name, _ in MEMBERS:
            assert name in csv_text

        # The held session's record, and the facilitator's note on it.
        await dashboard.get_by_test_id("open-session").first.click()
        record = dashboard.get_by_test_id("session-record").first
        await expect(record).to_be_visible()
        await record.get_by_test_id("session-note").fill("Robin spoke about the week; follow up on sleep.")
        await record.get_by_test_id("session-note-save").click()
        await expect(record.get_by_test_id("session-note-saved")).to_contain_text("Saved")
        await dashboard.get_by_test_id("records-back").click()

        # Robin's progress: the mood chart with its summary in words.
        await dashboard.get_by_test_id("history-row").filter(has_text="Robin").get_by_test_id("open-progress").click()
        await expect(dashboard.get_by_test_id("progress-title")).to_have_text("Progress: Robin")
        await expect(dashboard.get_by_test_id("mood-chart")).to_have_attribute("data-points", "1")
        await expect(dashboard.get_by_test_id("mood-summary")).to_have_text("1 rating: 6")

        # Lee, who facilitates no group of these, sees nothing in the page, and the API answers 404.
        other = await new_page(browser, f"{base}/dashboard")
        pages.append(other)
        await log_in(other, *LEE)
        await other.get_by_test_id("nav-groups").click()
        await expect(other.get_by_test_id("group-row")).to_have_count(0)
        await expect(other.locator("body")).not_to_contain_text("Robin")
        lee = await logged_in(base, *LEE)
        clients.append(lee)
        _, sessions = await clients[1].call("GET", f"/api/v1/groups/{gid}/attendance")
        session_id = next(s["id"] for o in sessions["occurrences"] for s in o["sessions"])
        robin_id = next(m["member_id"] for m in sessions["members"] if m["display_name"] == "Robin")
        records = f"/api/v1/groups/{gid}"
        for path in (f"{records}/attendance", f"{records}/attendance?format=csv", f"{records}/sessions/{session_id}",
                     f"{records}/members/{robin_id}/progress"):
            status, refused = await lee.call("GET", path)
            assert (status, refused and refused["error"]) == (404, "unknown-group"), path
        status, refused = await lee.call("PUT", f"/api/v1/groups/{gid}/sessions/{session_id}/note", {"text": "x"})
        assert (status, refused["error"]) == (404, "unknown-group")

        # The admin's audit log: the chain is intact, and the reads above are in it.
        admin = await new_page(browser, f"{base}/dashboard")
        pages.append(admin)
        await log_in(admin, *ADMIN)
        await admin.get_by_test_id("nav-audit").click()
        await expect(admin.get_by_test_id("chain-state")).to_contain_text("Hash chain intact")
        await expect(admin.get_by_test_id("chain-state")).to_have_attribute("data-ok", "true")
        await admin.get_by_test_id("audit-action").fill("records-read")
        await admin.get_by_test_id("audit-filter").click()
        await expect(admin.get_by_test_id("audit-row").first).to_contain_text("records-read")
        await expect(dashboard.get_by_test_id("nav-audit")).to_be_hidden()
        for page in pages:
            assert page.errors == []
    finally:
        for client in clients:
            await client.close()
        for page in pages:
            await page.context.close()
