"""Running a practice in real browsers: the first admin made on the command line, a clinician created in the
dashboard who logs in with two-factor, a process group with members in three time zones, their invites, and
a revoked invite refused — each step clicked the way a person would, against a real `haven serve`."""

from __future__ import annotations

import subprocess
import sys

import pyotp
import pytest
from playwright.async_api import expect

from tests.support.pages import open_page
from tests.support.server_process import ROOT, ServerProcess

UI_TIMEOUT_MS = 20000
ADMIN = ("admin@clinic.example", "the admin's long password")
CLINICIAN = ("sam@clinic.example", "the clinician's long password")
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


async def test_a_clinician_set_up_by_an_admin_runs_a_group_and_revokes_an_invite(browser, practice_server) -> None:
    await admin_creates_clinician(browser, practice_server)
    dashboard, _ = await clinician_logs_in_with_totp(browser, practice_server)
    links = await create_group_with_members(dashboard)

    robin = await new_page(browser, links["Robin"])
    await expect(robin.get_by_test_id("invite-greeting")).to_have_text("Hello, Robin")
    await expect(robin.get_by_test_id("invite-group")).to_have_text("Your group: Evening process group")
    await expect(robin.locator("body")).not_to_contain_text("Kai")

    kai = await new_page(browser, links["Kai"])
    await expect(kai.get_by_test_id("invite-greeting")).to_have_text("Hello, Kai")
    kai_row = dashboard.get_by_test_id("member-row").filter(has_text="Kai")
    await kai_row.get_by_test_id("invite-revoke").click()
    await expect(kai_row.get_by_test_id("invite-status")).to_have_text("No live link")
    await kai.reload()
    await expect(kai.get_by_test_id("invite-invalid")).to_be_visible()
    for page in (dashboard, robin, kai):
        assert page.errors == []
