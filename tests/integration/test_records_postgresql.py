"""Records on PostgreSQL (storage.backend = "postgresql"), end to end, against a real PostgreSQL server
(tests/support/postgres.py): several processes append to one audit chain that `haven audit verify` checks,
two `haven serve` nodes share the records, and what stays SQLite-only says so."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from server.database import POSTGRESQL, Target
from tests.support.backends import query, storage_toml, tamper
from tests.support.client import ProtocolClient
from tests.support.server_process import ROOT, ServerProcess
from tests.support.server_process import haven_command as haven

NODE = """
import sys
from server.database import Target
from server.storage import Storage

storage = Storage(Target("postgresql", url=sys.argv[1]))
for number in range(int(sys.argv[3])):
    storage.audit("admit", actor=f"{sys.argv[2]}-{number}", room="r")
storage.close()
"""


@pytest.fixture
def pg(postgresql_url: str) -> Target:
    return Target(POSTGRESQL, url=postgresql_url)


def write_config(tmp_path: Path, pg: Target) -> Path:
    config = tmp_path / "haven.toml"
    config.write_text(f'[server]\ndata_dir = "{tmp_path / "data"}"\n' + storage_toml(pg))
    return config


def test_three_processes_write_one_chain_that_haven_audit_verify_checks(tmp_path: Path, pg: Target) -> None:
    nodes = [subprocess.Popen([sys.executable, "-c", NODE, pg.url, f"node{i}", "150"], cwd=ROOT,
                              stderr=subprocess.PIPE, text=True) for i in range(3)]
    for node in nodes:
        _, err = node.communicate(timeout=120)
        assert node.returncode == 0, err
    actors = {row[0].split("-")[0] for row in query(pg, "SELECT actor FROM audit")}
    assert actors == {"node0", "node1", "node2"}
    config = write_config(tmp_path, pg)

    verified = haven("audit", "verify", config=config)
    assert verified.returncode == 0, verified.stderr
    assert "ok: 450 audit entries, hash chain intact" in verified.stdout
    assert "PostgreSQL database" in verified.stdout and "password" not in verified.stdout

    tamper(pg, "DROP TRIGGER audit_no_update", "UPDATE audit SET actor = 'someone-else' WHERE seq = 200")
    verified = haven("audit", "verify", config=config)
    assert verified.returncode == 1
    assert "audit log TAMPERED: entry 200" in verified.stderr


def test_backup_and_restore_refuse_postgresql_and_point_to_pg_dump(tmp_path: Path, pg: Target) -> None:
    config = write_config(tmp_path, pg)
    for args in (("backup", str(tmp_path / "copy.tar")), ("backup", "--to", str(tmp_path / "copy")),
                 ("restore", str(tmp_path / "copy.tar"))):
        done = haven(*args, config=config)
        assert done.returncode == 1, (args, done.stdout, done.stderr)
        assert "storage.backend" in done.stderr and "pg_restore" in done.stderr, done.stderr


async def test_two_nodes_share_the_records_and_a_killed_node_loses_nothing_acknowledged(tmp_path: Path,
                                                                                       pg: Target) -> None:
    data = tmp_path / "data"  # shared: the same records key and secret on both nodes, as on one deployment
    for i in range(2):
        (tmp_path / f"node{i}").mkdir()
    servers = [ServerProcess(tmp_path / f"node{i}", storage_toml(pg), data_dir=data) for i in range(2)]
    clients: list[ProtocolClient] = []
    try:
        for server in servers:
            server.start()  # one after the other: the second finds the schema the first made
        for number, server in enumerate(servers):
            room = f"room{number}"
            token = server.issuer.issue(room, "Host", "host", 3600, sub=f"h-{number}")
            host = ProtocolClient(server.base_url, token, room, f"h-{number}")
            clients.append(host)
            await host.connect()
            assert host.joined["state"] == "admitted"
        first = servers[0].process
        assert first is not None
        os.kill(first.pid, signal.SIGKILL)
        first.wait(10)
        rows = query(pg, "SELECT participant_id, event FROM attendance ORDER BY seq")
        assert {(who, event) for who, event in rows} >= {("h-0", "admitted"), ("h-1", "admitted")}
    finally:
        for client in clients:
            await client.close()
        for server in servers:
            server.stop()
    verified = haven("audit", "verify", config=servers[1].config_path)
    assert verified.returncode == 0, verified.stderr
    assert "hash chain intact" in verified.stdout
