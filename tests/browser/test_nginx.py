"""Two browsers hold a call through Debian's nginx running deploy/nginx.conf: the page and the signaling
WebSocket over TLS through the proxy, media straight to Haven over UDP, as in a real on-premise install."""

from __future__ import annotations

import pytest

from server.app import HSTS_MAX_AGE, content_security_policy
from server.config import load_config
from tests.support.nginx import Nginx
from tests.support.pages import join_in
from tests.support.server_process import ServerProcess, free_port
from tests.support.waiting import eventually_async
from tests.support.webrtc_stats import INBOUND_STATS

SECURITY_HEADERS = ("content-security-policy", "strict-transport-security", "x-content-type-options",
                    "x-frame-options", "referrer-policy", "permissions-policy")


@pytest.fixture
async def behind_nginx(tmp_path):
    """A Haven process whose public URL is nginx's TLS listener, with nginx trusted as its proxy."""
    https_port = free_port()
    haven = ServerProcess(tmp_path, public_url=f"https://127.0.0.1:{https_port}",
                          server_extra='trusted_proxies = ["127.0.0.1"]\n')
    nginx = Nginx(tmp_path / "nginx", haven.port, https_port)
    with haven.running(), nginx.running():
        yield haven, nginx


async def join(browser, url: str):
    # The test certificate is self-signed: this context trusts it, as a clinic's browsers trust theirs.
    context = await browser.new_context(ignore_https_errors=True)
    page = await join_in(context, url)
    return page, page.response, page.errors


async def test_two_browsers_hold_a_call_through_nginx(behind_nginx, browser):
    haven, nginx = behind_nginx
    ana, page_response, ana_errors = await join(browser, haven.join_url("clinic", "Ana", "host", sub="ana"))
    ben, _, ben_errors = await join(browser, haven.join_url("clinic", "Ben", sub="ben"))
    try:
        assert page_response is not None and page_response.url.startswith(nginx.base_url)
        headers = await page_response.headers_array()
        counts: dict[str, int] = {}
        for header in headers:
            counts[header["name"].lower()] = counts.get(header["name"].lower(), 0) + 1
        assert {name: counts.get(name, 0) for name in SECURITY_HEADERS} == dict.fromkeys(SECURITY_HEADERS, 1)
        got = {h["name"].lower(): h["value"] for h in headers}
        # nginx sends Haven's own CSP for its public URL, not something that drifted from it.
        assert got["content-security-policy"] == content_security_policy(load_config(haven.config_path, env={}))
        assert "frame-ancestors 'none'" in got["content-security-policy"]
        assert got["strict-transport-security"] == f"max-age={HSTS_MAX_AGE}"
        assert got["referrer-policy"] == "no-referrer"
        assert got["x-content-type-options"] == "nosniff"

        for page, other in ((ana, "Ben"), (ben, "Ana")):
            tile = page.locator(f'[data-testid="remote-video"][data-participant-name="{other}"]')
            await tile.wait_for()
            status = page.get_by_test_id("connection-status")
            await eventually_async(lambda status=status: _state_is(status, "connected"), "the socket to connect")

        for page, name in ((ana, "Ana"), (ben, "Ben")):
            async def media_flows(page=page):
                stats = await page.evaluate(INBOUND_STATS)
                video = [s for s in stats if s["kind"] == "video" and s["frames"] > 10 and s["width"] > 0]
                audio = [s for s in stats if s["kind"] == "audio" and s["packets"] > 10]
                return bool(video) and bool(audio) and stats

            first = await eventually_async(media_flows, f"{name} to decode video and receive audio", 30)

            async def still_flowing(page=page, first=first):
                later = {(s["kind"], s["mid"]): s for s in await page.evaluate(INBOUND_STATS)}
                return all(later[(s["kind"], s["mid"])]["frames" if s["kind"] == "video" else "packets"]
                           > s["frames" if s["kind"] == "video" else "packets"]
                           for s in first if s["frames"] > 10 or s["packets"] > 10)

            await eventually_async(still_flowing, f"{name}'s media to keep flowing", 20)
        assert haven.health()["participants"] == 2
        assert not ana_errors and not ben_errors, (ana_errors, ben_errors)
    finally:
        await ana.context.close()
        await ben.context.close()

    # The signaling socket went through nginx (its access log has the upgrade), not around it.
    async def upgraded() -> bool:
        log = (nginx.directory / "access.log").read_text()
        return '"GET /ws HTTP/1.1" 101' in log

    await eventually_async(upgraded, "nginx to log the WebSocket upgrades", 15)


def test_nginx_redirects_plain_http_and_answers_with_the_headers_when_haven_is_down(behind_nginx):
    haven, nginx = behind_nginx
    status, headers, _ = nginx.get_plain("/r/clinic")
    assert status == 301 and headers["location"] == [f"{nginx.base_url}/r/clinic"]
    haven.stop()
    status, headers, _ = nginx.get("/r/clinic")
    assert status == 502
    for name in SECURITY_HEADERS:  # `always`: nginx's own error page carries them too
        assert len(headers.get(name, [])) == 1, name


async def _state_is(locator, state: str) -> bool:
    return await locator.get_attribute("data-state") == state
