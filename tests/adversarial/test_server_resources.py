"""Aborted joins leave nothing behind: the server's tasks, fds, UDP sockets and threads return to baseline.

The server runs as its own process (tests/support/server_process.py) and reports its counts through the
admin-only ``GET /api/debug/resources``; each abort below is one a vanishing or hostile client makes.
"""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request

import aiohttp
import pytest
from aiortc import RTCPeerConnection

from media import adapter
from tests.support.client import ProtocolClient
from tests.support.peers import TaggedAudioTrack, TaggedVideoTrack, client_configuration, eventually
from tests.support.server_process import ServerProcess

ADMIN_KEY = "admin-key-for-resource-counts-0123456789abcdef"
ROUNDS = 8  # of each kind of abort; bounded in count, and each round in time by the client timeouts


@pytest.fixture
def server(tmp_path):
    # The server is another process; this one's aiortc clients must offer loopback candidates too.
    adapter.set_host_addresses(["127.0.0.1"])
    try:
        with ServerProcess(tmp_path, extra=f'[admin]\napi_key = "{ADMIN_KEY}"\n').running() as process:
            yield process
    finally:
        adapter.set_host_addresses([])


def counts(server: ServerProcess, key: str = ADMIN_KEY) -> dict[str, int]:
    request = urllib.request.Request(f"{server.base_url}/api/debug/resources",
                                     headers={"Authorization": f"Bearer {key}"})
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())


def client(server: ServerProcess, name: str) -> ProtocolClient:
    token = server.issuer.issue("group", name.title(), "participant", 600, sub=name)
    return ProtocolClient(server.base_url, token, name=name)


async def abort_before_hello(server: ServerProcess, i: int) -> None:
    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(f"{server.base_url}/ws")
        await ws.close()


async def abort_after_join(server: ServerProcess, i: int) -> None:
    c = client(server, f"joiner{i}")
    await c.connect()
    await c.drop()


async def abort_after_offer(server: ServerProcess, i: int) -> None:
    c = client(server, f"offerer{i}")
    await c.connect()
    pc = RTCPeerConnection(client_configuration())
    video = pc.addTransceiver(TaggedVideoTrack(c.name), direction="sendonly")
    audio = pc.addTransceiver(TaggedAudioTrack(c.name), direction="sendonly")
    await pc.setLocalDescription(await pc.createOffer())
    await c.request("publish", sdp=pc.localDescription.sdp,
                    tracks=[{"mid": video.mid, "label": "camera"}, {"mid": audio.mid, "label": "microphone"}])
    await pc.close()  # vanish with the answer in hand: no ICE, no DTLS
    await c.drop()


async def abort_mid_media(server: ServerProcess, i: int) -> None:
    c = client(server, f"publisher{i}")
    await c.connect()
    await c.publish({"camera": TaggedVideoTrack(c.name), "microphone": TaggedAudioTrack(c.name)})
    await asyncio.sleep(0.3)
    await c.drop()


def settled(server: ServerProcess, baseline: dict[str, int]) -> bool:
    now = counts(server)
    return (server.health()["participants"] == 0 and now["tasks"] <= baseline["tasks"]
            and now["fds"] <= baseline["fds"] and now["udp_sockets"] <= baseline["udp_sockets"]
            and now["threads"] <= baseline["threads"] + 2)


def test_resource_counts_need_the_admin_key(server) -> None:
    for key in ("", "wrong-key"):
        with pytest.raises(urllib.error.HTTPError) as refused:
            counts(server, key)
        assert refused.value.code == 401
    assert set(counts(server)) == {"tasks", "fds", "udp_sockets", "threads", "rss_bytes"}


async def test_aborted_joins_at_every_stage_leave_no_task_fd_socket_or_thread_behind(server) -> None:
    await abort_mid_media(server, 0)  # warm-up: the first media join starts pools that then stay
    await eventually(lambda: server.health()["participants"] == 0, 20, what="the warm-up to leave")
    await asyncio.sleep(1.0)
    baseline = counts(server)
    for abort in (abort_before_hello, abort_after_join, abort_after_offer, abort_mid_media):
        for i in range(1, ROUNDS + 1):
            await abort(server, i)
    await eventually(lambda: settled(server, baseline), 45,
                     what=f"the server's counts to return to {baseline} (now {counts(server)})")
    grown = counts(server)["rss_bytes"] - baseline["rss_bytes"]
    assert grown < 40 * 1024 * 1024, f"RSS grew by {grown / 2**20:.1f} MiB over {4 * ROUNDS} aborted joins"
