"""Tests for server.practice accounts: Argon2 passwords, TOTP enrollment and codes, lockout, throttling,
web sessions with inactivity logoff, API keys, and the audit trail (never an email or password in it)."""

from __future__ import annotations

import json

import pyotp
import pytest

from server.practice.accounts import Accounts, digest, normalize_email, public_account
from server.practice.errors import PracticeError
from server.practice.lockout import Lockout, LockState, LoginThrottle
from server.practice.passwords import check_password, hash_password
from server.practice.store import PracticeStore
from server.practice.totp import check_code
from tests.support.clock import Clock
from tests.support.fakes import AuditLog

PASSWORD = "correct horse battery"
EMAIL = "Dana@Clinic.example"


@pytest.fixture
def clock() -> Clock:
    return Clock(1_800_000_000.0)


@pytest.fixture
def audit() -> AuditLog:
    return AuditLog()


@pytest.fixture
def accounts(records_where, clock: Clock, audit: AuditLog):
    store = PracticeStore(records_where)  # a SQLite file, and a PostgreSQL database
    store.db.clock = clock
    yield Accounts(store, audit, Lockout(max_failures=3, duration=600), inactivity_timeout=900, clock=clock)
    store.close()


def test_passwords_are_argon2id_and_checked() -> None:
    stored = hash_password(PASSWORD)
    assert stored.startswith("$argon2id$")
    assert check_password(stored, PASSWORD)
    assert not check_password(stored, PASSWORD + "!")
    assert not check_password(None, PASSWORD)
    assert not check_password("not a hash", PASSWORD)


def test_totp_accepts_the_current_code_and_its_neighbours_only() -> None:
    secret = pyotp.random_base32()
    totp = pyotp.TOTP(secret)
    now = 1_800_000_000
    assert check_code(secret, totp.at(now), now)
    assert check_code(secret, totp.at(now - 30), now)
    assert not check_code(secret, totp.at(now - 90), now)
    assert not check_code(secret, "12345", now) and not check_code(secret, "abcdef", now)


def test_lockout_locks_after_max_failures_and_starts_again_after_the_lock() -> None:
    rule = Lockout(max_failures=3, duration=600)
    state = LockState()
    for _ in range(2):
        state = rule.failed(state, 100)
        assert not state.locked(100)
    state = rule.failed(state, 100)
    assert state.locked(100) and state.locked(699) and not state.locked(700)
    assert rule.failed(state, 701) == LockState(1, None)


def test_throttle_allows_a_burst_per_client_then_refuses() -> None:
    throttle = LoginThrottle(rate=0.1, burst=3)
    assert [throttle.allow("192.0.2.1", 0) for _ in range(4)] == [True, True, True, False]
    assert throttle.allow("192.0.2.2", 0)
    assert throttle.allow("192.0.2.1", 10)


async def test_login_with_password_then_cookie_authenticates(accounts: Accounts, audit: AuditLog) -> None:
    account = await accounts.create(EMAIL, "clinician", PASSWORD)
    assert account["email"] == "dana@clinic.example"
    login = await accounts.login("dana@clinic.example", PASSWORD, None, "192.0.2.1")
    caller = await accounts.by_cookie(login.cookie)
    assert caller.account["id"] == account["id"] and caller.csrf_token == login.csrf_token
    assert audit.actions() == ["account-created", "login"]


async def test_wrong_password_unknown_email_and_lockout_are_refused_and_audited(accounts: Accounts,
                                                                                audit: AuditLog,
                                                                                clock: Clock) -> None:
    account = await accounts.create(EMAIL, "clinician", PASSWORD)
    with pytest.raises(PracticeError) as unknown:
        await accounts.login("nobody@clinic.example", PASSWORD, None, "c")
    assert unknown.value.code == "login-failed"
    for _ in range(3):
        with pytest.raises(PracticeError) as wrong:
            await accounts.login(EMAIL, "wrong password here", None, "c")
        assert wrong.value.code == "login-failed"
    with pytest.raises(PracticeError) as locked:
        await accounts.login(EMAIL, PASSWORD, None, "c")  # even the right password, while locked
    assert locked.value.code == "account-locked" and locked.value.status == 403
    assert "account-locked" in audit.actions() and "login-refused-locked" in audit.actions()
    clock.now += 601
    await accounts.login(EMAIL, PASSWORD, None, "c")
    public = public_account((await accounts.store.call(accounts.store.db.account, account["id"])), clock.now)
    assert not public["locked"]
    text = json.dumps(audit.entries)
    assert "dana" not in text.lower() and PASSWORD not in text


async def test_required_totp_is_enrolled_at_first_login_then_asked_for(accounts: Accounts, clock: Clock,
                                                                       audit: AuditLog) -> None:
    await accounts.create(EMAIL, "clinician", PASSWORD, totp_required=True)
    with pytest.raises(PracticeError) as enrollment:
        await accounts.login(EMAIL, PASSWORD, None, "c")
    assert enrollment.value.code == "totp-enrollment-required"
    secret = enrollment.value.extra["totp_secret"]
    assert str(enrollment.value.extra["otpauth_uri"]).startswith("otpauth://totp/Haven:")
    totp = pyotp.TOTP(str(secret))
    await accounts.login(EMAIL, PASSWORD, totp.at(clock.now), "c")
    assert "totp-enrolled" in audit.actions()
    with pytest.raises(PracticeError) as required:
        await accounts.login(EMAIL, PASSWORD, None, "c")
    assert required.value.code == "totp-required"
    with pytest.raises(PracticeError) as invalid:
        await accounts.login(EMAIL, PASSWORD, totp.at(clock.now - 300), "c")
    assert invalid.value.code == "totp-invalid"
    clock.now += 30  # the enrollment's code was used: the next login needs the next window's
    await accounts.login(EMAIL, PASSWORD, totp.at(clock.now), "c")


async def test_a_wrong_code_counts_towards_the_lockout(accounts: Accounts) -> None:
    await accounts.create(EMAIL, "clinician", PASSWORD, totp_required=True)
    with pytest.raises(PracticeError):
        await accounts.login(EMAIL, PASSWORD, None, "c")
    for _ in range(3):
        with pytest.raises(PracticeError):
            await accounts.login(EMAIL, PASSWORD, "000000", "c")
    with pytest.raises(PracticeError) as locked:
        await accounts.login(EMAIL, PASSWORD, None, "c")
    assert locked.value.code == "account-locked"


async def test_an_idle_web_session_is_logged_off(accounts: Accounts, clock: Clock, audit: AuditLog) -> None:
    await accounts.create(EMAIL, "clinician", PASSWORD)
    login = await accounts.login(EMAIL, PASSWORD, None, "c")
    clock.now += 800
    await accounts.by_cookie(login.cookie)  # activity renews it
    clock.now += 800
    await accounts.by_cookie(login.cookie)
    clock.now += 901
    with pytest.raises(PracticeError) as expired:
        await accounts.by_cookie(login.cookie)
    assert expired.value.code == "session-expired"
    with pytest.raises(PracticeError) as gone:
        await accounts.by_cookie(login.cookie)
    assert gone.value.code == "not-logged-in"
    assert "logoff-inactive" in audit.actions()
    idle = await accounts.login(EMAIL, PASSWORD, None, "c")
    clock.now += 901
    await accounts.login(EMAIL, PASSWORD, None, "c")  # sweeps the idle one away
    row = await accounts.store.call(accounts.store.db.web_session, digest(idle.cookie))
    assert row is None


async def test_the_login_throttle_refuses_a_fast_guesser(accounts: Accounts) -> None:
    await accounts.create(EMAIL, "clinician", PASSWORD)
    codes = []
    for _ in range(12):
        try:
            await accounts.login("nobody@clinic.example", PASSWORD, None, "203.0.113.9")
        except PracticeError as exc:
            codes.append(exc.code)
    assert codes[:10] == ["login-failed"] * 10 and codes[10:] == ["login-throttled"] * 2


async def test_api_keys_act_for_their_account_until_revoked(accounts: Accounts) -> None:
    account = await accounts.create(EMAIL, "clinician", PASSWORD)
    login = await accounts.login(EMAIL, PASSWORD, None, "c")
    caller = await accounts.by_cookie(login.cookie)
    row, key = await accounts.new_api_key(caller, "EHR sync")
    assert (await accounts.by_api_key(key)).account["id"] == account["id"]
    assert (await accounts.by_api_key(key)).csrf_token is None
    for forged in (key[:-1] + ("A" if key[-1] != "A" else "B"), "hk_nothing_here", "garbage"):
        with pytest.raises(PracticeError):
            await accounts.by_api_key(forged)
    assert await accounts.store.call(accounts.store.db.revoke_api_key, account["id"], row["id"])
    with pytest.raises(PracticeError) as revoked:
        await accounts.by_api_key(key)
    assert revoked.value.code == "bad-api-key"


async def test_creating_accounts_checks_every_field(accounts: Accounts) -> None:
    await accounts.create(EMAIL, "admin", PASSWORD)
    cases = [(("not-an-email", "admin", PASSWORD), "email"), ((EMAIL.upper(), "admin", PASSWORD), "email"),
             (("b@clinic.example", "root", PASSWORD), "role"), (("b@clinic.example", "admin", "short"), "password")]
    for args, field in cases:
        with pytest.raises(PracticeError) as refused:
            await accounts.create(*args)
        assert refused.value.extra.get("field") == field
    with pytest.raises(PracticeError) as bad_zone:
        await accounts.create("b@clinic.example", "clinician", PASSWORD, tz="Mars/Olympus")
    assert bad_zone.value.extra["field"] == "tz"
    assert normalize_email("  A@B.example ") == "a@b.example"
