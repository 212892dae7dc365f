"""A clinician changing their own password through `POST /api/v1/me/password` on a real server: with the current
password and a strong new one the hash is replaced, every other web session of the account ends at once while
the one that asked stays (same CSRF token), and the new password logs in where the old one no longer does; a
wrong current password is refused and counts towards the lockout like a failed login; a weak or unchanged new
password is refused without counting; no cookie, no CSRF token, an API key or a logged-out session are refused.
Every change is audited by account id only (`password-changed`), with no email or password anywhere in the
audit log. Every response is validated against docs/openapi.yaml.
"""

from __future__ import annotations

import asyncio
import json

import pytest

from server.app import STORAGE
from server.practice.wiring import PRACTICE_API
from tests.support.practice_api import ApiClient

SAM_EMAIL, OLD_PASSWORD = "sam@clinic.example", "the clinician's first password"
NEW_PASSWORD = "a brand new long passphrase"
WRONG_PASSWORD = "not the clinician password"
MAX_FAILURES = 3  # few, well inside the login throttle's burst of 10 from 127.0.0.1


@pytest.fixture
async def clinic(haven_factory):
    """A server with the clinician Sam; ``client()`` makes more browser-like callers, closed afterwards."""
    haven = await haven_factory(f"[practice]\nmax_login_failures = {MAX_FAILURES}\n")
    sam = await haven.app[PRACTICE_API].accounts.create(SAM_EMAIL, "clinician", OLD_PASSWORD, display_name="Sam")
    clients: list[ApiClient] = []

    def client(**kwargs) -> ApiClient:
        made = ApiClient(haven.base_url, **kwargs)
        clients.append(made)
        return made

    yield haven, sam["id"], client
    for made in clients:
        await made.close()


async def log_in(client: ApiClient, password: str = OLD_PASSWORD) -> tuple[int, dict]:
    return await client.call("POST", "/api/v1/login", {"email": SAM_EMAIL, "password": password})


async def change(client: ApiClient, current: object = OLD_PASSWORD, new: object = NEW_PASSWORD,
                 **kwargs) -> tuple[int, dict | None]:
    return await client.call("POST", "/api/v1/me/password", {"current_password": current, "new_password": new},
                             **kwargs)


async def audit_log(haven) -> list[dict]:
    """Every audit entry so far, after checking that no email or password is in any of them."""
    storage = haven.app[STORAGE]
    await asyncio.to_thread(storage.flush)
    entries = storage.audit_entries()
    everything = json.dumps(entries)
    for secret in (SAM_EMAIL, OLD_PASSWORD, NEW_PASSWORD, WRONG_PASSWORD, "too short"):
        assert secret not in everything, secret
    return entries


async def test_changing_the_password_keeps_this_session_and_ends_the_others(clinic) -> None:
    haven, sam_id, client = clinic
    here, laptop, phone = client(), client(), client()
    for browser in (here, laptop, phone):
        assert (await log_in(browser))[0] == 200
    csrf = here.csrf_token

    status, body = await change(here)
    assert (status, body) == (204, None)

    status, me = await here.call("GET", "/api/v1/me")
    assert status == 200 and me["account"]["id"] == sam_id and me["csrf_token"] == csrf
    status, _ = await here.call("POST", "/api/v1/api-keys", {"label": "still works"})  # the CSRF token too
    assert status == 201
    for other in (laptop, phone):
        status, refused = await other.call("GET", "/api/v1/me")
        assert (status, refused["error"]) == (401, "not-logged-in")

    status, refused = await log_in(client())
    assert (status, refused["error"]) == (401, "login-failed")
    status, body = await log_in(client(), NEW_PASSWORD)
    assert status == 200 and body["account"]["id"] == sam_id

    hashed = (await haven.app[PRACTICE_API].accounts.store.call(
        haven.app[PRACTICE_API].accounts.store.db.account, sam_id))["password_hash"]
    assert hashed.startswith("$argon2id$")
    changed = [e for e in await audit_log(haven) if e["action"] == "password-changed"]
    assert [(e["actor"], e["subject"], json.loads(e["detail"] or "{}")) for e in changed] == [(sam_id, None, {})]


async def test_a_wrong_current_password_is_refused_and_counts_towards_the_lockout(clinic) -> None:
    haven, sam_id, client = clinic
    here, elsewhere = client(), client()
    assert (await log_in(here))[0] == 200 and (await log_in(elsewhere))[0] == 200
    for _ in range(MAX_FAILURES):
        status, refused = await change(here, current=WRONG_PASSWORD)
        assert (status, refused["error"], refused["field"]) == (401, "wrong-password", "current_password")
    # Locked now, like after as many wrong passwords at login: even the right one is refused, here and there.
    status, refused = await change(here)
    assert (status, refused["error"]) == (403, "account-locked")
    status, refused = await log_in(client())
    assert (status, refused["error"]) == (403, "account-locked")
    # Nothing changed: no session ended, the old password is still the one (once the lock is lifted).
    assert (await here.call("GET", "/api/v1/me"))[0] == 200
    assert (await elsewhere.call("GET", "/api/v1/me"))[0] == 200
    await haven.app[PRACTICE_API].accounts.store.call(haven.app[PRACTICE_API].accounts.store.db.update_account,
                                                      sam_id, failed_logins=0, locked_until=None)
    assert (await log_in(client(), NEW_PASSWORD))[0] == 401
    assert (await log_in(client()))[0] == 200

    entries = await audit_log(haven)
    failures = [e for e in entries if e["action"] == "password-change-failed"]
    assert [(e["actor"], json.loads(e["detail"])) for e in failures] == [(sam_id, {"reason": "password"})] * 3
    assert [e["actor"] for e in entries if e["action"] == "account-locked"] == [sam_id]
    assert not [e for e in entries if e["action"] == "password-changed"]


async def test_one_wrong_current_password_then_the_right_one_starts_the_count_again(clinic) -> None:
    haven, _, client = clinic
    here = client()
    assert (await log_in(here))[0] == 200
    for _ in range(MAX_FAILURES - 1):
        assert (await change(here, current=WRONG_PASSWORD))[0] == 401
    assert (await change(here))[0] == 204
    status, refused = await change(here, current=WRONG_PASSWORD, new=OLD_PASSWORD)
    assert (status, refused["error"]) == (401, "wrong-password")  # one failure, not the third: no lock
    assert (await change(here, current=NEW_PASSWORD, new=OLD_PASSWORD))[0] == 204


@pytest.mark.parametrize(("current", "new", "field"), [
    (OLD_PASSWORD, "too short", "new_password"),
    (OLD_PASSWORD, "x" * 1025, "new_password"),
    (OLD_PASSWORD, OLD_PASSWORD, "new_password"),
    (OLD_PASSWORD, 123456789012, "new_password"),
    ("", NEW_PASSWORD, "current_password"),
    (None, NEW_PASSWORD, "current_password"),
])
async def test_a_weak_unchanged_or_missing_password_is_refused_without_counting(clinic, current, new,
                                                                                field) -> None:
    haven, sam_id, client = clinic
    here, elsewhere = client(), client()
    assert (await log_in(here))[0] == 200 and (await log_in(elsewhere))[0] == 200
    for _ in range(MAX_FAILURES + 1):
        status, refused = await change(here, current=current, new=new)
        assert (status, refused["error"], refused["field"]) == (400, "bad-request", field)
    assert (await elsewhere.call("GET", "/api/v1/me"))[0] == 200
    assert (await log_in(client()))[0] == 200  # not locked, and still the old password
    assert not [e for e in await audit_log(haven) if e["action"].startswith("password-")]


async def test_only_a_logged_in_web_session_with_its_csrf_token_may_change_it(clinic) -> None:
    haven, _, client = clinic
    status, refused = await change(client())
    assert (status, refused["error"]) == (401, "not-logged-in")

    here = client()
    assert (await log_in(here))[0] == 200
    status, refused = await change(here, csrf=False)
    assert (status, refused["error"]) == (403, "csrf-failed")
    status, refused = await change(here, headers={"Origin": "https://elsewhere.example"})
    assert (status, refused["error"]) == (403, "csrf-failed")
    status, refused = await here.call("POST", "/api/v1/me/password", headers={"Content-Type": "text/plain"})
    assert status == 415

    status, made = await here.call("POST", "/api/v1/api-keys", {"label": "EHR sync"})
    assert status == 201
    status, refused = await change(client(api_key=made["key"]))
    assert (status, refused["error"]) == (403, "not-permitted")

    assert (await here.call("POST", "/api/v1/logout"))[0] == 204
    status, refused = await change(here)
    assert (status, refused["error"]) == (401, "not-logged-in")
    assert (await log_in(client()))[0] == 200  # none of it changed the password
    assert not [e for e in await audit_log(haven) if e["action"] == "password-changed"]
