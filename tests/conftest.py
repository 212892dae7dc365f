"""Shared fixtures: a real Haven app on loopback and join tokens for it."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestServer

from media.api import compiled_available
from server.app import ISSUER, SESSIONS, create_app
from server.config import load_config
from tests.support.backends import records_where  # noqa: F401 (a fixture: the records on each backend)
from tests.support.postgres import postgres_server, postgresql_url  # noqa: F401 (fixtures: a real PostgreSQL)
from tests.support.server_process import free_udp_port

TEST_SECRET = b"test-secret-that-is-long-enough-for-hs256-0123456789"


def make_config(tmp_path, extra: str = "", udp_port: int | None = None):
    """Build a test config: loopback ICE only, data in a temporary directory, metrics on a free port, no
    waiting room unless ``extra`` has a [session] table (the therapy-session tests turn it on)."""
    path = tmp_path / "haven.toml"
    path.write_text(
        "[server]\n"
        f'data_dir = "{tmp_path / "data"}"\n'
        'host = "127.0.0.1"\n'
        "[ice]\n"
        'host_addresses = ["127.0.0.1"]\n'
        # Many apps may run at once in one test process: each gets its own shared media port.
        f"udp_port = {free_udp_port() if udp_port is None else udp_port}\n"
        "[media]\n"
        "use_uvloop = false\n"
        + (extra.split("[media]\n", 1)[1].split("[", 1)[0] if "[media]" in extra else "")
        + ("" if "[session]" in extra else "[session]\nwaiting_room = false\n")
        # Many apps run at once in one test process: each metrics listener takes a free port.
        + ("" if "[metrics]" in extra else "[metrics]\nport = 0\n")
        + _without_media_table(extra)
    )
    return load_config(path, env={})


def _without_media_table(extra: str) -> str:
    """Drop a [media] table from extra TOML (its keys are merged into the base [media] table)."""
    if "[media]\n" not in extra:
        return extra
    before, after = extra.split("[media]\n", 1)
    rest = after.split("[", 1)
    return before + ("[" + rest[1] if len(rest) > 1 else "")


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
    def sessions(self):
        return self.app[SESSIONS]


@pytest.fixture
async def haven_factory(tmp_path):
    """Start Haven servers in this process on ephemeral loopback ports, with extra TOML config."""
    servers = []

    async def start(extra: str = "", udp_port: int | None = None) -> RunningServer:
        directory = tmp_path / f"server{len(servers)}"
        directory.mkdir()
        app = create_app(make_config(directory, extra, udp_port), TEST_SECRET)
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


FORWARDING_PATHS = ["python", pytest.param("c", marks=pytest.mark.skipif(
    not compiled_available(), reason="media/_fastsend.c was not built"))]


@pytest.fixture(params=FORWARDING_PATHS)
async def haven_each_path(request, haven_factory):
    """Start Haven once with the pure-Python send step and once with the compiled one."""
    return await haven_factory(f'[media]\nforwarding = "{request.param}"\n')
