"""Members' emails are sealed at rest: readers see them, the file does not; old plain values get sealed."""

from __future__ import annotations

import sqlite3

import pytest

from server.cipher import CipherError, Keyring, is_sealed, load_keyring, new_key
from server.config import ConfigError
from server.practice.migrations import MIGRATIONS, migrate
from server.practice.store import PracticeStore, connect
from server.records_key import records_keyring

GROUP = {"name": "Evening process group", "kind": "process", "focus": "", "agenda_template": "", "capacity": 15,
         "tz": "America/Chicago", "consent_text": "Confidential."}


def raw_members(path) -> list[tuple]:
    db = sqlite3.connect(path)
    try:
        return db.execute("SELECT id, email, email_sealed FROM members ORDER BY created_at").fetchall()
    finally:
        db.close()


def test_an_email_is_sealed_in_the_file_and_open_to_every_reader(tmp_path) -> None:
    path = str(tmp_path / "haven.db")
    store = PracticeStore(path, Keyring([new_key()]))
    db = store.db
    try:
        group = db.create_group(GROUP, [])
        member = db.create_member(group["id"], "Robin", "robin@example.org", "UTC")
        assert member["email"] == "robin@example.org" and "email_sealed" not in member
        db.replace_invite(member["id"], "i-1", "hash-1")
        assert db.members_of(group["id"])[0]["email"] == "robin@example.org"
        assert [r["email"] for r in db.reminder_recipients()] == ["robin@example.org"]
        db.update_member(member["id"], email="robin@elsewhere.example")
        assert db.member(member["id"])["email"] == "robin@elsewhere.example"
        db.update_member(member["id"], email=None)
        assert db.member(member["id"])["email"] is None and db.reminder_recipients() == []
        db.update_member(member["id"], email="robin@example.org")
    finally:
        store.close()
    [(member_id, plain, sealed)] = raw_members(path)
    assert plain is None and is_sealed(sealed) and "robin" not in sealed
    assert b"robin@" not in (tmp_path / "haven.db").read_bytes()


def test_plain_emails_from_before_sealing_are_sealed_at_the_first_start(tmp_path) -> None:
    path = str(tmp_path / "haven.db")
    old = sqlite3.connect(path, isolation_level=None)
    # The database as the release before sealing left it: every migration but the sealing one.
    before_sealing = MIGRATIONS[:3]
    old.execute("CREATE TABLE practice_migrations (version INTEGER PRIMARY KEY, applied_at REAL NOT NULL)")
    for version, script in enumerate(before_sealing, start=1):
        old.executescript(script)
        old.execute("INSERT INTO practice_migrations VALUES (?, 0)", (version,))
    old.execute("INSERT INTO groups (id, name, kind, tz, consent_text, created_at) "
                "VALUES ('g-1', 'G', 'process', 'UTC', 'c', 0)")
    old.execute("INSERT INTO members (id, group_id, display_name, email, tz, created_at) "
                "VALUES ('m-1', 'g-1', 'Robin', 'robin@example.org', 'UTC', 0)")
    old.close()
    keyring = Keyring([new_key()])
    store = PracticeStore(path, keyring)
    try:
        assert store.keyring is keyring
        assert store.db.member("m-1")["email"] == "robin@example.org"
    finally:
        store.close()
    [(_, plain, sealed)] = raw_members(path)
    assert plain is None and keyring.open(sealed, "members.email:m-1") == "robin@example.org"
    assert b"robin@example.org" not in (tmp_path / "haven.db").read_bytes()
    # A second start finds nothing left to seal and changes nothing.
    PracticeStore(path, keyring).close()
    assert raw_members(path)[0][2] == sealed
    assert migrate(connect(path)) == len(MIGRATIONS)


def test_a_wrong_key_refuses_to_open_the_store(tmp_path) -> None:
    path = str(tmp_path / "haven.db")
    store = PracticeStore(path, Keyring([new_key()]))
    group = store.db.create_group(GROUP, [])
    store.db.create_member(group["id"], "Robin", "robin@example.org", "UTC")
    store.close()
    with pytest.raises(CipherError, match="members.email_sealed"):
        PracticeStore(path, Keyring([new_key()]))


def test_a_store_without_the_key_cannot_touch_emails(tmp_path) -> None:
    store = PracticeStore(str(tmp_path / "haven.db"))
    try:
        group = store.db.create_group(GROUP, [])
        with pytest.raises(CipherError, match="without the records key"):
            store.db.create_member(group["id"], "Robin", "robin@example.org", "UTC")
        assert store.db.create_member(group["id"], "Sam", None, "UTC")["email"] is None
    finally:
        store.close()


def test_a_missing_or_malformed_key_names_its_source(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("HAVEN_RECORDS_KEY", raising=False)
    with pytest.raises(ConfigError, match="records.key"):
        records_keyring(tmp_path, create=False)
    made = records_keyring(tmp_path, create=True)
    assert load_keyring(tmp_path, create=False).current == made.current
    monkeypatch.setenv("HAVEN_RECORDS_KEY", "not-a-key")
    with pytest.raises(ConfigError, match="HAVEN_RECORDS_KEY"):
        records_keyring(tmp_path, create=True)


def test_the_records_key_variable_is_not_read_as_a_setting() -> None:
    from server.cipher import KEY_ENV, format_keys
    from server.config import load_config

    load_config(None, env={KEY_ENV: format_keys([new_key()])})
