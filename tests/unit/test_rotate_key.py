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


def test_rotation_reseals_the_clinical_records_too(tmp_path: Path, capsys) -> None:
    """Mood ratings, session notes, excusal reasons and session steps open under the new key after rotation."""
    from server.practice import records_db
    from server.practice.records import excusal_context, note_context
    from server.storage import Storage, mood_context

    data = tmp_path / "data"
    config = tmp_path / "haven.toml"
    config.write_text(f'[server]\ndata_dir = "{data}"\n')
    old = load_keyring(data, create=True)
    store = PracticeStore(str(data / "haven.db"), old)
    group = store.db.create_group(GROUP, [])["id"]
    member = store.db.create_member(group, "Robin", "", "UTC")["id"]
    records_db.set_note(store.db, "s-1", group, old.seal("went well", note_context("s-1")), "a-1")
    records_db.set_excusal(store.db, group, "2026-12-01T18:00", member,
                           old.seal("flu", excusal_context(group, "2026-12-01T18:00", member)), "a-1")
    store.close()
    storage = Storage(str(data / "haven.db"), old)
    storage.session_started("s-1", "r1", 1.0)
    storage.session_event("s-1", "phase", 2.0, {"phase": "check-in"})
    storage.close()
    db = sqlite3.connect(data / "haven.db")
    db.execute("INSERT INTO moods (session_id, member_id, at, rating_sealed) VALUES (?,?,?,?)",
               ("s-1", member, 3.0, old.seal("4", mood_context("s-1", member))))
    db.commit()
    db.close()

    assert main(["records", "rotate-key", "--config", str(config)]) == 0
    assert "5 sealed values re-sealed" in capsys.readouterr().out  # and the member's (empty) contact
    new = load_keyring(data, create=False)
    assert len(new.keys) == 1 and new.keys[0].id not in [k.id for k in old.keys]
    db = sqlite3.connect(data / "haven.db")
    note = db.execute("SELECT note_sealed FROM session_notes").fetchone()[0]
    reason = db.execute("SELECT reason_sealed FROM excusals").fetchone()[0]
    rating = db.execute("SELECT rating_sealed FROM moods").fetchone()[0]
    detail = db.execute("SELECT detail FROM session_events").fetchone()[0]
    db.close()
    assert new.open(note, note_context("s-1")) == "went well"
    assert new.open(reason, excusal_context(group, "2026-12-01T18:00", member)) == "flu"
    assert new.open(rating, mood_context("s-1", member)) == "4"
    storage = Storage(str(data / "haven.db"), new)
    assert storage.open_event("s-1", detail) == {"phase": "check-in"}
    storage.close()
    with pytest.raises(CipherError):
        Keyring(old.keys).open(note, note_context("s-1"))
