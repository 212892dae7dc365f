"""Durable records in SQLite: sessions, attendance and the hash-chained audit log.

All SQLite work happens on one dedicated thread, so the event loop never waits on the disk and writes
keep their order (which the hash chain needs). Media, chat text, SDP and tokens are never stored.
The class implements signaling.records.Records; PostgreSQL can replace it behind the same methods.
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
import time
from dataclasses import dataclass
from typing import Any

import structlog

log = structlog.get_logger("haven.storage")

GENESIS = "0" * 64
# Presence runs while admitted; moves between the main room and breakouts ("moved") do not interrupt it.
PRESENCE_START = {"admitted"}
PRESENCE_END = {"left", "removed", "denied", "replaced", "sent-to-waiting", "session-ended", "disconnected"}

SCHEMA = """
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
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
"""

# Kept apart from SCHEMA and created on first use, so the records' own schema stays as it is.
USED_TOKENS_SCHEMA = "CREATE TABLE IF NOT EXISTS used_tokens (jti TEXT PRIMARY KEY, expires_at REAL NOT NULL)"


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


class Storage:
    """SQLite-backed Records with a single writer thread."""

    def __init__(self, path: str) -> None:
        self.path = path
        directory = os.path.dirname(os.path.abspath(path))
        os.makedirs(directory, mode=0o700, exist_ok=True)
        self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="haven-storage")
        self._db: sqlite3.Connection | None = None
        self._last_hash = GENESIS
        self._next_seq = 1
        self._executor.submit(self._open).result()

    def _open(self) -> None:
        fresh = not os.path.exists(self.path)
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        if fresh:
            os.chmod(self.path, 0o600)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(SCHEMA)
        row = self._db.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
        if row is not None:
            self._next_seq, self._last_hash = row[0] + 1, row[1]

    def _submit(self, fn: Any, *args: Any) -> concurrent.futures.Future:
        future = self._executor.submit(fn, *args)
        future.add_done_callback(_log_failure)
        return future

    # -- Records ----------------------------------------------------------------------------------

    def audit(self, action: str, *, actor: str | None = None, role: str | None = None, room: str | None = None,
              session_id: str | None = None, subject: str | None = None, detail: dict | None = None) -> None:
        """Append one audit entry (asynchronously, in order)."""
        self._submit(self._append_audit, time.time(), action, actor, role, room, session_id, subject,
                     json.dumps(detail or {}, sort_keys=True, separators=(",", ":")))

    def _append_audit(self, at: float, action: str, actor: Any, role: Any, room: Any, session_id: Any,
                      subject: Any, detail: str) -> None:
        assert self._db is not None
        seq = self._next_seq
        row = (seq, at, action, actor, role, room, session_id, subject, detail)
        digest = audit_hash(self._last_hash, row)
        self._db.execute("INSERT INTO audit VALUES (?,?,?,?,?,?,?,?,?,?,?)", (*row, self._last_hash, digest))
        self._next_seq, self._last_hash = seq + 1, digest

    def session_started(self, session_id: str, room: str, at: float) -> None:
        """Record the start of a session of a room."""
        self._submit(self._execute, "INSERT OR IGNORE INTO sessions (id, room, started_at) VALUES (?,?,?)",
                     (session_id, room, at))

    def session_ended(self, session_id: str, at: float, reason: str) -> None:
        """Record the end of a session."""
        self._submit(self._execute, "UPDATE sessions SET ended_at = ?, end_reason = ? WHERE id = ?",
                     (at, reason, session_id))

    def attendance(self, session_id: str, participant_id: str, name: str, role: str, event: str,
                   at: float) -> None:
        """Record one attendance event (join, admitted, left, removed, reconnect, …)."""
        self._submit(self._execute,
                     "INSERT INTO attendance (session_id, participant_id, name, role, event, at) VALUES (?,?,?,?,?,?)",
                     (session_id, participant_id, name, role, event, at))

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

    def _verify_chain(self) -> ChainCheck:
        assert self._db is not None
        previous, count, expected_seq = GENESIS, 0, 1
        for row in self._db.execute("SELECT * FROM audit ORDER BY seq"):
            *fields, prev_hash, digest = row
            if fields[0] != expected_seq:
                return ChainCheck(False, count, fields[0], f"entry {expected_seq} is missing")
            if prev_hash != previous:
                return ChainCheck(False, count, fields[0], "does not link to the entry before it")
            if audit_hash(previous, tuple(fields)) != digest:
                return ChainCheck(False, count, fields[0], "its content does not match its hash")
            previous, count, expected_seq = digest, count + 1, expected_seq + 1
        return ChainCheck(True, count)

    def audit_entries(self) -> list[dict]:
        """Return every audit entry (for tests and exports)."""
        def read() -> list[dict]:
            assert self._db is not None
            cursor = self._db.execute("SELECT * FROM audit ORDER BY seq")
            names = [c[0] for c in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor]
        return self._executor.submit(read).result()

    # -- used join tokens (single use: docs/protocol.md section 5.4) ---------------------------------

    async def spend(self, jti: str, expires_at: float) -> bool:
        """Record a join token's id until it expires; True the first time it is used, False after."""
        return bool(await asyncio.wrap_future(self._submit(self._spend, jti, expires_at, time.time())))

    def _spend(self, jti: str, expires_at: float, now: float) -> bool:
        assert self._db is not None
        self._db.execute(USED_TOKENS_SCHEMA)
        self._db.execute("DELETE FROM used_tokens WHERE expires_at < ?", (now,))
        cursor = self._db.execute("INSERT OR IGNORE INTO used_tokens (jti, expires_at) VALUES (?, ?)",
                                  (jti, expires_at))
        return cursor.rowcount == 1

    def flush(self) -> None:
        """Wait until every queued write is on disk."""
        self._executor.submit(lambda: None).result()

    def close(self) -> None:
        """Finish queued writes and close the database."""
        def close() -> None:
            if self._db is not None:
                self._db.close()
                self._db = None
        self._executor.submit(close).result()
        self._executor.shutdown(wait=True)


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


def _log_failure(future: concurrent.futures.Future) -> None:
    exc = future.exception()
    if exc is not None:
        log.error("storage_write_failed", error=type(exc).__name__)
