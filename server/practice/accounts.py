"""Logging in to the dashboard: password, two-factor code, lockout and throttling, web sessions, API keys.

Every login, failure, lock and change is audited through the records' audit log with the account's id,
never its email or password. The cookie and API key secrets are random and stored only as SHA-256 hashes
(they are 256-bit random values, so a fast hash suffices; passwords get Argon2id).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from .errors import PracticeError
from .fields import is_time_zone
from .lockout import Lockout, LockState, LoginThrottle
from .passwords import check_password, hash_password, password_problem
from .store import PracticeStore, Row
from .totp import code_step, enrollment_uri, new_totp_secret

ROLES = ("admin", "clinician")
API_KEY_PREFIX = "hk"
MAX_EMAIL_CHARS = 254


class Audit(Protocol):
    def audit(self, action: str, *, actor: str | None = None, role: str | None = None, room: str | None = None,
              session_id: str | None = None, subject: str | None = None, detail: dict | None = None) -> None: ...


def digest(secret: str) -> str:
    """Return the stored form of a random secret (cookie, API key, invite)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def normalize_email(email: object) -> str:
    """Return the email as stored (trimmed, lower case), or raise PracticeError naming the field."""
    if not isinstance(email, str) or not 3 <= len(email.strip()) <= MAX_EMAIL_CHARS or "@" not in email:
        raise PracticeError(400, "bad-request", "email must be an email address", field="email")
    return email.strip().lower()


@dataclass(frozen=True)
class Login:
    """A successful login: the account, the cookie's secret and the CSRF token that goes with it."""

    account: Row
    cookie: str
    csrf_token: str


@dataclass(frozen=True)
class Caller:
    """Who sent an authenticated request, and how: ``csrf_token`` is None for an API key (no cookie)."""

    account: Row
    csrf_token: str | None
    cookie_hash: str | None = None

    @property
    def is_admin(self) -> bool:
        return bool(self.account["role"] == "admin")


class Accounts:
    """The account rules over the store: create, log in, authenticate, API keys."""

    def __init__(self, store: PracticeStore, audit: Audit, lockout: Lockout, inactivity_timeout: float,
                 clock: Callable[[], float]) -> None:
        self.store = store
        self.audit = audit
        self.lockout = lockout
        self.inactivity_timeout = inactivity_timeout
        self.throttle = LoginThrottle()
        self.clock = clock

    async def create(self, email: object, role: object, password: object, *, totp_required: bool = False,
                     tz: str = "UTC", display_name: str = "Facilitator", by: str | None = None) -> Row:
        """Create an account; PracticeError for a bad field or an email already in use."""
        address = normalize_email(email)
        if role not in ROLES:
            raise PracticeError(400, "bad-request", "role must be admin or clinician", field="role")
        if not isinstance(password, str):
            raise PracticeError(400, "bad-request", "password must be a string", field="password")
        if problem := password_problem(password):
            raise PracticeError(400, "bad-request", f"password {problem}", field="password")
        if not is_time_zone(tz):
            raise PracticeError(400, "bad-request", "tz must be an IANA time zone such as America/Chicago", field="tz")
        hashed = hash_password(password)
        try:
            account = await self.store.call(self.store.db.create_account, address, role, hashed,
                                            totp_required=totp_required, tz=tz, display_name=display_name)
        except sqlite3.IntegrityError:
            raise PracticeError(409, "email-taken", "an account with this email exists", field="email") from None
        self.audit.audit("account-created", actor=by, role="admin" if by else None, subject=account["id"],
                         detail={"role": role, "totp_required": totp_required})
        return account

    async def login(self, email: object, password: object, code: object, client: str) -> Login:
        """Check a login; return the new web session or raise PracticeError saying what is missing."""
        now = self.clock()
        if not self.throttle.allow(client, now):
            self.audit.audit("login-throttled")
            raise PracticeError(429, "login-throttled", "too many attempts from here: wait a minute and try again")
        if not isinstance(password, str) or not isinstance(email, str):
            raise PracticeError(400, "bad-request", "email and password are required")
        if code is not None and not isinstance(code, str):
            raise PracticeError(400, "bad-request", "code must be a string", field="code")
        account = await self.store.call(self.store.db.account_by_email, email.strip().lower())
        if account is None or account["disabled"]:
            check_password(None, password)  # the same time as a wrong password
            self.audit.audit("login-failed", detail={"reason": "unknown-account" if account is None else "disabled"})
            raise PracticeError(401, "login-failed", "the email or password is not right")
        state = LockState(account["failed_logins"], account["locked_until"])
        if state.locked(now):
            self.audit.audit("login-refused-locked", actor=account["id"], role=account["role"])
            raise PracticeError(403, "account-locked", "this account is locked after too many failed attempts; "
                                "try again later or ask an administrator")
        if not check_password(account["password_hash"], password):
            await self._failed(account, state, "password")
            raise PracticeError(401, "login-failed", "the email or password is not right")
        if account["totp_secret"] is None and account["totp_required"]:
            return await self._enroll(account, state, code)
        if account["totp_secret"] is not None:
            if not code:
                raise PracticeError(401, "totp-required", "enter the 6-digit code from your authenticator app")
            step = code_step(account["totp_secret"], code, now, after=account["totp_last_step"])
            # A code used already (its step is not after the last one accepted) is refused like a wrong one.
            if step is None or not await self.store.call(self.store.db.claim_totp_step, account["id"], step):
                await self._failed(account, state, "totp")
                raise _totp_invalid()
        return await self._succeeded(account)

    async def _enroll(self, account: Row, state: LockState, code: object) -> Login:
        """Two-factor is required but not set up: show a secret, and finish the login once a code matches it."""
        pending = account["totp_pending"]
        if pending is None:
            pending = new_totp_secret()
            await self.store.call(self.store.db.update_account, account["id"], totp_pending=pending)
        step = code_step(pending, code, self.clock()) if isinstance(code, str) and code else None
        if step is not None:
            if not await self.store.call(self.store.db.enroll_totp, account["id"], pending, step):
                await self._failed(account, state, "totp")  # a racing login with the same code enrolled first
                raise _totp_invalid()
            self.audit.audit("totp-enrolled", actor=account["id"], role=account["role"])
            return await self._succeeded(account)
        if code:
            await self._failed(account, state, "totp")
        raise PracticeError(401, "totp-enrollment-required",
                            "two-factor sign-in is required: add this account to an authenticator app, then enter "
                            "its code", totp_secret=pending, otpauth_uri=enrollment_uri(pending, account["email"]))

    async def _failed(self, account: Row, state: LockState, reason: str, action: str = "login-failed") -> None:
        after = self.lockout.failed(state, self.clock())
        await self.store.call(self.store.db.update_account, account["id"], failed_logins=after.failures,
                              locked_until=after.locked_until)
        self.audit.audit(action, actor=account["id"], role=account["role"], detail={"reason": reason})
        if after.locked_until is not None:
            self.audit.audit("account-locked", actor=account["id"], role=account["role"],
                             detail={"failures": after.failures})

    async def _succeeded(self, account: Row) -> Login:
        cookie, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        db = self.store.db
        await self.store.call(db.update_account, account["id"], failed_logins=0, locked_until=None)
        # Sessions idle past the timeout are dead already; each login sweeps them away.
        await self.store.call(db.end_idle_web_sessions, self.clock() - self.inactivity_timeout)
        await self.store.call(db.create_web_session, account["id"], digest(cookie), csrf)
        self.audit.audit("login", actor=account["id"], role=account["role"])
        fresh = await self.store.call(db.account, account["id"])
        return Login(fresh or account, cookie, csrf)

    async def logout(self, caller: Caller) -> None:
        if caller.cookie_hash is not None:
            await self.store.call(self.store.db.end_web_session, caller.cookie_hash)
        self.audit.audit("logout", actor=caller.account["id"], role=caller.account["role"])

    async def change_password(self, caller: Caller, current: object, new: object) -> None:
        """Replace the caller's password after checking the current one; end the account's other web sessions.

        Only from a web session (an API key is for integrations, not for taking over the account). A wrong
        current password counts towards the lockout exactly as a wrong password at login does, so a session
        left open cannot be used to guess it; while locked, the change is refused like a login.
        """
        if caller.cookie_hash is None:
            raise PracticeError(403, "not-permitted", "change the password from the dashboard, not with an API key")
        if not isinstance(current, str) or not current:
            raise PracticeError(400, "bad-request", "current_password is required", field="current_password")
        if not isinstance(new, str):
            raise PracticeError(400, "bad-request", "new_password must be a string", field="new_password")
        if problem := password_problem(new):
            raise PracticeError(400, "bad-request", f"the new password {problem}", field="new_password")
        db = self.store.db
        account = await self.store.call(db.account, caller.account["id"])
        if account is None:
            raise PracticeError(401, "not-logged-in", "log in first")
        state = LockState(account["failed_logins"], account["locked_until"])
        if state.locked(self.clock()):
            self.audit.audit("password-change-refused-locked", actor=account["id"], role=account["role"])
            raise PracticeError(403, "account-locked", "this account is locked after too many failed attempts; "
                                "try again later or ask an administrator")
        if not check_password(account["password_hash"], current):
            await self._failed(account, state, "password", action="password-change-failed")
            raise PracticeError(401, "wrong-password", "your current password is not right", field="current_password")
        if check_password(account["password_hash"], new):
            raise PracticeError(400, "bad-request", "the new password must differ from the current one",
                                field="new_password")
        await self.store.call(db.update_account, account["id"], password_hash=hash_password(new), failed_logins=0,
                              locked_until=None)
        await self.store.call(db.end_other_web_sessions, account["id"], caller.cookie_hash)
        self.audit.audit("password-changed", actor=account["id"], role=account["role"])

    async def by_cookie(self, cookie: str) -> Caller:
        """Return the caller of a web session; PracticeError when there is none or it timed out."""
        db = self.store.db
        hashed = digest(cookie)
        session = await self.store.call(db.web_session, hashed)
        if session is None:
            raise PracticeError(401, "not-logged-in", "log in first")
        account = await self.store.call(db.account, session["account_id"])
        if self.clock() - session["last_seen"] > self.inactivity_timeout or account is None or account["disabled"]:
            await self.store.call(db.end_web_session, hashed)
            if account is not None:
                self.audit.audit("logoff-inactive", actor=account["id"], role=account["role"])
            raise PracticeError(401, "session-expired", "you were logged off after a time without activity")
        await self.store.call(db.touch_web_session, hashed)
        return Caller(account, session["csrf_token"], hashed)

    async def by_api_key(self, key: str) -> Caller:
        """Return the account an API key (``hk_<id>_<secret>``) acts for; PracticeError if it is not valid."""
        parts = key.split("_")
        refused = PracticeError(401, "bad-api-key", "the API key is not valid or was revoked")
        if len(parts) != 3 or parts[0] != API_KEY_PREFIX:
            raise refused
        db = self.store.db
        row = await self.store.call(db.api_key, f"k-{parts[1]}")
        if row is None or not hmac.compare_digest(row["key_hash"], digest(parts[2])):
            self.audit.audit("api-key-refused")
            raise refused
        account = await self.store.call(db.account, row["account_id"])
        if account is None or account["disabled"]:
            raise refused
        return Caller(account, None)

    async def new_api_key(self, caller: Caller, label: object) -> tuple[Row, str]:
        """Create an API key for the caller's own account; return its row and the key (shown once)."""
        if not isinstance(label, str) or not 1 <= len(label.strip()) <= 100:
            raise PracticeError(400, "bad-request", "label must be 1 to 100 characters", field="label")
        secret = secrets.token_urlsafe(32).replace("_", "-")
        row = await self.store.call(self.store.db.create_api_key, caller.account["id"], label.strip(), digest(secret))
        self.audit.audit("api-key-created", actor=caller.account["id"], role=caller.account["role"],
                         subject=row["id"])
        return row, f"{API_KEY_PREFIX}_{row['id'][2:]}_{secret}"

    async def update(self, caller: Caller, account_id: str, fields: dict[str, Any]) -> Row:
        """Apply an admin's change to an account (role, disabled, totp_required, unlock, reset_totp)."""
        db = self.store.db
        account = await self.store.call(db.account, account_id)
        if account is None:
            raise PracticeError(404, "unknown-account", "no such account")
        changes: dict[str, Any] = {}
        for key in ("disabled", "totp_required"):
            if key in fields:
                if not isinstance(fields[key], bool):
                    raise PracticeError(400, "bad-request", f"{key} must be true or false", field=key)
                changes[key] = int(fields[key])
        if fields.get("unlock") is True:
            changes.update(failed_logins=0, locked_until=None)
        if fields.get("reset_totp") is True:
            changes.update(totp_secret=None, totp_pending=None)
        if "role" in fields:
            if fields["role"] not in ROLES:
                raise PracticeError(400, "bad-request", "role must be admin or clinician", field="role")
            changes["role"] = fields["role"]
        if account_id == caller.account["id"] and (changes.get("disabled") or changes.get("role") == "clinician"):
            raise PracticeError(409, "would-lock-out", "you cannot disable yourself or drop your own admin role")
        if changes:
            # A new secret starts with no code used (the step belongs to the secret; not a field of its own).
            forget = {"totp_last_step": None} if "totp_secret" in changes else {}
            await self.store.call(db.update_account, account_id, **changes, **forget)
            if changes.get("disabled"):
                await self.store.call(db.end_web_sessions_of, account_id)
            self.audit.audit("account-changed", actor=caller.account["id"], role=caller.account["role"],
                             subject=account_id, detail={"fields": sorted(changes)})
        updated = await self.store.call(db.account, account_id)
        assert updated is not None
        return updated


def _totp_invalid() -> PracticeError:
    """A wrong code, or a right one used already: the same answer, so a replay learns nothing."""
    return PracticeError(401, "totp-invalid", "that code is not right; enter the current one")


def public_account(account: Row, now: float) -> dict[str, Any]:
    """Return what the API shows of an account: never its hashes or secrets."""
    return {
        "id": account["id"], "email": account["email"], "role": account["role"], "tz": account["tz"],
        "display_name": account["display_name"],
        "totp_enabled": account["totp_secret"] is not None, "totp_required": bool(account["totp_required"]),
        "locked": account["locked_until"] is not None and now < account["locked_until"],
        "disabled": bool(account["disabled"]),
    }
