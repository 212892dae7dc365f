"""Tests for server.practice's tables: migrations run once, beside the records, and the one-live-invite rule,
on both backends (a SQLite file and a PostgreSQL database)."""

from __future__ import annotations

import sqlite3

from server.practice.migrations import MIGRATIONS, migrate
from server.practice.store import PracticeDb, connect
from server.storage import Storage
from tests.support.backends import is_postgresql

GROUP = {"name": "Evening process group", "kind": "process", "focus": "", "agenda_template": "", "capacity": 15,
         "tz": "America/Chicago", "consent_text": "Confidential."}


def test_migrations_share_the_records_database_and_run_once(records_where) -> None:
    path = records_where
    storage = Storage(path)
    storage.audit("test")
    storage.flush()
    db = connect(path)
    assert migrate(db) == len(MIGRATIONS)  # a second run applies nothing
    versions = db.execute("SELECT version FROM practice_migrations").fetchall()
    assert [v["version"] for v in versions] == list(range(1, len(MIGRATIONS) + 1))
    if not is_postgresql(path):
        assert db.execute("PRAGMA journal_mode").fetchone()["journal_mode"] == "wal"
    db.close()
    assert storage.verify_chain().ok
    storage.close()


def test_a_member_has_one_live_invite_and_revoking_it_takes_effect_at_once(records_where) -> None:
    db = PracticeDb(connect(records_where))
    account = db.create_account("c@clinic.example", "clinician", "x")
    group = db.create_group(GROUP, [account["id"]])
    member = db.create_member(group["id"], "Robin", None, "Europe/London")
    assert member["id"].startswith("m-") and member["status"] == "active"
    first = db.replace_invite(member["id"], "i-1", "hash-1")
    assert db.invite("hash-1") is not None
    db.replace_invite(member["id"], "i-2", "hash-2")
    assert db.invite("hash-1") is None and db.invite("hash-2") is not None
    assert db.revoke_invites(member["id"]) == 1
    assert db.invite("hash-2") is None
    assert first["member_id"] == member["id"]
    assert [m["has_invite"] for m in db.members_of(group["id"])] == [False]
    assert db.groups_of(account["id"])[0]["facilitators"] == [account["id"]]


def test_a_group_kind_outside_the_list_is_refused_by_the_database(records_where) -> None:
    db = PracticeDb(connect(records_where))
    try:
        db.create_group({**GROUP, "kind": "other"}, [])
    except sqlite3.IntegrityError:
        return
    raise AssertionError("the CHECK constraint let an unknown kind in")
