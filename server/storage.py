"""Durable records in SQLite: sessions, attendance and the hash-chained audit log.

All SQLite work happens on one dedicated thread, so the event loop never waits on the disk and writes
keep their order (which the hash chain needs). Media, chat text, SDP and tokens are never stored.
The class implements signaling.records.Records, on SQLite (the default) or PostgreSQL (storage.backend,
server/database.py): one set of queries, the few differences in the dialect. On PostgreSQL several server
processes may append to one audit chain: each append reads the chain's head and writes the next entry in one
transaction holding an advisory lock, so the chain stays single and verifiable whoever writes it.

No write is lost silently. A write that fails (disk full, read-only filesystem, I/O error) makes the
store *unwritable*: `writable` turns false, listeners are told (signaling then lets nobody new in), and
each lost record is counted. A periodic `probe` (a real write of a scratch file and of the database)
notices a failing disk before a record is lost, and notices when it works again: the first write after
recovery is a `records-lost` audit entry counting what was lost, which `haven audit verify` reports.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import csv
import hashlib
import io
import json
import os
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import structlog

from .cipher import CipherError, Keyring, is_sealed
from .database import (
    AUDIT_LOCK,
    NUL_STORED_AS,
    POSTGRESQL_FUNCTIONS,
    SCHEMA_LOCK,
    DbConnection,
    Dialect,
    PgConnection,
    Target,
    as_target,
    dialect_of,
)
from .histogram import Histogram

log = structlog.get_logger("haven.storage")

GENESIS = "0" * 64
# Presence runs while admitted; moves between the main room and breakouts ("moved") do not interrupt it.
PRESENCE_START = {"admitted"}
PRESENCE_END = {"left", "removed", "denied", "replaced", "sent-to-waiting", "session-ended", "disconnected"}

# The tables, in SQLite's dialect (Dialect.ddl gives PostgreSQL's); the triggers of each backend follow.
TABLES = """
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY, room TEXT NOT NULL, started_at REAL NOT NULL, ended_at REAL, end_reason TEXT
);
CREATE TABLE IF NOT EXISTS attendance (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, session_id TEXT NOT NULL, participant_id TEXT NOT NULL,
    name TEXT NOT NULL, role TEXT NOT NULL, event TEXT NOT NULL, at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS attendance_session ON attendance(session_id, seq);
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY, at REAL NOT NULL, action TEXT NOT NULL, actor TEXT, role TEXT, room TEXT,
    session_id TEXT, subject TEXT, detail TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS probe (id INTEGER PRIMARY KEY CHECK (id = 1), at REAL NOT NULL);
"""
SCHEMA = TABLES + """
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
"""

# The audit log's retention (records.audit_retention, at least six years): the oldest entries may go, but
# only from the start of the chain and only by Storage.purge_audit, which first records the last purged
# entry's seq and hash here; verification starts from that base. The delete trigger allows exactly that
# (an older database's unconditional trigger is replaced when it is opened).
AUDIT_BASE_TABLE = """
CREATE TABLE IF NOT EXISTS audit_base (
    seq INTEGER PRIMARY KEY, hash TEXT NOT NULL, before REAL NOT NULL, at REAL NOT NULL
);
"""
AUDIT_BASE_SCHEMA = AUDIT_BASE_TABLE + """
CREATE TRIGGER IF NOT EXISTS audit_base_no_update BEFORE UPDATE ON audit_base
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_base_no_delete BEFORE DELETE ON audit_base
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
"""
AUDIT_DELETE_TRIGGER = """
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
    WHEN OLD.seq > (SELECT coalesce(max(seq), 0) FROM audit_base)
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
"""
AUDIT_PURGED = "audit-purged"

# The same protection on PostgreSQL: row triggers calling plpgsql functions (RAISE EXCEPTION where SQLite has
# RAISE(ABORT)), and statement triggers refusing TRUNCATE, which row triggers do not see.
POSTGRESQL_TRIGGERS = """
CREATE OR REPLACE FUNCTION haven_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only';
END $$;
CREATE OR REPLACE FUNCTION haven_audit_no_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.seq > (SELECT coalesce(max(seq), 0) FROM audit_base) THEN
        RAISE EXCEPTION 'the audit log is append-only';
    END IF;
    RETURN OLD;
END $$;
"""


def _postgresql_trigger(name: str, table: str, when: str, each: str, function: str) -> str:
    # Created when missing, like SQLite's CREATE TRIGGER IF NOT EXISTS (and on PostgreSQL before 14, which has
    # no CREATE OR REPLACE TRIGGER); a present trigger is left alone, so a node starting takes no table lock.
    return (f"DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = '{name}' AND tgrelid = "
            f"'{table}'::regclass) THEN CREATE TRIGGER {name} {when} ON {table} FOR EACH {each} EXECUTE FUNCTION "
            f"{function}(); END IF; END $$;\n")


POSTGRESQL_TRIGGERS += "".join(_postgresql_trigger(*trigger) for trigger in (
    ("audit_no_update", "audit", "BEFORE UPDATE", "ROW", "haven_audit_append_only"),
    ("audit_no_delete", "audit", "BEFORE DELETE", "ROW", "haven_audit_no_delete"),
    ("audit_no_truncate", "audit", "BEFORE TRUNCATE", "STATEMENT", "haven_audit_append_only"),
    ("audit_base_no_update", "audit_base", "BEFORE UPDATE OR DELETE", "ROW", "haven_audit_append_only"),
    ("audit_base_no_truncate", "audit_base", "BEFORE TRUNCATE", "STATEMENT", "haven_audit_append_only"),
))

# A session's record as it happens (signaling/records.py SESSION_EVENT_KINDS) and the check-in moods a group
# keeps. Both clinical enough to seal: the detail and the rating are AES-GCM tokens (server/cipher.py), the
# context binding each to its session (a token moved to another row does not open).
RECORDS_SCHEMA = """
CREATE TABLE IF NOT EXISTS session_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, session_id TEXT NOT NULL, kind TEXT NOT NULL, at REAL NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS session_events_session ON session_events(session_id, seq);
CREATE TABLE IF NOT EXISTS moods (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, session_id TEXT NOT NULL, member_id TEXT NOT NULL, at REAL NOT NULL,
    rating_sealed TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS moods_member ON moods(member_id, at);
"""


def event_context(session_id: str) -> str:
    """The sealing context of a session event's detail."""
    return f"session_events.detail:{session_id}"


def snapshot_context(room: str) -> str:
    """The sealing context of a live session's snapshot."""
    return f"live_sessions.snapshot:{room}"


def mood_context(session_id: str, member_id: str) -> str:
    """The sealing context of a mood rating."""
    return f"moods.rating:{session_id}:{member_id}"


# Kept apart from SCHEMA and created on first use, so the records' own schema stays as it is.
USED_TOKENS_SCHEMA = "CREATE TABLE IF NOT EXISTS used_tokens (jti TEXT PRIMARY KEY, expires_at REAL NOT NULL)"
# The latest structure of each live session (signaling/snapshot.py: never chat), so a restart continues it.
SNAPSHOTS_SCHEMA = ("CREATE TABLE IF NOT EXISTS live_sessions "
                    "(room TEXT PRIMARY KEY, snapshot TEXT NOT NULL, saved_at REAL NOT NULL)")


def _chain_head(db: DbConnection) -> tuple[int, str, int]:
    row = db.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
    count = db.execute("SELECT count(*) FROM audit").fetchone()[0]
    return (0, GENESIS, 0) if row is None else (row[0], row[1], count)


def _entry_hash(db: DbConnection, seq: int) -> str | None:
    row = db.execute("SELECT hash FROM audit WHERE seq = ?", (seq,)).fetchone()
    if row is None:  # the last entry purged by retention is still known by its hash
        row = db.execute("SELECT hash FROM audit_base WHERE seq = ?", (seq,)).fetchone()
    return None if row is None else str(row[0])


def audit_hash(prev_hash: str, row: tuple) -> str:
    """Hash one audit row together with the previous row's hash (the chain link)."""
    canonical = json.dumps(list(row), separators=(",", ":"), ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(f"{prev_hash}|{canonical}".encode()).hexdigest()


@dataclass(frozen=True)
class ChainCheck:
    """The outcome of verifying the audit chain."""

    ok: bool
    entries: int
    first_bad_seq: int | None = None
    problem: str = ""
    # The `records-lost` entries of an intact chain: where records could not be written, and how many.
    gaps: tuple[int, ...] = field(default=())
    lost: int = 0
    # Entries up to this seq were purged by the audit retention (records.audit_retention); 0: none.
    purged: int = 0

    @property
    def complete(self) -> bool:
        """True when the chain is intact and no record was ever lost."""
        return self.ok and not self.gaps


GAP_ACTION = "records-lost"
PROBE_BYTES = 4096
# What a failed write loses, as counted in the gap marker.
LOST_KINDS = ("audit", "attendance", "sessions", "session_records")
# Seconds from a record's submission to its write being done (queue wait included): SQLite in WAL mode
# takes about a millisecond; a slow or failing disk shows up in the upper buckets long before it fails.
WRITE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Storage:
    """Records on SQLite or PostgreSQL with a single writer thread.

    ``where`` is a SQLite file's path, or a Target (Config.records_target) naming either backend.
    """

    def __init__(self, where: str | Target, keyring: Keyring | None = None) -> None:
        self.target = as_target(where)
        self.path = self.target.path  # "" on PostgreSQL
        # Seals session events and moods; without one (tools that only read the audit log) none is written.
        self.keyring = keyring
        # Whether a room's group keeps its members' check-in moods (server/practice/group_rooms.py).
        self.keeps_moods: Callable[[str], bool] = lambda room: False
        if not self.target.postgresql:
            directory = os.path.dirname(os.path.abspath(self.path))
            os.makedirs(directory, mode=0o700, exist_ok=True)
        self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="haven-storage")
        self._db: DbConnection | None = None
        self._dialect: Dialect = dialect_of(None)
        # The audit reader's own PostgreSQL connection (SQLite opens a read-only one per read).
        self._reader: PgConnection | None = None
        self._writable = True
        self._lost: Counter[str] = Counter()
        self._lost_since: float | None = None
        # Read by the metrics at scrape time; written only on the storage thread.
        self.write_seconds = {kind: Histogram(WRITE_BUCKETS) for kind in LOST_KINDS}
        self.write_failures = dict.fromkeys(LOST_KINDS, 0)
        self._listeners: list[Callable[[bool], None]] = []
        self._listeners_lock = threading.Lock()
        # Read once at start; afterwards the event loop only writes (through the storage thread).
        self._snapshots: dict[str, dict[str, Any]] = {}
        # The audit viewer's and the anchor's reads (its thread starts on first use): see read_audit.
        self._read_executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="haven-audit-read")
        try:
            self._executor.submit(self._open).result()
        except BaseException:
            self._executor.shutdown(wait=False)
            self._read_executor.shutdown(wait=False)
            raise

    @property
    def dialect(self) -> Dialect:
        """The SQL dialect of the records' database (the audit viewer's queries need it)."""
        return self._dialect

    def _open(self) -> None:
        if self.target.postgresql:
            self._open_postgresql()
        else:
            self._open_sqlite()
        assert self._db is not None
        for room, text in self._db.execute("SELECT room, snapshot FROM live_sessions").fetchall():
            self._keep_snapshot(room, text)

    def _keep_snapshot(self, room: str, text: str) -> None:
        """Open a stored snapshot (sealed with the records key) for ``load_snapshot``; skip an unreadable one."""
        try:
            if is_sealed(text):
                if self.keyring is None:
                    return
                text = self.keyring.open(text, snapshot_context(room))
            self._snapshots[room] = json.loads(text)
        except (ValueError, CipherError):
            log.warning("snapshot_unreadable")

    def _open_postgresql(self) -> None:
        db = PgConnection(self.target.url)
        self._db, self._dialect = db, db.dialect
        # Every node runs this at start: one at a time, each statement idempotent.
        db.execute("BEGIN")
        try:
            db.dialect.lock(db, SCHEMA_LOCK)
            for script in (TABLES, AUDIT_BASE_TABLE, RECORDS_SCHEMA, USED_TOKENS_SCHEMA, SNAPSHOTS_SCHEMA):
                db.executescript(db.dialect.ddl(script))
            db.executescript(POSTGRESQL_TRIGGERS)
            db.executescript(POSTGRESQL_FUNCTIONS)
            db.execute("COMMIT")
        except BaseException:
            _rollback(db)
            db.close()
            raise

    def _open_sqlite(self) -> None:
        fresh = not os.path.exists(self.path)
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        if fresh:
            os.chmod(self.path, 0o600)
        self._db.execute("PRAGMA journal_mode=WAL")
        # FULL: each commit is fsynced before it returns, so a write reported done survives a power cut or
        # kill -9 (WAL's default NORMAL may lose the last commits on power loss).
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(SCHEMA)
        self._db.executescript(AUDIT_BASE_SCHEMA)
        trigger = self._db.execute("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = 'audit_no_delete'"
                                   ).fetchone()
        if trigger is None or "audit_base" not in trigger[0]:
            self._db.executescript(f"BEGIN; DROP TRIGGER IF EXISTS audit_no_delete; {AUDIT_DELETE_TRIGGER} COMMIT;")
        self._db.executescript(RECORDS_SCHEMA)
        self._db.execute(SNAPSHOTS_SCHEMA)

    # -- snapshots of live sessions (signaling.snapshot.SnapshotStore) -------------------------------

    def save_snapshot(self, room: str, snapshot: dict[str, Any]) -> None:
        """Keep the latest structure of a live session (written in order on the storage thread)."""
        text = json.dumps(snapshot, separators=(",", ":"), sort_keys=True)
        if self.keyring is not None:  # it holds the homework and the agenda's own words: sealed like them
            text = self.keyring.seal(text, snapshot_context(room))
        self._executor.submit(self._snapshot_write,
                              "INSERT INTO live_sessions (room, snapshot, saved_at) VALUES (?,?,?) ON CONFLICT (room) "
                              "DO UPDATE SET snapshot = excluded.snapshot, saved_at = excluded.saved_at",
                              (room, text, time.time()))

    def load_snapshot(self, room: str) -> dict[str, Any] | None:
        """Return the snapshot a session of this room left when the server last stopped (taken only once)."""
        return self._snapshots.pop(room, None)

    def drop_snapshot(self, room: str) -> None:
        """Forget a session's snapshot: it ended or emptied."""
        self._snapshots.pop(room, None)
        self._executor.submit(self._snapshot_write, "DELETE FROM live_sessions WHERE room = ?", (room,))

    def reload_snapshot(self, room: str) -> concurrent.futures.Future:
        """Read the room's snapshot afresh (one of several nodes: the room may have run on another one).

        Resolves once ``load_snapshot(room)`` returns what the database holds now. Writes queued before it
        on this node's storage thread are in the database first."""
        def read() -> None:
            assert self._db is not None
            row = self._db.execute("SELECT snapshot FROM live_sessions WHERE room = ?", (room,)).fetchone()
            self._snapshots.pop(room, None)
            if row is not None:
                self._keep_snapshot(room, row[0])
        return self._executor.submit(read)

    def _snapshot_write(self, sql: str, params: tuple) -> None:
        # A lost snapshot costs a restart its structure, not a record: it never makes the records unwritable.
        try:
            assert self._db is not None
            self._db.execute(sql, params)
        except Exception:
            log.exception("snapshot_write_failed")

    # -- health -----------------------------------------------------------------------------------

    @property
    def writable(self) -> bool:
        """False from the first failed write until a probe write succeeds again."""
        return self._writable

    def on_writable_change(self, listener: Callable[[bool], None]) -> None:
        """Call ``listener(writable)`` (on the storage thread) whenever writability changes."""
        with self._listeners_lock:
            self._listeners.append(listener)

    def probe(self) -> concurrent.futures.Future:
        """Queue a probe write; it marks the store unwritable or, once writes work again, writable."""
        return self._executor.submit(self._probe)

    def _probe(self) -> None:
        try:
            if not self.target.postgresql:  # PostgreSQL's disk is its server's: the write below tells
                # One per process: nodes on one machine share the data directory, and one's unlink of a
                # shared name failed the others' probes (records flapping to unwritable under --workers).
                scratch = f"{self.path}.probe-{os.getpid()}"
                # A real allocation on the data filesystem: SQLite's WAL can reuse space and hide a full disk.
                fd = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                try:
                    os.write(fd, b"\0" * PROBE_BYTES)
                    os.fsync(fd)
                finally:
                    os.close(fd)
                    os.unlink(scratch)
            assert self._db is not None
            self._db.execute("INSERT INTO probe (id, at) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET at = excluded.at",
                             (time.time(),))
            if not self._writable:
                self._recover()
        except Exception as exc:
            self._failed(exc)

    def _recover(self) -> None:
        # The gap marker goes first, in the chain, so the loss is part of the tamper-evident record.
        lost = {kind: self._lost[kind] for kind in LOST_KINDS}
        now = time.time()
        detail = {**lost, "from": self._lost_since, "to": now}
        self._append_audit(now, GAP_ACTION, None, None, None, None, None,
                           json.dumps(detail, sort_keys=True, separators=(",", ":")))
        self._lost.clear()
        self._lost_since = None
        self._writable = True
        log.warning("records_writable_again", lost_audit=lost["audit"], lost_attendance=lost["attendance"],
                    lost_sessions=lost["sessions"])
        self._notify(True)

    def _failed(self, exc: BaseException) -> None:
        if not self._writable:
            return
        self._writable = False
        self._lost_since = time.time()
        errno = getattr(exc, "errno", None) or getattr(exc, "sqlite_errorname", None)
        # The exception's class and code only: its text could quote what was being written.
        log.error("records_unwritable", error=type(exc).__name__, code=errno)
        self._notify(False)

    def _notify(self, writable: bool) -> None:
        with self._listeners_lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(writable)
            except Exception:
                log.exception("records_listener_failed")

    def _write(self, kind: str, queued: float, fn: Callable[..., None], *args: Any) -> None:
        try:
            fn(*args)
        except Exception as exc:
            self._lost[kind] += 1
            self.write_failures[kind] += 1
            self._failed(exc)
            return
        self.write_seconds[kind].observe(time.monotonic() - queued)

    def _submit(self, kind: str, fn: Any, *args: Any) -> concurrent.futures.Future:
        return self._executor.submit(self._write, kind, time.monotonic(), fn, *args)

    # -- Records ----------------------------------------------------------------------------------

    def audit(self, action: str, *, actor: str | None = None, role: str | None = None, room: str | None = None,
              session_id: str | None = None, subject: str | None = None, detail: dict | None = None) -> None:
        """Append one audit entry (asynchronously, in order)."""
        self._submit("audit", self._append_audit, time.time(), action, actor, role, room, session_id, subject,
                     json.dumps(detail or {}, sort_keys=True, separators=(",", ":")))

    def _append_audit(self, at: float, action: str, actor: Any, role: Any, room: Any, session_id: Any,
                      subject: Any, detail: str, *, in_transaction: bool = False) -> None:
        # The head is read in the transaction that appends, under the audit lock, never remembered: another
        # node (PostgreSQL) or a command beside the server (`haven records purge`) may have appended since.
        db = self._db
        assert db is not None
        if not in_transaction:
            db.execute(self._dialect.begin)
        try:
            self._dialect.lock(db, AUDIT_LOCK)
            last = db.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
            if last is None:  # empty: the genesis, or the base a purge of the whole chain left
                last = db.execute("SELECT seq, hash FROM audit_base ORDER BY seq DESC LIMIT 1").fetchone()
            previous_seq, previous = (0, GENESIS) if last is None else (int(last[0]), str(last[1]))
            row: tuple[Any, ...] = (previous_seq + 1, at, action, actor, role, room, session_id, subject, detail)
            if self.target.postgresql:  # hashed as PostgreSQL stores it (a NUL cannot be: database.py)
                row = tuple(v.replace("\0", NUL_STORED_AS) if isinstance(v, str) else v for v in row)
            db.execute("INSERT INTO audit VALUES (?,?,?,?,?,?,?,?,?,?,?)", (*row, previous, audit_hash(previous, row)))
            if not in_transaction:
                db.execute("COMMIT")
        except BaseException:
            if not in_transaction:
                _rollback(db)
            raise

    def session_started(self, session_id: str, room: str, at: float) -> None:
        """Record the start of a session of a room."""
        self._submit("sessions", self._execute,
                     "INSERT INTO sessions (id, room, started_at) VALUES (?,?,?) ON CONFLICT DO NOTHING",
                     (session_id, room, at))

    def session_ended(self, session_id: str, at: float, reason: str) -> None:
        """Record the end of a session."""
        self._submit("sessions", self._execute, "UPDATE sessions SET ended_at = ?, end_reason = ? WHERE id = ?",
                     (at, reason, session_id))

    def attendance(self, session_id: str, participant_id: str, name: str, role: str, event: str,
                   at: float) -> None:
        """Record one attendance event (join, admitted, left, removed, reconnect, …)."""
        self._submit("attendance", self._execute,
                     "INSERT INTO attendance (session_id, participant_id, name, role, event, at) VALUES (?,?,?,?,?,?)",
                     (session_id, participant_id, name, role, event, at))

    # --- session records and moods (issue 10) ----------------------------------------------------

    def session_event(self, session_id: str, kind: str, at: float, detail: dict[str, Any]) -> None:
        """Record a step of a session's structure, its detail sealed (ids and agenda text only, never names)."""
        if self.keyring is None:
            return
        text = json.dumps(detail, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        self._submit("session_records", self._execute,
                     "INSERT INTO session_events (session_id, kind, at, detail) VALUES (?,?,?,?)",
                     (session_id, kind, at, self.keyring.seal(text, event_context(session_id))))

    def mood(self, session_id: str, room: str, participant_id: str, rating: int, at: float) -> None:
        """Keep a member's check-in mood rating, sealed, when their group keeps moods; otherwise drop it."""
        if self.keyring is None or not participant_id.startswith("m-") or not self.keeps_moods(room):
            return
        sealed = self.keyring.seal(str(int(rating)), mood_context(session_id, participant_id))
        self._submit("session_records", self._execute,
                     "INSERT INTO moods (session_id, member_id, at, rating_sealed) VALUES (?,?,?,?)",
                     (session_id, participant_id, at, sealed))

    def open_event(self, session_id: str, sealed: str) -> dict[str, Any]:
        """Return a session event's detail ({} when it cannot be opened: a lost key is not a crash)."""
        if self.keyring is None:
            return {}
        try:
            detail = json.loads(self.keyring.open(sealed, event_context(session_id)))
        except (CipherError, ValueError):
            return {}
        return detail if isinstance(detail, dict) else {}

    # --- end of session records and moods ---------------------------------------------------------

    def _execute(self, sql: str, params: tuple) -> None:
        assert self._db is not None
        self._db.execute(sql, params)

    # -- reading ----------------------------------------------------------------------------------

    async def session(self, session_id: str) -> dict | None:
        """Return a session's record, or None."""
        return await asyncio.wrap_future(self._executor.submit(self._session, session_id))

    def _session(self, session_id: str) -> dict | None:
        assert self._db is not None
        row = self._db.execute("SELECT id, room, started_at, ended_at, end_reason FROM sessions WHERE id = ?",
                               (session_id,)).fetchone()
        if row is None:
            return None
        return dict(zip(("id", "room", "started_at", "ended_at", "end_reason"), row, strict=True))

    async def attendance_report(self, session_id: str, now: float | None = None) -> dict | None:
        """Return a session's attendance events and a per-participant summary."""
        return await asyncio.wrap_future(
            self._executor.submit(self._attendance_report, session_id, time.time() if now is None else now))

    def _attendance_report(self, session_id: str, now: float) -> dict | None:
        assert self._db is not None
        session = self._session(session_id)
        if session is None:
            return None
        rows = self._db.execute(
            "SELECT participant_id, name, role, event, at FROM attendance WHERE session_id = ? ORDER BY seq",
            (session_id,)).fetchall()
        end = session["ended_at"] or now
        columns = ("participant_id", "name", "role", "event", "at")
        return {"session": session, "events": [dict(zip(columns, r, strict=True)) for r in rows],
                "participants": summarize_attendance(rows, end)}

    def verify_chain(self) -> ChainCheck:
        """Recompute every link of the audit chain; report the first entry that does not match."""
        return self._executor.submit(self._verify_chain).result()

    def _verify_chain(self, db: DbConnection | None = None) -> ChainCheck:
        db = db or self._db  # another connection: the audit viewer's reader (see read_audit)
        assert db is not None
        base = db.execute("SELECT seq, hash FROM audit_base ORDER BY seq DESC LIMIT 1").fetchone()
        purged = 0 if base is None else int(base[0])
        previous, count, expected_seq = (GENESIS, 0, 1) if base is None else (base[1], 0, purged + 1)
        gaps: list[int] = []
        lost = 0
        for row in db.execute("SELECT * FROM audit ORDER BY seq"):
            *fields, prev_hash, digest = row
            if fields[0] != expected_seq:
                return ChainCheck(False, count, fields[0], f"entry {expected_seq} is missing")
            if prev_hash != previous:
                return ChainCheck(False, count, fields[0], "does not link to the entry before it")
            if audit_hash(previous, tuple(fields)) != digest:
                return ChainCheck(False, count, fields[0], "its content does not match its hash")
            missing = _lost_in(fields[8]) if fields[2] == GAP_ACTION else 0
            if missing:  # an outage that lost nothing (everyone was refused) is recorded but is no gap
                gaps.append(fields[0])
                lost += missing
            previous, count, expected_seq = digest, count + 1, expected_seq + 1
        return ChainCheck(True, count, gaps=tuple(gaps), lost=lost, purged=purged)

    def purge_audit(self, before: float, *, dry_run: bool = False, role: str = "operator") -> int:
        """Drop the audit entries older than ``before`` from the start of the chain; return how many.

        Only a prefix goes (the first entry at or after ``before`` stays, and everything after it) and never
        the chain's head. The last purged entry's seq and hash become the chain's base in the same
        transaction as the delete, and an ``audit-purged`` entry records the purge (counts and seqs only).
        """
        return int(self._executor.submit(self._purge_audit, before, dry_run, role, time.time()).result())

    async def purge_audit_async(self, before: float) -> int:
        """purge_audit, awaited (the server's daily retention run)."""
        return int(await asyncio.wrap_future(
            self._executor.submit(self._purge_audit, before, False, "server", time.time())))

    def _purge_audit(self, before: float, dry_run: bool, role: str, now: float) -> int:
        assert self._db is not None
        db = self._db
        # Under the audit lock from the first read: another node may append or purge meanwhile (PostgreSQL).
        db.execute(self._dialect.begin)
        try:
            self._dialect.lock(db, AUDIT_LOCK)
            head = db.execute("SELECT max(seq) FROM audit").fetchone()[0]
            if head is None:
                db.execute("ROLLBACK")
                return 0
            first_kept = db.execute("SELECT min(seq) FROM audit WHERE at >= ?", (before,)).fetchone()[0]
            through = min(head if first_kept is None else first_kept, head) - 1
            start = db.execute("SELECT min(seq) FROM audit").fetchone()[0]
            count = max(0, through - start + 1)
            if dry_run or count == 0:
                db.execute("ROLLBACK")
                return count
            digest = db.execute("SELECT hash FROM audit WHERE seq = ?", (through,)).fetchone()[0]
            db.execute("INSERT INTO audit_base (seq, hash, before, at) VALUES (?,?,?,?)",
                       (through, digest, before, now))
            db.execute("DELETE FROM audit WHERE seq <= ?", (through,))
            self._append_audit(now, AUDIT_PURGED, None, role, None, None, None,
                               json.dumps({"entries": count, "from": start, "through": through}, sort_keys=True,
                                          separators=(",", ":")), in_transaction=True)
            db.execute("COMMIT")
        except BaseException:
            _rollback(db)
            raise
        return int(count)

    def audit_entries(self) -> list[dict]:
        """Return every audit entry (for tests and exports)."""
        def read() -> list[dict]:
            assert self._db is not None
            cursor = self._db.execute("SELECT * FROM audit ORDER BY seq")
            names = [c[0] for c in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor]
        return self._executor.submit(read).result()

    # --- audit viewer and anchor (issue 10) ---------------------------------------------------------
    # Reads run on a thread and a read-only connection of their own (WAL lets them read while the storage
    # thread writes), so verifying a long chain for the viewer delays neither the event loop nor a record.

    def _read(self, fn: Callable[[DbConnection], Any]) -> concurrent.futures.Future:
        def run() -> Any:
            if self.target.postgresql:
                if self._reader is None:
                    self._reader = PgConnection(self.target.url, read_only=True)
                reader = self._reader
                reader.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")  # one snapshot, as below
                try:
                    return fn(reader)
                finally:
                    _rollback(reader)
            db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
            try:
                db.execute("BEGIN")  # one snapshot for everything this read looks at
                return fn(db)
            finally:
                db.close()
        return self._read_executor.submit(run)

    async def read_audit(self, sql: str, params: list[Any]) -> list[tuple]:
        """Run one query of the audit viewer (server/audit_view.py builds it) on the reader."""
        return await asyncio.wrap_future(self._read(lambda db: db.execute(sql, params).fetchall()))

    async def check_chain(self) -> ChainCheck:
        """Verify the whole chain on the reader: the event loop and the writes go on meanwhile."""
        return await asyncio.wrap_future(self._read(self._verify_chain))

    def chain_head(self) -> tuple[int, str, int]:
        """Return the last entry's (seq, hash) and the count of entries, as committed (for the anchor)."""
        return self._read(_chain_head).result()

    async def read_chain_head(self) -> tuple[int, str, int]:
        """chain_head, awaited on the reader (the server's anchor writer)."""
        return await asyncio.wrap_future(self._read(_chain_head))

    def entry_hash(self, seq: int) -> str | None:
        """Return the stored hash of entry ``seq``, or None when there is no such entry."""
        return self._read(lambda db: _entry_hash(db, seq)).result()

    async def read_entry_hash(self, seq: int) -> str | None:
        """entry_hash, awaited on the reader."""
        return await asyncio.wrap_future(self._read(lambda db: _entry_hash(db, seq)))

    # --- end of audit viewer and anchor -----------------------------------------------------------

    # -- used join tokens (single use: docs/protocol.md section 5.4) ---------------------------------

    async def spend(self, jti: str, expires_at: float) -> bool:
        """Record a join token's id until it expires; True the first time it is used, False after."""
        return bool(await asyncio.wrap_future(self._executor.submit(self._spend, jti, expires_at, time.time())))

    def _spend(self, jti: str, expires_at: float, now: float) -> bool:
        # A token whose use cannot be recorded counts as used (fail closed); joins are refused anyway
        # while records are unwritable (Records.writable).
        try:
            return self._record_spent(jti, expires_at, now)
        except Exception as exc:
            self._failed(exc)
            return False

    def _record_spent(self, jti: str, expires_at: float, now: float) -> bool:
        assert self._db is not None
        if not self.target.postgresql:  # PostgreSQL's is made at open, with the other tables
            self._db.execute(USED_TOKENS_SCHEMA)
        self._db.execute("DELETE FROM used_tokens WHERE expires_at < ?", (now,))
        # One statement, atomic on both backends: of two nodes spending the same token, one inserts the row.
        cursor = self._db.execute("INSERT INTO used_tokens (jti, expires_at) VALUES (?, ?) ON CONFLICT DO NOTHING",
                                  (jti, expires_at))
        return cursor.rowcount == 1

    def committed(self) -> Awaitable[bool]:
        """Resolve once every write queued before this call is committed (on disk: synchronous=FULL).

        True when they all were written; False when the records are unwritable (a write was lost and is
        counted for the `records-lost` gap marker). Call from the event loop.
        """
        return asyncio.wrap_future(self._executor.submit(lambda: self._writable))

    def flush(self) -> None:
        """Wait until every queued write is on disk."""
        self._executor.submit(lambda: None).result()

    def close(self) -> None:
        """Finish queued writes and close the database (recording a gap first if writes work again)."""
        def close() -> None:
            if not self._writable:
                self._probe()
            if not self._writable:
                log.error("records_lost_at_shutdown", lost_audit=self._lost["audit"],
                          lost_attendance=self._lost["attendance"], lost_sessions=self._lost["sessions"])
            if self._db is not None:
                self._db.close()
                self._db = None

        def close_reader() -> None:
            if self._reader is not None:
                self._reader.close()
                self._reader = None
        self._executor.submit(close).result()
        self._executor.shutdown(wait=True)
        self._read_executor.submit(close_reader).result()
        self._read_executor.shutdown(wait=True)


def _rollback(db: DbConnection) -> None:
    """Roll back, when a transaction is open (a failed write may have ended it already)."""
    try:
        if db.in_transaction:
            db.execute("ROLLBACK")
    except Exception:
        log.warning("rollback_failed")


def summarize_attendance(rows: list[tuple], end: float) -> list[dict]:
    """Summarize events per participant: first join, last leave, minutes present while admitted."""
    people: dict[str, dict] = {}
    for participant_id, name, role, event, at in rows:
        person = people.setdefault(participant_id, {
            "participant_id": participant_id, "name": name, "role": role, "first_join": None,
            "last_leave": None, "seconds_present": 0.0, "_since": None, "reconnects": 0, "removed": False})
        person["name"], person["role"] = name, role
        if event in ("join", "reconnect") and person["first_join"] is None:
            person["first_join"] = at
        if event == "reconnect":
            person["reconnects"] += 1
        if event == "removed":
            person["removed"] = True
        if event in PRESENCE_START and person["_since"] is None:
            person["_since"] = at
        elif event in PRESENCE_END:
            if person["_since"] is not None:
                person["seconds_present"] += max(0.0, at - person["_since"])
                person["_since"] = None
            person["last_leave"] = at
    summary = []
    for person in people.values():
        if person["_since"] is not None:
            person["seconds_present"] += max(0.0, end - person["_since"])
        since = person.pop("_since")
        person["present_now"] = since is not None
        person["minutes_present"] = round(person.pop("seconds_present") / 60, 1)
        summary.append(person)
    return summary


def attendance_csv(report: dict) -> str:
    """Render the per-participant summary of an attendance report as CSV."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["session_id", "room", "participant_id", "name", "role", "first_join_utc", "last_leave_utc",
                     "minutes_present", "reconnects", "removed"])
    session = report["session"]
    for person in report["participants"]:
        writer.writerow([session["id"], session["room"], _csv_text(person["participant_id"]),
                         _csv_text(person["name"]), person["role"], _iso(person["first_join"]),
                         _iso(person["last_leave"]),
                         person["minutes_present"], person["reconnects"], person["removed"]])
    return out.getvalue()


def _csv_text(value: str) -> str:
    # A cell starting with =, +, - or @ is a formula to spreadsheet programs (CSV injection).
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def _iso(at: float | None) -> str:
    if at is None:
        return ""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at))


def _lost_in(detail: str) -> int:
    try:
        counts = json.loads(detail)
        return sum(int(counts.get(kind, 0)) for kind in LOST_KINDS)
    except (ValueError, TypeError, AttributeError):
        return 0
