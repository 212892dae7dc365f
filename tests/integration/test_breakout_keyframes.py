"""Opening breakouts starts every camera's new viewers from one key frame, not a storm of requests (issue 16).

A real `haven serve` process and 12 real aiortc members, each publishing a camera whose "encoder" behaves as
a browser's does: a key frame first, then delta frames, and another key frame only when a PLI arrives. The
PLIs are counted where they land, in each publisher's own connection (decrypted RTCP, before aiortc's sender
handles it), and beside them the server's ``haven_keyframe_requests`` metric. Moving 12 people into 4
breakouts of 3 creates 24 new viewers of 12 cameras; each camera must be asked for at most a couple of key
frames, and every new viewer must start at one.
"""

from __future__ import annotations

import asyncio
import fractions
import json
import os
import time
import urllib.request

import av
import pytest
from aiortc.mediastreams import MediaStreamTrack
from aiortc.rtcpeerconnection import RTCPeerConnection
from aiortc.rtp import RTCP_PSFB_PLI, RtcpPacket, RtcpPsfbPacket
from prometheus_client.parser import text_string_to_metric_families

from media import adapter
from media.rtp import vp8_keyframe_start
from tests.support.client import ProtocolClient
from tests.support.peers import VIDEO_CLOCK, RtpCounter, tag_bytes
from tests.support.server_process import ServerProcess
from tests.support.waiting import eventually

ROOM = "circle"
HOST = "host"
BREAKOUTS = {name: [f"m{3 * i + j:02d}" for j in range(3)] for i, name in enumerate("ABCD")}
MEMBERS = [m for people in BREAKOUTS.values() for m in people]
FPS = 15  # half a browser's rate: 12 publishers and 13 subscribers share two cores with the server

# How many key frames opening the breakouts may ask of each camera. By the design (docs/architecture.md,
# "Viewers start at a key frame without a storm of requests") a camera's new viewers start from one key
# frame: the move asks for it (Router._adopt), viewers starting while it is on its way wait for it, and one
# starting within 500 ms after it arrived is sent it again from the cache. breakout-open moves everyone in one
# request, so here all 24 viewers start before any key frame comes back and the first rule alone holds it to
# one. Measured in 5 runs: 12 requests in all each time, exactly one per camera, at the publishers and in the
# metric alike (the 12 joins into the main room before took 16 to 18). The bound allows one re-request per
# camera, which the design permits when a key frame takes longer than the 500 ms throttle to come (a loaded
# machine); a storm, a request at the move and one per new viewer (3 per camera, 36 in all), fails it.
MOST_PER_CAMERA = 2


class OnRequestVp8Track(MediaStreamTrack):
    """'VP8' frames as an encoder sends them: a key frame first and after each PLI, delta frames otherwise.

    Nothing is encoded: aiortc packetizes ``av.Packet``s as they are (15-bit picture ids). Each frame fits one
    packet and starts, after the VP8 frame header, with the tag of tests/support/peers.py naming the publisher.
    """

    kind = "video"

    def __init__(self, tag: str) -> None:
        super().__init__()
        self.marker = tag_bytes(tag)
        self.key_wanted = True
        self.frames_sent = 0
        self.key_frames = 0
        self._start: float | None = None

    async def recv(self) -> av.Packet:
        if self._start is None:
            self._start = time.monotonic()
        delay = self._start + self.frames_sent / FPS - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        if self.key_wanted:
            self.key_wanted = False
            self.key_frames += 1
            # Frame tag (P bit 0: key frame, show_frame), start code, 320x180.
            header = bytes((0x10, 0x00, 0x00, 0x9D, 0x01, 0x2A, 0x40, 0x01, 0xB4, 0x00))
            size = 900
        else:
            header = bytes((0x11, 0x00, 0x00))  # P bit 1: an inter frame
            size = 250
        packet = av.Packet(header + self.marker + os.urandom(size))
        packet.pts = self.frames_sent * VIDEO_CLOCK // FPS
        packet.time_base = fractions.Fraction(1, VIDEO_CLOCK)
        self.frames_sent += 1
        return packet


class PliCounter:
    """Counts the PLIs that arrive at a publisher's connection and has its track send a key frame for each.

    The RTCP is the connection's own, decrypted by its DTLS transport; aiortc's sender still handles every
    packet (it cannot make a pre-encoded track send a key frame, which is why the track is told here).
    """

    def __init__(self, track: OnRequestVp8Track) -> None:
        self.track = track
        self.plis = 0

    def install(self, pc: RTCPeerConnection) -> None:
        dtls = adapter.dtls_transport(pc)
        assert dtls is not None
        original_rtcp = dtls._handle_rtcp_data

        def on_rtcp(data: bytes) -> None:
            try:
                packets = RtcpPacket.parse(data)
            except ValueError:
                packets = []
            for packet in packets:
                if isinstance(packet, RtcpPsfbPacket) and packet.fmt == RTCP_PSFB_PLI:
                    self.plis += 1
                    self.track.key_wanted = True
            asyncio.ensure_future(original_rtcp(data))

        adapter.hook_dtls(dtls, None, on_rtcp)  # a sendonly connection receives no RTP


class StartCounter(RtpCounter):
    """An RtpCounter that also tells, for each tagged packet, whether it starts a key frame."""

    def __init__(self) -> None:
        super().__init__()
        self.keys: list[bool] = []

    def on_rtp(self, p: bytes) -> None:
        tagged = len(self.tags)
        super().on_rtp(p)
        if len(self.tags) > tagged:
            self.keys.append(vp8_keyframe_start(p))


@pytest.fixture
def server(tmp_path):
    # The server is another process; this one's aiortc peers must offer loopback candidates too.
    adapter.set_host_addresses(["127.0.0.1"])
    try:
        with ServerProcess(tmp_path).running() as process:
            yield process
    finally:
        adapter.set_host_addresses([])


def client(server: ServerProcess, name: str, role: str = "participant") -> ProtocolClient:
    token = server.issuer.issue(ROOM, name.title(), role, 3600, sub=name)
    person = ProtocolClient(server.base_url, token, name=name)
    person.counter = StartCounter()
    return person


def keyframe_requests(server: ServerProcess) -> int:
    """Scrape the server's haven_keyframe_requests counter (its metrics listener is on a port its log names)."""
    port = next(json.loads(line)["port"] for line in server.log_path.read_text().splitlines()
                if '"metrics_listening"' in line)
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return int(next(s.value for family in text_string_to_metric_families(text) for s in family.samples
                    if s.name == "haven_keyframe_requests_total"))


def received(viewer: ProtocolClient, publisher: str, since: int = 0) -> int:
    return viewer.counter.tags[since:].count(publisher)


def key_frame_since(viewer: ProtocolClient, publisher: str, since: int) -> bool:
    """Tell whether a key frame of ``publisher`` reached ``viewer`` since its tag count was ``since``."""
    counter = viewer.counter
    assert isinstance(counter, StartCounter)
    return any(key for tag, key in zip(counter.tags[since:], counter.keys[since:], strict=True) if tag == publisher)


async def stable(read, what: str, settle: float = 1.5, attempts: int = 10) -> int:
    """Return ``read()`` once it gave the same value twice ``settle`` seconds apart (bounded attempts)."""
    value = await asyncio.to_thread(read)
    for _ in range(attempts):
        await asyncio.sleep(settle)
        again = await asyncio.to_thread(read)
        if again == value:
            return value
        value = again
    raise AssertionError(f"{what} kept changing: {value}")


async def test_opening_four_breakouts_for_twelve_people_asks_each_camera_for_about_one_key_frame(server):
    host = client(server, HOST, "host")
    members = {name: client(server, name) for name in MEMBERS}
    everyone = [host, *members.values()]
    plis: dict[str, PliCounter] = {}
    try:
        for person in everyone:
            await person.connect()
            assert person.joined["state"] == "admitted"
        for name, member in members.items():
            track = OnRequestVp8Track(name)
            await member.publish({"camera": track})
            assert member.publish_pc is not None
            plis[name] = PliCounter(track)
            plis[name].install(member.publish_pc)
        await eventually(lambda: all(received(viewer, name) >= 10 for viewer in everyone for name in MEMBERS
                                     if name != viewer.name), 60, what="everyone to receive every camera")

        def publisher_plis() -> dict[str, int]:
            return {name: counter.plis for name, counter in plis.items()}

        before = await stable(lambda: keyframe_requests(server), "haven_keyframe_requests in the main room")
        plis_before = publisher_plis()
        marks = {person.name: len(person.counter.tags) for person in everyone}

        await host.request("breakout-create", names=list(BREAKOUTS))
        for room, people in BREAKOUTS.items():
            for name in people:
                await host.request("breakout-assign", participant_id=name, room=room)
        await host.request("breakout-open")

        def breakout_video_flows() -> bool:
            return all(received(members[viewer], peer, marks[viewer]) >= 10
                       for people in BREAKOUTS.values() for viewer in people for peer in people if peer != viewer)

        await eventually(breakout_video_flows, 30, what="each member to receive its breakout's cameras")
        for room, people in BREAKOUTS.items():
            for viewer in people:
                assert members[viewer].events_of("moved")[-1]["location"] == room
                for peer in people:
                    if peer != viewer:
                        assert key_frame_since(members[viewer], peer, marks[viewer]), (viewer, peer)

        after = await stable(lambda: keyframe_requests(server), "haven_keyframe_requests after the moves")
        arrived = {name: n - plis_before[name] for name, n in publisher_plis().items()}
        print(f"key-frame requests: main room {before}, for the breakouts: metric {after - before}, "
              f"at the publishers {arrived}")
        assert all(n <= MOST_PER_CAMERA for n in arrived.values()), arrived
        assert after - before <= MOST_PER_CAMERA * len(MEMBERS), (after - before, arrived)
        assert sum(arrived.values()) <= after - before, "a PLI reached a publisher that the server did not count"
    finally:
        for person in everyone:
            await person.close()
