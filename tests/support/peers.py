"""Real aiortc peers for tests: tracks with known content and counters of what arrives.

The subscriber side counts raw RTP per SSRC (and keeps VP8 payloads) through media.adapter.hook_dtls,
so tests see exactly the bytes the server forwarded, without a decoder in the way.
"""

from __future__ import annotations

import asyncio
import fractions
import math
import os
import time
from collections import defaultdict

import av
import numpy
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import AudioStreamTrack, MediaStreamTrack, VideoStreamTrack
from aiortc.rtcconfiguration import RTCBundlePolicy

from media import adapter
from media.rtp import HEADER, payload_offset

from .waiting import eventually  # noqa: F401  (re-exported: tests import it from here)

VIDEO_CLOCK = 90000
FRAME_INTERVAL = 1 / 30


def client_configuration() -> RTCConfiguration:
    """Configure a test peer: no STUN lookups, one bundled transport."""
    return RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)


class RandomVp8Track(MediaStreamTrack):
    """Pre-encoded 'VP8' frames whose bytes after the VP8 payload header byte are random.

    aiortc's sender only packetizes ``av.Packet``s (no encoder runs), so the frame bytes travel as they
    are; the first byte has the P bit clear, so every frame looks like a key frame to the SFU.
    """

    kind = "video"

    def __init__(self, frame_size: int = 2500, seed: int | None = None) -> None:
        super().__init__()
        self.frame_size = frame_size
        self.frames_sent = 0
        self.sent_frames: list[bytes] = []
        self._start: float | None = None

    async def recv(self) -> av.Packet:
        if self._start is None:
            self._start = time.monotonic()
        target = self._start + self.frames_sent * FRAME_INTERVAL
        delay = target - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        body = os.urandom(self.frame_size)
        frame = bytes((0x10,)) + body[1:]  # P bit 0: key frame; show_frame set
        packet = av.Packet(frame)
        packet.pts = int(self.frames_sent * FRAME_INTERVAL * VIDEO_CLOCK)
        packet.time_base = fractions.Fraction(1, VIDEO_CLOCK)
        self.frames_sent += 1
        if len(self.sent_frames) < 400:
            self.sent_frames.append(frame)
        return packet


TAG_MAGIC = b"HVTAG"


def tag_bytes(tag: str) -> bytes:
    """Return the marker a tagged track puts at the start of every frame (8-byte tag, space padded)."""
    return TAG_MAGIC + tag.encode()[:8].ljust(8)


class TaggedVideoTrack(RandomVp8Track):
    """Random 'VP8' key frames that start with a marker naming their publisher."""

    def __init__(self, tag: str, frame_size: int = 1200) -> None:
        super().__init__(frame_size)
        self.marker = tag_bytes(tag)

    async def recv(self) -> av.Packet:
        packet = await super().recv()
        data = bytes(packet)
        tagged = av.Packet(data[:1] + self.marker + data[1 + len(self.marker):])
        tagged.pts, tagged.time_base = packet.pts, packet.time_base
        return tagged


class TaggedAudioTrack(MediaStreamTrack):
    """20 ms 'Opus' packets (never decoded) that start with a marker naming their publisher."""

    kind = "audio"

    def __init__(self, tag: str) -> None:
        super().__init__()
        self.marker = tag_bytes(tag)
        self.sent = 0
        self._start: float | None = None

    async def recv(self) -> av.Packet:
        if self._start is None:
            self._start = time.monotonic()
        delay = self._start + self.sent * 0.02 - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        packet = av.Packet(self.marker + os.urandom(60))
        packet.pts = self.sent * 960
        packet.time_base = fractions.Fraction(1, 48000)
        self.sent += 1
        return packet


class ToneTrack(AudioStreamTrack):
    """A 440 Hz tone at a chosen level, so audio-level extensions say 'speaking'."""

    def __init__(self, amplitude: float = 0.3) -> None:
        super().__init__()
        self.amplitude = amplitude
        self._phase = 0

    async def recv(self) -> av.AudioFrame:
        frame = await super().recv()
        samples = frame.samples
        t = (numpy.arange(samples) + self._phase) / frame.sample_rate
        self._phase += samples
        tone = (numpy.sin(2 * math.pi * 440 * t) * self.amplitude * 32767).astype("int16")
        frame.planes[0].update(tone.tobytes())
        return frame


class PatternVideoTrack(VideoStreamTrack):
    """Real frames (encoded by aiortc's VP8 encoder on the client) with a moving pattern."""

    async def recv(self) -> av.VideoFrame:
        pts, time_base = await self.next_timestamp()
        image = numpy.zeros((240, 320, 3), numpy.uint8)
        shift = (pts // 3000) % 320
        image[:, :, 1] = (numpy.arange(320)[None, :] + shift) % 256
        frame = av.VideoFrame.from_ndarray(image, format="rgb24")
        frame.pts, frame.time_base = pts, time_base
        return frame


class RtpCounter:
    """Counts RTP packets per SSRC arriving on a connection and reassembles VP8 frame payloads."""

    def __init__(self) -> None:
        self.packets: dict[int, int] = defaultdict(int)
        self.newest: dict[int, int] = {}  # the sequence number of the latest packet per SSRC
        self.payload_types: dict[int, int] = {}
        self.frames: dict[int, list[bytes]] = defaultdict(list)
        self._partial: dict[int, bytearray] = {}
        self.keep_frames = False
        self.tags: list[str] = []  # the publisher tag of each tagged packet, in arrival order
        self.keep_seqs = False
        self.seqs: dict[int, set[int]] = defaultdict(set)  # every sequence number seen per SSRC, if kept

    def install(self, pc: RTCPeerConnection) -> None:
        """Divert the connection's decrypted RTP into this counter (RTCP still reaches aiortc)."""
        dtls = adapter.dtls_transport(pc)
        original_rtcp = dtls._handle_rtcp_data

        def on_rtcp(data: bytes) -> None:
            asyncio.ensure_future(original_rtcp(data))

        adapter.hook_dtls(dtls, self.on_rtp, on_rtcp)

    def on_rtp(self, p: bytes) -> None:
        b0, b1, seq, ts, ssrc = HEADER.unpack_from(p, 0)
        self.packets[ssrc] += 1
        self.newest[ssrc] = seq
        self.payload_types[ssrc] = b1 & 0x7F
        if self.keep_seqs and len(self.seqs[ssrc]) < 100_000:
            self.seqs[ssrc].add(seq)
        at = p.find(TAG_MAGIC, 12, 64)
        if at >= 0 and len(self.tags) < 200_000:
            self.tags.append(p[at + 5:at + 13].decode(errors="replace").strip())
        if self.keep_frames:
            self._collect_vp8(ssrc, p, bool(b1 & 0x80))

    def _collect_vp8(self, ssrc: int, p: bytes, marker: bool) -> None:
        off = payload_offset(p)
        d0 = p[off]
        i = off + 1
        if d0 & 0x80:
            x = p[i]
            i += 1
            if x & 0x80:
                i += 2 if p[i] & 0x80 else 1
            if x & 0x40:
                i += 1
            if x & 0x30:
                i += 1
        if d0 & 0x10:  # start of a partition: a new frame
            self._partial[ssrc] = bytearray()
        buf = self._partial.get(ssrc)
        if buf is None:
            return
        buf += p[i:]
        if marker:
            self.frames[ssrc].append(bytes(buf))
            del self._partial[ssrc]

    def total(self) -> int:
        """Return the number of RTP packets received on all SSRCs."""
        return sum(self.packets.values())


async def answer_offer(pc: RTCPeerConnection, sdp: str) -> str:
    """Apply a server offer and return the local answer SDP."""
    await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
    await pc.setLocalDescription(await pc.createAnswer())
    return pc.localDescription.sdp
