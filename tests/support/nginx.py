"""Run Debian's nginx with deploy/nginx.conf in front of a test server, on loopback, stopped by its PID.

The site file is used as shipped except for what a test must change: ports, the host name, the upstream's
port and the certificate paths. Each substitution must match exactly as often as the recipe has it, so a
change to the recipe that the test would no longer exercise fails here instead of passing quietly.
"""

from __future__ import annotations

import os
import shutil
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.certificates import self_signed
from tests.support.server_process import ROOT, free_port, keep_log, stop_by_pid

SITE = ROOT / "deploy" / "nginx.conf"
NGINX = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.path.exists(p)), None)
HOST = "haven.example.org"


def _substitute(text: str, old: str, new: str, times: int) -> str:
    found = text.count(old)
    if found != times:
        raise AssertionError(f"deploy/nginx.conf has {old!r} {found} times, the test expects {times}")
    return text.replace(old, new)


def site_for_test(site: str, https_port: int, http_port: int, haven_port: int, cert: Path, key: Path) -> str:
    """Return the site file with the test's ports, host and certificate in place of the recipe's."""
    public = f"127.0.0.1:{https_port}"
    for old, new, times in (
        ("listen 80;", f"listen 127.0.0.1:{http_port};", 1),
        ("listen [::]:80;\n", "", 1),
        ("listen 443 ssl;", f"listen 127.0.0.1:{https_port} ssl;", 1),
        ("listen [::]:443 ssl;\n", "", 1),
        ("server 127.0.0.1:8080;", f"server 127.0.0.1:{haven_port};", 1),
        (f"/etc/letsencrypt/live/{HOST}/fullchain.pem", str(cert), 1),
        (f"/etc/letsencrypt/live/{HOST}/privkey.pem", str(key), 1),
        (f"server_name {HOST};", "server_name 127.0.0.1;", 2),
        (f"https://{HOST}$request_uri", f"https://{public}$request_uri", 1),
        (f"wss://{HOST}", f"wss://{public}", 1),
    ):
        site = _substitute(site, old, new, times)
    lines = [line.split("#", 1)[0] for line in site.splitlines()]
    if any(HOST in line for line in lines):
        raise AssertionError(f"deploy/nginx.conf names {HOST} where the test does not replace it")
    return site


def main_config(prefix: Path, site: str) -> str:
    """Wrap a site file the way Debian's /etc/nginx/nginx.conf includes it, with every path in ``prefix``."""
    # Workers of a root master would run as nobody, who cannot enter pytest's 0700 temporary directories.
    user = "user root root;\n" if os.geteuid() == 0 else ""
    temp = "\n".join(f"    {kind}_temp_path {prefix / (kind + '_temp')};"
                     for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    return (
        f"{user}worker_processes 1;\n"
        f"pid {prefix / 'nginx.pid'};\n"
        f"error_log {prefix / 'error.log'} info;\n"
        "events { worker_connections 256; }\n"
        "http {\n"
        f"    access_log {prefix / 'access.log'};\n"
        f"{temp}\n"
        f"{site}\n"
        "}\n"
    )


class Nginx:
    """nginx in front of a Haven listening on ``haven_port``, from deploy/nginx.conf."""

    def __init__(self, directory: Path, haven_port: int, https_port: int | None = None) -> None:
        if NGINX is None:
            raise RuntimeError("Debian's nginx is not installed: run scripts/test, which installs it")
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.https_port = https_port or free_port()
        self.http_port = free_port()
        self.cert, self.key, _ = self_signed(directory, "nginx")
        self.site = site_for_test(SITE.read_text(), self.https_port, self.http_port, haven_port, self.cert, self.key)
        self.config_path = directory / "nginx.conf"
        self.config_path.write_text(main_config(directory, self.site))
        self.base_url = f"https://127.0.0.1:{self.https_port}"
        self.process: subprocess.Popen | None = None

    def command(self, *extra: str) -> list[str]:
        assert NGINX is not None
        return [NGINX, "-c", str(self.config_path), "-p", str(self.directory), "-e",
                str(self.directory / "error.log"), *extra]

    def check(self) -> subprocess.CompletedProcess[str]:
        """Run ``nginx -t`` on the generated config."""
        return subprocess.run(self.command("-t"), capture_output=True, text=True, timeout=30)

    def start(self, timeout: float = 20.0) -> None:
        """Start nginx in the foreground and wait until Haven's /healthz answers through it."""
        self.process = subprocess.Popen(self.command("-g", "daemon off;"), stdout=subprocess.DEVNULL,
                                        stderr=open(self.directory / "stderr.log", "w"))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"nginx exited with {self.process.returncode}: {self.log()}")
            try:
                self.get("/healthz")
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"nginx did not pass /healthz through: {self.log()}")

    def log(self) -> str:
        parts = [self.directory / "stderr.log", self.directory / "error.log"]
        return "\n".join(p.read_text() for p in parts if p.exists())

    def get(self, path: str) -> tuple[int, dict[str, list[str]], bytes]:
        """GET a path through nginx over TLS (the test certificate is not verified), without redirects."""
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return _get(f"{self.base_url}{path}", context)

    def get_plain(self, path: str) -> tuple[int, dict[str, list[str]], bytes]:
        """GET a path from nginx's plain-http listener, without following redirects."""
        return _get(f"http://127.0.0.1:{self.http_port}{path}", None)

    @contextmanager
    def running(self) -> Iterator[Nginx]:
        self.start()
        try:
            yield self
        finally:
            self.stop()
            keep_log(f"nginx-{self.directory.parent.name}.log", self.log())

    def stop(self) -> None:
        """Stop nginx by its PID: SIGTERM (fast shutdown), then SIGKILL if it does not exit."""
        stop_by_pid(self.process)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        return None


def _get(url: str, context: ssl.SSLContext | None) -> tuple[int, dict[str, list[str]], bytes]:
    opener = urllib.request.build_opener(_NoRedirect, urllib.request.HTTPSHandler(context=context))
    try:
        with opener.open(url, timeout=5) as response:
            status, headers, body = response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:  # 3xx, 4xx and 5xx: still an answer
        status, headers, body = error.code, error.headers, error.read()
    collected: dict[str, list[str]] = {}
    for name, value in headers.items():
        collected.setdefault(name.lower(), []).append(value)
    return status, collected, body

