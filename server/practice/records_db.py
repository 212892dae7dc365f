"""The SQL of a program's records, run on the practice's thread (``PracticeStore.call(fn, db, …)``).

Sessions, attendance events, session events and moods are written by signaling through server/storage.py's
single writer; this module only reads them (WAL lets it read while that thread writes). Excusals and session
notes are the dashboard's own writes, to the practice tables (migrations.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .store import PracticeDb, Row


def sessions_in(db: PracticeDb, rooms: Iterable[str]) -> list[Row]:
    """Every session held in these rooms, each with its attendance ``events`` and session events ``steps``."""
    rooms = list(rooms)
    sessions: list[Row] = []
    for start in range(0, len(rooms), 500):  # SQLite's limit on bound parameters
        chunk = rooms[start:start + 500]
        marks = ",".join("?" * len(chunk))
        sessions += db.db.execute(f"SELECT id, room, started_at, ended_at, end_reason FROM sessions "
                                  f"WHERE room IN ({marks}) ORDER BY started_at", chunk).fetchall()
    for session in sessions:
        session["events"] = [(r["participant_id"], r["event"], r["at"]) for r in db.db.execute(
            "SELECT participant_id, event, at FROM attendance WHERE session_id = ? ORDER BY seq",
            (session["id"],)).fetchall()]
        session["steps"] = db.db.execute("SELECT kind, at, detail FROM session_events WHERE session_id = ? "
                                         "ORDER BY seq", (session["id"],)).fetchall()
    return sessions


def session(db: PracticeDb, session_id: str) -> Row | None:
    """One session (with its events and steps), or None."""
    row = db.db.execute("SELECT room FROM sessions WHERE id = ?", (session_id,)).fetchone()
    if row is None:
        return None
    return next((s for s in sessions_in(db, [row["room"]]) if s["id"] == session_id), None)


def excusals(db: PracticeDb, group_id: str) -> list[Row]:
    return db.db.execute("SELECT occurrence_key, member_id, reason_sealed, by_account, at FROM excusals "
                         "WHERE group_id = ?", (group_id,)).fetchall()


def set_excusal(db: PracticeDb, group_id: str, key: str, member_id: str, reason_sealed: str, by: str) -> None:
    db.db.execute("INSERT INTO excusals VALUES (?,?,?,?,?,?) ON CONFLICT (group_id, occurrence_key, member_id) "
                  "DO UPDATE SET reason_sealed = excluded.reason_sealed, by_account = excluded.by_account, "
                  "at = excluded.at", (group_id, key, member_id, reason_sealed, by, db.clock()))


def delete_excusal(db: PracticeDb, group_id: str, key: str, member_id: str) -> bool:
    cursor = db.db.execute("DELETE FROM excusals WHERE group_id = ? AND occurrence_key = ? AND member_id = ?",
                           (group_id, key, member_id))
    return cursor.rowcount == 1


def note(db: PracticeDb, session_id: str) -> Row | None:
    return db.db.execute("SELECT session_id, note_sealed, by_account, at FROM session_notes WHERE session_id = ?",
                         (session_id,)).fetchone()


def set_note(db: PracticeDb, session_id: str, group_id: str, note_sealed: str | None, by: str) -> None:
    """Store a session's note, or delete it (``note_sealed`` None)."""
    if note_sealed is None:
        db.db.execute("DELETE FROM session_notes WHERE session_id = ?", (session_id,))
    else:
        db.db.execute("INSERT INTO session_notes VALUES (?,?,?,?,?) ON CONFLICT (session_id) DO UPDATE SET "
                      "group_id = excluded.group_id, note_sealed = excluded.note_sealed, "
                      "by_account = excluded.by_account, at = excluded.at",
                      (session_id, group_id, note_sealed, by, db.clock()))


def moods(db: PracticeDb, member_id: str, session_ids: Iterable[str]) -> list[Row]:
    """The member's kept mood ratings (sealed) in these sessions, oldest first."""
    wanted = set(session_ids)
    rows = db.db.execute("SELECT session_id, at, rating_sealed FROM moods WHERE member_id = ? ORDER BY at",
                         (member_id,)).fetchall()
    return [r for r in rows if r["session_id"] in wanted]


def names(db: PracticeDb, group_id: str) -> dict[str, Any]:
    """Display names of the group's members and facilitators by id (what a record shows beside an id)."""
    shown = {r["id"]: r["display_name"] for r in db.db.execute(
        "SELECT id, display_name FROM members WHERE group_id = ?", (group_id,)).fetchall()}
    shown.update({r["id"]: r["display_name"] for r in db.db.execute(
        "SELECT a.id, a.display_name FROM accounts a JOIN facilitators f ON f.account_id = a.id "
        "WHERE f.group_id = ?", (group_id,)).fetchall()})
    return shown
