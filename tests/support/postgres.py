"""A real PostgreSQL server for the tests: a fresh cluster in a temporary directory, on loopback.

``postgres_server`` (one per test session) runs initdb and starts ``postgres`` on 127.0.0.1 and a free port
(its socket in the cluster's own directory, never the system's), waits until it accepts connections, and at
the end stops it by its PID (SIGTERM, then SIGKILL) and deletes the cluster. ``postgresql_url`` gives each
test a database of its own. PostgreSQL refuses to run as root: as root, the cluster belongs to the
``postgres`` system user (made by Debian's package) and both programs run as that user.

There is no skip: without PostgreSQL installed (scripts/test installs Debian's ``postgresql``), these tests
fail, so a run that did not exercise the PostgreSQL backend cannot pass as a green one.
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0


def postgres_bin() -> Path:
    """The newest installed server's bin directory (Debian: /usr/lib/postgresql/<major>/bin)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"), key=lambda p: int(p.split("/")[4]))
    if not found:
        on_path = shutil.which("postgres")
        if on_path is None:
            pytest.fail("PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/postgres): scripts/test installs "
                        "Debian's postgresql package")
        return Path(on_path).parent
    return Path(found[-1]).parent


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PostgresServer:
    """One running cluster; ``url(name)`` is the conninfo of one of its databases."""

    def __init__(self) -> None:
        self.bin = postgres_bin()
        self.root = Path(tempfile.mkdtemp(prefix="haven-pg-"))
        self.data = self.root / "data"
        self.port = _free_port()
        self.user: str | None = None
        if os.geteuid() == 0:
            try:
                self.user = pwd.getpwnam("postgres").pw_name
            except KeyError:
                pytest.fail("running as root, PostgreSQL needs the postgres system user (Debian's package makes it)")
            entry = pwd.getpwnam(self.user)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        self.process: subprocess.Popen[bytes] | None = None
        self.log = self.root / "postgres.log"

    def _run(self, *args: str) -> None:
        done = subprocess.run(args, user=self.user, capture_output=True, timeout=120, cwd=self.root, check=False)
        if done.returncode != 0:
            pytest.fail(f"{args[0]} failed: {done.stderr.decode(errors='replace')[-2000:]}")

    def start(self) -> None:
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust",
                  "--no-sync", "-E", "UTF8", "--locale=C")
        log = open(self.log, "wb")  # noqa: SIM115 (kept open for the server's lifetime)
        self.process = subprocess.Popen(
            [str(self.bin / "postgres"), "-D", str(self.data), "-k", str(self.root), "-h", "127.0.0.1",
             "-p", str(self.port), "-c", "fsync=off", "-c", "synchronous_commit=off",
             "-c", "full_page_writes=off", "-c", "max_connections=200"],
            user=self.user, stdout=log, stderr=subprocess.STDOUT, cwd=self.root)
        log.close()
        deadline = time.monotonic() + START_TIMEOUT
        import psycopg

        while True:
            if self.process.poll() is not None:
                pytest.fail(f"postgres exited ({self.process.returncode}): {self.log.read_text()[-2000:]}")
            try:
                psycopg.connect(self.url("postgres"), connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    self.stop()
                    pytest.fail(f"postgres did not accept connections in {START_TIMEOUT:.0f} s")
                time.sleep(0.1)

    def url(self, database: str) -> str:
        return f"host=127.0.0.1 port={self.port} user=postgres dbname={database}"

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        import psycopg

        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        process = self.process
        if process is not None and process.poll() is None:
            try:  # SIGTERM's "smart" shutdown waits for every client: end those a test left open first
                import psycopg

                with psycopg.connect(self.url("postgres"), autocommit=True, connect_timeout=2) as conn:
                    conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                 "WHERE pid <> pg_backend_pid() AND backend_type = 'client backend'")
            except Exception:  # noqa: BLE001 (stopping anyway)
                pass
            process.send_signal(signal.SIGTERM)  # SIGKILL if it does not end in time
            try:
                process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(STOP_TIMEOUT)
        self.process = None
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    server = PostgresServer()
    try:
        server.start()
        yield server
    finally:
        server.stop()


_names = itertools.count(1)


@pytest.fixture
def postgresql_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A fresh, empty database of the session's server (dropped after the test)."""
    name = f"haven_{os.getpid()}_{next(_names)}"
    url = postgres_server.create_database(name)
    try:
        yield url
    finally:
        postgres_server.drop_database(name)
