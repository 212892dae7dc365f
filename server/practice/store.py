"""The practice's state in SQLite or PostgreSQL: accounts, web sessions, API keys, groups, members and invites.

Practice has its own connection to the records' database file, on its own thread, in WAL mode. The records'
thread (server/storage.py) must keep the audit chain's order and never wait behind a dashboard query, and
WAL lets the two connections read while the other writes; writes to practice tables are short transactions
that wait for SQLite's lock (``busy_timeout``) rather than fail. Audit entries about practice changes still go
through ``Storage.audit``, the chain's only writer.

On PostgreSQL (storage.backend, server/database.py) the same queries run on a connection of the practice's
own, shared by every node; PostgreSQL's row locks do what SQLite's busy_timeout does here.

``PracticeDb`` is the synchronous SQL, testable on its own; ``PracticeStore`` runs it on the thread.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import secrets
import sqlite3
import time
from collections.abc import Callable
from typing import Any, TypeVar

from server.cipher import CipherError, Keyring
from server.database import DbConnection, PgConnection, Target, as_target
from server.sealed_fields import SEALED_FIELDS, check_opens, seal_plain

from .migrations import migrate

T = TypeVar("T")
Row = dict[str, Any]

BUSY_TIMEOUT_MS = 5000
MEMBER_EMAIL = SEALED_FIELDS[0]  # members.email_sealed


def new_id(prefix: str) -> str:
    """Return a fresh opaque id such as ``m-3f9a…``: random, so it tells nothing about the person."""
    return f"{prefix}-{secrets.token_hex(8)}"


def connect(where: str | Target) -> DbConnection:
    """Open the database the way the practice uses it: WAL, foreign keys, autocommit, rows as dicts.

    ``where`` is the SQLite file's path, or a Target naming PostgreSQL (Config.records_target).
    """
    target = as_target(where)
    if target.postgresql:
        pg = PgConnection(target.url, dicts=True)
        try:
            migrate(pg)
        except BaseException:
            pg.close()
            raise
        return pg
    path = target.path
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, mode=0o700, exist_ok=True)
    fresh = not os.path.exists(path)
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
    if fresh:
        os.chmod(path, 0o600)
    db.row_factory = lambda cursor, row: {c[0]: v for c, v in zip(cursor.description, row, strict=True)}
    db.execute("PRAGMA journal_mode=WAL")
    # Each commit is fsynced before the API answers (WAL's default NORMAL may lose the last ones on power loss).
    db.execute("PRAGMA synchronous=FULL")
    db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    db.execute("PRAGMA foreign_keys=ON")
    migrate(db)
    return db


class PracticeDb:
    """Every query of the practice, synchronous, on one connection."""

    def __init__(self, db: DbConnection, clock: Callable[[], float] = time.time,
                 keyring: Keyring | None = None) -> None:
        self.db = db
        self.clock = clock
        # Seals and opens members' emails; without one (account-only tools) a member's email cannot be touched.
        self.keyring = keyring

    def _keys(self) -> Keyring:
        if self.keyring is None:
            raise CipherError("members' emails are sealed and this store was opened without the records key")
        return self.keyring

    def _seal_email(self, member_id: str, email: str | None) -> str | None:
        return None if email is None else self._keys().seal(email, MEMBER_EMAIL.context(member_id))

    def _opened(self, row: Row | None) -> Row | None:
        """A member's row as its readers see it: ``email`` opened, the sealed column gone."""
        if row is None:
            return None
        sealed = row.pop("email_sealed", None)
        if sealed is not None:
            row["email"] = self._keys().open(sealed, MEMBER_EMAIL.context(row["id"]))
        return row

    def _one(self, sql: str, params: tuple = ()) -> Row | None:
        return self.db.execute(sql, params).fetchone()

    def _all(self, sql: str, params: tuple = ()) -> list[Row]:
        return self.db.execute(sql, params).fetchall()

    # -- accounts ---------------------------------------------------------------------------------

    def create_account(self, email: str, role: str, password_hash: str, *, totp_required: bool = False,
                       tz: str = "UTC", display_name: str = "Facilitator") -> Row:
        """Insert an account; sqlite3.IntegrityError if the email is taken."""
        account_id = new_id("a")
        self.db.execute(
            "INSERT INTO accounts (id, email, role, password_hash, display_name, tz, totp_required, created_at) "
            "VALUES (?,?,?,?,?,?,?,?)",
            (account_id, email, role, password_hash, display_name, tz, int(totp_required), self.clock()))
        account = self.account(account_id)
        assert account is not None
        return account

    def account(self, account_id: str) -> Row | None:
        return self._one("SELECT * FROM accounts WHERE id = ?", (account_id,))

    def account_by_email(self, email: str) -> Row | None:
        return self._one("SELECT * FROM accounts WHERE email = ?", (email,))

    def accounts(self) -> list[Row]:
        return self._all("SELECT * FROM accounts ORDER BY created_at")

    def update_account(self, account_id: str, **fields: Any) -> None:
        """Set columns of one account (names come from code, never from a request)."""
        assignments = ", ".join(f"{name} = ?" for name in fields)
        self.db.execute(f"UPDATE accounts SET {assignments} WHERE id = ?", (*fields.values(), account_id))

    def claim_totp_step(self, account_id: str, step: int) -> bool:
        """Record ``step`` as the account's last accepted two-factor step if it is later than the one recorded;
        return False when it is not (the code was used already), in one statement so two logins racing with
        the same code cannot both win."""
        cursor = self.db.execute("UPDATE accounts SET totp_last_step = ? WHERE id = ? AND "
                                 "(totp_last_step IS NULL OR totp_last_step < ?)", (step, account_id, step))
        return cursor.rowcount == 1

    def enroll_totp(self, account_id: str, pending: str, step: int) -> bool:
        """Make the pending secret the account's two-factor secret, its code's ``step`` the last one accepted;
        False if the account has a secret already or another pending one (a racing login finished first)."""
        cursor = self.db.execute("UPDATE accounts SET totp_secret = totp_pending, totp_pending = NULL, "
                                 "totp_last_step = ? WHERE id = ? AND totp_secret IS NULL AND totp_pending = ?",
                                 (step, account_id, pending))
        return cursor.rowcount == 1

    # -- web sessions (the dashboard's cookie) ----------------------------------------------------

    def create_web_session(self, account_id: str, token_hash: str, csrf_token: str) -> None:
        now = self.clock()
        self.db.execute("INSERT INTO web_sessions VALUES (?,?,?,?,?)", (token_hash, account_id, csrf_token, now, now))

    def web_session(self, token_hash: str) -> Row | None:
        return self._one("SELECT * FROM web_sessions WHERE token_hash = ?", (token_hash,))

    def touch_web_session(self, token_hash: str) -> None:
        self.db.execute("UPDATE web_sessions SET last_seen = ? WHERE token_hash = ?", (self.clock(), token_hash))

    def end_web_session(self, token_hash: str) -> None:
        self.db.execute("DELETE FROM web_sessions WHERE token_hash = ?", (token_hash,))

    def end_idle_web_sessions(self, idle_before: float) -> int:
        """Delete every web session last used before ``idle_before`` (logged off already by the rule)."""
        return self.db.execute("DELETE FROM web_sessions WHERE last_seen < ?", (idle_before,)).rowcount

    def end_web_sessions_of(self, account_id: str) -> None:
        self.db.execute("DELETE FROM web_sessions WHERE account_id = ?", (account_id,))

    def end_other_web_sessions(self, account_id: str, keep_hash: str) -> int:
        """End every web session of the account but the one whose cookie hash is ``keep_hash``."""
        return self.db.execute("DELETE FROM web_sessions WHERE account_id = ? AND token_hash != ?",
                               (account_id, keep_hash)).rowcount

    # -- API keys ---------------------------------------------------------------------------------

    def create_api_key(self, account_id: str, label: str, key_hash: str) -> Row:
        key_id = new_id("k")
        self.db.execute("INSERT INTO api_keys (id, account_id, label, key_hash, created_at) VALUES (?,?,?,?,?)",
                        (key_id, account_id, label, key_hash, self.clock()))
        return self._one("SELECT * FROM api_keys WHERE id = ?", (key_id,)) or {}

    def api_key(self, key_id: str) -> Row | None:
        return self._one("SELECT * FROM api_keys WHERE id = ? AND revoked_at IS NULL", (key_id,))

    def api_keys_of(self, account_id: str) -> list[Row]:
        return self._all("SELECT * FROM api_keys WHERE account_id = ? ORDER BY created_at", (account_id,))

    def revoke_api_key(self, account_id: str, key_id: str) -> bool:
        cursor = self.db.execute("UPDATE api_keys SET revoked_at = ? WHERE id = ? AND account_id = ? "
                                 "AND revoked_at IS NULL", (self.clock(), key_id, account_id))
        return cursor.rowcount == 1

    # -- groups -----------------------------------------------------------------------------------

    def create_group(self, fields: Row, facilitators: list[str]) -> Row:
        group_id = new_id("g")
        self.db.execute("BEGIN IMMEDIATE")
        try:
            self.db.execute(
                "INSERT INTO groups (id, name, kind, focus, agenda_template, capacity, tz, consent_text, schedule, "
                "keep_moods, emergency_info, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (group_id, fields["name"], fields["kind"], fields["focus"], fields["agenda_template"],
                 fields["capacity"], fields["tz"], fields["consent_text"], fields.get("schedule"),
                 int(fields.get("keep_moods", 0)), int(fields.get("emergency_info", 1)), self.clock()))
            for account_id in facilitators:
                self.db.execute("INSERT INTO facilitators VALUES (?, ?) ON CONFLICT DO NOTHING", (group_id, account_id))
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        group = self.group(group_id)
        assert group is not None
        return group

    def group(self, group_id: str) -> Row | None:
        group = self._one("SELECT * FROM groups WHERE id = ?", (group_id,))
        if group is not None:
            group["facilitators"] = [r["account_id"] for r in self._all(
                "SELECT account_id FROM facilitators WHERE group_id = ? ORDER BY account_id", (group_id,))]
        return group

    def groups(self) -> list[Row]:
        """Return every group (for administrators)."""
        rows = self._all("SELECT id FROM groups ORDER BY created_at")
        return [g for g in (self.group(r["id"]) for r in rows) if g is not None]

    def groups_of(self, account_id: str) -> list[Row]:
        """Return the groups an account facilitates."""
        rows = self._all("SELECT g.id FROM groups g JOIN facilitators f ON f.group_id = g.id "
                         "WHERE f.account_id = ? ORDER BY g.created_at", (account_id,))
        return [g for g in (self.group(r["id"]) for r in rows) if g is not None]

    def update_group(self, group_id: str, fields: Row, facilitators: list[str] | None = None) -> None:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            if fields:
                assignments = ", ".join(f"{name} = ?" for name in fields)
                self.db.execute(f"UPDATE groups SET {assignments} WHERE id = ?", (*fields.values(), group_id))
            if facilitators is not None:
                self.db.execute("DELETE FROM facilitators WHERE group_id = ?", (group_id,))
                for account_id in facilitators:
                    self.db.execute("INSERT INTO facilitators VALUES (?, ?)", (group_id, account_id))
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise

    # -- members and guests -----------------------------------------------------------------------

    def create_member(self, group_id: str, display_name: str, email: str | None, tz: str,
                      guest_of: str | None = None) -> Row:
        member_id = new_id("m")
        self.db.execute("INSERT INTO members (id, group_id, display_name, email_sealed, tz, guest_of, created_at) "
                        "VALUES (?,?,?,?,?,?,?)", (member_id, group_id, display_name,
                                                   self._seal_email(member_id, email), tz, guest_of, self.clock()))
        member = self.member(member_id)
        assert member is not None
        return member

    def member(self, member_id: str) -> Row | None:
        return self._opened(self._one("SELECT * FROM members WHERE id = ?", (member_id,)))

    def members_of(self, group_id: str) -> list[Row]:
        rows = self._all(
            "SELECT m.*, (SELECT COUNT(*) FROM invites i WHERE i.member_id = m.id AND i.revoked_at IS NULL) "
            "AS active_invites FROM members m WHERE m.group_id = ? ORDER BY m.created_at", (group_id,))
        for row in rows:
            row["has_invite"] = bool(row.pop("active_invites"))
            self._opened(row)
        return rows

    def guests_of(self, member_id: str) -> list[Row]:
        rows = self._all("SELECT * FROM members WHERE guest_of = ? ORDER BY created_at", (member_id,))
        return [row for row in map(self._opened, rows) if row is not None]

    def update_member(self, member_id: str, **fields: Any) -> None:
        if "email" in fields:
            fields["email_sealed"] = self._seal_email(member_id, fields.pop("email"))
        assignments = ", ".join(f"{name} = ?" for name in fields)
        self.db.execute(f"UPDATE members SET {assignments} WHERE id = ?", (*fields.values(), member_id))

    # -- invites ----------------------------------------------------------------------------------

    def replace_invite(self, member_id: str, invite_id: str, secret_hash: str, feed_hash: str | None = None) -> Row:
        """Revoke the member's current invite (if any) and store a new one: one live link per member."""
        now = self.clock()
        self.db.execute("BEGIN IMMEDIATE")
        try:
            self.db.execute("UPDATE invites SET revoked_at = ? WHERE member_id = ? AND revoked_at IS NULL",
                            (now, member_id))
            self.db.execute("INSERT INTO invites (id, member_id, secret_hash, feed_hash, created_at) "
                            "VALUES (?,?,?,?,?)", (invite_id, member_id, secret_hash, feed_hash, now))
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        return self._one("SELECT * FROM invites WHERE id = ?", (invite_id,)) or {}

    def revoke_invites(self, member_id: str) -> int:
        cursor = self.db.execute("UPDATE invites SET revoked_at = ? WHERE member_id = ? AND revoked_at IS NULL",
                                 (self.clock(), member_id))
        return cursor.rowcount

    def live_invite(self, member_id: str) -> Row | None:
        return self._one("SELECT * FROM invites WHERE member_id = ? AND revoked_at IS NULL", (member_id,))

    def reminders_sent(self, member_id: str) -> list[Row]:
        return self._all("SELECT occurrence_key, offset_s FROM reminders_sent WHERE member_id = ?", (member_id,))

    def record_reminder(self, member_id: str, key: str, offset_s: int) -> None:
        self.db.execute("INSERT INTO reminders_sent VALUES (?,?,?,?) ON CONFLICT DO NOTHING", (member_id, key, offset_s,
                                                                                 self.clock()))

    def reminder_recipients(self) -> list[Row]:
        """Return every active member with an email and a live invite, with their group's id."""
        rows = self._all("SELECT m.*, i.id AS invite_id FROM members m JOIN invites i ON i.member_id = m.id "
                         "AND i.revoked_at IS NULL WHERE m.status = 'active' AND m.email_sealed IS NOT NULL")
        return [row for row in map(self._opened, rows) if row is not None]

    def invite_by_feed(self, feed_hash: str) -> Row | None:
        """Return the live invite whose calendar feed has this hash, or None."""
        return self._one("SELECT * FROM invites WHERE feed_hash = ? AND revoked_at IS NULL", (feed_hash,))

    def invite(self, secret_hash: str) -> Row | None:
        """Return the live invite with this hash, or None (unknown or revoked)."""
        return self._one("SELECT * FROM invites WHERE secret_hash = ? AND revoked_at IS NULL", (secret_hash,))


class PracticeStore:
    """Runs ``PracticeDb`` calls on the practice's own thread, so the event loop never waits on the disk.

    With a ``keyring`` (the server, and commands that read members), opening the store proves the key opens
    the sealed values already stored (CipherError if not) and seals any plain value left from before sealing.
    ``keyring`` is also how other parts of the practice reach the records key.
    """

    def __init__(self, where: str | Target, keyring: Keyring | None = None) -> None:
        self.keyring = keyring
        self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="haven-practice")
        try:
            self.db: PracticeDb = self._executor.submit(self._open, where, keyring).result()
        except BaseException:
            self._executor.shutdown(wait=False)
            raise

    @staticmethod
    def _open(where: str | Target, keyring: Keyring | None) -> PracticeDb:
        db = connect(where)
        if keyring is not None:
            try:
                check_opens(db, keyring)
                if isinstance(db, sqlite3.Connection):
                    # Overwrite the plain values' old bytes rather than leave them in free space, then move the
                    # sealed pages out of the WAL into the file, over the plain ones (best effort while others
                    # read). PostgreSQL's VACUUM reclaims old row versions on its own schedule.
                    db.execute("PRAGMA secure_delete=ON")
                    if seal_plain(db, keyring):
                        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                else:
                    seal_plain(db, keyring)
            except BaseException:
                db.close()
                raise
        return PracticeDb(db, keyring=keyring)

    async def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run one PracticeDb method (or any function of it) on the practice thread."""
        return await asyncio.wrap_future(self._executor.submit(fn, *args, **kwargs))

    def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run one call and wait for it, from outside the event loop (the command line)."""
        return self._executor.submit(fn, *args, **kwargs).result()

    def close(self) -> None:
        self._executor.submit(self.db.db.close).result()
        self._executor.shutdown(wait=True)
