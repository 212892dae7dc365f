"""Run `haven serve` as a real process on loopback, stopped by its PID when the test is done."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from server.auth import TokenIssuer

ROOT = Path(__file__).resolve().parents[2]
SECRET = "browser-test-secret-0123456789-abcdefghijklmnop"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    """Return a TCP port that was free on 127.0.0.1 a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def free_udp_port() -> int:
    """Return a UDP port that was free on 127.0.0.1 a moment ago (for a server's shared media port)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerProcess:
    """A `haven serve` process with its own config in a temporary directory."""

    def __init__(self, directory: Path, extra: str = "", prefix: list[str] | None = None,
                 server_extra: str = "", udp_port: int | None = None, public_url: str | None = None,
                 data_dir: Path | None = None, network_address: str | None = None) -> None:
        # ``prefix`` runs before the server command and must exec it (e.g. unshare with a mount step);
        # ``server_extra`` is more of the [server] table, ``extra`` more tables after it. ``udp_port``
        # is ice.udp_port: by default a free port, so servers running at once each have their own;
        # ``public_url`` is where browsers reach it when that is not the server itself (a proxy in front);
        # ``data_dir`` one shared with other servers (the nodes of tests/integration/test_nodes.py);
        # ``network_address`` is an address of the test's namespace that other hosts reach it at (a Host's
        # gateway, tests/support/impairment.py): the server then listens on 0.0.0.0 (in the test's private
        # namespace that is loopback and the veth ends), offers ICE host candidates on that address beside
        # 127.0.0.1, and is opened by browsers there (its public URL: the WebSocket's Origin must match it).
        self.prefix = prefix or []
        self.data_dir = data_dir or directory / "data"
        self.port = free_port()
        self.udp_port = free_udp_port() if udp_port is None else udp_port
        self.base_url = f"http://127.0.0.1:{self.port}"
        reached = f"http://{network_address}:{self.port}" if network_address else self.base_url
        self.public_url = public_url or reached
        listen = "0.0.0.0" if network_address else "127.0.0.1"
        ice_addresses = ["127.0.0.1", *([network_address] if network_address else [])]
        self.config_path = directory / "haven.toml"
        self.config_path.write_text(
            "[server]\n"
            f'host = "{listen}"\n'
            f"port = {self.port}\n"
            f'public_url = "{self.public_url}"\n'
            f'data_dir = "{self.data_dir}"\n'
            + server_extra +
            "[auth]\n"
            f'secret = "{SECRET}"\n'
            "[ice]\n"
            f"host_addresses = {json.dumps(ice_addresses)}\n"
            f"udp_port = {self.udp_port}\n"
            "[logging]\n"
            'format = "json"\n'
            + ("" if "[session]" in extra else "[session]\nwaiting_room = false\n")
            + ("" if "[metrics]" in extra else "[metrics]\nport = 0\n")  # several servers may run at once
            + extra
        )
        self.log_path = directory / "server.log"
        self.issuer = TokenIssuer(SECRET.encode(), "haven", "haven")
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 20.0) -> None:
        """Start the server and wait until /healthz answers."""
        log = open(self.log_path, "w")
        self.process = subprocess.Popen(
            [*self.prefix, sys.executable, "-m", "server.cli", "serve", "--config", str(self.config_path)],
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"haven exited with {self.process.returncode}: {self.log_path.read_text()}")
            try:
                self.health()
                return
            except OSError:
                time.sleep(0.1)
        self.stop()  # a server that never became healthy is stopped too, not left running
        raise RuntimeError(f"haven did not become healthy: {self.log_path.read_text()[-2000:]}")

    @contextmanager
    def running(self) -> Iterator[ServerProcess]:
        """Start the server for the duration of a ``with`` block; stop it by PID on the way out.

        With HAVEN_TEST_ARTIFACTS set, the server's log is copied there afterwards.
        """
        self.start()
        try:
            yield self
        finally:
            self.stop()
            if self.log_path.exists():
                keep_log(f"server-{self.log_path.parent.name}.log", self.log_path.read_text(errors="replace"))

    def health(self) -> dict:
        """Return the /healthz document."""
        with urllib.request.urlopen(f"{self.base_url}/healthz", timeout=2) as response:
            return json.loads(response.read())

    def join_url(self, room: str, name: str, role: str = "participant", sub: str | None = None) -> str:
        """Mint a join link for this server."""
        token = self.issuer.issue(room, name, role, 3600, sub=sub)
        return f"{self.public_url}/r/{room}#token={token}"

    def cpu_seconds(self) -> float:
        """Return the process's user+system CPU time so far (all threads)."""
        assert self.process is not None
        with open(f"/proc/{self.process.pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK

    def stop(self) -> None:
        """Stop the process by its PID: SIGTERM, then SIGKILL if it does not exit."""
        stop_by_pid(self.process)


def haven_command(*args: str, config: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run `haven ARGS --config CONFIG` as an operator would, beside the test's servers; its output captured."""
    return subprocess.run([sys.executable, "-m", "server.cli", *args, "--config", str(config)], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout, env={**os.environ, "HAVEN_CONFIG": ""})


def stop_by_pid(process: subprocess.Popen | None) -> None:
    """Stop a process a test started, by its PID: SIGTERM, then SIGKILL if it has not exited in 10 s."""
    if process is None or process.poll() is not None:
        return
    os.kill(process.pid, signal.SIGTERM)
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        os.kill(process.pid, signal.SIGKILL)
        process.wait(10)


def keep_log(name: str, text: str) -> None:
    """Keep a stopped process's log as ``name`` in $HAVEN_TEST_ARTIFACTS, when set (CI uploads it)."""
    artifacts = os.environ.get("HAVEN_TEST_ARTIFACTS")
    if artifacts:
        os.makedirs(artifacts, exist_ok=True)
        (Path(artifacts) / name).write_text(text)
