"""The dashboard's web session cookie as a real server sets it at `POST /api/v1/login`: always HttpOnly,
SameSite=Strict, Path=/ and without Max-Age (it dies with the browser); Secure exactly when the browser's
request came over TLS, either straight to Haven or through a trusted proxy (`server.trusted_proxies`) that says
so with `X-Forwarded-Proto: https`. The same header from a peer that is no trusted proxy changes nothing."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from server.app import create_app
from server.practice.api import COOKIE
from server.practice.wiring import PRACTICE_API
from tests.conftest import TEST_SECRET, make_config
from tests.support.certificates import self_signed

EMAIL, PASSWORD = "admin@clinic.example", "a long admin password"
FORWARDED_HTTPS = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"}

Start = Callable[..., Awaitable[str]]


@pytest.fixture
async def start(tmp_path: Path) -> AsyncIterator[Start]:
    """Start Haven (optionally over TLS, optionally trusting proxies) with one account; return its base URL."""
    servers: list[TestServer] = []

    async def started(trusted: tuple[str, ...] = (), tls: bool = False) -> str:
        directory = tmp_path / f"server{len(servers)}"
        directory.mkdir()
        config = make_config(directory)
        config = replace(config, server=replace(config.server, trusted_proxies=trusted))
        app = create_app(config, TEST_SECRET)
        context = None
        if tls:
            cert, key, _ = self_signed(directory, "haven")
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(cert, key)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server(ssl=context)
        servers.append(server)
        await app[PRACTICE_API].accounts.create(EMAIL, "admin", PASSWORD)
        return str(server.make_url("")).rstrip("/")

    try:
        yield started
    finally:
        for server in servers:
            await server.close()


async def session_cookie(base_url: str, headers: dict[str, str] | None = None) -> dict[str, str | bool]:
    """Log in; return the session cookie's attributes from the raw Set-Cookie header (lower-case names)."""
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{base_url}/api/v1/login", json={"email": EMAIL, "password": PASSWORD},
                             headers=headers or {}, ssl=False) as response:
            assert response.status == 200, await response.text()
            set_cookies = response.headers.getall("Set-Cookie")
    ours = [c for c in set_cookies if c.startswith(f"{COOKIE}=")]
    assert len(ours) == 1, set_cookies
    value, *attributes = (part.strip() for part in ours[0].split(";"))
    parsed: dict[str, str | bool] = {"value": value.split("=", 1)[1]}
    for attribute in attributes:
        name, _, setting = attribute.partition("=")
        parsed[name.lower()] = setting or True
    return parsed


def assert_always(cookie: dict[str, str | bool]) -> None:
    assert cookie["value"], "the cookie carries the session's secret"
    assert cookie.get("httponly") is True  # no script on the page can read it
    assert cookie.get("samesite") == "Strict"  # no other site's page can send it
    assert cookie.get("path") == "/"
    assert "max-age" not in cookie and "expires" not in cookie  # gone with the browser


async def test_over_plain_http_the_cookie_is_httponly_and_strict_but_not_secure(start: Start) -> None:
    base_url = await start()
    cookie = await session_cookie(base_url)
    assert_always(cookie)
    assert "secure" not in cookie  # a browser on http would drop a Secure cookie and never be logged in


async def test_forwarded_https_from_a_peer_that_is_no_trusted_proxy_does_not_make_it_secure(start: Start) -> None:
    for trusted in ((), ("10.0.0.0/8",)):
        cookie = await session_cookie(await start(trusted), FORWARDED_HTTPS)
        assert_always(cookie)
        assert "secure" not in cookie, trusted


async def test_over_tls_the_cookie_is_secure(start: Start) -> None:
    base_url = await start(tls=True)
    assert base_url.startswith("https://")
    cookie = await session_cookie(base_url)
    assert_always(cookie)
    assert cookie.get("secure") is True


async def test_through_a_trusted_proxy_the_cookie_is_secure_only_when_the_proxy_says_https(start: Start) -> None:
    base_url = await start(("127.0.0.1",))
    cookie = await session_cookie(base_url, FORWARDED_HTTPS)
    assert_always(cookie)
    assert cookie.get("secure") is True
    for headers in ({"X-Forwarded-For": "203.0.113.9"}, {"X-Forwarded-For": "203.0.113.9",
                                                         "X-Forwarded-Proto": "http"}):
        cookie = await session_cookie(base_url, headers)
        assert_always(cookie)
        assert "secure" not in cookie, headers
