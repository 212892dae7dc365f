"""A group call through the real server with real aiortc peers over loopback."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

from aiortc import RTCPeerConnection, RTCRtpSender, RTCSessionDescription

from media import adapter
from server.app import CONFIG
from tests.support.client import ProtocolClient
from tests.support.peers import (
    PatternVideoTrack,
    RandomVp8Track,
    ToneTrack,
    client_configuration,
    eventually,
)

ROOT = Path(__file__).resolve().parents[2]


async def start_call(haven, names=("ana", "ben", "cy"), room="group"):
    clients = []
    tracks = {}
    for index, name in enumerate(names):
        # The first one is the therapist: without a host present everyone waits.
        role = "host" if index == 0 else "participant"
        client = ProtocolClient(haven.base_url, haven.token(room=room, name=name.title(), sub=name, role=role),
                                name=name)
        await client.connect()
        clients.append(client)
    for client in clients:
        video, audio = RandomVp8Track(), ToneTrack()
        tracks[client.name] = video
        client.published = await client.publish({"camera": video, "microphone": audio})
    return clients, tracks


def everyone_receives_everyone(clients, minimum=20):
    return all(
        c.received_from(other.name, label) >= minimum
        for c in clients for other in clients if other is not c
        for label in ("camera", "microphone")
    )


async def close_all(clients):
    for client in clients:
        await client.close()


async def test_three_participants_receive_each_others_audio_and_video(haven_each_path):
    haven = haven_each_path
    clients, _ = await start_call(haven)
    try:
        await eventually(lambda: everyone_receives_everyone(clients), 20, what="audio and video from every other")
        for client in clients:
            roster = {p["id"] for p in client.joined["participants"]} | {
                e["participant"]["id"] for e in client.events_of("participant-joined")}
            assert roster == {c.name for c in clients} - {client.name}
            published = {(e["participant_id"], e["track"]["label"]) for e in client.events_of("track-published")}
            earlier = {(p["id"], t["label"]) for p in client.joined["participants"] for t in p["tracks"]}
            assert published | earlier >= {(o.name, lab) for o in clients if o is not client
                                           for lab in ("camera", "microphone")} - earlier
        await eventually(lambda: any(c.events_of("active-speaker") for c in clients), 10, what="active speaker")
    finally:
        await close_all(clients)


async def test_forwarded_vp8_payload_is_byte_exact(haven_each_path):
    """The SFU never transcodes: random bytes after the VP8 descriptor arrive unchanged."""
    haven = haven_each_path
    clients, tracks = await start_call(haven, names=("pub", "sub"))
    subscriber = clients[1]
    subscriber.counter.keep_frames = True
    try:
        ssrc = None

        def frames_arrived():
            nonlocal ssrc
            ssrc = subscriber.ssrcs_by_participant().get("pub", {}).get("camera")
            return ssrc is not None and len(subscriber.counter.frames.get(ssrc, [])) >= 30

        await eventually(frames_arrived, 20, what="30 video frames at the subscriber")
        sent = set(tracks["pub"].sent_frames)
        received = subscriber.counter.frames[ssrc]
        assert all(frame in sent for frame in received), "a forwarded frame differs from what was sent"
        live = haven.sessions.live["group"]
        # The test really ran the send step it was parametrized for.
        assert live.router.settings.transport.compiled_send == (haven.app[CONFIG].media.forwarding == "c")
        for member in live.router.members.values():
            # No decoder ran on the publish side and no encoder on the subscribe side.
            for transceiver in member.publish.pc.getTransceivers():
                assert adapter.receiver_streams(transceiver) == []
            if member.subscribe is not None:
                for transceiver in member.subscribe.pc.getTransceivers():
                    assert adapter.sender_encoder(transceiver) is None
    finally:
        await close_all(clients)


async def test_killed_participant_is_removed_and_the_call_goes_on(haven):
    clients, _ = await start_call(haven, names=("ana", "ben"))
    token = haven.token(name="Kay", sub="kay")
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.support.run_client", haven.base_url, token],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        line = await asyncio.wait_for(asyncio.get_running_loop().run_in_executor(None, process.stdout.readline), 30)
        assert line.strip() == "publishing"
        await eventually(lambda: clients[0].received_from("kay", "camera") > 10, 20, what="media from the killed-to-be")
        router = haven.sessions.live["group"].router
        assert "kay" in router.members
        os.kill(process.pid, signal.SIGKILL)
        process.wait(10)
        await eventually(lambda: "kay" not in router.members, 30, what="the killed participant to leave")
        left = await eventually(
            lambda: [e for e in clients[0].events_of("participant-left") if e["participant_id"] == "kay"], 5,
            what="participant-left for the killed participant")
        assert left[0]["reason"] in ("disconnected", "timeout", "media-failed")
        assert all(p.owner_id != "kay" for p in router.producers.values())
        assert all(c.producer.owner_id != "kay" for m in router.members.values() for c in m.consumers.values())
        await eventually(lambda: all(c["participant_id"] != "kay" for c in clients[0].consumers), 5,
                         what="consumers of the killed participant to go")
        before = clients[0].received_from("ben", "camera")
        await eventually(lambda: clients[0].received_from("ben", "camera") > before + 20, 10,
                         what="the remaining call to keep flowing")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
        await close_all(clients)


async def test_mute_stops_forwarding_and_unmute_resumes_it(haven_each_path):
    haven = haven_each_path
    clients, _ = await start_call(haven, names=("ana", "ben"))
    ana, ben = clients
    try:
        await eventually(lambda: ben.received_from("ana", "camera") > 10, 20, what="video")
        track_id = next(t["track_id"] for t in ana.published["tracks"] if t["label"] == "camera")
        await ana.request("mute", track_id=track_id, muted=True)
        await eventually(lambda: ben.events_of("track-muted"), 5, what="track-muted")
        await asyncio.sleep(0.3)
        frozen = ben.received_from("ana", "camera")
        await asyncio.sleep(1.0)
        assert ben.received_from("ana", "camera") == frozen
        await ana.request("mute", track_id=track_id, muted=False)
        await eventually(lambda: ben.received_from("ana", "camera") > frozen + 10, 10, what="video after unmute")
    finally:
        await close_all(clients)


async def test_an_h264_publisher_is_forwarded_as_h264_to_subscribers_offered_only_h264(haven):
    host = ProtocolClient(haven.base_url, haven.token(name="Host", sub="host", role="host"), name="host")
    viewer = ProtocolClient(haven.base_url, haven.token(name="Viewer", sub="viewer"), name="viewer")
    try:
        await host.connect()
        await viewer.connect()
        pc = host.publish_pc = RTCPeerConnection(client_configuration())
        transceiver = pc.addTransceiver(PatternVideoTrack(), direction="sendonly")
        h264 = [c for c in RTCRtpSender.getCapabilities("video").codecs if c.mimeType == "video/H264"]
        transceiver.setCodecPreferences(h264)
        await pc.setLocalDescription(await pc.createOffer())
        data = await host.request("publish", sdp=pc.localDescription.sdp,
                                  tracks=[{"mid": transceiver.mid, "label": "camera"}])
        await pc.setRemoteDescription(RTCSessionDescription(sdp=data["sdp"], type="answer"))
        await eventually(lambda: viewer.received_from("host", "camera") > 20, 30, what="H.264 packets at the viewer")
        offer = viewer.events_of("subscriber-offer")[-1]["sdp"]
        video_codecs = [line.split()[1].split("/")[0] for line in offer.splitlines()
                        if line.startswith("a=rtpmap:") and "/90000" in line]
        assert set(video_codecs) <= {"H264", "rtx"} and "H264" in video_codecs, video_codecs
        assert "VP8" not in video_codecs
    finally:
        await host.close()
        await viewer.close()
