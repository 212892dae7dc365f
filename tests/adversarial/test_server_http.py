"""HTTP hardening against hostile clients: security headers, what /static/ serves, what reaches the logs,
and core dumps (issue 13)."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import time
from dataclasses import replace

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from server.app import CONFIG, create_app, uses_https
from tests.conftest import TEST_SECRET, make_config
from tests.support.server_process import ROOT, ServerProcess

TOKEN_LIKE = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJtYWxsb3J5In0.c2VjcmV0LXNpZ25hdHVyZS12YWx1ZQ"


async def _get(url: str, path: str) -> tuple[int, dict[str, str], bytes]:
    async with aiohttp.ClientSession() as http, http.get(url + path, allow_redirects=False) as response:
        return response.status, dict(response.headers), await response.read()


# -- headers --------------------------------------------------------------------------------------


async def test_the_csp_lets_websockets_reach_only_the_servers_own_origin(haven):
    status, headers, _ = await _get(haven.base_url, "/")
    assert status == 200
    directives = dict(d.strip().split(" ", 1) for d in headers["Content-Security-Policy"].split(";"))
    sources = directives["connect-src"].split()
    assert "ws:" not in sources and "wss:" not in sources, sources
    own = haven.app[CONFIG].public_url.replace("http://", "ws://")
    assert set(sources) <= {"'self'", own, own.replace("127.0.0.1", "localhost")}, sources


async def test_plain_http_without_an_https_public_url_sends_no_hsts(haven):
    _, headers, _ = await _get(haven.base_url, "/")
    assert "Strict-Transport-Security" not in headers


async def _headers_with(tmp_path, **server) -> dict[str, str]:
    config = make_config(tmp_path)
    config = replace(config, server=replace(config.server, **server))
    app_server = TestServer(create_app(config, TEST_SECRET), host="127.0.0.1")
    await app_server.start_server()
    try:
        _, headers, _ = await _get(str(app_server.make_url("")).rstrip("/"), "/")
    finally:
        await app_server.close()
    return headers


async def test_an_https_public_url_gets_hsts_and_a_wss_connect_src(tmp_path):
    headers = await _headers_with(tmp_path, public_url="https://haven.example")
    hsts = headers["Strict-Transport-Security"]
    assert int(hsts.split("=", 1)[1].split(";")[0]) >= 15552000, hsts
    csp = headers["Content-Security-Policy"]
    assert "connect-src 'self' wss://haven.example;" in csp, csp


def test_tls_on_means_hsts_even_without_a_public_url(tmp_path):
    config = make_config(tmp_path)
    assert not uses_https(config)
    assert uses_https(replace(config, server=replace(config.server, tls_cert="cert.pem", tls_key="key.pem")))


async def _behind(tmp_path, trusted: tuple[str, ...], headers: dict[str, str]) -> tuple[dict[str, str], dict]:
    """GET / and a probe route that reports what handlers see, with forwarding headers sent from 127.0.0.1."""
    config = make_config(tmp_path)
    config = replace(config, server=replace(config.server, trusted_proxies=trusted))
    app = create_app(config, TEST_SECRET)

    async def who(request: web.Request) -> web.Response:
        return web.json_response({"remote": request.remote, "scheme": request.scheme, "secure": request.secure})

    app.router.add_get("/_who", who)
    app_server = TestServer(app, host="127.0.0.1")
    await app_server.start_server()
    try:
        base = str(app_server.make_url("")).rstrip("/")
        async with aiohttp.ClientSession(headers=headers) as http:
            async with http.get(base + "/") as response:
                page = dict(response.headers)
            async with http.get(base + "/_who") as response:
                seen = await response.json()
    finally:
        await app_server.close()
    return page, seen


FORWARDED = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"}


async def test_forwarding_headers_from_a_peer_that_is_no_trusted_proxy_change_nothing(tmp_path):
    page, seen = await _behind(tmp_path, (), FORWARDED)
    assert seen == {"remote": "127.0.0.1", "scheme": "http", "secure": False}
    assert "Strict-Transport-Security" not in page
    page, seen = await _behind(tmp_path, ("10.0.0.0/8",), FORWARDED)
    assert seen["remote"] == "127.0.0.1" and "Strict-Transport-Security" not in page


async def test_a_trusted_proxy_gives_handlers_the_browsers_address_and_scheme(tmp_path):
    page, seen = await _behind(tmp_path, ("127.0.0.1",), FORWARDED)
    assert seen == {"remote": "203.0.113.9", "scheme": "https", "secure": True}
    assert page["Strict-Transport-Security"].startswith("max-age=")
    _, seen = await _behind(tmp_path, ("127.0.0.1",), {"X-Forwarded-For": "198.51.100.1, 203.0.113.9"})
    assert seen == {"remote": "203.0.113.9", "scheme": "http", "secure": False}


async def test_readyz_answers_ready_while_the_records_are_writable(haven):
    status, headers, body = await _get(haven.base_url, "/readyz")
    assert status == 200 and json.loads(body) == {"status": "ready"}
    assert headers["Cache-Control"] == "no-store"
    _, _, health = await _get(haven.base_url, "/healthz")
    assert json.loads(health)["records_writable"] is True


# -- /static/ ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/static/__init__.py", "/static/__pycache__/", "/static/package.json",
                                  "/static/../server/app.py", "/static/%2e%2e/server/app.py",
                                  "/static/__pycache__/__init__.cpython-311.pyc", "/static/.", "/static/"])
async def test_static_serves_none_of_the_python_package(haven, path):
    status, _, body = await _get(haven.base_url, path)
    assert status == 404, (path, status, body[:80])


@pytest.mark.parametrize("path", ["/static/app.js", "/static/style.css", "/static/favicon.svg",
                                  "/static/minimal.html"])
async def test_static_serves_the_clients_files(haven, path):
    status, headers, body = await _get(haven.base_url, path)
    assert status == 200 and body
    assert headers["X-Content-Type-Options"] == "nosniff"


# -- logs and core dumps (a real `haven serve` process) ----------------------------------------------


@pytest.fixture
def served(tmp_path):
    with ServerProcess(tmp_path).running() as server:
        yield server


def _raw(port: int, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except OSError:
            pass
        return b"".join(chunks)


MALFORMED = [
    # A header with a control character: the parser's error quotes the buffer, request line included.
    b"GET /r/group?token=" + TOKEN_LIKE.encode() + b" HTTP/1.1\r\nHost: x\r\nX-Bad: a\x01b\r\n\r\n",
    # A bad HTTP version on a second request of a keep-alive connection.
    b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /?token=" + TOKEN_LIKE.encode() + b" HTTP/9.Z\r\nHost: x\r\n\r\n",
    # A request line far over the parser's limit.
    b"GET /?token=" + TOKEN_LIKE.encode() + b"&pad=" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    # A method that is no method, after a valid first request.
    b"GET / HTTP/1.1\r\nHost: x\r\n\r\nG\x01T /ws?token=" + TOKEN_LIKE.encode() + b" HTTP/1.1\r\n\r\n",
]


def test_no_request_line_or_token_reaches_the_log(served):
    for data in MALFORMED:
        _raw(served.port, data)
    asyncio.run(_get(served.base_url, "/r/group?token=" + TOKEN_LIKE))
    time.sleep(0.5)
    text = served.log_path.read_text()
    assert "server_starting" in text  # the log is being written
    assert "BadHttpMessage" in text and "LineTooLong" in text  # the errors are logged, without their text
    for needle in (TOKEN_LIKE, "token=", "eyJhbGci", "GET /", "HTTP/1.1", "HTTP/9", "X-Bad"):
        assert needle not in text, f"{needle!r} reached the log:\n{text[-3000:]}"
    for line in text.splitlines():
        json.loads(line)  # every line is still one JSON object


def test_haven_serve_runs_with_core_dumps_disabled(served):
    assert served.process is not None
    limits = open(f"/proc/{served.process.pid}/limits").read()
    core = next(line for line in limits.splitlines() if line.startswith("Max core file size"))
    assert core.split()[4:6] == ["0", "0"], core


def test_disabling_core_dumps_sets_the_limit_and_the_dumpable_flag():
    # In a child process, so this test's own process keeps its settings.
    code = (
        "import ctypes, resource\n"
        "from server.app import disable_core_dumps\n"
        "disable_core_dumps()\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "print(resource.getrlimit(resource.RLIMIT_CORE), libc.prctl(3, 0, 0, 0, 0))\n"  # PR_GET_DUMPABLE
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["(0,", "0)", "0"]
