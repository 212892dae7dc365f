"""An administrator changing an existing clinician's account through `PATCH /api/v1/accounts/{account_id}` on a
real server: requiring two-factor makes the clinician's next login enrol an authenticator; resetting it forgets
the enrolled one; disabling refuses the login and ends the open web session and API keys at once; unlocking
clears a lockout from repeated wrong passwords; an administrator cannot disable or demote themselves; a
clinician is refused. Every change is audited as `account-changed` by ids and field names, with no email,
password or two-factor secret anywhere in the audit log. Every response is validated against docs/openapi.yaml.
"""

from __future__ import annotations

import asyncio
import json

import pyotp
import pytest

from server.app import CONFIG, STORAGE
from server.practice.wiring import PRACTICE_API
from tests.support.practice_api import ApiClient

ADMIN_EMAIL, ADMIN_PASSWORD = "admin@clinic.example", "a long admin password"
SAM_EMAIL, SAM_PASSWORD = "sam@clinic.example", "a clinician password"
WRONG_PASSWORD = "not the clinician password"
MAX_FAILURES = 3  # practice.max_login_failures for these servers: every login here comes from 127.0.0.1,
# whose login throttle allows a burst of 10 attempts, so the lockout must come well before that.


@pytest.fixture
async def clinic(haven_factory):
    """A server, a client logged in as its administrator, the id of the clinician Sam, and more clients."""
    haven = await haven_factory(f"[practice]\nmax_login_failures = {MAX_FAILURES}\n")
    await haven.app[PRACTICE_API].accounts.create(ADMIN_EMAIL, "admin", ADMIN_PASSWORD)
    admin = ApiClient(haven.base_url)
    clients = [admin]
    status, _ = await admin.call("POST", "/api/v1/login", {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
    assert status == 200
    status, sam = await admin.call("POST", "/api/v1/accounts", {"email": SAM_EMAIL, "role": "clinician",
                                                                "password": SAM_PASSWORD, "display_name": "Sam"})
    assert status == 201 and not sam["totp_required"] and not sam["disabled"]

    def client(**kwargs) -> ApiClient:
        made = ApiClient(haven.base_url, **kwargs)
        clients.append(made)
        return made

    yield haven, admin, sam["id"], client
    for made in clients:
        await made.close()


async def log_in(client: ApiClient, password: str = SAM_PASSWORD, code: str | None = None,
                 email: str = SAM_EMAIL) -> tuple[int, dict]:
    body = {"email": email, "password": password, **({"code": code} if code is not None else {})}
    return await client.call("POST", "/api/v1/login", body)


async def account_row(admin: ApiClient, account_id: str) -> dict:
    status, listed = await admin.call("GET", "/api/v1/accounts")
    assert status == 200
    return next(a for a in listed["accounts"] if a["id"] == account_id)


async def audit_log(haven, *secrets: str) -> list[dict]:
    """Every audit entry so far, after checking that no email, password or given secret is in any of them."""
    storage = haven.app[STORAGE]
    await asyncio.to_thread(storage.flush)
    entries = storage.audit_entries()
    everything = json.dumps(entries)
    for secret in (ADMIN_EMAIL, SAM_EMAIL, ADMIN_PASSWORD, SAM_PASSWORD, WRONG_PASSWORD, *secrets):
        assert secret not in everything, secret
    return entries


def changes_of(entries: list[dict], subject: str) -> list[tuple[str, list[str]]]:
    """The `account-changed` entries about one account: (who changed it, the fields changed)."""
    return [(e["actor"], json.loads(e["detail"])["fields"]) for e in entries
            if e["action"] == "account-changed" and e["subject"] == subject]


async def test_requiring_two_factor_makes_the_clinicians_next_login_enrol_an_authenticator(clinic) -> None:
    haven, admin, sam_id, client = clinic
    _, me = await admin.call("GET", "/api/v1/me")
    admin_id = me["account"]["id"]
    status, body = await log_in(client())
    assert status == 200 and not body["account"]["totp_enabled"]  # not required yet: the password suffices

    status, changed = await admin.call("PATCH", f"/api/v1/accounts/{sam_id}", {"totp_required": True})
    assert status == 200 and changed["totp_required"] and not changed["totp_enabled"]

    sam = client()
    status, refused = await log_in(sam)
    assert (status, refused["error"]) == (401, "totp-enrollment-required")
    secret = refused["totp_secret"]
    assert refused["otpauth_uri"].startswith("otpauth://totp/") and secret in refused["otpauth_uri"]
    status, refused = await sam.call("GET", "/api/v1/me")
    assert (status, refused["error"]) == (401, "not-logged-in")  # the password alone opened nothing
    status, body = await log_in(sam, code=pyotp.TOTP(secret).now())
    assert status == 200 and body["account"]["totp_enabled"] and body["account"]["totp_required"]
    assert (await sam.call("GET", "/api/v1/me"))[0] == 200

    # From now on every login needs the authenticator's code.
    status, refused = await log_in(client())
    assert (status, refused["error"]) == (401, "totp-required")

    entries = await audit_log(haven, secret)
    assert changes_of(entries, sam_id) == [(admin_id, ["totp_required"])]
    assert [e["actor"] for e in entries if e["action"] == "totp-enrolled"] == [sam_id]


async def test_resetting_two_factor_forgets_the_authenticator_and_asks_for_a_new_one(clinic) -> None:
    haven, admin, sam_id, client = clinic
    await admin.call("PATCH", f"/api/v1/accounts/{sam_id}", {"totp_required": True})
    sam = client()
    _, enrolment = await log_in(sam)
    old_secret = enrolment["totp_secret"]
    status, _ = await log_in(sam, code=pyotp.TOTP(old_secret).now())
    assert status == 200

    status, changed = await admin.call("PATCH", f"/api/v1/accounts/{sam_id}", {"reset_totp": True})
    assert status == 200 and not changed["totp_enabled"] and changed["totp_required"]

    # The old authenticator's code no longer logs in: a fresh secret is offered instead.
    status, refused = await log_in(client(), code=pyotp.TOTP(old_secret).now())
    assert (status, refused["error"]) == (401, "totp-enrollment-required")
    new_secret = refused["totp_secret"]
    assert new_secret != old_secret
    status, body = await log_in(client(), code=pyotp.TOTP(new_secret).now())
    assert status == 200 and body["account"]["totp_enabled"]

    # Reset and no longer required: the password alone logs in again.
    status, changed = await admin.call("PATCH", f"/api/v1/accounts/{sam_id}",
                                       {"reset_totp": True, "totp_required": False})
    assert status == 200 and not changed["totp_enabled"] and not changed["totp_required"]
    status, body = await log_in(client())
    assert status == 200 and not body["account"]["totp_enabled"]

    entries = await audit_log(haven, old_secret, new_secret)
    assert [fields for _, fields in changes_of(entries, sam_id)] == [
        ["totp_required"], ["totp_pending", "totp_secret"], ["totp_pending", "totp_required", "totp_secret"]]


async def test_a_disabled_account_cannot_log_in_and_its_open_session_and_api_keys_stop_at_once(clinic) -> None:
    haven, admin, sam_id, client = clinic
    sam = client()
    assert (await log_in(sam))[0] == 200
    status, made = await sam.call("POST", "/api/v1/api-keys", {"label": "EHR sync"})
    assert status == 201
    integration = client(api_key=made["key"])
    assert (await integration.call("GET", "/api/v1/me"))[0] == 200

    status, changed = await admin.call("PATCH", f"/api/v1/accounts/{sam_id}", {"disabled": True})
    assert status == 200 and changed["disabled"]

    status, refused = await sam.call("GET", "/api/v1/me")
    assert (status, refused["error"]) == (401, "not-logged-in")  # the open web session was ended
    status, refused = await integration.call("GET", "/api/v1/me")
    assert (status, refused["error"]) == (401, "bad-api-key")
    status, refused = await log_in(client())
    assert (status, refused["error"]) == (401, "login-failed")  # the same answer as a wrong password
    _, listed = await admin.call("GET", "/api/v1/clinicians")
    assert sam_id not in [c["id"] for c in listed["clinicians"]]  # no longer offered as a facilitator

    status, changed = await admin.call("PATCH", f"/api/v1/accounts/{sam_id}", {"disabled": False})
    assert status == 200 and not changed["disabled"]
    assert (await log_in(client()))[0] == 200
    assert (await integration.call("GET", "/api/v1/me"))[0] == 200  # the key was kept, only refused meanwhile

    entries = await audit_log(haven, made["key"])
    assert [fields for _, fields in changes_of(entries, sam_id)] == [["disabled"], ["disabled"]]
    assert {"reason": "disabled"} in [json.loads(e["detail"]) for e in entries if e["action"] == "login-failed"]


async def test_unlock_clears_a_lockout_from_repeated_wrong_passwords(clinic) -> None:
    haven, admin, sam_id, client = clinic
    assert haven.app[CONFIG].practice.max_login_failures == MAX_FAILURES
    sam = client()
    for _ in range(MAX_FAILURES):
        status, refused = await log_in(sam, WRONG_PASSWORD)
        assert (status, refused["error"]) == (401, "login-failed")
    status, refused = await log_in(sam)
    assert (status, refused["error"]) == (403, "account-locked")  # even the right password, now
    assert (await account_row(admin, sam_id))["locked"]

    status, changed = await admin.call("PATCH", f"/api/v1/accounts/{sam_id}", {"unlock": True})
    assert status == 200 and not changed["locked"]
    status, body = await log_in(sam)
    assert status == 200 and body["account"]["id"] == sam_id

    entries = await audit_log(haven)
    assert [e["actor"] for e in entries if e["action"] == "account-locked"] == [sam_id]
    assert [fields for _, fields in changes_of(entries, sam_id)] == [["failed_logins", "locked_until"]]


async def test_an_administrator_cannot_disable_or_demote_themselves(clinic) -> None:
    haven, admin, _, _ = clinic
    _, me = await admin.call("GET", "/api/v1/me")
    admin_id = me["account"]["id"]
    for body in ({"disabled": True}, {"role": "clinician"}, {"disabled": True, "totp_required": True}):
        status, refused = await admin.call("PATCH", f"/api/v1/accounts/{admin_id}", body)
        assert (status, refused["error"]) == (409, "would-lock-out"), body
    own = await account_row(admin, admin_id)
    assert (own["role"], own["disabled"], own["totp_required"]) == ("admin", False, False)  # nothing applied
    status, me = await admin.call("GET", "/api/v1/me")
    assert status == 200 and me["account"]["role"] == "admin"
    assert changes_of(await audit_log(haven), admin_id) == []


async def test_clinicians_cannot_change_accounts_until_made_administrators(clinic) -> None:
    haven, admin, sam_id, client = clinic
    _, me = await admin.call("GET", "/api/v1/me")
    admin_id = me["account"]["id"]
    sam = client()
    assert (await log_in(sam))[0] == 200
    for target, body in ((admin_id, {"disabled": True}), (sam_id, {"role": "admin"}),
                         (sam_id, {"totp_required": False})):
        status, refused = await sam.call("PATCH", f"/api/v1/accounts/{target}", body)
        assert (status, refused["error"]) == (403, "not-permitted"), (target, body)
    assert not (await account_row(admin, admin_id))["disabled"]
    assert (await account_row(admin, sam_id))["role"] == "clinician"

    status, refused = await admin.call("PATCH", "/api/v1/accounts/a-0000000000000000", {"disabled": True})
    assert (status, refused["error"]) == (404, "unknown-account")
    status, refused = await admin.call("PATCH", f"/api/v1/accounts/{sam_id}", {"disabled": "yes"}, check=False)
    assert (status, refused["error"], refused["field"]) == (400, "bad-request", "disabled")
    status, refused = await admin.call("PATCH", f"/api/v1/accounts/{sam_id}", {"role": "owner"}, check=False)
    assert (status, refused["error"], refused["field"]) == (400, "bad-request", "role")
    assert changes_of(await audit_log(haven), sam_id) == []

    # Promoted, Sam's same web session now manages accounts.
    status, changed = await admin.call("PATCH", f"/api/v1/accounts/{sam_id}", {"role": "admin"})
    assert status == 200 and changed["role"] == "admin"
    assert (await sam.call("GET", "/api/v1/accounts"))[0] == 200
    entries = await audit_log(haven)
    assert changes_of(entries, sam_id) == [(admin_id, ["role"])]
    assert changes_of(entries, admin_id) == []
