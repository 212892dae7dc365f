"""deploy/nginx.conf keeps the promises deploy/README.md makes: what it forwards, for how long a quiet
WebSocket may stay open, TLS, and exactly Haven's own security headers, once each."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from server.app import STORAGE, _security_headers, create_app
from server.config import LimitsConfig, ServerConfig, parse_duration
from tests.conftest import TEST_SECRET, make_config
from tests.support.nginx import NGINX, Nginx

ROOT = Path(__file__).resolve().parents[2]
SITE = ROOT / "deploy" / "nginx.conf"
TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[{};]|[^\s{};"]+')

Block = list[tuple[str, list[str], "Block | None"]]


def parse(text: str) -> Block:
    """Parse nginx syntax into (directive, arguments, block or None) triples; enough for this file."""
    text = "\n".join(line.split("#", 1)[0] if '"' not in line.split("#", 1)[0] else line
                     for line in text.splitlines())
    tokens = [t[1:-1] if t.startswith('"') else t for t in TOKEN.findall(text)]
    position = 0

    def block() -> Block:
        nonlocal position
        out: Block = []
        words: list[str] = []
        while position < len(tokens):
            token = tokens[position]
            position += 1
            if token == ";":
                out.append((words[0], words[1:], None))
                words = []
            elif token == "{":
                out.append((words[0], words[1:], block()))
                words = []
            elif token == "}":
                return out
            else:
                words.append(token)
        assert not words, words
        return out

    return block()


def directives(block: Block, name: str) -> list[list[str]]:
    return [args for directive, args, _ in block if directive == name]


def blocks(block: Block, name: str) -> list[tuple[list[str], Block]]:
    return [(args, inner) for directive, args, inner in block if directive == name and inner is not None]


def servers() -> tuple[Block, Block]:
    """Return the plain-http server and the TLS server."""
    found = blocks(parse(SITE.read_text()), "server")
    plain = [inner for _, inner in found if ["80"] in directives(inner, "listen")]
    tls = [inner for _, inner in found if ["443", "ssl"] in directives(inner, "listen")]
    assert len(plain) == 1 and len(tls) == 1
    return plain[0], tls[0]


def location(path: str) -> Block:
    _, tls = servers()
    matches = [inner for args, inner in blocks(tls, "location") if args[-1] == path]
    assert len(matches) == 1, path
    return matches[0]


def test_the_websocket_outlives_havens_longest_heartbeat_interval() -> None:
    ws = location("/ws")
    longest_interval = {f.name: f for f in dataclasses.fields(LimitsConfig)}["heartbeat_interval"].metadata[
        "duration"][1]
    for name in ("proxy_read_timeout", "proxy_send_timeout"):
        (value,), = directives(ws, name)
        seconds = parse_duration(value)
        # Haven pings every heartbeat_interval, so a live socket is never quiet for longer than that.
        assert seconds > longest_interval, (name, value)
        assert seconds > LimitsConfig().heartbeat_timeout
        assert seconds > 60  # nginx's default, which a quiet socket would hit


def test_the_websocket_is_upgraded_and_unbuffered() -> None:
    ws = location("/ws")
    headers = {args[0]: args[1] for args in directives(ws, "proxy_set_header")}
    assert headers["Upgrade"] == "$http_upgrade" and headers["Connection"] == "upgrade"
    assert directives(ws, "proxy_http_version") == [["1.1"]]
    assert directives(ws, "proxy_buffering") == [["off"]]


@pytest.mark.parametrize("path", ["/", "/ws"])
def test_every_proxied_location_says_who_the_client_is(path: str) -> None:
    # proxy_set_header is not inherited by a location that sets any of its own: each must set them all.
    block = location(path)
    headers = {args[0]: args[1] for args in directives(block, "proxy_set_header")}
    assert headers["Host"] == "$host"
    assert headers["X-Forwarded-For"] == "$proxy_add_x_forwarded_for"
    assert headers["X-Forwarded-Proto"] == "$scheme"
    assert directives(block, "proxy_pass") == [["http://haven_backend"]]


def test_the_upstream_is_haven_on_loopback_at_its_default_port() -> None:
    (_, upstream), = blocks(parse(SITE.read_text()), "upstream")
    assert directives(upstream, "server") == [[f"127.0.0.1:{ServerConfig().port}"]]


def test_plain_http_only_redirects_to_https() -> None:
    plain, _ = servers()
    assert [d for d, _, _ in plain if d not in ("listen", "server_name", "server_tokens")] == ["return"]
    (code, target), = directives(plain, "return")
    assert code == "301" and target.startswith("https://") and target.endswith("$request_uri")


def test_tls_is_modern_only_and_bodies_are_small() -> None:
    _, tls = servers()
    (protocols,) = directives(tls, "ssl_protocols")
    assert set(protocols) <= {"TLSv1.2", "TLSv1.3"} and "TLSv1.3" in protocols
    (ciphers,), = directives(tls, "ssl_ciphers")
    assert all(c.startswith("ECDHE-") and ("GCM" in c or "CHACHA20" in c) for c in ciphers.split(":")), ciphers
    assert directives(tls, "ssl_session_tickets") == [["off"]]
    (size,), = directives(tls, "client_max_body_size")
    assert size.endswith("k") and int(size[:-1]) <= 1024


async def havens_headers(tmp_path: Path, public_url: str) -> dict[str, str]:
    """The security headers Haven itself sends when its public URL is ``public_url``."""
    config = make_config(tmp_path)
    config = dataclasses.replace(config, server=dataclasses.replace(config.server, public_url=public_url))
    app = create_app(config, TEST_SECRET)
    try:
        response = web.Response()
        await _security_headers(make_mocked_request("GET", "/", app=app), response)
    finally:
        app[STORAGE].close()
    return dict(response.headers)


async def test_nginx_sends_exactly_havens_security_headers_once(tmp_path: Path) -> None:
    _, tls = servers()
    (host,), = directives(tls, "server_name")
    haven = await havens_headers(tmp_path, f"https://{host}")
    haven.pop("Content-Type", None)
    added = directives(tls, "add_header")
    assert all(args[-1] == "always" and len(args) == 3 for args in added), added
    assert {args[0]: args[1] for args in added} == haven
    assert len(added) == len(haven)
    # Haven's copies are hidden, so none is sent twice.
    assert sorted(args[0] for args in directives(tls, "proxy_hide_header")) == sorted(haven)
    for _, inner in blocks(tls, "location"):
        # An add_header in a location would silently drop every one of the server's.
        assert not directives(inner, "add_header") and not directives(inner, "proxy_hide_header")
    assert "frame-ancestors 'none'" in haven["Content-Security-Policy"]


@pytest.mark.skipif(NGINX is None, reason="Debian's nginx is not installed (scripts/test installs it)")
def test_nginx_accepts_the_recipe(tmp_path: Path) -> None:
    checked = Nginx(tmp_path, haven_port=8080).check()
    assert checked.returncode == 0, checked.stderr
    assert "[warn]" not in checked.stderr and "[emerg]" not in checked.stderr, checked.stderr
