"""server/backup.py: a restore checks the backup first and replaces nothing when it is damaged or unreadable."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from server.backup import BackupError, backup, restore
from server.cipher import Keyring, new_key
from server.instance_lock import Busy, hold_exclusive, hold_shared
from server.practice.store import PracticeStore
from server.storage import Storage

GROUP = {"name": "G", "kind": "process", "focus": "", "agenda_template": "", "capacity": 15, "tz": "UTC",
         "consent_text": "c"}


def records(path: Path, keyring: Keyring) -> None:
    storage = Storage(str(path))
    storage.audit("join", actor="ana", role="host", room="r1")
    storage.close()
    store = PracticeStore(str(path), keyring)
    store.db.create_member(store.db.create_group(GROUP, [])["id"], "Robin", "robin@example.org", "UTC")
    store.close()


def actions(path: Path) -> list[str]:
    db = sqlite3.connect(path)
    try:
        return [row[0] for row in db.execute("SELECT action FROM audit ORDER BY seq")]
    finally:
        db.close()


@pytest.fixture
def keyring() -> Keyring:
    return Keyring([new_key()])


@pytest.fixture
def made(tmp_path: Path, keyring: Keyring) -> Path:
    records(tmp_path / "live.db", keyring)
    target = tmp_path / "b.db"
    assert backup(str(tmp_path / "live.db"), target).entries == 1
    return target


def test_a_backup_never_overwrites_a_file(tmp_path: Path, made: Path) -> None:
    with pytest.raises(BackupError, match="already exists"):
        backup(str(tmp_path / "live.db"), made)


def test_a_tampered_backup_is_refused_and_nothing_is_replaced(tmp_path: Path, made: Path, keyring: Keyring) -> None:
    db = sqlite3.connect(made)
    db.execute("DROP TRIGGER audit_no_update")  # as someone with the file could
    db.execute("UPDATE audit SET actor = 'ben'")
    db.commit()
    db.close()
    target = tmp_path / "data" / "haven.db"
    records(target, keyring)
    with pytest.raises(BackupError, match="audit chain does not verify"):
        restore(made, str(target), keyring, str(tmp_path / "data"))
    assert actions(target) == ["join"] and sorted(p.name for p in target.parent.iterdir()) == ["haven.db"]


def test_a_backup_the_key_does_not_open_is_refused(tmp_path: Path, made: Path) -> None:
    target = tmp_path / "data" / "haven.db"
    with pytest.raises(BackupError, match="does not open"):
        restore(made, str(target), Keyring([new_key()]), str(tmp_path / "data"))
    with pytest.raises(BackupError, match="no records key here"):
        restore(made, str(target), None, str(tmp_path / "data"))
    assert not target.exists()


def test_a_restore_keeps_the_previous_database_and_is_audited(tmp_path: Path, made: Path, keyring: Keyring) -> None:
    target = tmp_path / "data" / "haven.db"
    storage = Storage(str(target))
    storage.audit("other")
    storage.close()
    done = restore(made, str(target), keyring, str(tmp_path / "data"), now=0)
    assert done.previous == target.with_name("haven.db.before-restore-19700101T000000Z")
    assert actions(done.previous) == ["other"]
    assert actions(target) == ["join", "records-restored"]
    check = Storage(str(target))
    assert check.verify_chain().ok
    check.close()
    store = PracticeStore(str(target), keyring)
    assert [m["email"] for m in store.db.members_of(store.db.groups()[0]["id"])] == ["robin@example.org"]
    store.close()


def test_a_running_server_blocks_a_restore_and_a_restore_blocks_a_start(tmp_path: Path) -> None:
    database = str(tmp_path / "haven.db")
    server, other = hold_shared(database), hold_shared(database)  # servers may share
    with pytest.raises(Busy):
        hold_exclusive(database)
    server.close()
    other.close()
    command = hold_exclusive(database)
    with pytest.raises(Busy):
        hold_shared(database)
    command.close()
    hold_shared(database).close()
