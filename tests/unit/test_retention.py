"""The retention purge deletes only records older than records.retention, and says what it deleted."""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

import pytest

from server.cli import main
from server.records_key import records_keyring
from server.storage import Storage


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in list(os.environ):
        if variable.startswith("HAVEN_"):
            monkeypatch.delenv(variable)


def test_purge_deletes_old_records_only_and_is_audited(tmp_path: Path, capsys) -> None:
    data = tmp_path / "data"
    config = tmp_path / "haven.toml"
    config.write_text(f'[server]\ndata_dir = "{data}"\n[records]\nretention = "30d"\n')
    storage = Storage(str(data / "haven.db"), records_keyring(data, create=True))
    old, recent = time.time() - 40 * 86400, time.time() - 86400
    storage.session_started("s-old", "r1", old)
    storage.attendance("s-old", "p1", "Ana", "participant", "join", old)
    storage.session_event("s-old", "phase", old, {"phase": "check-in"})
    storage.session_started("s-new", "r1", recent)
    storage.attendance("s-new", "p1", "Ana", "participant", "join", recent)
    storage.session_event("s-new", "phase", recent, {"phase": "check-in"})
    storage.close()

    assert main(["records", "purge", "--dry-run", "--config", str(config)]) == 0
    counted = "1 attendance, 1 sessions, 1 session_events, 0 moods, 0 session_notes, 0 excusals"
    assert f"would delete {counted}" in capsys.readouterr().out
    assert main(["records", "purge", "--config", str(config)]) == 0
    assert f"deleted {counted}" in capsys.readouterr().out
    db = sqlite3.connect(data / "haven.db")
    assert db.execute("SELECT id FROM sessions").fetchall() == [("s-new",)]
    assert db.execute("SELECT session_id FROM attendance").fetchall() == [("s-new",)]
    assert db.execute("SELECT session_id FROM session_events").fetchall() == [("s-new",)]
    assert db.execute("SELECT action, detail FROM audit").fetchall() == [
        ("records-purged",
         '{"attendance":1,"excusals":0,"moods":0,"session_events":1,"session_notes":0,"sessions":1}')]
    db.close()
    check = Storage(str(data / "haven.db"))
    assert check.verify_chain().ok
    check.close()
