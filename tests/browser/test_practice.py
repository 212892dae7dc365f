"""Running a practice in real browsers (issue 9's flow): the first admin made on the command line, a clinician
created in the dashboard who logs in with two-factor, a process group on a recurring schedule with members in
three time zones, a member who opens their invite outside the window and sees the next session in their own
zone, then joins inside it and waits under their group name until the facilitator, who started the session
from the dashboard, admits them; a reused join link and a revoked invite are refused. Every step is clicked
the way a person would, against a real `haven serve`."""

from __future__ import annotations

import datetime
import re
import subprocess
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

import icalendar
import pyotp
import pytest
from playwright.async_api import expect

from tests.support.pages import open_page, press_join
from tests.support.server_process import ROOT, ServerProcess

UI_TIMEOUT_MS = 20000
ADMIN = ("admin@clinic.example", "the admin's long password")
CLINICIAN = ("sam@clinic.example", "the clinician's long password")
AGREEMENT = "What is said in the evening group stays in the evening group."
MEMBERS = [("Robin", "Europe/London"), ("Kai", "America/Los_Angeles"), ("Asha", "Asia/Kolkata")]


@pytest.fixture
async def practice_server(tmp_path):
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
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    return await open_page(context, url, UI_TIMEOUT_MS)


async def log_in(page, email: str, password: str) -> None:
    await page.get_by_test_id("login-email").fill(email)
    await page.get_by_test_id("login-password").fill(password)
    await page.get_by_test_id("login-submit").click()


async def admin_creates_clinician(browser, server: ServerProcess) -> None:
    admin = await new_page(browser, f"{server.public_url}/dashboard")
    await log_in(admin, *ADMIN)
    await expect(admin.get_by_test_id("who")).to_contain_text(ADMIN[0])
    await admin.get_by_test_id("nav-accounts").click()
    await admin.get_by_test_id("account-email").fill(CLINICIAN[0])
    await admin.get_by_test_id("account-name").fill("Sam")
    await admin.get_by_test_id("account-tz").fill("America/Chicago")
    await admin.get_by_test_id("account-password").fill(CLINICIAN[1])
    await expect(admin.get_by_test_id("account-totp")).to_be_checked()
    await admin.get_by_test_id("account-create").click()
    await expect(admin.get_by_test_id("account-row").filter(has_text=CLINICIAN[0])).to_contain_text(
        "Two-factor at first login")
    await admin.context.close()


async def clinician_logs_in_with_totp(browser, server: ServerProcess):
    page = await new_page(browser, f"{server.public_url}/dashboard")
    await log_in(page, *CLINICIAN)
    await expect(page.get_by_test_id("totp-enrollment")).to_be_visible()
    secret = (await page.get_by_test_id("totp-secret").text_content() or "").strip()
    await page.get_by_test_id("login-code").fill(pyotp.TOTP(secret).now())
    await page.get_by_test_id("login-submit").click()
    await expect(page.get_by_test_id("who")).to_contain_text("Sam")
    await expect(page.get_by_test_id("who")).to_contain_text("America/Chicago")
    return page, secret


async def create_group_with_members(page) -> dict[str, str]:
    """Create the process group and its three members; return each member's invite link."""
    await page.get_by_test_id("nav-groups").click()
    await page.get_by_test_id("group-name").fill("Evening process group")
    await page.get_by_test_id("group-kind").select_option("process")
    await page.get_by_test_id("group-tz").fill("America/Chicago")
    await page.get_by_test_id("group-create").click()
    await expect(page.get_by_test_id("group-title")).to_have_text("Evening process group")
    links = {}
    for name, zone in MEMBERS:
        await page.get_by_test_id("member-name-input").fill(name)
        await page.get_by_test_id("member-tz").fill(zone)
        await page.get_by_test_id("member-add").click()
        await expect(page.get_by_test_id("member-row").filter(has_text=name)).to_be_visible()
        links[name] = await page.get_by_test_id("invite-url").input_value()
    rows = page.get_by_test_id("member-row")
    await expect(rows).to_have_count(3)
    await expect(page.get_by_test_id("setup-status")).to_have_text(["Setup not checked yet"] * 3)
    return links


def first_monday() -> datetime.datetime:
    """The local 18:00 Chicago start of the group: a Monday at least two days away (outside any window)."""
    today = datetime.datetime.now(ZoneInfo("America/Chicago")).date() + datetime.timedelta(days=2)
    monday = today + datetime.timedelta(days=(7 - today.weekday()) % 7)
    return datetime.datetime(monday.year, monday.month, monday.day, 18, 0)


def shown_in(local_start: datetime.datetime, zone: str) -> str:
    """How the pages write that start for a viewer in ``zone``, without the zone's name: "Mon 7 Dec, 00:00"."""
    moment = local_start.replace(tzinfo=ZoneInfo("America/Chicago")).astimezone(ZoneInfo(zone))
    return f"{moment:%a} {moment.day} {moment:%b}, {moment:%H:%M}"


async def schedule_three_evenings_a_week(page, start: datetime.datetime) -> None:
    await page.get_by_test_id("schedule-start").fill(start.strftime("%Y-%m-%dT%H:%M"))
    await page.get_by_test_id("schedule-duration").fill("90")
    for day in ("MO", "WE", "TH"):
        await page.get_by_test_id(f"schedule-day-{day}").check()
    await page.get_by_test_id("schedule-weeks").fill("8")
    await expect(page.get_by_test_id("schedule-rrule")).to_have_value("FREQ=WEEKLY;BYDAY=MO,WE,TH;COUNT=24")
    await page.get_by_test_id("schedule-save").click()
    await expect(page.get_by_test_id("occurrence-row").first).to_contain_text(shown_in(start, "America/Chicago"))


async def test_a_clinician_runs_a_scheduled_group_from_the_dashboard(browser, practice_server) -> None:
    await admin_creates_clinician(browser, practice_server)
    dashboard, _ = await clinician_logs_in_with_totp(browser, practice_server)
    links = await create_group_with_members(dashboard)
    start = first_monday()
    await schedule_three_evenings_a_week(dashboard, start)

    # Outside the window each member sees the next session in their own zone, and no Join.
    pages = {}
    for name, zone in MEMBERS:
        page = pages[name] = await new_page(browser, links[name])
        await expect(page.get_by_test_id("invite-greeting")).to_have_text(f"Hello, {name}")
        next_session = page.get_by_test_id("next-session")
        await expect(next_session).to_contain_text(f"Your next session is {shown_in(start, zone)}")
        await expect(page.get_by_test_id("join-open")).to_be_hidden()
    robin = pages["Robin"]
    await expect(robin.get_by_test_id("invite-group")).to_have_text("Your group: Evening process group")
    # Add to calendar: the .ics downloads and parses, and the private feed address is there to subscribe to.
    async with robin.expect_download() as download:
        await robin.get_by_test_id("calendar-download").click()
    saved = await (await download.value).path()
    events = icalendar.Calendar.from_ical(Path(saved).read_bytes()).walk("VEVENT")
    assert len(events) == 24
    await expect(robin.get_by_test_id("calendar-feed")).to_have_value(
        re.compile(rf"^{re.escape(practice_server.public_url)}/calendar/[0-9a-f]{{64}}\.ics$"))
    await expect(robin.locator("body")).not_to_contain_text("Kai")

    # Robin runs "Test my setup" from the invite page (a real media round trip through the SFU), and the
    # facilitator sees that Robin has passed.
    await robin.get_by_test_id("invite-setup").click()
    await robin.wait_for_url("**/setup#invite=*")
    await expect(robin.get_by_test_id("camera-status")).to_have_attribute("data-state", "working")
    await robin.get_by_test_id("connection-test").click()
    await expect(robin.get_by_test_id("connection-status")).to_have_attribute("data-state", "passed", timeout=40000)
    await dashboard.get_by_test_id("nav-groups").click()
    await dashboard.get_by_test_id("group-open").click()
    statuses = dashboard.get_by_test_id("setup-status")
    await expect(statuses).to_have_text(["Setup passed", "Setup not checked yet", "Setup not checked yet"])
    await robin.go_back()
    await expect(robin.get_by_test_id("invite-setup-status")).to_have_text(
        "You have checked your camera, microphone and connection.")

    # The facilitator writes the group's own agreement, which is what members accept when they enter, and
    # keeps the group asking members for their location and an emergency contact (on by default).
    await expect(dashboard.get_by_test_id("edit-emergency")).to_be_checked()
    await dashboard.get_by_test_id("edit-consent").fill(AGREEMENT)
    await dashboard.get_by_test_id("group-save").click()
    await expect(dashboard.get_by_test_id("notice")).to_have_text("Group saved.")

    # The facilitator moves the first session to now: the window opens and Robin joins, landing in the
    # waiting room under the name the group knows.
    now = datetime.datetime.now(ZoneInfo("America/Chicago")).strftime("%Y-%m-%dT%H:%M")
    first = dashboard.get_by_test_id("occurrence-row").first
    await first.get_by_test_id("occurrence-move-start").fill(now)
    await first.get_by_test_id("occurrence-move").click()
    await expect(dashboard.get_by_test_id("notice")).to_have_text("Schedule changed.")
    await robin.reload()
    await expect(robin.get_by_test_id("join-open")).to_be_visible()
    exchanged = []

    async def keep_join_link(route) -> None:  # pass the answer on unchanged, keeping the link it carries
        response = await route.fetch()
        exchanged.append((await response.json())["join_url"])
        await route.fulfill(response=response)

    await robin.route("**/api/v1/invite/join", keep_join_link)
    await robin.get_by_test_id("invite-join").click()
    await robin.wait_for_url("**/r/**")
    await expect(robin.locator("#room-name")).to_have_text("Evening process group")  # not the room's id
    await robin.get_by_test_id("join-button").click()
    await expect(robin.locator("#consent-text")).to_have_text(AGREEMENT)
    await robin.get_by_test_id("consent-accept").click()
    # A member confirms where they are and an emergency contact at every join (issue 11, the default).
    await robin.get_by_test_id("emergency-location").fill("At home, Leeds")
    await robin.get_by_test_id("emergency-contact").fill("Sam, 555-0100")
    await robin.get_by_test_id("emergency-confirm").click()
    await expect(robin.get_by_test_id("waiting-screen")).to_be_visible()

    # The facilitator starts the session from the dashboard and admits Robin.
    await dashboard.get_by_test_id("nav-sessions").click()
    await dashboard.get_by_test_id("sessions-today").get_by_test_id("start-session").first.click()
    host_url = await dashboard.get_by_test_id("session-link").get_attribute("href")
    host = await new_page(browser, host_url)
    await press_join(host)
    admit = host.locator('[data-testid="waiting-list"] [data-testid="admit-button"][data-participant-name="Robin"]')
    await admit.click()
    await expect(robin.get_by_test_id("agenda-bar")).to_be_visible()

    # The same join link a second time is refused, and takes nobody's place.
    assert len(exchanged) == 1
    copy = await new_page(browser, exchanged[0])
    await press_join(copy)
    await expect(copy.get_by_test_id("connection-status")).to_have_text(
        "This join link was used already — open your invite link again to join")
    await expect(copy.get_by_test_id("waiting-screen")).to_be_hidden()
    await expect(host.get_by_test_id("waiting-list").locator('[data-testid="admit-button"]')).to_have_count(0)

    # A revoked invite stops working at once.
    kai = pages["Kai"]
    await dashboard.get_by_test_id("nav-groups").click()
    await dashboard.get_by_test_id("group-open").click()
    await expect(kai.get_by_test_id("invite-greeting")).to_have_text("Hello, Kai")
    kai_row = dashboard.get_by_test_id("member-row").filter(has_text="Kai")
    await kai_row.get_by_test_id("invite-revoke").click()
    await expect(kai_row.get_by_test_id("invite-status")).to_have_text("No live link")
    await kai.reload()
    await expect(kai.get_by_test_id("invite-invalid")).to_be_visible()
    for page in (dashboard, host, *pages.values()):
        assert page.errors == []
