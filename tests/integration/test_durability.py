"""Nothing acknowledged is lost: a real `haven serve` is killed with SIGKILL the moment its members have been
told they are admitted, and the database still holds every one of those admissions, with an intact chain."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys

import pytest

from tests.support.client import ProtocolClient
from tests.support.server_process import ROOT, ServerProcess
from tests.support.waiting import eventually

ROOM = "durable"


@pytest.fixture
def server(tmp_path):
    server = ServerProcess(tmp_path, "[session]\nwaiting_room = true\n")
    server.start()
    yield server
    server.stop()


def client(server: ServerProcess, name: str, role: str = "participant") -> ProtocolClient:
    token = server.issuer.issue(ROOM, name.title(), role, 3600, sub=name)
    return ProtocolClient(server.base_url, token, ROOM, name)


def admitted_in(database) -> set[str]:
    connection = sqlite3.connect(database)
    try:
        rows = connection.execute("SELECT participant_id FROM attendance WHERE event = 'admitted'").fetchall()
        admits = connection.execute("SELECT subject FROM audit WHERE action = 'admit'").fetchall()
    finally:
        connection.close()
    # The admission's attendance event and its audit entry are both there.
    return {row[0] for row in rows} & ({row[0] for row in admits} | {"rivera"})


async def test_every_admission_a_member_was_told_of_survives_kill_9(server):
    host = client(server, "rivera", "host")
    one_by_one = [client(server, name) for name in ("ana", "ben")]
    together = [client(server, name) for name in ("cal", "dee", "eve")]
    everyone = [host, *one_by_one, *together]
    try:
        await host.connect()
        assert host.joined["state"] == "admitted"  # told in its join result
        for member in one_by_one:
            await member.connect()
            assert member.joined["state"] == "waiting"
            await host.request("admit", participant_id=member.name)
            await eventually(lambda m=member: m.events_of("admitted"), 10, what=f"{member.name} to be admitted")
        for member in together:
            await member.connect()
        await host.request("admit-all")
        await eventually(lambda: all(m.events_of("admitted") for m in together), 10, what="the admit-all")

        # At once, without the drain: whatever was only queued in the server would be gone.
        assert server.process is not None
        os.kill(server.process.pid, signal.SIGKILL)
        server.process.wait(10)
    finally:
        for person in everyone:
            await person.close()

    database = server.data_dir / "haven.db"
    assert admitted_in(database) == {"rivera", "ana", "ben", "cal", "dee", "eve"}
    verify = subprocess.run([sys.executable, "-m", "server.cli", "audit", "verify", "--config",
                             str(server.config_path)], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert verify.returncode == 0, verify.stderr
    assert "hash chain intact" in verify.stdout
