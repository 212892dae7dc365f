"""`haven backup` copies the records of a running server consistently, and the copy verifies."""

from __future__ import annotations

import sqlite3
import stat
import subprocess
import sys

import pytest

from tests.support.client import ProtocolClient
from tests.support.server_process import ROOT, ServerProcess


@pytest.fixture
def server(tmp_path):
    with ServerProcess(tmp_path).running() as process:
        yield process


def haven(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "server.cli", *argv], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)


def joins(database) -> int:
    connection = sqlite3.connect(database)
    try:
        return connection.execute("SELECT count(*) FROM audit WHERE action = 'join'").fetchone()[0]
    finally:
        connection.close()


async def test_a_backup_taken_during_a_session_is_consistent_private_and_verifies(server, tmp_path):
    people = [ProtocolClient(server.base_url, server.issuer.issue("backup", name.title(), "host", 600, sub=name),
                             name=name) for name in ("ana", "ben")]
    try:
        for person in people:
            await person.connect()
        target = tmp_path / "backup-1"
        made = haven("backup", "--to", str(target), "--config", str(server.config_path))
        assert made.returncode == 0, made.stderr
        assert "hash chain intact" in made.stdout
        assert stat.S_IMODE(target.stat().st_mode) == 0o700
        copy = target / "haven.db"
        assert stat.S_IMODE(copy.stat().st_mode) == 0o600
        assert joins(copy) == 2  # the session in progress is in the copy

        # The copy is a database Haven can run on: its chain verifies with the ordinary command.
        restored = tmp_path / "restored.toml"
        restored.write_text(server.config_path.read_text() + f'\n[storage]\npath = "{copy}"\n')
        verified = haven("audit", "verify", "--config", str(restored))
        assert verified.returncode == 0, verified.stderr

        again = haven("backup", "--to", str(target), "--config", str(server.config_path))
        assert again.returncode == 1 and "already exists" in again.stderr  # never overwrites a backup
        assert server.health()["participants"] == 2  # the live session did not notice
    finally:
        for person in people:
            await person.close()


def seed_member(data_dir, email: str) -> str:
    """Store a member with an email the way the server does (sealed with the data directory's key)."""
    from server.cipher import load_keyring
    from server.practice.store import PracticeStore

    store = PracticeStore(str(data_dir / "haven.db"), load_keyring(data_dir, create=True))
    try:
        group = store.db.create_group({"name": "G", "kind": "process", "focus": "", "agenda_template": "",
                                       "capacity": 15, "tz": "UTC", "consent_text": "c"}, [])
        return store.db.create_member(group["id"], "Robin", email, "UTC")["id"]
    finally:
        store.close()


async def test_a_backup_file_taken_under_live_writes_restores_into_a_fresh_data_dir(tmp_path) -> None:
    from server.cipher import load_keyring
    from server.practice.store import PracticeStore

    for name in ("live", "fresh"):
        (tmp_path / name).mkdir()
    live = ServerProcess(tmp_path / "live")
    member_id = seed_member(live.data_dir, "robin@example.org")
    backup_file = tmp_path / "haven-backup.db"
    with live.running() as server:
        people = []
        try:
            # Joins write attendance and audit entries while the backup is being taken.
            for n in range(4):
                person = ProtocolClient(server.base_url, server.issuer.issue("live", f"P{n}", "host", 600,
                                                                             sub=f"p{n}"), name=f"p{n}")
                await person.connect()
                people.append(person)
                if n == 1:
                    made = haven("backup", str(backup_file), "--with-key", "--config", str(server.config_path))
                    assert made.returncode == 0, made.stderr
                    assert "hash chain intact" in made.stdout and "records key" in made.stdout
            refused = haven("restore", str(backup_file), "--config", str(server.config_path))
            assert refused.returncode == 1 and "stop it first" in refused.stderr
        finally:
            for person in people:
                await person.close()
    assert stat.S_IMODE(backup_file.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "haven-backup.db.key").stat().st_mode) == 0o600
    assert b"robin@example.org" not in backup_file.read_bytes()  # sealed in the backup too

    fresh = ServerProcess(tmp_path / "fresh")
    restored = haven("restore", str(backup_file), "--config", str(fresh.config_path))
    assert restored.returncode == 0, restored.stderr
    verified = haven("audit", "verify", "--config", str(fresh.config_path))
    assert verified.returncode == 0, verified.stderr
    database = fresh.data_dir / "haven.db"
    assert 2 <= joins(database) <= 4
    connection = sqlite3.connect(database)
    try:
        actions = [row[0] for row in connection.execute("SELECT action FROM audit ORDER BY seq")]
    finally:
        connection.close()
    assert actions[-1] == "records-restored"
    store = PracticeStore(str(database), load_keyring(fresh.data_dir, create=False))  # the key came with it
    try:
        assert store.db.member(member_id)["email"] == "robin@example.org"
    finally:
        store.close()
    with fresh.running() as server:  # and a server runs on the restored records
        assert server.health()["participants"] == 0

    # Restoring again keeps the database it replaces.
    again = haven("restore", str(backup_file), "--config", str(fresh.config_path))
    assert again.returncode == 0, again.stderr
    assert "before-restore-" in again.stdout
    assert any(p.name.startswith("haven.db.before-restore-") for p in fresh.data_dir.iterdir())
