"""Backing up the records into one file while the server runs, and restoring such a file with none running.

A backup is SQLite's online backup of the database: a consistent snapshot even while the server writes
(WAL included), which copying the file is not. Sealed fields stay sealed in it, so it is only readable with
the records key; ``with_key`` writes the keyring beside it as ``<file>.key`` (0600) for an operator who
keeps both in one safe place. The audit anchor's signing key (server/anchor.py, ``audit-anchor.key`` in
the data directory) always goes beside it as ``<file>.anchor-key`` (0600) when there is one, as ``backup
--to DIR`` copies it: anchors kept off the machine name that key, so a server restored elsewhere must sign
with it and ``haven audit verify --anchor`` must trust it.

A restore checks the backup before anything is replaced: SQLite's integrity_check, the audit hash chain, and
that the records key opens its sealed values. It then swaps the database atomically (a rename), keeping the
previous one as ``<database>.before-restore-<UTC time>``, and appends a ``records-restored`` audit entry. An
anchor key saved beside the backup is installed the same way: a different key already in the data directory
is kept as ``audit-anchor.key.before-restore-<UTC time>``, never deleted.
"""

from __future__ import annotations

import base64
import binascii
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from .anchor import key_path as anchor_key_path
from .anchor import public_bytes
from .cipher import CipherError, Keyring, format_keys, new_key, parse_keys, write_keyring
from .sealed_fields import check_opens
from .storage import ChainCheck, Storage

KEY_SUFFIX = ".key"
ANCHOR_KEY_SUFFIX = ".anchor-key"


class BackupError(Exception):
    """A backup or restore that cannot go ahead; the message says why and what to do."""


def _online_copy(source: str, target: Path) -> None:
    """Copy ``source`` into the new file ``target`` (0600, never overwriting) with SQLite's backup API."""
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.close(fd)
    live = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    out = sqlite3.connect(target)
    try:
        live.backup(out)
    finally:
        out.close()
        live.close()


def verify_chain(path: str) -> ChainCheck:
    """Open the records at ``path`` and check the audit log's hash chain."""
    storage = Storage(path)
    try:
        return storage.verify_chain()
    finally:
        storage.close()


def _write_new(path: Path, text: str) -> None:
    """Write ``text`` to the new file ``path`` (0600, never overwriting), synced to disk."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(text)
        file.flush()
        os.fsync(file.fileno())


def _anchor_key(path: Path) -> tuple[str, bytes] | None:
    """The anchor key file at ``path`` as (its text, its public key), or None if there is none.

    The format is server/anchor.py's (base64url of the 32 raw bytes); a file that is not one is refused, so
    a backup never carries, and a restore never installs, a key the server could not sign with.
    """
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise BackupError(f"{path}: {getattr(exc, 'strerror', None) or exc}") from None
    raw = text.strip()
    try:
        key = Ed25519PrivateKey.from_private_bytes(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    except (binascii.Error, ValueError):
        raise BackupError(f"{path}: not an audit anchor key (expected base64url of 32 bytes)") from None
    return raw + "\n", public_bytes(key)


@dataclass(frozen=True)
class Made:
    path: Path
    entries: int
    key_path: Path | None
    anchor_key_path: Path | None = None


def backup(database_path: str, target: Path, keyring: Keyring | None = None, data_dir: str | None = None) -> Made:
    """Write a verified backup of the database to the new file ``target``, with ``keyring`` beside it if given
    and the audit anchor key of ``data_dir`` beside it if there is one."""
    if not os.path.exists(database_path):
        raise BackupError(f"no database at {database_path}")
    if target.exists():
        raise BackupError(f"{target}: already exists; give a new file name")
    anchor = _anchor_key(anchor_key_path(data_dir)) if data_dir is not None else None
    partial = target.with_name(target.name + ".partial")
    written: list[Path] = []
    try:
        partial.unlink(missing_ok=True)
        _online_copy(database_path, partial)
        check = verify_chain(str(partial))
        if not check.ok:
            raise BackupError(f"the copy's audit chain does not verify: entry {check.first_bad_seq} {check.problem}")
        key_path = None
        if keyring is not None:
            key_path = target.with_name(target.name + KEY_SUFFIX)
            _write_new(key_path, format_keys(keyring.keys))
            written.append(key_path)
        anchor_path = None
        if anchor is not None:
            anchor_path = target.with_name(target.name + ANCHOR_KEY_SUFFIX)
            _write_new(anchor_path, anchor[0])
            written.append(anchor_path)
        os.replace(partial, target)  # only a whole, verified copy gets the name asked for
        written.clear()
    except (OSError, sqlite3.Error) as exc:
        raise BackupError(f"backup failed: {exc}") from None
    finally:
        partial.unlink(missing_ok=True)
        for orphan in written:  # a failed backup leaves no key file behind to block the next try
            orphan.unlink(missing_ok=True)
    return Made(target, check.entries, key_path, anchor_path)


def backup_key(source: Path) -> Keyring | None:
    """The keyring written beside a backup by ``with_key``, if there is one."""
    path = source.with_name(source.name + KEY_SUFFIX)
    if not path.exists():
        return None
    try:
        return Keyring(parse_keys(path.read_text(), str(path)))
    except (OSError, CipherError) as exc:
        raise BackupError(f"{path}: {exc}") from None


@dataclass(frozen=True)
class Restored:
    entries: int
    previous: Path | None
    key_installed: bool
    anchor_key: str | None = None  # "installed", "replaced" (the old one kept), "same", or None: none saved
    previous_anchor_key: Path | None = None


def _install_anchor_key(saved: tuple[str, bytes] | None, current: tuple[str, bytes] | None, data_dir: str,
                        stamp: str) -> tuple[str | None, Path | None]:
    """Put the anchor key ``saved`` beside a backup in ``data_dir``, whose key now is ``current``: as it is
    when there is none, nothing when it is the same key, else in place of the other, which is kept beside it."""
    if saved is None:
        return None, None
    text, public = saved
    live = anchor_key_path(data_dir)
    live.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if current is None:
        _write_new(live, text)
        return "installed", None
    if current[1] == public:
        return "same", None
    previous = live.with_name(f"{live.name}.before-restore-{stamp}")
    incoming = live.with_name(f"{live.name}.restoring")
    incoming.unlink(missing_ok=True)
    _write_new(previous, current[0])  # the old key kept first, so anchors it signed can still be checked
    try:
        _write_new(incoming, text)
        os.replace(incoming, live)
    finally:
        incoming.unlink(missing_ok=True)
    return "replaced", previous


def restore(source: Path, database_path: str, keyring: Keyring | None, data_dir: str,
            now: float | None = None) -> Restored:
    """Replace the database with the backup ``source`` once it has been checked (the caller holds the lock).

    ``keyring`` is the records key in force (None when there is none yet): it, or the key saved beside the
    backup, must open the backup's sealed values. A key saved beside the backup is installed in ``data_dir``
    when there is no key there yet; an audit anchor key saved beside it is installed in ``data_dir`` (a
    different one there is kept as ``audit-anchor.key.before-restore-<time>``).
    """
    if not source.is_file():
        raise BackupError(f"{source}: no such backup file")
    target = Path(database_path)
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() if now is None else now))
    incoming = target.with_name(f"{target.name}.restoring")
    for leftover in (incoming, Path(f"{incoming}-wal"), Path(f"{incoming}-shm")):
        leftover.unlink(missing_ok=True)
    try:
        # Work on a private copy: the backup file itself is never opened for writing.
        _online_copy(str(source), incoming)
        saved = backup_key(source)
        # Both anchor keys read (and refused if malformed) before anything in the data directory changes.
        saved_anchor = _anchor_key(source.with_name(source.name + ANCHOR_KEY_SUFFIX))
        live_anchor = _anchor_key(anchor_key_path(data_dir)) if saved_anchor is not None else None
        entries = _check(incoming, keyring if keyring is not None else saved, saved is not None)
        key_installed = False
        if keyring is None and saved is not None:
            write_keyring(data_dir, saved.keys)
            key_installed = True
        anchor_key, previous_anchor_key = _install_anchor_key(saved_anchor, live_anchor, data_dir, stamp)
        previous = None
        if target.exists():
            previous = target.with_name(f"{target.name}.before-restore-{stamp}")
            # A consistent copy of the old database (its WAL included), then the old files go.
            _online_copy(str(target), previous)
        for stale in (Path(f"{target}-wal"), Path(f"{target}-shm")):
            stale.unlink(missing_ok=True)  # an old WAL applied to the restored file would corrupt it
        os.replace(incoming, target)
    except (OSError, sqlite3.Error) as exc:
        raise BackupError(f"restore failed: {exc}") from None
    finally:
        incoming.unlink(missing_ok=True)
    storage = Storage(str(target))
    try:
        detail = {"entries": entries, "previous_kept": previous is not None, "key_installed": key_installed,
                  "anchor_key": anchor_key}
        storage.audit("records-restored", role="operator", detail=detail)
        storage.flush()
    finally:
        storage.close()
    return Restored(entries, previous, key_installed, anchor_key, previous_anchor_key)


def _check(path: Path, keyring: Keyring | None, saved: bool) -> int:
    db = sqlite3.connect(path, isolation_level=None)
    try:
        result = db.execute("PRAGMA integrity_check").fetchone()
        if result is None or result[0] != "ok":
            raise BackupError(f"the backup is damaged (integrity_check: {result[0] if result else 'no answer'})")
        try:
            # With no key at all, only a backup holding nothing sealed passes (a throwaway key opens nothing).
            check_opens(db, keyring if keyring is not None else Keyring([new_key()]))
        except CipherError as exc:
            if keyring is None:
                raise BackupError("the backup holds sealed values and there is no records key here nor beside "
                                  "the backup: put the key file (records.key) in the data directory or set "
                                  "HAVEN_RECORDS_KEY") from None
            hint = " (the key saved beside the backup is not used while another key is in force)" if saved else ""
            raise BackupError(f"the records key does not open the backup's sealed values ({exc}){hint}; put the "
                              "key that sealed them in place, or set HAVEN_RECORDS_KEY to it") from None
    finally:
        db.close()
    check = verify_chain(str(path))
    if not check.ok:
        raise BackupError(f"the backup's audit chain does not verify: entry {check.first_bad_seq} {check.problem}")
    return check.entries
