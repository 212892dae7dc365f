"""Tests for server.storage: the hash-chained audit log and attendance reports, on a temporary SQLite file and
on a fresh PostgreSQL database (tests/support/backends.py) alike."""

from __future__ import annotations

import csv
import io
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from server.database import Target
from server.storage import GENESIS, ChainCheck, Storage, attendance_csv, audit_hash, summarize_attendance
from tests.support.backends import refused, tamper

REPO = Path(__file__).resolve().parents[2]

T0 = 1_764_262_800.0
SESSION = "s-5d1c0e7a9b2f"


@pytest.fixture
def db_path(records_where: str | Target) -> str | Target:
    """Where the records are: a SQLite file, or a PostgreSQL database."""
    return records_where


@pytest.fixture
def storage(db_path: str | Target) -> Iterator[Storage]:
    store = Storage(db_path)
    yield store
    store.close()


def write_audit(store: Storage, count: int) -> None:
    for i in range(count):
        store.audit(f"action-{i + 1}", actor=f"u-{i}", role="host", room="group", session_id=SESSION,
                    subject="u-9", detail={"n": i, "a": "x"})
    store.flush()


# -- the audit chain ------------------------------------------------------------------------------


def test_an_empty_audit_log_verifies(storage: Storage) -> None:
    assert storage.verify_chain() == ChainCheck(True, 0)


def test_audit_entries_are_chained_from_the_genesis_hash(storage: Storage) -> None:
    write_audit(storage, 3)
    entries = storage.audit_entries()
    assert [e["seq"] for e in entries] == [1, 2, 3]
    assert [e["action"] for e in entries] == ["action-1", "action-2", "action-3"]
    assert entries[0]["prev_hash"] == GENESIS
    for before, entry in zip(entries, entries[1:], strict=False):
        assert entry["prev_hash"] == before["hash"]
    for entry in entries:
        row = tuple(entry[k] for k in ("seq", "at", "action", "actor", "role", "room", "session_id", "subject",
                                       "detail"))
        assert entry["hash"] == audit_hash(entry["prev_hash"], row)
    assert storage.verify_chain() == ChainCheck(True, 3)


def test_audit_details_are_stored_as_canonical_json(storage: Storage) -> None:
    storage.audit("settings", detail={"locked": True, "chat_enabled": False})
    storage.audit("join")
    storage.flush()
    assert [e["detail"] for e in storage.audit_entries()] == ['{"chat_enabled":false,"locked":true}', "{}"]


def test_a_modified_entry_is_reported_by_its_seq(storage: Storage, db_path: str | Target) -> None:
    write_audit(storage, 3)
    tamper(db_path, "DROP TRIGGER audit_no_update", """UPDATE audit SET detail = '{"n":99}' WHERE seq = 2""")
    assert storage.verify_chain() == ChainCheck(False, 1, 2, "its content does not match its hash")


def test_a_modified_entry_with_a_recomputed_hash_breaks_the_next_link(storage: Storage, db_path: str | Target) -> None:
    write_audit(storage, 3)
    second = storage.audit_entries()[1]
    row = tuple(second[k] for k in ("seq", "at", "action", "actor", "role", "room", "session_id", "subject"))
    forged = audit_hash(second["prev_hash"], (*row, '{"n":99}'))
    tamper(db_path, "DROP TRIGGER audit_no_update",
           f"""UPDATE audit SET detail = '{{"n":99}}', hash = '{forged}' WHERE seq = 2""")
    assert storage.verify_chain() == ChainCheck(False, 2, 3, "does not link to the entry before it")


def test_a_deleted_middle_entry_is_reported_missing(storage: Storage, db_path: str | Target) -> None:
    write_audit(storage, 4)
    tamper(db_path, "DROP TRIGGER audit_no_delete", "DELETE FROM audit WHERE seq = 2")
    assert storage.verify_chain() == ChainCheck(False, 1, 3, "entry 2 is missing")


@pytest.mark.parametrize(
    "statement",
    ["UPDATE audit SET detail = '{}' WHERE seq = 1", "DELETE FROM audit WHERE seq = 1", "DELETE FROM audit"],
    ids=["an update", "a delete", "deleting everything"],
)
def test_the_audit_log_refuses_changes_while_its_triggers_are_present(storage: Storage, db_path: str | Target,
                                                                      statement: str) -> None:
    write_audit(storage, 2)
    with pytest.raises(refused(), match="the audit log is append-only"):
        tamper(db_path, statement)
    assert storage.verify_chain() == ChainCheck(True, 2)


def test_reopening_the_database_continues_the_chain(db_path: str | Target) -> None:
    first = Storage(db_path)
    write_audit(first, 2)
    first.close()
    second = Storage(db_path)
    try:
        second.audit("after-restart")
        second.flush()
        entries = second.audit_entries()
        assert [e["seq"] for e in entries] == [1, 2, 3]
        assert entries[2]["prev_hash"] == entries[1]["hash"]
        assert second.verify_chain() == ChainCheck(True, 3)
    finally:
        second.close()


def test_the_database_is_readable_only_by_its_owner(tmp_path: Path) -> None:
    db_path = tmp_path / "data" / "haven.db"  # a SQLite file's (PostgreSQL's files are its server's)
    storage = Storage(str(db_path))
    write_audit(storage, 1)
    storage.close()
    assert stat.S_IMODE(os.stat(db_path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(db_path.parent).st_mode) == 0o700
    for sidecar in (db_path.with_name("haven.db-wal"), db_path.with_name("haven.db-shm")):
        if sidecar.exists():
            assert stat.S_IMODE(os.stat(sidecar).st_mode) == 0o600


# -- attendance summary ---------------------------------------------------------------------------

END = T0 + 3600


def summary(*events: tuple[str, float], end: float = END) -> dict:
    rows = [("u-1", "Sam", "participant", event, T0 + offset) for event, offset in events]
    [person] = summarize_attendance(rows, end)
    return person


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        ([("join", 0), ("admitted", 60), ("left", 660)],
         {"first_join": T0, "last_leave": T0 + 660, "minutes_present": 10.0, "reconnects": 0, "removed": False,
          "present_now": False}),
        ([("join", 0), ("left", 300)],
         {"first_join": T0, "last_leave": T0 + 300, "minutes_present": 0.0, "reconnects": 0, "removed": False,
          "present_now": False}),
        ([("join", 0), ("admitted", 0), ("disconnected", 600), ("reconnect", 700), ("admitted", 700),
          ("left", 1300)],
         {"first_join": T0, "last_leave": T0 + 1300, "minutes_present": 20.0, "reconnects": 1, "removed": False,
          "present_now": False}),
        ([("join", 0), ("admitted", 0), ("disconnected", 60), ("reconnect", 70), ("admitted", 70),
          ("disconnected", 130), ("reconnect", 140), ("admitted", 140), ("left", 200)],
         {"first_join": T0, "last_leave": T0 + 200, "minutes_present": 3.0, "reconnects": 2, "removed": False,
          "present_now": False}),
        ([("join", 0), ("admitted", 30), ("removed", 930)],
         {"first_join": T0, "last_leave": T0 + 930, "minutes_present": 15.0, "reconnects": 0, "removed": True,
          "present_now": False}),
        ([("join", 0), ("admitted", 0), ("sent-to-waiting", 600), ("admitted", 1200), ("left", 1800)],
         {"first_join": T0, "last_leave": T0 + 1800, "minutes_present": 20.0, "reconnects": 0, "removed": False,
          "present_now": False}),
        ([("join", 0), ("admitted", 1800)],
         {"first_join": T0, "last_leave": None, "minutes_present": 30.0, "reconnects": 0, "removed": False,
          "present_now": True}),
        ([("join", 0), ("admitted", 0), ("session-ended", 3000)],
         {"first_join": T0, "last_leave": T0 + 3000, "minutes_present": 50.0, "reconnects": 0, "removed": False,
          "present_now": False}),
        ([("join", 0), ("admitted", 0), ("admitted", 300), ("left", 600)],
         {"first_join": T0, "last_leave": T0 + 600, "minutes_present": 10.0, "reconnects": 0, "removed": False,
          "present_now": False}),
        ([("join", 0), ("admitted", 0), ("left", 100)],
         {"first_join": T0, "last_leave": T0 + 100, "minutes_present": 1.7, "reconnects": 0, "removed": False,
          "present_now": False}),
        ([("reconnect", 50), ("admitted", 50), ("left", 110)],
         {"first_join": T0 + 50, "last_leave": T0 + 110, "minutes_present": 1.0, "reconnects": 1,
          "removed": False, "present_now": False}),
    ],
    ids=[
        "waiting time before admission does not count",
        "someone never admitted was not present",
        "a reconnect does not count the time away",
        "every reconnect is counted",
        "a removal is flagged",
        "time sent back to the waiting room does not count",
        "an open interval runs to the session end",
        "the end of the session closes the interval",
        "a second admission does not restart the clock",
        "minutes are rounded to one decimal",
        "a reconnect is a join when nothing came before",
    ],
)
def test_the_summary_counts_only_admitted_time(events: list[tuple[str, float]], expected: dict) -> None:
    assert summary(*events) == {"participant_id": "u-1", "name": "Sam", "role": "participant", **expected}


def test_a_replaced_connection_that_waits_does_not_count_the_waiting_time() -> None:
    person = summary(("join", 0), ("admitted", 0), ("replaced", 600), ("reconnect", 600), ("admitted", 900),
                     ("left", 1200))
    assert person["minutes_present"] == 15.0


def test_the_summary_lists_each_participant_once_in_order_of_first_appearance() -> None:
    rows = [("u-2", "Alex", "host", "join", T0), ("u-2", "Alex", "host", "admitted", T0),
            ("u-1", "Sam", "participant", "join", T0 + 10), ("u-1", "Sam", "participant", "admitted", T0 + 70),
            ("u-1", "Sam", "participant", "left", T0 + 130)]
    people = summarize_attendance(rows, T0 + 600)
    assert [(p["participant_id"], p["name"], p["role"], p["minutes_present"], p["present_now"]) for p in people] == [
        ("u-2", "Alex", "host", 10.0, True), ("u-1", "Sam", "participant", 1.0, False)]


# -- attendance report ----------------------------------------------------------------------------


async def test_an_unknown_session_has_no_report(storage: Storage) -> None:
    assert await storage.attendance_report("s-000000000000", now=END) is None


async def test_a_report_lists_the_events_and_summarises_up_to_the_session_end(storage: Storage) -> None:
    storage.session_started(SESSION, "group", T0)
    storage.attendance(SESSION, "u-1", "Sam", "participant", "join", T0)
    storage.attendance(SESSION, "u-1", "Sam", "participant", "admitted", T0 + 60)
    storage.attendance("s-other0000000", "u-1", "Sam", "participant", "join", T0)
    storage.session_ended(SESSION, T0 + 660, "ended")

    report = await storage.attendance_report(SESSION, now=T0 + 9999)

    assert report is not None
    assert report["session"] == {"id": SESSION, "room": "group", "started_at": T0, "ended_at": T0 + 660,
                                 "end_reason": "ended"}
    assert report["events"] == [
        {"participant_id": "u-1", "name": "Sam", "role": "participant", "event": "join", "at": T0},
        {"participant_id": "u-1", "name": "Sam", "role": "participant", "event": "admitted", "at": T0 + 60}]
    assert [(p["participant_id"], p["minutes_present"]) for p in report["participants"]] == [("u-1", 10.0)]


async def test_a_running_session_is_summarised_up_to_now(storage: Storage) -> None:
    storage.session_started(SESSION, "group", T0)
    storage.attendance(SESSION, "u-1", "Sam", "participant", "admitted", T0)
    report = await storage.attendance_report(SESSION, now=T0 + 300)
    assert report is not None
    assert report["session"]["ended_at"] is None
    assert (report["participants"][0]["minutes_present"], report["participants"][0]["present_now"]) == (5.0, True)


async def test_starting_a_session_twice_keeps_the_first_record(storage: Storage) -> None:
    storage.session_started(SESSION, "group", T0)
    storage.session_started(SESSION, "other", T0 + 5)
    record = await storage.session(SESSION)
    assert record == {"id": SESSION, "room": "group", "started_at": T0, "ended_at": None, "end_reason": None}


# -- CSV export -----------------------------------------------------------------------------------


def csv_rows(names: list[str], participant_id: str = "u-1") -> list[list[str]]:
    report = {"session": {"id": SESSION, "room": "group"},
              "participants": summarize_attendance(
                  [(participant_id if i == 0 else f"u-{i + 1}", name, "participant", event, T0 + offset)
                   for i, name in enumerate(names)
                   for event, offset in (("join", 0), ("admitted", 60), ("left", 660))], END)}
    return list(csv.reader(io.StringIO(attendance_csv(report))))


def test_the_csv_has_a_header_and_one_row_per_participant() -> None:
    rows = csv_rows(["Sam"])
    assert rows == [
        ["session_id", "room", "participant_id", "name", "role", "first_join_utc", "last_leave_utc",
         "minutes_present", "reconnects", "removed"],
        [SESSION, "group", "u-1", "Sam", "participant", "2025-11-27T17:00:00Z", "2025-11-27T17:11:00Z", "10.0", "0",
         "False"],
    ]


def test_the_csv_leaves_times_empty_for_someone_still_present() -> None:
    report = {"session": {"id": SESSION, "room": "group"},
              "participants": summarize_attendance([("u-1", "Sam", "participant", "admitted", T0)], T0 + 60)}
    [_, row] = list(csv.reader(io.StringIO(attendance_csv(report))))
    assert (row[5], row[6], row[7]) == ("", "", "1.0")


@pytest.mark.parametrize(
    ("name", "cell"),
    [
        ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"),
        ("+1 555 0100", "'+1 555 0100"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("Sam", "Sam"),
        ("Ann-Marie", "Ann-Marie"),
        ("O'Neil, \"Jo\"", "O'Neil, \"Jo\""),
    ],
    ids=["equals", "plus", "minus", "at", "a plain name", "a dash inside", "quotes and commas round-trip"],
)
def test_the_csv_neutralises_names_that_spreadsheets_would_run(name: str, cell: str) -> None:
    assert csv_rows([name])[1][3] == cell


def test_the_csv_neutralises_a_participant_id_that_spreadsheets_would_run() -> None:
    assert csv_rows(["Sam"], participant_id="=HYPERLINK(\"http://x\")")[1][2] == "'=HYPERLINK(\"http://x\")"


PROBING_PROCESS = """
import sys
from server.storage import Storage
storage = Storage(sys.argv[1])
failed = 0
for _ in range(300):
    storage.probe().result()
    failed += not storage.writable
storage.close()
print(failed)
"""


def test_processes_sharing_one_data_directory_do_not_fail_each_others_probes(tmp_path) -> None:
    # Nodes of `haven serve --workers` share the data directory: each probes with a scratch file of its own.
    path = str(tmp_path / "haven.db")
    Storage(path).close()
    processes = [subprocess.Popen([sys.executable, "-c", PROBING_PROCESS, path], cwd=REPO, stdout=subprocess.PIPE,
                                  text=True) for _ in range(3)]
    try:
        outputs = [process.communicate(timeout=120)[0].strip() for process in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    assert outputs == ["0", "0", "0"]
