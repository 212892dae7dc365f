"""`haven backup FILE` carries the audit anchor's signing key (`audit-anchor.key`) beside the backup as
`FILE.anchor-key` (0600), as `backup --to DIR` copies it, and `haven restore FILE` puts it back (0600): as it is
into a data directory without one, not at all when the same key is there, and in place of a different one only
by the rule the database follows, the previous one kept as `audit-anchor.key.before-restore-<time>`. So an
anchor kept off the machine still verifies against the restored log on another server. A malformed key is
refused before anything is written or replaced."""

from __future__ import annotations

import json
import sqlite3
import stat
from pathlib import Path

import pytest

from server.anchor import KEY_FILE_NAME, load_key, public_bytes
from server.backup import ANCHOR_KEY_SUFFIX, BackupError, backup, restore
from server.cipher import Keyring, new_key
from server.storage import Storage
from tests.support.command_line import Run

pytestmark = pytest.mark.usefixtures("clean_environment")  # no HAVEN_* of this machine's leaks in


def config_for(directory: Path) -> str:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "haven.toml"
    path.write_text(f'[server]\ndata_dir = "{directory / "data"}"\n')
    return str(path)


def log_entries(data: Path, count: int) -> None:
    storage = Storage(str(data / "haven.db"))
    for number in range(count):
        storage.audit("admit", actor=f"p-{number}", room="r1")
    storage.close()


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def public(data: Path) -> bytes:
    key = load_key(data, create=False)
    assert key is not None
    return public_bytes(key)


def restored_detail(database: Path) -> dict:
    db = sqlite3.connect(database)
    try:
        row = db.execute("SELECT detail FROM audit WHERE action = 'records-restored' ORDER BY seq DESC").fetchone()
    finally:
        db.close()
    return json.loads(row[0])


@pytest.fixture
def live(tmp_path: Path) -> Path:
    """A data directory with records and an anchor key (made on first use, as the server does)."""
    data = tmp_path / "live"
    log_entries(data, 3)
    load_key(data, create=True)
    return data


def test_the_backup_file_carries_the_anchor_key_beside_it(tmp_path: Path, live: Path) -> None:
    target = tmp_path / "b.db"
    made = backup(str(live / "haven.db"), target, data_dir=str(live))
    assert made.anchor_key_path == tmp_path / ("b.db" + ANCHOR_KEY_SUFFIX) == tmp_path / "b.db.anchor-key"
    assert made.anchor_key_path.read_text() == (live / KEY_FILE_NAME).read_text()
    assert mode(made.anchor_key_path) == 0o600 and mode(target) == 0o600


def test_without_an_anchor_key_there_is_nothing_beside_it(tmp_path: Path) -> None:
    data = tmp_path / "data"
    log_entries(data, 1)
    made = backup(str(data / "haven.db"), tmp_path / "b.db", data_dir=str(data))
    assert made.anchor_key_path is None and not (tmp_path / "b.db.anchor-key").exists()


def test_a_malformed_anchor_key_fails_the_backup_and_leaves_no_file(tmp_path: Path, live: Path) -> None:
    (live / KEY_FILE_NAME).write_text("not a key\n")
    with pytest.raises(BackupError, match="not an audit anchor key"):
        backup(str(live / "haven.db"), tmp_path / "b.db", Keyring([new_key()]), data_dir=str(live))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["live"]


def test_a_backup_that_cannot_write_the_anchor_key_leaves_nothing_of_its_own(tmp_path: Path, live: Path) -> None:
    in_the_way = tmp_path / "b.db.anchor-key"
    in_the_way.write_text("someone else's\n")
    with pytest.raises(BackupError, match="backup failed"):
        backup(str(live / "haven.db"), tmp_path / "b.db", Keyring([new_key()]), data_dir=str(live))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.db.anchor-key", "live"]
    assert in_the_way.read_text() == "someone else's\n"  # never overwritten, never removed


def test_a_restore_installs_the_key_into_a_data_directory_without_one(tmp_path: Path, live: Path) -> None:
    made = backup(str(live / "haven.db"), tmp_path / "b.db", data_dir=str(live))
    fresh = tmp_path / "fresh"
    done = restore(made.path, str(fresh / "haven.db"), None, str(fresh))
    assert (done.anchor_key, done.previous_anchor_key) == ("installed", None)
    assert public(fresh) == public(live) and mode(fresh / KEY_FILE_NAME) == 0o600
    assert restored_detail(fresh / "haven.db")["anchor_key"] == "installed"


def test_a_restore_over_the_same_key_changes_nothing(tmp_path: Path, live: Path) -> None:
    made = backup(str(live / "haven.db"), tmp_path / "b.db", data_dir=str(live))
    before = (live / KEY_FILE_NAME).stat()
    done = restore(made.path, str(live / "haven.db"), None, str(live), now=0)
    assert (done.anchor_key, done.previous_anchor_key) == ("same", None)
    assert (live / KEY_FILE_NAME).stat().st_ino == before.st_ino
    assert not [p for p in live.iterdir() if p.name.startswith(KEY_FILE_NAME + ".")]


def test_a_restore_over_a_different_key_keeps_that_one_beside_it(tmp_path: Path, live: Path) -> None:
    made = backup(str(live / "haven.db"), tmp_path / "b.db", data_dir=str(live))
    other = tmp_path / "other"
    log_entries(other, 1)
    load_key(other, create=True)
    theirs = (other / KEY_FILE_NAME).read_text()
    done = restore(made.path, str(other / "haven.db"), None, str(other), now=0)
    assert done.anchor_key == "replaced"
    assert done.previous_anchor_key == other / "audit-anchor.key.before-restore-19700101T000000Z"
    assert done.previous_anchor_key.read_text() == theirs and mode(done.previous_anchor_key) == 0o600
    assert public(other) == public(live) and mode(other / KEY_FILE_NAME) == 0o600
    assert not (other / "audit-anchor.key.restoring").exists()
    assert restored_detail(other / "haven.db")["anchor_key"] == "replaced"


def test_a_malformed_saved_key_refuses_the_restore_and_replaces_nothing(tmp_path: Path, live: Path) -> None:
    keyring = Keyring([new_key()])
    made = backup(str(live / "haven.db"), tmp_path / "b.db", keyring, data_dir=str(live))
    assert made.anchor_key_path is not None
    made.anchor_key_path.write_text("AAAA\n")
    other = tmp_path / "other"
    log_entries(other, 1)
    with pytest.raises(BackupError, match="not an audit anchor key"):
        restore(made.path, str(other / "haven.db"), None, str(other))
    assert sorted(p.name for p in other.iterdir()) == ["haven.db"]  # no records key, no anchor key, no swap
    db = sqlite3.connect(other / "haven.db")
    assert db.execute("SELECT count(*) FROM audit").fetchone()[0] == 1
    db.close()


def test_an_anchor_kept_elsewhere_verifies_after_a_restore_on_another_server(tmp_path: Path, run: Run) -> None:
    old_config, new_config = config_for(tmp_path / "old"), config_for(tmp_path / "new")
    old_data, new_data = tmp_path / "old" / "data", tmp_path / "new" / "data"
    log_entries(old_data, 4)
    anchor = tmp_path / "kept-off-the-machine.json"
    code, _, err = run("audit", "anchor", "--config", old_config, "--output", str(anchor))
    assert code == 0, err
    backup_file = tmp_path / "b.db"
    code, out, err = run("backup", str(backup_file), "--config", old_config)
    assert code == 0, err
    assert f"the audit anchor key is in {backup_file}.anchor-key" in out
    assert mode(Path(f"{backup_file}.anchor-key")) == 0o600

    # The new server ran once already and made a key of its own, which the restore keeps aside.
    log_entries(new_data, 1)
    code, _, err = run("audit", "anchor", "--config", new_config)
    assert code == 0, err
    code, _, err = run("audit", "verify", "--config", new_config, "--anchor", str(anchor))
    assert code == 1 and "not by this server's key" in err
    code, out, err = run("restore", str(backup_file), "--config", new_config)
    assert code == 0, err
    assert f"the audit anchor key saved with the backup is now {new_data / KEY_FILE_NAME}" in out
    assert "the previous audit anchor key is kept as" in out
    code, out, err = run("audit", "verify", "--config", new_config, "--anchor", str(anchor))
    assert code == 0, err
    assert "holds the anchor" in out
