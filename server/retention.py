"""The retention purge: records older than ``records.retention`` are deleted, daily and by command.

``RETAINED`` names every table the purge covers and the column holding each row's time (seconds since the
epoch): attendance and sessions, the session records' steps, kept moods, session notes and excusals. Every
purge that deletes anything is audited as ``records-purged`` with the count per table (never a row's content).
The audit log has its own, longer retention (records.audit_retention, at least six years): Storage.purge_audit
drops only the oldest entries, keeps the chain verifiable from a recorded base, and audits the purge.
"""

from __future__ import annotations

import time
from typing import Any

from .database import dialect_of

RETAINED: tuple[tuple[str, str], ...] = (
    ("attendance", "at"),
    ("sessions", "started_at"),
    ("session_events", "at"),
    ("moods", "at"),
    ("session_notes", "at"),
    ("excusals", "at"),
)
DAY = 86400.0


def _present(db: Any, table: str, column: str) -> bool:
    return column in dialect_of(db).columns(db, table)


def purge(db: Any, cutoff: float, *, dry_run: bool = False) -> dict[str, int]:
    """Delete (or with ``dry_run`` only count) every retained row older than ``cutoff``, in one transaction."""
    counts: dict[str, int] = {}
    db.execute(dialect_of(db).begin)
    try:
        for table, column in RETAINED:
            if not _present(db, table, column):
                continue  # a table made later (or never, in this deployment)
            cursor = db.cursor()
            cursor.row_factory = None
            if dry_run:
                counts[table] = cursor.execute(f"SELECT COUNT(*) FROM {table} WHERE {column} < ?",
                                               (cutoff,)).fetchone()[0]
            else:
                counts[table] = cursor.execute(f"DELETE FROM {table} WHERE {column} < ?", (cutoff,)).rowcount
        db.execute("ROLLBACK" if dry_run else "COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return counts


def cutoff_for(retention: float, now: float | None = None) -> float:
    """The time before which retained records are purged."""
    return (time.time() if now is None else now) - retention
