"""`haven records rotate-key` re-seals every sealed value with a new key, after which the old key is not needed.

On both backends: a SQLite file (the instance lock a file beside it) and PostgreSQL (an advisory lock)."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.cipher import CipherError, Keyring, load_keyring
from server.cli import main
from server.database import as_target
from server.instance_lock import hold
from server.practice.store import PracticeStore
from tests.support.backends import query, storage_toml, tamper

pytestmark = pytest.mark.usefixtures("clean_environment")  # no HAVEN_* of this machine's leaks in

GROUP = {"name": "G", "kind": "process", "focus": "", "agenda_template": "", "capacity": 15, "tz": "UTC",
         "consent_text": "c"}


def test_rotation_reseals_and_the_old_key_is_no_longer_needed(tmp_path: Path, capsys, records_where) -> None:
    data = tmp_path / "data"
    config = tmp_path / "haven.toml"
    config.write_text(f'[server]\ndata_dir = "{data}"\n' + storage_toml(records_where))
    old = load_keyring(data, create=True)
    store = PracticeStore(records_where, old)
    member = store.db.create_member(store.db.create_group(GROUP, [])["id"], "Robin", "robin@example.org", "UTC")
    store.close()

    server = hold(as_target(records_where))  # what a running server holds
    assert main(["records", "rotate-key", "--config", str(config)]) == 1
    assert "stop it first" in capsys.readouterr().err
    server.close()

    assert main(["records", "rotate-key", "--config", str(config)]) == 0
    assert "1 sealed values re-sealed" in capsys.readouterr().out
    new = load_keyring(data, create=False)
    assert [k.id for k in new.keys] != [k.id for k in old.keys] and len(new.keys) == 1
    store = PracticeStore(records_where, new)
    assert store.db.member(member["id"])["email"] == "robin@example.org"
    store.close()
    with pytest.raises(CipherError):
        PracticeStore(records_where, Keyring(old.keys))  # the old key alone no longer opens it
    assert query(records_where, "SELECT action FROM audit ORDER BY seq DESC LIMIT 1")[0][0] == "records-key-rotated"


def test_rotation_reseals_the_clinical_records_too(tmp_path: Path, capsys, records_where) -> None:
    """Mood ratings, session notes, excusal reasons and session steps open under the new key after rotation."""
    from server.practice import records_db
    from server.practice.records import excusal_context, note_context
    from server.storage import Storage, mood_context

    data = tmp_path / "data"
    config = tmp_path / "haven.toml"
    config.write_text(f'[server]\ndata_dir = "{data}"\n' + storage_toml(records_where))
    old = load_keyring(data, create=True)
    store = PracticeStore(records_where, old)
    group = store.db.create_group(GROUP, [])["id"]
    member = store.db.create_member(group, "Robin", "", "UTC")["id"]
    records_db.set_note(store.db, "s-1", group, old.seal("went well", note_context("s-1")), "a-1")
    records_db.set_excusal(store.db, group, "2026-12-01T18:00", member,
                           old.seal("flu", excusal_context(group, "2026-12-01T18:00", member)), "a-1")
    store.close()
    storage = Storage(records_where, old)
    storage.session_started("s-1", "r1", 1.0)
    storage.session_event("s-1", "phase", 2.0, {"phase": "check-in"})
    storage.close()
    tamper(records_where, "INSERT INTO moods (session_id, member_id, at, rating_sealed) "
                          f"VALUES ('s-1', '{member}', 3.0, '{old.seal('4', mood_context('s-1', member))}')")

    assert main(["records", "rotate-key", "--config", str(config)]) == 0
    assert "5 sealed values re-sealed" in capsys.readouterr().out  # and the member's (empty) contact
    new = load_keyring(data, create=False)
    assert len(new.keys) == 1 and new.keys[0].id not in [k.id for k in old.keys]
    note = query(records_where, "SELECT note_sealed FROM session_notes")[0][0]
    reason = query(records_where, "SELECT reason_sealed FROM excusals")[0][0]
    rating = query(records_where, "SELECT rating_sealed FROM moods")[0][0]
    detail = query(records_where, "SELECT detail FROM session_events")[0][0]
    assert new.open(note, note_context("s-1")) == "went well"
    assert new.open(reason, excusal_context(group, "2026-12-01T18:00", member)) == "flu"
    assert new.open(rating, mood_context("s-1", member)) == "4"
    storage = Storage(records_where, new)
    assert storage.open_event("s-1", detail) == {"phase": "check-in"}
    storage.close()
    with pytest.raises(CipherError):
        Keyring(old.keys).open(note, note_context("s-1"))
