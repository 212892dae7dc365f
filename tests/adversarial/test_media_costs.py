"""Isolation of cost: what one peer asks of the server is bounded, and does not worsen the others' media."""

from __future__ import annotations

import asyncio
import os
import time

from media import adapter
from media.rtp import HEADER
from tests.adversarial.media_support import (
    LoopStallMeter,
    RembRecorder,
    close_all,
    count_from,
    drops,
    nack,
    remb,
    room_of,
    router_of,
    send_rtcp,
)
from tests.support.client import ServerError
from tests.support.peers import tag_bytes


async def test_one_slow_subscriber_does_not_lower_the_bitrate_asked_of_the_publisher(haven):
    clients = await room_of(haven, ["host", "fast", "slow"])
    host, fast, slow = clients.values()
    try:
        recorder = RembRecorder(host.publish_pc)
        start = time.monotonic()
        while time.monotonic() - start < 3.0:
            send_rtcp(slow.subscribe_pc, remb(0x5107, 50_000, [slow.ssrcs_by_participant()["host"]["camera"]]))
            send_rtcp(fast.subscribe_pc, remb(0xFA57, 2_000_000, [fast.ssrcs_by_participant()["host"]["camera"]]))
            await asyncio.sleep(0.2)
        asked = recorder.since(start + 1.5)
        assert asked, "the server sent the publisher no REMB"
        # Before: the lowest estimate, 50 kbit/s, for everyone.
        assert min(asked) >= 1_000_000, f"the publisher was asked for {asked}"
    finally:
        await close_all(clients.values())


async def test_the_server_starts_no_thread_or_timer_per_stream(haven):
    """Forwarding decodes nothing and reports from its own counters: aiortc's per-stream machinery stays off."""
    clients = await room_of(haven, ["host", "a", "b"])
    try:
        members = router_of(haven).members.values()
        transceivers = [t for m in members for side in (m.publish, m.subscribe) for t in side.pc.getTransceivers()]
        assert len(transceivers) == 3 * 2 + 3 * 4  # 2 published m-lines and 4 received per member
        for transceiver in transceivers:
            receiver, sender = transceiver.receiver, transceiver.sender
            assert receiver._RTCRtpReceiver__decoder_thread is None, "a decoder thread was started"
            assert receiver._RTCRtpReceiver__rtcp_task is None, "a receiver RTCP timer was started"
            assert sender._RTCRtpSender__rtcp_task is None, "a sender RTCP timer was started"
            assert sender._RTCRtpSender__rtp_task is None, "a sender RTP task was started"
    finally:
        await close_all(clients.values())


async def test_a_nack_flood_is_bounded_per_subscriber_before_it_is_parsed(haven):
    clients = await room_of(haven, ["host", "greedy", "other"])
    host, greedy, other = clients.values()
    try:
        ssrc = greedy.ssrcs_by_participant()["host"]["camera"]
        newest: dict[int, int] = {}
        counted = greedy.counter.on_rtp

        def on_rtp(p: bytes) -> None:
            newest[HEADER.unpack_from(p, 0)[4]] = HEADER.unpack_from(p, 0)[2]
            counted(p)

        adapter.hook_dtls(adapter.dtls_transport(greedy.subscribe_pc), on_rtp, lambda data: None)
        await asyncio.sleep(3)  # enough packets in the server's cache to answer every NACK
        last = newest[ssrc]
        # Counted where they are sent: the client's SRTP replay check discards the copies.
        producer = next(p for p in router_of(haven).producers.values()
                        if p.owner_id == "host" and p.kind == "video")
        consumer = router_of(haven).members["greedy"].consumers[producer.id]
        before = consumer.packets
        others_before = count_from(other, "host")
        start = time.monotonic()
        # 200 small NACKs/s, each naming 64 cached packets (167/s produced 10,658 retransmissions/s) …
        for _ in range(200):
            send_rtcp(greedy.subscribe_pc, nack(0x6EED, ssrc, [(last - 80 + 17 * k, 0xFFFF) for k in range(4)]))
            await asyncio.sleep(0.005)
        # … then 100 maximal ones (367/s cost 44 % of a core).
        for _ in range(100):
            send_rtcp(greedy.subscribe_pc, nack(0x6EED, ssrc, [(last - 400 + k, 0xFFFF) for k in range(300)]))
            await asyncio.sleep(0.002)
        elapsed = time.monotonic() - start
        await asyncio.sleep(0.3)
        sent = consumer.packets - before
        # ~30 packets/s of media plus at most one second's retransmission budget per second.
        assert sent < 40 * (elapsed + 0.3) + 300 * (elapsed + 1.3), f"{sent} packets sent in {elapsed:.1f} s of NACKs"
        counted_drops = drops(haven)
        assert counted_drops.get("nack-limited", 0) >= 95, counted_drops
        assert count_from(other, "host") > others_before + 20
    finally:
        await close_all(clients.values())


def offer_with_mlines(sdp: str, count: int) -> str:
    """The offer's audio m-line, then count - 1 more copies without candidates (to fit signaling's limit)."""
    head, section = sdp.split("m=audio", 1)
    short = ("m=audio 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=sendonly\r\na=rtcp-mux\r\n"
             "a=rtpmap:96 opus/48000/2\r\n")
    return head + "m=audio" + section + "".join(short + f"a=mid:{i}\r\n" for i in range(1, count))


async def test_an_offer_with_500_mlines_is_refused_before_it_is_parsed(haven):
    clients = await room_of(haven, ["host", "other"])
    host, other = clients.values()
    from aiortc import RTCPeerConnection

    from tests.support.peers import client_configuration

    pc = RTCPeerConnection(client_configuration())
    try:
        pc.addTransceiver("audio", direction="sendonly")
        await pc.setLocalDescription(await pc.createOffer())
        huge = offer_with_mlines(pc.localDescription.sdp, 500)
        assert huge.count("\nm=") == 500 and len(huge) < 100_000  # within signaling's own size limit
        before = count_from(host, "other")
        with LoopStallMeter() as meter:
            started = time.monotonic()
            try:
                await other.request("publish", sdp=huge, tracks=[{"mid": "0", "label": "microphone"}])
                code, message = None, ""
            except ServerError as exc:
                code, message = exc.code, str(exc)
            took = time.monotonic() - started
        assert code == "invalid-sdp" and "m-lines" in message, f"{code}: {message}"
        assert took < 0.3 and meter.longest < 0.2, f"refusal took {took:.2f} s, the loop stalled {meter.longest:.2f} s"
        await asyncio.sleep(0.5)
        assert count_from(host, "other") > before + 10  # the earlier publication goes on
    finally:
        await pc.close()
        await close_all(clients.values())


async def test_a_publisher_flooding_21_mbits_is_capped(haven):
    clients = await room_of(haven, ["host", "other"])
    host, other = clients.values()
    try:
        camera = host.publish_pc.getTransceivers()[0]
        ssrc = adapter.sender_ssrc(camera.sender)
        pt = adapter.negotiated_codecs(camera)[0].payloadType
        producer = next(p for p in router_of(haven).producers.values() if p.owner_id == "host" and p.kind == "video")
        seq = (producer.max_seq + 3000) & 0xFFFF
        path = adapter.SendPath(adapter.dtls_transport(host.publish_pc))
        body = b"\x10" + tag_bytes("host") + os.urandom(1200)
        before = count_from(other, "host")
        start = time.monotonic()
        sent = 0
        while time.monotonic() - start < 2.0 and sent < 6000:  # 44 packets every 20 ms: ~21 Mbit/s
            for _ in range(44):
                packet = HEADER.pack(0x80, 0x80 | pt, seq, 90000 * sent, ssrc) + body
                path.sendto(path.protect(packet), path.addr)
                seq = (seq + 1) & 0xFFFF
                sent += 1
            await asyncio.sleep(0.02)
        elapsed = time.monotonic() - start
        await asyncio.sleep(0.5)
        relayed = count_from(other, "host") - before
        rate = sent * len(body) * 8 / elapsed
        assert rate > 15_000_000, f"the test flooded only {rate / 1e6:.1f} Mbit/s"
        # The cap is twice media.max_bitrate (2.5 Mbit/s): ~520 such packets/s, plus one second's burst.
        assert relayed < 520 * (elapsed + 1) + 200, f"{relayed} of {sent} flood packets relayed"
        assert drops(haven).get("rate-limited", 0) > sent // 3
    finally:
        await close_all(clients.values())
