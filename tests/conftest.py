"""Shared fixtures: a real Haven app on loopback and join tokens for it."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestServer

from server.app import ISSUER, ROOMS, create_app
from server.config import load_config

TEST_SECRET = b"test-secret-that-is-long-enough-for-hs256-0123456789"


def make_config(tmp_path, extra: str = ""):
    """Build a test config: loopback ICE only, data in a temporary directory, no waiting room unless
    ``extra`` has a [session] table (the therapy-session tests turn it on)."""
    path = tmp_path / "haven.toml"
    path.write_text(
        "[server]\n"
        f'data_dir = "{tmp_path / "data"}"\n'
        'host = "127.0.0.1"\n'
        "[ice]\n"
        'host_addresses = ["127.0.0.1"]\n'
        "[media]\n"
        "use_uvloop = false\n"
        + ("" if "[session]" in extra else "[session]\nwaiting_room = false\n")
        + extra
    )
    return load_config(path, env={})


class RunningServer:
    """A Haven app served on 127.0.0.1 with helpers to mint tokens."""

    def __init__(self, server: TestServer) -> None:
        self.server = server
        self.app = server.app
        self.base_url = str(server.make_url("")).rstrip("/")

    def token(self, room: str = "group", name: str = "Alex", role: str = "participant", sub: str | None = None,
              ttl: float = 600) -> str:
        """Mint a join token for this server."""
        return self.app[ISSUER].issue(room, name, role, ttl, sub=sub)

    @property
    def rooms(self):
        return self.app[ROOMS]


@pytest.fixture
async def haven_factory(tmp_path):
    """Start Haven servers in this process on ephemeral loopback ports, with extra TOML config."""
    servers = []

    async def start(extra: str = "") -> RunningServer:
        directory = tmp_path / f"server{len(servers)}"
        directory.mkdir()
        app = create_app(make_config(directory, extra), TEST_SECRET)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        servers.append(server)
        return RunningServer(server)

    try:
        yield start
    finally:
        for server in servers:
            await server.close()


@pytest.fixture
async def haven(haven_factory):
    """Start Haven in this process on an ephemeral loopback port."""
    return await haven_factory()
