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
