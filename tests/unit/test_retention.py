"""The retention purge deletes only records older than records.retention, and says what it deleted.

The commands run on both backends: a SQLite file, and a PostgreSQL database named by the config."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from server.cli import main
from server.records_key import records_keyring
from server.storage import Storage
from tests.support.backends import query, refused, storage_toml, tamper

pytestmark = pytest.mark.usefixtures("clean_environment")  # no HAVEN_* of this machine's leaks in


def test_purge_deletes_old_records_only_and_is_audited(tmp_path: Path, capsys, records_where) -> None:
    data = tmp_path / "data"
    config = tmp_path / "haven.toml"
    config.write_text(f'[server]\ndata_dir = "{data}"\n[records]\nretention = "30d"\n' + storage_toml(records_where))
    storage = Storage(records_where, records_keyring(data, create=True))
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
    assert query(records_where, "SELECT id FROM sessions") == [("s-new",)]
    assert query(records_where, "SELECT session_id FROM attendance") == [("s-new",)]
    assert query(records_where, "SELECT session_id FROM session_events") == [("s-new",)]
    assert query(records_where, "SELECT action, detail FROM audit") == [
        ("records-purged",
         '{"attendance":1,"excusals":0,"moods":0,"session_events":1,"session_notes":0,"sessions":1}')]
    check = Storage(records_where)
    assert check.verify_chain().ok
    check.close()


def test_the_audit_retention_purges_the_oldest_entries_and_the_chain_still_verifies(tmp_path: Path, capsys,
                                                                                   records_where) -> None:
    data = tmp_path / "data"
    config = tmp_path / "haven.toml"
    config.write_text(f'[server]\ndata_dir = "{data}"\n' + storage_toml(records_where))
    path = records_where
    storage = Storage(path)
    seven_years = time.time() - 7 * 365 * 86400
    for number in range(3):  # written seven years ago (as the clock said then)
        storage._submit("audit", storage._append_audit, seven_years + number, "admit", f"p-{number}", None, None,
                        None, None, "{}")
    storage.audit("admit", actor="p-new")
    storage.close()

    assert main(["records", "purge", "--dry-run", "--config", str(config)]) == 0
    assert "and 3 audit entries (older than 2190d)" in capsys.readouterr().out
    assert main(["records", "purge", "--config", str(config)]) == 0
    assert "and 3 audit entries" in capsys.readouterr().out
    assert [row[0] for row in query(path, "SELECT seq FROM audit ORDER BY seq")] == [4, 5]
    assert query(path, "SELECT action, role, detail FROM audit WHERE seq = 5") == [(
        "audit-purged", "operator", '{"entries":3,"from":1,"through":3}')]
    with pytest.raises(refused(), match="append-only"):  # kept entries stay protected
        tamper(path, "DELETE FROM audit WHERE seq = 4")
    with pytest.raises(refused(), match="append-only"):  # and so does the base
        tamper(path, "DELETE FROM audit_base")
    check = Storage(path)
    verified = check.verify_chain()
    assert verified.ok and verified.entries == 2 and verified.purged == 3
    assert check.purge_audit(time.time() + 86400) == 1  # never the head, whatever the cutoff
    assert check.verify_chain().ok
    check.close()
    assert main(["audit", "verify", "--config", str(config)]) == 0
    assert "purged by the audit retention" in capsys.readouterr().out


def test_an_anchor_of_purged_entries_still_verifies_and_a_cut_after_the_purge_is_still_caught(
        tmp_path: Path, capsys, records_where) -> None:
    data = tmp_path / "data"
    config = tmp_path / "haven.toml"
    config.write_text(f'[server]\ndata_dir = "{data}"\n' + storage_toml(records_where))
    path = records_where
    storage = Storage(path)
    for number in range(3):
        storage.audit("admit", actor=f"p-{number}")
    storage.close()
    old_anchor, new_anchor = tmp_path / "old.json", tmp_path / "new.json"
    assert main(["audit", "anchor", "--config", str(config), "--output", str(old_anchor)]) == 0
    storage = Storage(path)
    assert storage.purge_audit(time.time() + 1) == 2  # entries 1 and 2 (the head, 3, stays)
    storage.audit("admit", actor="p-3")
    storage.close()
    assert main(["audit", "anchor", "--config", str(config), "--output", str(new_anchor)]) == 0
    capsys.readouterr()
    assert main(["audit", "verify", "--config", str(config), "--anchor", str(old_anchor)]) == 0
    tamper(path, "DROP TRIGGER audit_no_delete", "DELETE FROM audit WHERE seq = (SELECT max(seq) FROM audit)")
    assert main(["audit", "verify", "--config", str(config), "--anchor", str(new_anchor)]) == 1
    assert "removed from the end" in capsys.readouterr().err
