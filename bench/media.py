"""Pre-encoded media for the forwarding benchmark: encode once, replay as ``av.Packet``s.

Publishers never encode while the benchmark runs. At start-up we encode a short loop of a moving
640x480 pattern with libvpx (~1 Mbit/s, 30 fps) and a 440 Hz tone with libopus (20 ms frames); the
tracks below hand those packets to aiortc's RTCRtpSender, which only packetizes ``av.Packet``s.

Every frame ends with a 12-byte **trailer**: ``MAGIC`` (4 bytes) + ``time.monotonic_ns()`` (8 bytes,
big endian). CLOCK_MONOTONIC is shared by all processes of the machine, so a subscriber in another
process computes latency as ``its monotonic_ns() - trailer``. The load generator re-stamps the trailer
at the moment aiortc hands the packet to SRTP (``stamp_packet``), so the latency measured excludes the
publisher's own scheduling. The trailer always lands entirely in the last RTP packet of a frame (the one
with the marker bit): frames are padded so aiortc's VP8 packetizer never leaves fewer than 12 bytes for
it. libvpx ignores bytes after the last token partition, which ``check_trailer_decodes`` verifies
(the MediaRelay baseline decodes these frames).
"""

from __future__ import annotations

import asyncio
import fractions
import math
import time

import av
import numpy

MAGIC = b"HvB1"
TRAILER_SIZE = 12
WIDTH, HEIGHT, FPS = 640, 480, 30
VIDEO_CLOCK = 90000
AUDIO_RATE = 48000
AUDIO_SAMPLES = 960  # 20 ms
# aiortc's VP8 packetizer: 1300-byte payloads minus a 3-byte (picture id < 128) or 4-byte descriptor.
VP8_CHUNKS = (1296, 1297)
VP8_PACKET_MAX = 1300


def _pattern(i: int) -> numpy.ndarray:
    """A textured, scrolling 640x480 luma image with a moving block (libvpx has real work to do)."""
    rng = numpy.random.default_rng(7)
    global _TEXTURE
    if _TEXTURE is None:
        x = numpy.arange(WIDTH + 256)[None, :]
        y = numpy.arange(HEIGHT + 256)[:, None]
        base = ((x * 255 // WIDTH + y) & 0xFF).astype(numpy.int16)
        checker = (((x // 40) + (y // 40)) & 1).astype(bool)
        noise = rng.integers(0, 64, size=base.shape, dtype=numpy.int16)
        base = numpy.where(checker, base // 2 + noise, base + noise // 8)
        _TEXTURE = numpy.clip(base, 0, 255).astype(numpy.uint8)
    dx, dy = (i * 3) % 256, (i * 2) % 256
    image = _TEXTURE[dy:dy + HEIGHT, dx:dx + WIDTH].copy()
    bx, by = (i * 9) % (WIDTH - 96), (i * 5) % (HEIGHT - 96)
    image[by:by + 96, bx:bx + 96] = 255 - image[by:by + 96, bx:bx + 96]
    return image


_TEXTURE: numpy.ndarray | None = None


def _video_frame(i: int) -> av.VideoFrame:
    frame = av.VideoFrame(WIDTH, HEIGHT, "yuv420p")
    frame.planes[0].update(_pattern(i).tobytes())
    c = (i * 3) & 0xFF
    frame.planes[1].update(bytes([c]) * (WIDTH * HEIGHT // 4))
    frame.planes[2].update(bytes([255 - c]) * (WIDTH * HEIGHT // 4))
    return frame


def encode_vp8(frames: int = 90, bitrate: int = 1_000_000, gop: int = 90) -> list[tuple[bytes, bool]]:
    """Encode ``frames`` frames once with libvpx in real-time CBR mode; return (bytes, is_key) pairs."""
    codec = av.CodecContext.create("libvpx", "w")
    codec.width, codec.height = WIDTH, HEIGHT
    codec.bit_rate = bitrate
    codec.pix_fmt = "yuv420p"
    codec.framerate = fractions.Fraction(FPS, 1)
    codec.time_base = fractions.Fraction(1, FPS)
    codec.gop_size = gop
    codec.qmin, codec.qmax = 2, 56
    codec.thread_count = 1
    codec.options = {
        "bufsize": str(bitrate), "cpu-used": "-6", "deadline": "realtime", "lag-in-frames": "0",
        "minrate": str(bitrate), "maxrate": str(bitrate), "overshoot-pct": "15", "undershoot-pct": "100",
        "partitions": "0", "static-thresh": "1",
    }
    out: list[tuple[bytes, bool]] = []
    # Encode two loops and keep the second: the rate controller has settled by then.
    for i in range(2 * frames):
        frame = _video_frame(i % frames)
        frame.pts = i
        frame.time_base = fractions.Fraction(1, FPS)
        for packet in codec.encode(frame):
            out.append((bytes(packet), bool(packet.is_keyframe)))
    for packet in codec.encode(None):
        out.append((bytes(packet), bool(packet.is_keyframe)))
    loop = out[-frames:]
    if not loop[0][1]:
        # Make the loop start with a key frame so every replay position is reachable from one.
        first_key = next((k for k, (_, key) in enumerate(out) if key and k >= len(out) - 2 * frames), 0)
        loop = out[first_key:first_key + frames]
    return loop


def with_trailer(frame: bytes) -> bytes:
    """Pad a VP8 frame so its trailer fits the last RTP packet, then append a zero trailer."""
    data = frame
    while True:
        total = len(data) + TRAILER_SIZE
        if all(total % chunk == 0 or total % chunk >= TRAILER_SIZE for chunk in VP8_CHUNKS):
            break
        data += b"\x00"
    return data + MAGIC + bytes(8)


def encode_opus(packets: int = 50, bitrate: int = 32000) -> list[bytes]:
    """Encode ``packets`` 20 ms Opus frames of a 440 Hz tone (48 kHz stereo)."""
    codec = av.CodecContext.create("libopus", "w")
    codec.sample_rate = AUDIO_RATE
    codec.layout = "stereo"
    codec.format = "s16"
    codec.bit_rate = bitrate
    codec.time_base = fractions.Fraction(1, AUDIO_RATE)
    codec.options = {"application": "voip", "frame_duration": "20"}
    out: list[bytes] = []
    for k in range(packets + 4):
        t = (numpy.arange(AUDIO_SAMPLES) + k * AUDIO_SAMPLES) / AUDIO_RATE
        tone = (numpy.sin(2 * math.pi * 440 * t) * 0.3 * 32767).astype("int16")
        stereo = numpy.repeat(tone, 2).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(stereo, format="s16", layout="stereo")
        frame.sample_rate = AUDIO_RATE
        frame.pts = k * AUDIO_SAMPLES
        frame.time_base = fractions.Fraction(1, AUDIO_RATE)
        for packet in codec.encode(frame):
            out.append(bytes(packet))
    return out[-packets:]


def stamp_packet(data: bytes) -> bytes:
    """Write the current monotonic time into the trailer of an unprotected RTP packet, if it has one."""
    if len(data) > 24 and data[-12:-8] == MAGIC:
        return data[:-8] + time.monotonic_ns().to_bytes(8, "big")
    return data


def read_trailer(p: bytes) -> int:
    """Return the monotonic ns stamped into a packet's trailer, or -1."""
    if len(p) > 24 and p[-12:-8] == MAGIC:
        return int.from_bytes(p[-8:], "big")
    return -1


def vp8_packets_per_second(frames: list[bytes]) -> float:
    """Packets/s aiortc's packetizer makes of these frames at 30 fps."""
    packets = sum(math.ceil(len(f) / VP8_CHUNKS[0]) for f in frames)
    return packets * FPS / len(frames)


def check_trailer_decodes(frames: list[tuple[bytes, bool]]) -> None:
    """Raise if libvpx decodes a trailer-carrying frame differently from the original (or fails)."""
    plain = av.CodecContext.create("libvpx", "r")
    stamped = av.CodecContext.create("libvpx", "r")
    for data, _ in frames[:30]:
        a = plain.decode(av.Packet(data))
        b = stamped.decode(av.Packet(with_trailer(data)))
        if len(a) != len(b):
            raise RuntimeError("libvpx decoded a different number of frames with the trailer")
        for fa, fb in zip(a, b, strict=True):
            if not numpy.array_equal(fa.to_ndarray(), fb.to_ndarray()):
                raise RuntimeError("libvpx decoded a trailer-carrying frame differently")


class Media:
    """The pre-encoded loops every publisher of a load generator replays."""

    def __init__(self, video_frames: int = 90) -> None:
        raw = encode_vp8(video_frames)
        check_trailer_decodes(raw)
        self.video = [(with_trailer(data), key) for data, key in raw]
        self.audio = [data + MAGIC + bytes(8) for data in encode_opus()]
        self.video_pps = vp8_packets_per_second([d for d, _ in self.video])
        self.video_kbps = sum(len(d) for d, _ in self.video) * 8 * FPS / len(self.video) / 1000


class Gate:
    """Opens media for every track at once; closed again pauses them (they wait, nothing is sent)."""

    def __init__(self) -> None:
        self.event = asyncio.Event()

    def open(self) -> None:
        self.event.set()

    def close(self) -> None:
        self.event.clear()


class ReplayTrack:
    """Base for tracks yielding pre-encoded packets on an absolute schedule (no drift, bounded burst)."""

    kind = "video"

    def __init__(self, packets: list[bytes], interval: float, pts_step: int, clock: int,
                 gate: Gate, start_index: int = 0, phase: float = 0.0) -> None:
        self.packets = packets
        self.interval = interval
        self.pts_step = pts_step
        self.time_base = fractions.Fraction(1, clock)
        self.gate = gate
        self.index = start_index
        self.phase = phase
        self.sent = 0  # frames handed to aiortc
        self._next: float | None = None

    async def next_packet(self) -> av.Packet:
        if not self.gate.event.is_set():
            await self.gate.event.wait()
            self._next = None
        now = time.monotonic()
        if self._next is None:
            self._next = now + self.phase
        elif self._next < now - 0.2:
            self._next = now  # fell far behind (paused or starved): resume, do not burst
        delay = self._next - now
        if delay > 0:
            await asyncio.sleep(delay)
        self._next += self.interval
        data = self.packets[self.index % len(self.packets)]
        packet = av.Packet(data)
        packet.pts = self.sent * self.pts_step
        packet.time_base = self.time_base
        self.index += 1
        self.sent += 1
        return packet


def make_tracks(media: Media, gate: Gate, start_index: int, phase_v: float, phase_a: float):
    """Return (video, audio) aiortc MediaStreamTracks replaying the pre-encoded loops."""
    from aiortc.mediastreams import MediaStreamTrack

    class VideoTrack(MediaStreamTrack):
        kind = "video"

        def __init__(self) -> None:
            super().__init__()
            self.replay = ReplayTrack([d for d, _ in media.video], 1 / FPS, VIDEO_CLOCK // FPS, VIDEO_CLOCK,
                                      gate, start_index, phase_v)

        async def recv(self) -> av.Packet:
            return await self.replay.next_packet()

    class AudioTrack(MediaStreamTrack):
        kind = "audio"

        def __init__(self) -> None:
            super().__init__()
            self.replay = ReplayTrack(media.audio, AUDIO_SAMPLES / AUDIO_RATE, AUDIO_SAMPLES, AUDIO_RATE,
                                      gate, start_index, phase_a)

        async def recv(self) -> av.Packet:
            return await self.replay.next_packet()

    return VideoTrack(), AudioTrack()


if __name__ == "__main__":
    t0 = time.perf_counter()
    m = Media()
    keys = sum(1 for _, k in m.video if k)
    print(f"VP8: {len(m.video)} frames ({keys} key), {m.video_kbps:.0f} kbit/s, {m.video_pps:.1f} packets/s; "
          f"Opus: {len(m.audio)} packets of ~{sum(map(len, m.audio)) / len(m.audio):.0f} B; "
          f"trailer decode check ok; {time.perf_counter() - t0:.2f} s")
