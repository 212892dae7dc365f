"""A real `haven serve` process drains on SIGTERM: clients told 1001 "server-restarting", records flushed, exit 0."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from server.app import DRAIN, create_app
from tests.conftest import TEST_SECRET, make_config
from tests.support.client import ProtocolClient
from tests.support.server_process import ROOT, ServerProcess

DRAIN_TIMEOUT = 4.0


@pytest.fixture
def server(tmp_path):
    with ServerProcess(tmp_path, server_extra=f'drain_timeout = "{DRAIN_TIMEOUT:g}s"\n').running() as process:
        yield process


def client(server: ServerProcess, sub: str, role: str) -> ProtocolClient:
    token = server.issuer.issue("drain", sub.title(), role, 3600, sub=sub)
    return ProtocolClient(server.base_url, token, name=sub)


async def until(predicate, what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
async def test_a_stop_tells_clients_the_server_is_restarting_and_exits_cleanly(server, signum):
    ana, ben = client(server, "ana", "host"), client(server, "ben", "host")
    await ana.connect()
    await ben.connect()
    session_id = ana.joined["session_id"] if "session_id" in ana.joined else None
    assert server.health()["participants"] == 2
    assert server.process is not None
    try:
        stopped_at = time.monotonic()
        os.kill(server.process.pid, signum)
        await until(lambda: ana.close_code is not None and ben.close_code is not None, "both clients to be closed")
        for person in (ana, ben):
            assert (person.close_code, person.close_reason) == (1001, "server-restarting")
        returncode = await asyncio.to_thread(server.process.wait, DRAIN_TIMEOUT + 5)
        took = time.monotonic() - stopped_at
    finally:
        await ana.close()
        await ben.close()
    assert returncode == 0, server.log_path.read_text()
    assert took < DRAIN_TIMEOUT, f"the drain took {took:.1f}s"
    log = server.log_path.read_text()
    assert "server_draining" in log and "server_stopped" in log and "drain_incomplete" not in log

    database = sqlite3.connect(server.data_dir / "haven.db")
    try:
        rows = database.execute("SELECT id, ended_at, end_reason FROM sessions WHERE room = 'drain'").fetchall()
        actions = [a for (a,) in database.execute("SELECT action FROM audit ORDER BY seq")]
    finally:
        database.close()
    assert len(rows) == 1 and rows[0][1] is not None, rows
    if session_id is not None:
        assert rows[0][0] == session_id
    assert actions.count("join") == 2
    verify = subprocess.run(
        [sys.executable, "-m", "server.cli", "audit", "verify", "--config", str(server.config_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert verify.returncode == 0, verify.stderr

    # Back on the same port, both take their places again as a browser does: same join link, latest
    # resume credential (their tokens were spent before the restart).
    server.start()
    try:
        for person in (ana, ben):
            await person.reconnect()
            assert person.joined["state"] == "admitted", person.joined
        assert server.health()["participants"] == 2
    finally:
        await ana.close()
        await ben.close()


async def test_no_one_new_is_admitted_once_the_drain_has_begun(tmp_path):
    # The listener is closed before the drain starts; a keep-alive connection that was open before still
    # gets 503 for a WebSocket, and /readyz tells a load balancer to look elsewhere.
    app = create_app(make_config(tmp_path), TEST_SECRET)
    async with TestServer(app) as test_server, aiohttp.ClientSession() as session:
        async with session.get(test_server.make_url("/readyz")) as response:
            assert response.status == 200
        app[DRAIN].started = time.monotonic()
        for path in ("/ws", "/readyz"):
            async with session.get(test_server.make_url(path)) as response:
                assert (response.status, await response.text()) == (503, "server-restarting")
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await session.ws_connect(test_server.make_url("/ws"))
        assert refused.value.status == 503
        async with session.get(test_server.make_url("/healthz")) as response:
            assert response.status == 200
        app[DRAIN].started = None  # let the test server's own shutdown run the drain for real
