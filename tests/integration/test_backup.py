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
