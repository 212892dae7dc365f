"""The practice's tables (accounts, groups, members, invites) and the ordered migrations that create them.

They live in the same database as the records (server/storage.py): the SQLite file, or PostgreSQL. Each
migration runs once, in order, inside one transaction, and is remembered in ``practice_migrations``; a
migration is never edited after release, only followed by a new one.

A migration is written in SQLite's dialect. Its PostgreSQL form is the PostgreSQL dialect's ``ddl`` of the text
(REAL becomes DOUBLE PRECISION, INTEGER BIGINT: server/database.py) unless ``POSTGRESQL_MIGRATIONS`` holds
one written out for that version, next to it here, for SQL the translation cannot carry; the two forms end
at the same tables and columns (tests/unit/test_database.py checks it).
"""

from __future__ import annotations

import time
from typing import Any

from server.database import POSTGRESQL, SCHEMA_LOCK, dialect_of

# Ids are opaque random strings made by the store: an account ``a-…``, a group ``g-…``, a member ``m-…``.
# A member's id is their stable identity: the ``sub`` of every join token they get, so attendance (issue
# 10), bans and moods follow the person across sessions. Guests of a member are members with ``guest_of``.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE accounts (
        id TEXT PRIMARY KEY, email TEXT NOT NULL UNIQUE, role TEXT NOT NULL CHECK (role IN ('admin', 'clinician')),
        password_hash TEXT NOT NULL, display_name TEXT NOT NULL DEFAULT 'Facilitator', tz TEXT NOT NULL DEFAULT 'UTC',
        totp_secret TEXT, totp_pending TEXT, totp_required INTEGER NOT NULL DEFAULT 0,
        failed_logins INTEGER NOT NULL DEFAULT 0, locked_until REAL,
        disabled INTEGER NOT NULL DEFAULT 0, created_at REAL NOT NULL
    );
    CREATE TABLE web_sessions (
        token_hash TEXT PRIMARY KEY, account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
        csrf_token TEXT NOT NULL, created_at REAL NOT NULL, last_seen REAL NOT NULL
    );
    CREATE TABLE api_keys (
        id TEXT PRIMARY KEY, account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
        label TEXT NOT NULL, key_hash TEXT NOT NULL, created_at REAL NOT NULL, revoked_at REAL
    );
    CREATE TABLE groups (
        id TEXT PRIMARY KEY, name TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('psychoeducational', 'process', 'specialized', 'family-couples')),
        focus TEXT NOT NULL DEFAULT '', agenda_template TEXT NOT NULL DEFAULT '',
        capacity INTEGER NOT NULL DEFAULT 15, tz TEXT NOT NULL, consent_text TEXT NOT NULL,
        schedule TEXT, created_at REAL NOT NULL
    );
    CREATE TABLE facilitators (
        group_id TEXT NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
        account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
        PRIMARY KEY (group_id, account_id)
    );
    CREATE TABLE members (
        id TEXT PRIMARY KEY, group_id TEXT NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
        display_name TEXT NOT NULL, email TEXT, tz TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'discharged')),
        guest_of TEXT REFERENCES members(id) ON DELETE CASCADE,
        setup_passed_at REAL, created_at REAL NOT NULL
    );
    CREATE INDEX members_group ON members(group_id);
    CREATE TABLE invites (
        id TEXT PRIMARY KEY, member_id TEXT NOT NULL REFERENCES members(id) ON DELETE CASCADE,
        secret_hash TEXT NOT NULL UNIQUE, created_at REAL NOT NULL, revoked_at REAL
    );
    CREATE INDEX invites_member ON invites(member_id);
    """,
    # A member's private calendar feed address is derived from their invite (invites.feed_secret), so it
    # needs no secret of its own to keep; its hash finds the invite, and revoking the invite ends the feed.
    """
    ALTER TABLE invites ADD COLUMN feed_hash TEXT;
    CREATE UNIQUE INDEX invites_feed ON invites(feed_hash);
    """,
    # Which reminders (occurrence key, seconds before it) each member has had, so none is sent twice.
    """
    CREATE TABLE reminders_sent (
        member_id TEXT NOT NULL REFERENCES members(id) ON DELETE CASCADE, occurrence_key TEXT NOT NULL,
        offset_s INTEGER NOT NULL, sent_at REAL NOT NULL, PRIMARY KEY (member_id, occurrence_key, offset_s)
    );
    """,
    # Sealed members' contact details (issue 10): a member's email is kept sealed (server/cipher.py, context
    # ``members.email:<member id>``) in email_sealed. SQL cannot encrypt, so plain values already in
    # members.email are moved there, sealed, by a pass at start (server/sealed_fields.py seal_plain), which
    # leaves members.email NULL.
    """
    ALTER TABLE members ADD COLUMN email_sealed TEXT;
    """,
    # A program's records (issue 10): absences a facilitator excused, the facilitator's note on a session
    # (sealed: server/cipher.py), and whether a group keeps its members' check-in moods (off unless asked).
    """
    ALTER TABLE groups ADD COLUMN keep_moods INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE excusals (
        group_id TEXT NOT NULL REFERENCES groups(id) ON DELETE CASCADE, occurrence_key TEXT NOT NULL,
        member_id TEXT NOT NULL REFERENCES members(id) ON DELETE CASCADE, reason_sealed TEXT NOT NULL,
        by_account TEXT NOT NULL, at REAL NOT NULL, PRIMARY KEY (group_id, occurrence_key, member_id)
    );
    CREATE TABLE session_notes (
        session_id TEXT PRIMARY KEY, group_id TEXT NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
        note_sealed TEXT NOT NULL, by_account TEXT NOT NULL, at REAL NOT NULL
    );
    """,
    # Whether a group's members confirm their location and an emergency contact at every join (issue 11):
    # on unless the group turns it off (every group here meets by telehealth); session.require_emergency_info
    # is the default for new groups and the rule for rooms outside the practice.
    """
    ALTER TABLE groups ADD COLUMN emergency_info INTEGER NOT NULL DEFAULT 1;
    """,
    # The time step (RFC 6238 counter) of the last two-factor code an account logged in with, so that code
    # cannot be used again within its window (server/practice/totp.py code_step); NULL until the first one,
    # and again after an administrator resets the account's two-factor.
    """
    ALTER TABLE accounts ADD COLUMN totp_last_step INTEGER;
    """,
)


# PostgreSQL forms written out, by version (1-based), where translating the SQLite text is not enough.
POSTGRESQL_MIGRATIONS: dict[int, str] = {}


def script_for(dialect_name: str, version: int) -> str:
    """The text of migration ``version`` for a backend."""
    script = MIGRATIONS[version - 1]
    if dialect_name != POSTGRESQL:
        return script
    from server.database import POSTGRESQL_DIALECT

    return POSTGRESQL_MIGRATIONS.get(version) or POSTGRESQL_DIALECT.ddl(script)


def _current(db: Any) -> int:
    cursor = db.cursor()
    cursor.row_factory = None  # plain tuples, whatever the connection's row factory
    return int(cursor.execute("SELECT MAX(version) FROM practice_migrations").fetchone()[0] or 0)


def migrate(db: Any) -> int:
    """Apply every migration not yet applied; return the schema version now in force.

    On PostgreSQL several nodes may start at once: each migration's transaction holds the schema lock and
    reads the version again under it, so each migration is applied once.
    """
    dialect = dialect_of(db)
    db.execute(dialect.begin)
    try:
        dialect.lock(db, SCHEMA_LOCK)
        db.execute(dialect.ddl("CREATE TABLE IF NOT EXISTS practice_migrations "
                               "(version INTEGER PRIMARY KEY, applied_at REAL NOT NULL)"))
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    current = _current(db)
    for version in range(1, len(MIGRATIONS) + 1):
        if version <= current:
            continue
        # executescript would commit on its own; one explicit transaction keeps each migration whole.
        db.execute(dialect.begin)
        try:
            dialect.lock(db, SCHEMA_LOCK)
            if _current(db) < version:  # another node may have applied it meanwhile
                for statement in _statements(script_for(dialect.name, version)):
                    db.execute(statement)
                db.execute("INSERT INTO practice_migrations (version, applied_at) VALUES (?, ?)",
                           (version, time.time()))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        current = version
    return current


def _statements(script: str) -> list[str]:
    return [part.strip() for part in script.split(";") if part.strip()]
