"""A two-factor code is good once (RFC 6238 section 5.2): the login records the time step of the code it
accepted, and the same code again, or an older one still inside the skew window, is refused with the same
"totp-invalid" as a wrong code; the next window's code logs in. Enrollment's code counts as used, racing
logins with one code let only one in, and an administrator's two-factor reset forgets the recorded step."""

from __future__ import annotations

import asyncio

import pyotp
import pytest

from server.practice.accounts import Accounts, Caller
from server.practice.errors import PracticeError
from server.practice.lockout import Lockout
from server.practice.migrations import MIGRATIONS
from server.practice.store import PracticeStore, connect
from server.practice.totp import code_step
from tests.support.clock import Clock
from tests.support.fakes import AuditLog

PASSWORD = "correct horse battery"
EMAIL = "dana@clinic.example"
START = 1_800_000_010.0  # 10 s into a 30 s step


@pytest.fixture
def clock() -> Clock:
    return Clock(START)


@pytest.fixture
def audit() -> AuditLog:
    return AuditLog()


@pytest.fixture
def accounts(tmp_path, clock: Clock, audit: AuditLog):
    store = PracticeStore(str(tmp_path / "haven.db"))
    store.db.clock = clock
    yield Accounts(store, audit, Lockout(max_failures=5, duration=600), inactivity_timeout=900, clock=clock)
    store.close()


async def enrolled(accounts: Accounts, clock: Clock) -> pyotp.TOTP:
    """An account that has enrolled its authenticator (with the code of the current step, now used)."""
    await accounts.create(EMAIL, "clinician", PASSWORD, totp_required=True)
    with pytest.raises(PracticeError) as enrollment:
        await accounts.login(EMAIL, PASSWORD, None, "c")
    totp = pyotp.TOTP(str(enrollment.value.extra["totp_secret"]))
    await accounts.login(EMAIL, PASSWORD, totp.at(clock.now), "c")
    return totp


async def refused(accounts: Accounts, code: str) -> str:
    with pytest.raises(PracticeError) as error:
        await accounts.login(EMAIL, PASSWORD, code, "c")
    return error.value.code


def test_code_step_names_the_step_and_refuses_steps_not_after_the_last_one() -> None:
    secret = pyotp.random_base32()
    totp = pyotp.TOTP(secret)
    step = totp.timecode(int(START))
    assert code_step(secret, totp.at(START), START) == step
    assert code_step(secret, totp.at(START, counter_offset=-1), START) == step - 1
    assert code_step(secret, totp.at(START, counter_offset=1), START) == step + 1
    assert code_step(secret, totp.at(START), START, after=step) is None
    assert code_step(secret, totp.at(START, counter_offset=-1), START, after=step) is None
    assert code_step(secret, totp.at(START, counter_offset=1), START, after=step) == step + 1
    assert code_step(secret, totp.at(START + 30), START + 30, after=step) == step + 1
    assert code_step(secret, "12 34 5", START) is None


def test_the_migration_adds_the_column_empty(tmp_path) -> None:
    db = connect(str(tmp_path / "haven.db"))
    columns = {row["name"]: row for row in db.execute("PRAGMA table_info(accounts)").fetchall()}
    assert "totp_last_step" in columns and columns["totp_last_step"]["notnull"] == 0
    assert db.execute("SELECT MAX(version) AS v FROM practice_migrations").fetchone()["v"] == len(MIGRATIONS)
    db.close()


async def test_the_same_code_twice_is_refused_and_the_next_windows_code_accepted(accounts: Accounts,
                                                                                 clock: Clock,
                                                                                 audit: AuditLog) -> None:
    totp = await enrolled(accounts, clock)
    clock.now += 30
    code = totp.at(clock.now)
    await accounts.login(EMAIL, PASSWORD, code, "c")
    assert await refused(accounts, code) == "totp-invalid"
    clock.now += 20  # the next step: the used code is still inside the skew window, and still refused
    assert await refused(accounts, code) == "totp-invalid"
    assert await refused(accounts, totp.at(clock.now, counter_offset=-2)) == "totp-invalid"  # older still
    await accounts.login(EMAIL, PASSWORD, totp.at(clock.now), "c")
    # A replay is refused exactly like a wrong code, and counts towards the lockout the same way.
    failures = [e for e in audit.entries if e["action"] == "login-failed"]
    assert [e["detail"] for e in failures] == [{"reason": "totp"}] * 3
    row = await accounts.store.call(accounts.store.db.account_by_email, EMAIL)
    assert row["failed_logins"] == 0  # the success after them reset the count
    assert row["totp_last_step"] == totp.timecode(int(clock.now))


async def test_the_enrollment_code_is_used_up_by_the_enrollment(accounts: Accounts, clock: Clock) -> None:
    totp = await enrolled(accounts, clock)
    assert await refused(accounts, totp.at(clock.now)) == "totp-invalid"
    assert await refused(accounts, totp.at(clock.now, counter_offset=-1)) == "totp-invalid"
    await accounts.login(EMAIL, PASSWORD, totp.at(clock.now, counter_offset=1), "c")  # next step (clock skew)
    clock.now += 30
    assert await refused(accounts, totp.at(clock.now)) == "totp-invalid"  # that step is used now
    clock.now += 30
    await accounts.login(EMAIL, PASSWORD, totp.at(clock.now), "c")


async def test_replays_lock_the_account_like_wrong_codes(accounts: Accounts, clock: Clock) -> None:
    totp = await enrolled(accounts, clock)
    for _ in range(5):
        assert await refused(accounts, totp.at(clock.now)) == "totp-invalid"
    clock.now += 30
    assert await refused(accounts, totp.at(clock.now)) == "account-locked"


async def test_two_logins_racing_with_one_code_let_one_in(accounts: Accounts, clock: Clock) -> None:
    totp = await enrolled(accounts, clock)
    clock.now += 30
    code = totp.at(clock.now)
    results = await asyncio.gather(*(accounts.login(EMAIL, PASSWORD, code, "c") for _ in range(2)),
                                   return_exceptions=True)
    errors = [r.code for r in results if isinstance(r, PracticeError)]
    assert errors == ["totp-invalid"] and len(results) == 2


async def test_two_enrollments_racing_with_one_code_let_one_in(accounts: Accounts, clock: Clock) -> None:
    await accounts.create(EMAIL, "clinician", PASSWORD, totp_required=True)
    with pytest.raises(PracticeError) as enrollment:
        await accounts.login(EMAIL, PASSWORD, None, "c")
    code = pyotp.TOTP(str(enrollment.value.extra["totp_secret"])).at(clock.now)
    results = await asyncio.gather(*(accounts.login(EMAIL, PASSWORD, code, "c") for _ in range(2)),
                                   return_exceptions=True)
    assert [r.code for r in results if isinstance(r, PracticeError)] == ["totp-invalid"]


async def test_a_reset_forgets_the_used_step_so_a_new_authenticator_logs_in_at_once(accounts: Accounts,
                                                                                    clock: Clock) -> None:
    await enrolled(accounts, clock)
    admin = await accounts.create("admin@clinic.example", "admin", PASSWORD)
    account = await accounts.store.call(accounts.store.db.account_by_email, EMAIL)
    await accounts.update(Caller(admin, None), account["id"], {"reset_totp": True})
    row = await accounts.store.call(accounts.store.db.account, account["id"])
    assert row["totp_secret"] is None and row["totp_last_step"] is None
    with pytest.raises(PracticeError) as enrollment:
        await accounts.login(EMAIL, PASSWORD, None, "c")
    fresh = pyotp.TOTP(str(enrollment.value.extra["totp_secret"]))
    await accounts.login(EMAIL, PASSWORD, fresh.at(clock.now), "c")  # the same step as the old code: fine
    assert await refused(accounts, fresh.at(clock.now)) == "totp-invalid"
