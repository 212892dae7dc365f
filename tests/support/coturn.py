"""Run a real coturn (Debian's `turnserver`) on loopback from deploy/coturn.conf, stopped by its PID.

The config is the production recipe with only what must differ on a test machine swapped: ports,
listening and relay address, certificate, secret, log file. Every other line — above all the
denied-peer-ip ranges — is the recipe's own, so the tests prove the file operators install.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from aioice import stun

from tests.support.certificates import self_signed
from tests.support.server_process import keep_log, stop_by_pid

ROOT = Path(__file__).resolve().parents[2]
RECIPE = ROOT / "deploy" / "coturn.conf"
TURNSERVER = shutil.which("turnserver") or "/usr/bin/turnserver"
SECRET = "coturn-test-secret-0123456789-abcdefghijklmnop"
REALM = "haven.test"
# Keys the test sets itself; the recipe's lines for them are dropped.
OVERRIDDEN = {"listening-port", "tls-listening-port", "listening-ip", "relay-ip", "external-ip", "min-port",
              "max-port", "static-auth-secret", "realm", "cert", "pkey", "syslog", "log-file", "pidfile", "userdb"}


def free_port() -> int:
    """Return a port free for both UDP and TCP on 127.0.0.1 a moment ago (coturn binds both)."""
    while True:
        with socket.socket() as tcp:
            tcp.bind(("127.0.0.1", 0))
            port = tcp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind(("127.0.0.1", port))
                except OSError:
                    continue
            return port


def recipe_lines() -> list[str]:
    """Return deploy/coturn.conf's settings (no comments), minus the ones a test machine must replace."""
    lines = []
    for raw in RECIPE.read_text().splitlines():
        line = raw.strip()
        if line and not line.startswith("#") and line.split("=", 1)[0] not in OVERRIDDEN:
            lines.append(line)
    return lines


class Coturn:
    """One turnserver on 127.0.0.1 whose only allowed private peer is ``allowed_peer`` (Haven's address)."""

    def __init__(self, directory: Path, allowed_peer: str = "127.0.0.1", secret: str = SECRET) -> None:
        self.directory = directory
        self.secret = secret
        self.host = "127.0.0.1"
        self.port = free_port()
        self.tls_port = free_port()
        self.cert_path, self.key_path, self.certificate = self_signed(directory, "turn", self.host)
        self.log_path = directory / "turnserver.log"
        self.pid_path = directory / "turnserver.pid"
        self.config_path = directory / "turnserver.conf"
        self.config_path.write_text("\n".join([
            *recipe_lines(),
            f"listening-ip={self.host}", f"relay-ip={self.host}",
            f"listening-port={self.port}", f"tls-listening-port={self.tls_port}",
            f"static-auth-secret={secret}", f"realm={REALM}",
            f"cert={self.cert_path}", f"pkey={self.key_path}",
            f"log-file={self.log_path}", "simple-log", f"pidfile={self.pid_path}",
            f"userdb={directory / 'turndb'}",  # not the system's /var/lib/turn/turndb
            # The recipe's denied ranges include 127.0.0.0/8 and coturn refuses loopback peers before it
            # reads any allow list: in a loopback-only namespace Haven's one address must be let through,
            # exactly as the recipe's comment says for a Haven on a private address.
            "allow-loopback-peers", f"allowed-peer-ip={allowed_peer}",
            "verbose",  # per-session lines with usernames: what the tests check for names
        ]) + "\n")
        self.process: subprocess.Popen | None = None

    @property
    def udp_url(self) -> str:
        return f"turn:{self.host}:{self.port}?transport=udp"

    @property
    def tcp_url(self) -> str:
        return f"turn:{self.host}:{self.port}?transport=tcp"

    @property
    def tls_url(self) -> str:
        return f"turns:{self.host}:{self.tls_port}?transport=tcp"

    def start(self, timeout: float = 15.0) -> None:
        """Start turnserver and wait until it answers a STUN Binding on UDP and accepts TLS connections."""
        if not os.path.exists(TURNSERVER):
            raise RuntimeError("Debian's coturn is not installed: run scripts/test, which installs it")
        output = open(self.directory / "turnserver.stdout", "w")
        self.process = subprocess.Popen([TURNSERVER, "-c", str(self.config_path)], stdout=output,
                                        stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"turnserver exited with {self.process.returncode}: {self.log_text()}")
            if self._answers_binding() and self._accepts_tcp(self.tls_port):
                return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"turnserver did not start listening: {self.log_text()}")

    def _answers_binding(self) -> bool:
        request = stun.Message(stun.Method.BINDING, stun.Class.REQUEST)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(0.2)
            try:
                sock.sendto(bytes(request), (self.host, self.port))
                data, _ = sock.recvfrom(2048)
            except OSError:
                return False
        return stun.parse_message(data).transaction_id == request.transaction_id

    def _accepts_tcp(self, port: int) -> bool:
        try:
            socket.create_connection((self.host, port), timeout=0.2).close()
        except OSError:
            return False
        return True

    def log_text(self) -> str:
        """Return what turnserver wrote (its log file and its stdout)."""
        parts = [p.read_text(errors="replace") for p in (self.log_path, self.directory / "turnserver.stdout")
                 if p.exists()]
        return "\n".join(parts)

    @contextmanager
    def running(self) -> Iterator[Coturn]:
        """Run turnserver for a ``with`` block; stop it by PID on the way out.

        With HAVEN_TEST_ARTIFACTS set, its log is copied there afterwards.
        """
        self.start()
        try:
            yield self
        finally:
            self.stop()
            if self.log_path.exists():
                keep_log(f"turnserver-{self.directory.name}.log", self.log_path.read_text(errors="replace"))

    def stop(self) -> None:
        """Stop turnserver by its PID: SIGTERM, then SIGKILL if it does not exit."""
        stop_by_pid(self.process)
