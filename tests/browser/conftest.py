"""Headless Chromium (Debian's package, driven by Playwright) against a real `haven serve` process."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import async_playwright, expect

from tests.support.impairment import Host
from tests.support.server_process import ServerProcess

CHROMIUM = next((p for p in ("/usr/lib/chromium/chromium", "/usr/bin/chromium") if os.path.exists(p)), None)
WEBRTC_ARGS = [
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
    "--allow-loopback-in-peer-connection",
]

pytestmark = pytest.mark.browser

# Playwright's 5 s default suits DOM updates. Here an assertion often waits for media: a renegotiation
# (a screen share reaching three viewers) through a real SFU with four Chromium pages encoding fake video
# on CI's two shared cores. A longer ceiling changes how long a failure takes to report, not what passes.
expect.set_options(timeout=15_000)


@pytest.fixture
async def haven_process(tmp_path):
    """A Haven server process on loopback, stopped by PID afterwards."""
    with ServerProcess(tmp_path).running() as server:
        yield server


@pytest.fixture
async def server(haven_process):
    """The same server, by the name the room tests use; a test module needing other config defines its own."""
    return haven_process


@pytest.fixture
async def browser():
    """One headless Chromium; each participant gets its own context (own camera, own peer connections)."""
    if CHROMIUM is None:
        pytest.fail("Debian's chromium is not installed: run scripts/test, which installs it")
    async with async_playwright() as playwright:
        instance = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=WEBRTC_ARGS)
        try:
            yield instance
        finally:
            await instance.close()


@pytest.fixture
async def network(tmp_path) -> AsyncIterator[tuple[Host, ServerProcess]]:
    """A Host with its own link, and a Haven server on the test's side that the Host reaches by its gateway."""
    (tmp_path / "server").mkdir()
    with Host(tmp_path).running() as host:
        with ServerProcess(tmp_path / "server", network_address=host.gateway).running() as server:
            yield host, server


@pytest.fixture
async def browsers(network) -> AsyncIterator[tuple[object, object]]:
    """Two Chromiums: one on the test's side for the unimpaired participants (a context each), one on the Host."""
    host, server = network
    if CHROMIUM is None:
        pytest.fail("Debian's chromium is not installed: run scripts/test, which installs it")
    # The page is opened at the gateway's address, which is not loopback: getUserMedia needs a secure context.
    args = [*WEBRTC_ARGS, f"--unsafely-treat-insecure-origin-as-secure={server.public_url}"]
    async with async_playwright() as playwright:
        local = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)
        try:
            remote = await playwright.chromium.launch(executable_path=host.executable(CHROMIUM), headless=True,
                                                      args=args)
            try:
                yield local, remote
            finally:
                await remote.close()
        finally:
            await local.close()
