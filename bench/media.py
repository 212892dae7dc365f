"""Pre-encoded media for the forwarding benchmark: encode once, replay as ``av.Packet``s.

Publishers never encode while the benchmark runs. At start-up we encode a loop of a moving pattern
with libvpx at 30 fps, as one of the load ``Profile``s says (``heavy``: 640x480 at ~1 Mbit/s, a 3 s
loop; ``peer``: 640x360 at ~600 kbit/s, a 10 s loop), and a 440 Hz tone with libopus (20 ms frames);
the tracks below hand those packets to aiortc's RTCRtpSender, which only packetizes ``av.Packet``s.
The encoded video loop is kept in a cache file keyed by the profile and the encoder (``load_vp8``),
so only the first run of a profile pays the few seconds libvpx takes.

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
import hashlib
import math
import os
import struct
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import av
import numpy

MAGIC = b"HvB1"
TRAILER_SIZE = 12
WIDTH, HEIGHT, FPS = 640, 480, 30  # the largest picture a profile may ask for (the texture's size)
VIDEO_CLOCK = 90000
AUDIO_RATE = 48000
AUDIO_SAMPLES = 960  # 20 ms
# aiortc's VP8 packetizer: 1300-byte payloads minus a 3-byte (picture id < 128) or 4-byte descriptor.
VP8_CHUNKS = (1296, 1297)
VP8_PACKET_MAX = 1300
OPUS_PPS = 1000 // 20  # one Opus packet per 20 ms


@dataclass(frozen=True)
class Profile:
    """One load a publisher sends: a VP8 loop (one key frame per loop) plus one Opus 20 ms track."""

    name: str
    width: int
    height: int
    frames: int  # length of the loop at FPS; the loop starts with its only key frame
    bitrate: int  # libvpx's CBR target, bit/s

    @property
    def keyframe_interval_s(self) -> float:
        """Seconds between key frames: a new subscriber may wait this long for its first picture."""
        return self.frames / FPS

    @property
    def min_warmup_s(self) -> float:
        """Media seconds before a window opens, so every subscriber has seen a key frame of every stream."""
        return self.keyframe_interval_s + 1

    def cache_key(self) -> str:
        """Name the encoded loop by everything that decides its bytes (profile, encoder settings, libraries)."""
        what = repr((self.width, self.height, self.frames, self.bitrate, ENCODER_REVISION, av.__version__,
                     numpy.__version__))
        digest = hashlib.sha256(what.encode()).hexdigest()[:16]
        return f"vp8-{self.name}-{self.width}x{self.height}-{self.frames}f-{self.bitrate // 1000}k-{digest}"


# The landed benchmark's load (issue 9) and the lighter, common load of issue 14 that was measured
# side by side with Janus: VP8 640x360 at ~600 kbit/s with one key frame per 10 s loop.
PROFILES = {
    "heavy": Profile("heavy", 640, 480, 90, 1_000_000),
    "peer": Profile("peer", 640, 360, 300, 600_000),
}
# Bump when encode_vp8 or the test pattern changes: it is part of the cache key.
ENCODER_REVISION = 1


def _pattern(i: int, width: int = WIDTH, height: int = HEIGHT) -> numpy.ndarray:
    """A textured, scrolling luma image with a moving block (libvpx has real work to do)."""
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
    image = _TEXTURE[dy:dy + height, dx:dx + width].copy()
    bx, by = (i * 9) % (width - 96), (i * 5) % (height - 96)
    image[by:by + 96, bx:bx + 96] = 255 - image[by:by + 96, bx:bx + 96]
    return image


_TEXTURE: numpy.ndarray | None = None


def _video_frame(i: int, width: int = WIDTH, height: int = HEIGHT) -> av.VideoFrame:
    frame = av.VideoFrame(width, height, "yuv420p")
    frame.planes[0].update(_pattern(i, width, height).tobytes())
    c = (i * 3) & 0xFF
    frame.planes[1].update(bytes([c]) * (width * height // 4))
    frame.planes[2].update(bytes([255 - c]) * (width * height // 4))
    return frame


def encode_vp8(frames: int = 90, bitrate: int = 1_000_000, gop: int = 90, width: int = WIDTH,
               height: int = HEIGHT) -> list[tuple[bytes, bool]]:
    """Encode ``frames`` frames once with libvpx in real-time CBR mode; return (bytes, is_key) pairs."""
    codec = av.CodecContext.create("libvpx", "w")
    codec.width, codec.height = width, height
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
        frame = _video_frame(i % frames, width, height)
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


CACHE_MAGIC = b"HvC1"
_CACHE_HEAD = struct.Struct("!4sI")  # magic, frame count
_CACHE_FRAME = struct.Struct("!BI")  # is_key, length


def serialize_loop(frames: list[tuple[bytes, bool]]) -> bytes:
    """Pack an encoded loop into the cache file's format: a header, then (key flag, length, bytes) each."""
    parts = [_CACHE_HEAD.pack(CACHE_MAGIC, len(frames))]
    for data, key in frames:
        parts.append(_CACHE_FRAME.pack(1 if key else 0, len(data)))
        parts.append(data)
    return b"".join(parts)


def parse_loop(blob: bytes) -> list[tuple[bytes, bool]]:
    """Read a cache file's loop back; raise ValueError on anything but a whole, well-formed file."""
    if len(blob) < _CACHE_HEAD.size:
        raise ValueError("cache file is truncated before its header")
    magic, count = _CACHE_HEAD.unpack_from(blob, 0)
    if magic != CACHE_MAGIC:
        raise ValueError(f"cache file has magic {magic!r}, not {CACHE_MAGIC!r}")
    frames: list[tuple[bytes, bool]] = []
    off = _CACHE_HEAD.size
    for k in range(count):
        if off + _CACHE_FRAME.size > len(blob):
            raise ValueError(f"cache file is truncated in the header of frame {k}")
        key, size = _CACHE_FRAME.unpack_from(blob, off)
        off += _CACHE_FRAME.size
        if key > 1 or off + size > len(blob):
            raise ValueError(f"cache file is truncated or corrupt in frame {k}")
        frames.append((blob[off:off + size], bool(key)))
        off += size
    if off != len(blob):
        raise ValueError(f"cache file has {len(blob) - off} bytes after its last frame")
    if not frames or not frames[0][1]:
        raise ValueError("a cached loop must start with a key frame")
    return frames


def cache_dir() -> Path:
    """Where encoded loops are kept: $HAVEN_BENCH_CACHE, else a folder in the system's temp directory."""
    return Path(os.environ.get("HAVEN_BENCH_CACHE") or Path(tempfile.gettempdir()) / "haven-bench-cache")


def load_vp8(profile: Profile, directory: Path | None = None) -> tuple[list[tuple[bytes, bool]], bool]:
    """Return a profile's encoded loop and whether it came from the cache (else it is encoded and stored).

    A cache file that cannot be read is encoded again and replaced; one process's half-written file is
    never seen by another, because the file is written beside its name and renamed into place.
    """
    folder = cache_dir() if directory is None else directory
    path = folder / f"{profile.cache_key()}.bin"
    try:
        return parse_loop(path.read_bytes()), True
    except (OSError, ValueError):
        pass
    frames = encode_vp8(profile.frames, profile.bitrate, profile.frames, profile.width, profile.height)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f"{path.name}.{os.getpid()}.part")
        partial.write_bytes(serialize_loop(frames))
        os.replace(partial, path)
    except OSError:
        pass  # an unwritable cache only costs the next run the encoding
    return frames, False


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

    def __init__(self, profile: Profile = PROFILES["heavy"]) -> None:
        self.profile = profile
        raw, self.cached = load_vp8(profile)
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
    import sys

    for name in sys.argv[1:] or list(PROFILES):
        t0 = time.perf_counter()
        m = Media(PROFILES[name])
        keys = sum(1 for _, k in m.video if k)
        print(f"{name}: VP8 {m.profile.width}x{m.profile.height}, {len(m.video)} frames ({keys} key), "
              f"{m.video_kbps:.0f} kbit/s, {m.video_pps:.1f} packets/s; "
              f"Opus: {len(m.audio)} packets of ~{sum(map(len, m.audio)) / len(m.audio):.0f} B; "
              f"trailer decode check ok; {'from the cache' if m.cached else 'encoded'} in "
              f"{time.perf_counter() - t0:.2f} s ({cache_dir()})")
