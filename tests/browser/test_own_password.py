"""A clinician changes their own password from the dashboard's "My account" in a real browser against a real
`haven serve`: a wrong current password and two new ones that differ are refused with text saying so and
nothing changed; then the change goes through, a second browser logged in as the same clinician is logged
off, and after logging out the old password no longer logs in while the new one does. Every step is typed
and clicked the way a person would."""

from __future__ import annotations

import subprocess
import sys

import pytest
from playwright.async_api import expect

from tests.support.pages import open_page
from tests.support.server_process import ROOT, ServerProcess

UI_TIMEOUT_MS = 20000
EMAIL, OLD_PASSWORD = "sam@clinic.example", "the clinician's long password"
NEW_PASSWORD = "a new and even longer passphrase"


@pytest.fixture
async def practice_server(tmp_path):
    """A Haven server whose one account, a clinician, was made with `haven admin create-user`."""
    server = ServerProcess(tmp_path)
    created = subprocess.run(
        [sys.executable, "-m", "server.cli", "admin", "create-user", "--email", EMAIL, "--role", "clinician",
         "--tz", "America/Chicago", "--config", str(server.config_path)], input=OLD_PASSWORD + "\n",
        capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert created.returncode == 0, created.stderr
    with server.running():
        yield server


async def new_page(browser, url: str):
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    return await open_page(context, url, UI_TIMEOUT_MS)


async def log_in(page, password: str) -> None:
    await page.get_by_test_id("login-email").fill(EMAIL)
    await page.get_by_test_id("login-password").fill(password)
    await page.get_by_test_id("login-submit").click()


async def fill_password_form(page, current: str, new: str, again: str) -> None:
    await page.get_by_label("Current password").fill(current)
    await page.get_by_label("New password (at least 12 characters)").fill(new)
    await page.get_by_label("New password again").fill(again)
    await page.get_by_role("button", name="Change password").click()


async def test_a_clinician_changes_their_password_and_logs_in_with_the_new_one(browser, practice_server) -> None:
    url = f"{practice_server.public_url}/dashboard"
    page = await new_page(browser, url)
    await log_in(page, OLD_PASSWORD)
    await expect(page.get_by_test_id("who")).to_contain_text(EMAIL)
    other = await new_page(browser, url)  # the same clinician in another browser
    await log_in(other, OLD_PASSWORD)
    await expect(other.get_by_test_id("who")).to_contain_text(EMAIL)

    await page.get_by_test_id("nav-account").click()
    await expect(page.get_by_role("heading", name="Change password")).to_be_visible()
    form = page.get_by_test_id("password-form")
    await expect(form.get_by_label("Current password")).to_have_attribute("autocomplete", "current-password")
    await expect(form.get_by_label("New password (at least 12 characters)")).to_have_attribute(
        "autocomplete", "new-password")
    await expect(form.get_by_label("New password again")).to_have_attribute("autocomplete", "new-password")
    await expect(page.get_by_test_id("my-account")).to_contain_text("America/Chicago")

    # Two new passwords that differ: refused before anything is sent.
    await fill_password_form(page, OLD_PASSWORD, NEW_PASSWORD, NEW_PASSWORD + "!")
    await expect(page.get_by_test_id("password-error")).to_have_text(
        "The two new passwords are not the same. Type the new one twice.")
    # A wrong current password: the server refuses and the form says so, on the field it is about.
    await fill_password_form(page, "not the right password", NEW_PASSWORD, NEW_PASSWORD)
    await expect(page.get_by_test_id("password-error")).to_have_text(
        "Your current password is not right. Nothing was changed.")
    await expect(page.get_by_label("Current password")).to_have_attribute("aria-invalid", "true")
    await expect(page.get_by_label("Current password")).to_be_focused()
    await expect(page.get_by_test_id("password-done")).to_have_text("")

    await fill_password_form(page, OLD_PASSWORD, NEW_PASSWORD, NEW_PASSWORD)
    await expect(page.get_by_test_id("password-done")).to_have_text(
        "Your password was changed. You were logged out everywhere else.")
    await expect(page.get_by_test_id("password-error")).to_have_text("")
    await expect(page.get_by_label("Current password")).to_have_value("")
    await expect(page.get_by_label("Current password")).not_to_have_attribute("aria-invalid", "true")

    # This browser stays logged in; the other one was logged off.
    await page.get_by_test_id("nav-groups").click()
    await expect(page.get_by_test_id("who")).to_contain_text(EMAIL)
    await expect(page.get_by_test_id("login-form")).to_be_hidden()
    await other.get_by_test_id("nav-groups").click()
    await expect(other.get_by_test_id("login-form")).to_be_visible()

    await page.get_by_test_id("logout").click()
    await expect(page.get_by_test_id("login-error")).to_have_text("You are logged out.")
    await log_in(page, OLD_PASSWORD)
    await expect(page.get_by_test_id("login-error")).to_have_text("the email or password is not right")
    await log_in(page, NEW_PASSWORD)
    await expect(page.get_by_test_id("who")).to_contain_text(EMAIL)
    for shown in (page, other):
        assert shown.errors == []
