"""`haven records rotate-key` re-seals every sealed value with a new key, after which the old key is not needed."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from server.cipher import CipherError, Keyring, load_keyring
from server.cli import main
from server.instance_lock import hold_shared
from server.practice.store import PracticeStore

GROUP = {"name": "G", "kind": "process", "focus": "", "agenda_template": "", "capacity": 15, "tz": "UTC",
         "consent_text": "c"}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in list(os.environ):
        if variable.startswith("HAVEN_"):
            monkeypatch.delenv(variable)


def test_rotation_reseals_and_the_old_key_is_no_longer_needed(tmp_path: Path, capsys) -> None:
    data = tmp_path / "data"
    config = tmp_path / "haven.toml"
    config.write_text(f'[server]\ndata_dir = "{data}"\n')
    old = load_keyring(data, create=True)
    store = PracticeStore(str(data / "haven.db"), old)
    member = store.db.create_member(store.db.create_group(GROUP, [])["id"], "Robin", "robin@example.org", "UTC")
    store.close()

    server = hold_shared(str(data / "haven.db"))
    assert main(["records", "rotate-key", "--config", str(config)]) == 1
    assert "stop it first" in capsys.readouterr().err
    server.close()

    assert main(["records", "rotate-key", "--config", str(config)]) == 0
    assert "1 sealed values re-sealed" in capsys.readouterr().out
    new = load_keyring(data, create=False)
    assert [k.id for k in new.keys] != [k.id for k in old.keys] and len(new.keys) == 1
    store = PracticeStore(str(data / "haven.db"), new)
    assert store.db.member(member["id"])["email"] == "robin@example.org"
    store.close()
    with pytest.raises(CipherError):
        PracticeStore(str(data / "haven.db"), Keyring(old.keys))  # the old key alone no longer opens it
    db = sqlite3.connect(data / "haven.db")
    assert db.execute("SELECT action FROM audit ORDER BY seq DESC LIMIT 1").fetchone()[0] == "records-key-rotated"
    db.close()
