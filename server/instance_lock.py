"""A lock beside the database that says a server is using it, for commands that must run with none.

Every running server holds a *shared* flock on ``<database>.lock``; commands that replace the database or
its key (``haven restore``, ``haven records rotate-key``) take it *exclusively*, without waiting, and so
refuse while any server runs — and a server started during such a command refuses to start. The kernel
drops a flock when its process dies (even by kill -9), so a stale lock file never blocks anything.
"""

from __future__ import annotations

import fcntl
import os
from typing import IO

from .database import INSTANCE_LOCK, PgConnection, Target


class Busy(Exception):
    """The lock is held the other way: a server is running, or a command is replacing the records."""


def lock_path(database_path: str) -> str:
    return f"{database_path}.lock"


def _take(database_path: str, mode: int) -> IO[str]:
    path = lock_path(database_path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), mode=0o700, exist_ok=True)
    file = open(path, "a+")  # held open for the holder's lifetime: closing it drops the lock
    os.chmod(path, 0o600)
    try:
        fcntl.flock(file.fileno(), mode | fcntl.LOCK_NB)
    except BlockingIOError:
        file.close()
        raise Busy(path) from None
    return file


def hold_shared(database_path: str) -> IO[str]:
    """Mark this process as a server using the database; Busy while a command holds it exclusively."""
    return _take(database_path, fcntl.LOCK_SH)


def hold_exclusive(database_path: str) -> IO[str]:
    """Take the database for a command that must run with no server; Busy while one runs."""
    return _take(database_path, fcntl.LOCK_EX)


def hold(target: Target, *, exclusive: bool = False) -> IO[str] | PgConnection:
    """``hold_shared`` or ``hold_exclusive`` for the records wherever they are (Config.records_target).

    On PostgreSQL, where servers on several machines share the records, the lock is a session-level advisory
    lock of the database instead of a file: held while the returned connection is open, dropped by PostgreSQL
    when the holder's connection ends (its process died, even by kill -9). ``close()`` releases either kind.
    """
    if not target.postgresql:
        return _take(target.path, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
    db = PgConnection(target.url)
    try:
        how = "pg_try_advisory_lock" if exclusive else "pg_try_advisory_lock_shared"
        held = db.execute(f"SELECT {how}(?)", (INSTANCE_LOCK,)).fetchone()[0]
    except BaseException:
        db.close()
        raise
    if not held:
        db.close()
        raise Busy(f"the instance lock of {target.describe()}")
    return db
