"""Instructions per forwarded packet: the media layer's own receive → fan-out → send path, under callgrind.

    python -m bench.instructions --sizes 3,8,15 --forwarding c,python --json out.json
    python -m bench.instructions --sizes 3,8 --forwarding c,python --simulcast --json out.json

CPU time on a shared machine moves with the neighbours; an instruction count does not. ``perf stat -e
instructions`` is not available in this KVM guest, so for every room size N and send path this runs one
process that builds, the way the server does for one room of N, the real media objects (Producers,
Consumers and Slots of media/producer.py and media/consumer.py, real libsrtp sessions through pylibsrtp,
one real UDP socket on 127.0.0.1 for all sends as with ``ice.udp_port``, and a socket per subscriber,
drained by a helper process), and pushes K real SRTP-protected RTP packets through the receive entry
point: guard_receive's SRTP unprotect → the SSRC's Producer.receive → every Consumer's send. The packets are the peer
load of bench/media.py (VP8 640x360 at ~600 kbit/s, one key frame per 10 s, plus Opus 20 ms), audio and
video of all N publishers interleaved on their own 30 fps / 50 pps schedules, as in a real room; the RTP
headers and extensions are aiortc's, as its senders write them.

With ``--simulcast`` (or ``--scenarios``) the same run also measures two simulcast rooms beside the plain
one. Each camera is then two layers, built as media/transport.py ``_make_track`` builds Chromium's: layer
Producers sharing the track's id, ``track.layers = [low, high]``, ``vp8_layer`` on both; the low layer
320x180 at ~150 kbit/s (about 31 packets/s), the high layer the peer profile's 640x360 (about 68), both with
the VP8 payload descriptor Chromium writes for simulcast (15-bit picture id, TL0PICIDX, TID). Half of each
camera's viewers are on each layer, on a ``media.simulcast.LayeredConsumer``. In ``simulcast`` nobody
switched; in ``simulcast-switched`` every viewer started on the other layer and was switched to its own at
a key frame of it half a second in, long before the measured window, so every video copy in the window
goes through the consumer's VP8 picture id / TL0PICIDX rewrite. Both replay the same packets, so their
difference is what the rewrite costs.

That process runs under ``valgrind --tool=callgrind`` twice, with K1 and K2 packets, and

    instructions per forwarded packet = (Ir(K2) - Ir(K1)) / (copies packets K1..K2 make)

which in the plain room, where every packet goes to the N - 1 others, is (K2 - K1) x (N - 1) copies; a
simulcast layer's packet goes to the viewers on that layer only.

Everything else both runs do alike (interpreter start-up, imports, building the room, reading all K2
prepared datagrams) cancels in the difference. Callgrind counts user-space instructions only: the kernel's
share (``sendto`` and the loopback delivery into the subscriber's socket, 30-40 % of the server's CPU in
the end-to-end profile) is not in the count. Where the instructions go comes from the same two runs,
differenced per ELF object (the Python interpreter, libsrtp with its AES-GCM, our compiled send step,
cffi, libc, uvloop) and per function (callgrind_annotate, inclusive).

Not in the count: the Router's timers (RTCP, speaker detection), ICE consent checks, DTLS, signaling.
The token buckets are refilled every 300 ms of media time, as the Router's timer does.

The harness reaches the media layer only through ``media.adapter.guard_receive`` (the server's receive
entry, on a stand-in for the publisher's DTLS transport), Producer.receive/refill/add_consumer (and for
simulcast Producer.switch), Consumer, LayeredConsumer and Slot construction, ``Slot.attach_send_path`` and
``media.adapter.srtp_handles``: whatever the send step does inside them (the compiled step's batched
``sendmmsg``, flushed by the Producer after its fan-out) is counted as the server runs it. Not part of the
test suite; see docs/performance.md.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import random
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
FORWARDING_MODES = ("c", "python")
DEFAULT_K1, DEFAULT_K2 = 2000, 6000
SRTP_KEY_SIZE = 44  # AEAD_AES_256_GCM: 32-byte key + 12-byte salt, what two aiortc peers negotiate
REFILL_SECONDS = 0.3  # media/router.py SPEAKER_TICK: the Router's timer refills the token buckets this often
VIDEO_PT, AUDIO_PT = 97, 96  # what aiortc offers for VP8 and Opus
SUBSCRIBER_RCVBUF = 8 * 1024 * 1024


def log(*args: Any) -> None:
    print(f"[instructions {time.strftime('%H:%M:%S')}]", *args, file=sys.stderr, flush=True)


# -- the arithmetic -----------------------------------------------------------------------------------

def per_forwarded_packet(ir1: int, ir2: int, k1: int, k2: int, n: int) -> float:
    """Return (Ir(K2) - Ir(K1)) / ((K2 - K1) x (N - 1)): instructions per forwarded copy of a packet."""
    if k2 <= k1:
        raise ValueError("K2 must be larger than K1")
    if n < 2:
        raise ValueError("a room needs at least two participants for anything to be forwarded")
    return (ir2 - ir1) / ((k2 - k1) * (n - 1))


def differenced(costs1: dict[str, int], costs2: dict[str, int], copies: int) -> dict[str, float]:
    """Return each key's (cost in run 2 - cost in run 1) / copies, largest first (missing keys count 0)."""
    if copies <= 0:
        raise ValueError("the runs must differ by at least one forwarded copy")
    keys = set(costs1) | set(costs2)
    out = {k: (costs2.get(k, 0) - costs1.get(k, 0)) / copies for k in keys}
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


# Where an ELF object's instructions belong, first match wins (the path as callgrind names it).
CATEGORIES: list[tuple[str, str]] = [
    ("_fastsend", "our compiled send step (media/_fastsend.c)"),
    ("pylibsrtp", "libsrtp + its AES-GCM (pylibsrtp's _binding)"),
    ("libsrtp", "libsrtp + its AES-GCM (pylibsrtp's _binding)"),
    ("libcrypto", "OpenSSL libcrypto"),
    ("_cffi_backend", "cffi (pylibsrtp's calls)"),
    ("uvloop", "uvloop (the transport's sendto)"),
    ("libpython", "the Python interpreter (libpython)"),
    ("/python3", "the Python interpreter (libpython)"),
    ("libc.so", "libc (malloc, memcpy, the sendto wrapper)"),
    ("libc-", "libc (malloc, memcpy, the sendto wrapper)"),
    ("ld-linux", "the dynamic loader"),
]


def category(obj: str) -> str:
    """Name the part of the stack an ELF object (as callgrind names it) belongs to."""
    for needle, name in CATEGORIES:
        if needle in obj:
            return name
    base = obj.rsplit("/", 1)[-1]
    return f"other: {base}" if base else "other"


def by_category(per_object: dict[str, int]) -> dict[str, int]:
    """Sum per-object costs into CATEGORIES."""
    out: collections.Counter[str] = collections.Counter()
    for obj, cost in per_object.items():
        out[category(obj)] += cost
    return dict(out)


# -- callgrind output ---------------------------------------------------------------------------------

@dataclass
class CallgrindProfile:
    """What one callgrind output file says: total Ir, self Ir per ELF object and per (object, function)."""

    total: int = 0
    per_object: dict[str, int] = field(default_factory=dict)
    per_function: dict[str, int] = field(default_factory=dict)


_NAMED = re.compile(r"^\((\d+)\)(?: (.*))?$")


def _name(table: dict[str, str], value: str) -> str:
    """Resolve callgrind's name compression: ``(id) name`` defines an id, ``(id)`` refers to one."""
    m = _NAMED.match(value)
    if m is None:
        return value
    ident, name = m.group(1), m.group(2)
    if name is not None:
        table[ident] = name
        return name
    return table.get(ident, f"({ident})")


def parse_callgrind(lines: Iterable[str], event: str = "Ir") -> CallgrindProfile:
    """Read a callgrind output file (compressed names or not) into self costs of ``event``.

    A cost line right after a ``calls=`` line is the inclusive cost of that call, charged to the caller
    only inclusively, so it is not added to anyone's self cost. ``totals:``/``summary:`` give the total.
    """
    profile = CallgrindProfile()
    per_object: collections.Counter[str] = collections.Counter()
    per_function: collections.Counter[str] = collections.Counter()
    objects: dict[str, str] = {}
    files: dict[str, str] = {}
    functions: dict[str, str] = {}
    column = 0
    positions = 1
    obj = fn = ""
    after_calls = False
    summary = 0
    for raw in lines:
        line = raw.rstrip("\n")
        if not line or line.startswith("#"):
            continue
        head = line[0]
        if head.isdigit() or head in "+-*":
            if after_calls:
                after_calls = False
                continue
            parts = line.split()
            values = parts[positions:]
            if column < len(values):
                cost = int(values[column])
                per_object[obj] += cost
                per_function[f"{fn} [{obj}]"] += cost
            continue
        if line.startswith("events:"):
            names = line[7:].split()
            if event not in names:
                raise ValueError(f"the file has no {event} event (events: {' '.join(names)})")
            column = names.index(event)
            continue
        if line.startswith("positions:"):
            positions = len(line[10:].split())
            continue
        key, _, value = line.partition("=")
        if key == "ob":
            obj = _name(objects, value)
        elif key in ("cob",):
            _name(objects, value)
        elif key in ("fl", "fi", "fe", "cfi", "cfl"):
            _name(files, value)
        elif key == "fn":
            fn = _name(functions, value)
        elif key == "cfn":
            _name(functions, value)
        elif key == "calls":
            after_calls = True
        elif line.startswith(("summary:", "totals:")):
            numbers = line.split(":", 1)[1].split()
            if column < len(numbers):
                summary = max(summary, int(numbers[column]))
    profile.per_object = dict(per_object)
    profile.per_function = dict(per_function)
    profile.total = summary or sum(per_object.values())
    return profile


_ANNOTATE_ROW = re.compile(r"^\s*([\d,]+)\s+(?:\(\s*[\d.]+%\)\s+)?(\S.*?)\s*$")


def parse_annotate(text: str) -> dict[str, int]:
    """Read callgrind_annotate's function table into {``file:function [object]``: Ir}.

    The table starts after the header line naming ``file:function`` (and its rule) and ends at the first
    blank line or rule after its rows; each row is a count (with or without thousands separators and a
    percentage) and the function's name. Source annotation after it (``=>`` call lines) is not read.
    """
    rows: dict[str, int] = {}
    in_table = False
    started = False
    for line in text.splitlines():
        if "file:function" in line and not started:
            in_table = True
            continue
        if not in_table:
            continue
        if not line.strip() or line.startswith("-"):
            if started:
                break
            continue
        started = True
        m = _ANNOTATE_ROW.match(line)
        if m is None:
            continue
        name = m.group(2)
        if name == "PROGRAM TOTALS":
            continue
        rows[name] = rows.get(name, 0) + int(m.group(1).replace(",", ""))
    return rows


def short_name(name: str) -> str:
    """``file:function [object]`` as ``function [object's file name]``: the build paths say nothing."""
    obj = ""
    if name.endswith("]") and " [" in name:
        name, obj = name[:-1].rsplit(" [", 1)
    function = name.rsplit(":", 1)[-1] if ":" in name else name
    return f"{function} [{obj.rsplit('/', 1)[-1]}]" if obj else function


def telling(per_packet: dict[str, float], total: float, limit: int) -> list[tuple[str, float]]:
    """The ``limit`` largest inclusive costs that say where the work goes.

    Dropped: whatever holds nearly everything (``main``, the interpreter's outermost frames: >= 90 % of
    the total), callgrind's recursion copies (``name'2``: their inclusive costs count nested calls more
    than once), rows without an object (a header file's inlined code listed on its own) and a second name
    for a cost already listed.
    """
    out: list[tuple[str, float]] = []
    seen: set[tuple[str, int]] = set()
    for name, cost in per_packet.items():
        if cost >= 0.9 * total or cost <= 0 or not name.endswith("]"):
            continue
        short = short_name(name)
        if "'" in short.split(" [")[0]:
            continue
        key = (short.split(" [")[0], round(cost))
        if key in seen:
            continue
        seen.add(key)
        out.append((short, cost))
        if len(out) == limit:
            break
    return out


def annotate_inclusive(path: Path) -> dict[str, int]:
    """Run callgrind_annotate --inclusive=yes on a callgrind output file and read its table."""
    out = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--threshold=100", "--auto=no", str(path)],
                         capture_output=True, text=True, timeout=300, check=True).stdout
    return parse_annotate(out)


# -- the room's packets (prepared natively, outside valgrind) -----------------------------------------

@dataclass(frozen=True)
class Stream:
    """One published track of the prepared room: who sends it, its SSRC and codec."""

    publisher: int
    kind: str
    ssrc: int
    payload_type: int
    mime_type: str
    clock_rate: int


def schedule(n: int, count: int, seed: int = 1) -> Iterator[tuple[float, int, str, int]]:
    """Yield (time, publisher, kind, number) of the room's first ``count`` media events, in time order.

    Every publisher sends a video frame each 1/30 s and an audio packet each 20 ms from its own random
    phase (video frame ``number`` is one event; the caller turns it into its RTP packets). Publishers'
    video starts at frame 0, the loop's key frame, so every consumer starts at once, as after a warm-up.
    """
    rnd = random.Random(seed)
    phases = [(rnd.uniform(0, 1 / 30), rnd.uniform(0, 0.02)) for _ in range(n)]
    events: list[tuple[float, int, str, int]] = []
    # Enough events of each stream to cover ``count`` whatever the mix: each event is >= 1 packet.
    frames = count // max(1, n) + 2
    for p, (pv, pa) in enumerate(phases):
        events += [(pv + f / 30, p, "video", f) for f in range(frames)]
        events += [(pa + k / 50, p, "audio", k) for k in range(frames)]
    events.sort()
    yield from events[:count]


# Simulcast (``--simulcast``): each camera is two layers, as Chromium sends one: the low layer 320x180 at
# ~150 kbit/s (libvpx's CBR target; its loop is cached as the peer profile's is) and the high layer the peer
# profile itself, both 30 fps. Each publisher's viewers are split between them (``viewer_layers``).
LOW_LAYER = ("peer-low", 320, 180, 300, 150_000)  # bench.media.Profile's fields
# Both layers carry an extra key frame at this frame (17 ms apart at most): what the publisher sends when a
# switch asks for one. Viewers that switch layers (the ``simulcast-switched`` scenario) are moved onto
# their layer by it, well before the measured window begins.
SWITCH_KEY_FRAME = 15
# libwebrtc's VP8 simulcast runs three temporal layers per layer: TIDs 0, 2, 1, 2, ...
TEMPORAL_PATTERN = (0, 2, 1, 2)
VP8_PAYLOAD_MAX = 1300  # as aiortc's packetizer (aiortc/codecs/vpx.py PACKET_MAX)
SCENARIOS = ("plain", "simulcast", "simulcast-switched")


def chromium_vp8_payloads(frame: bytes, picture_id: int, tl0picidx: int, tid: int, sync: bool,
                          max_payload: int = VP8_PAYLOAD_MAX) -> list[bytes]:
    """Packetize one VP8 frame with the payload descriptor Chromium writes for a layer with temporal layers.

    RFC 7741 section 4.2: X set, with I (a 15-bit picture id), L (TL0PICIDX) and T (the TID, and Y for a
    frame that depends on the base layer only); S and partition index 0 on the frame's first packet. aiortc's
    packetizer (the plain room's) writes X and I alone.
    """
    if not 0 <= picture_id <= 0x7FFF or not 0 <= tl0picidx <= 0xFF or not 0 <= tid <= 3:
        raise ValueError("picture id, TL0PICIDX or TID out of range")
    extension = bytes((0xE0, 0x80 | (picture_id >> 8), picture_id & 0xFF, tl0picidx,
                       (tid << 6) | (0x20 if sync else 0)))
    size = max_payload - 1 - len(extension)
    return [bytes((0x90 if pos == 0 else 0x80,)) + extension + frame[pos:pos + size]
            for pos in range(0, max(len(frame), 1), size)]


def viewer_layers(n: int, publisher: int) -> dict[int, str]:
    """Which layer each viewer of ``publisher`` ends on: every other one low, from a place that moves with
    the publisher, so half of each camera's viewers get each layer and each subscriber gets a mix."""
    viewers = [sub for sub in range(n) if sub != publisher]
    return {sub: "low" if (j + publisher) % 2 == 0 else "high" for j, sub in enumerate(viewers)}


def window_copies(meta: dict[str, Any], datagrams: list[tuple[int, bytes]], k1: int, k2: int) -> tuple[int, int]:
    """Return how many copies datagrams ``k1`` to ``k2`` make, in all and of simulcast layers.

    A plain stream goes to every other participant; a layer to the viewers ``viewer_layers`` puts on it
    (the layer split that holds once the switches are done, before the window). SRTP leaves the SSRC in
    the clear.
    """
    n = meta["n"]
    viewers: dict[int, int] = {}
    layered: set[int] = set()
    for pub in meta["publishers"]:
        finals = list(pub.get("viewers", {}).values())
        for st in pub["streams"]:
            layer = st.get("layer", "")
            viewers[st["ssrc"]] = finals.count(layer) if layer else n - 1
            if layer:
                layered.add(st["ssrc"])
    copies = layer_copies = 0
    for _, data in datagrams[k1:k2]:
        ssrc = struct.unpack_from("!I", data, 8)[0]
        copies += viewers[ssrc]
        if ssrc in layered:
            layer_copies += viewers[ssrc]
    return copies, layer_copies


def prepare_room(n: int, count: int, directory: Path, seed: int = 1, simulcast: bool = False) -> Path:
    """Write ``count`` SRTP-protected RTP datagrams of a room of ``n`` peer-load publishers, and their keys.

    Returns the metadata file (JSON: streams, keys, datagram file). Runs natively, once per N: the
    valgrind runs only read it, so protecting on the publishers' side is not in their count. With
    ``simulcast`` each camera is two layers (``LOW_LAYER`` and the peer profile) with Chromium's VP8
    payload descriptors, and the metadata says which layer each viewer ends on; the plain room's packets
    are byte for byte what they were before simulcast existed.
    """
    import fractions

    import av
    from aiortc.codecs import HEADER_EXTENSIONS
    from aiortc.codecs.opus import OpusEncoder
    from aiortc.codecs.vpx import Vp8Encoder
    from aiortc.rtcrtpparameters import RTCRtpParameters
    from aiortc.rtp import HeaderExtensionsMap, RtpPacket
    from pylibsrtp import Policy, Session

    from .media import PROFILES, Profile, encode_opus, load_vp8

    video, _ = load_vp8(PROFILES["peer"])
    loops = {"video": video, "low": load_vp8(Profile(*LOW_LAYER))[0] if simulcast else []}
    audio = encode_opus()
    rnd = random.Random(seed)
    ext_maps = {}
    for kind in ("audio", "video"):
        ext_maps[kind] = HeaderExtensionsMap()
        ext_maps[kind].configure(RTCRtpParameters(headerExtensions=HEADER_EXTENSIONS[kind]))
    publishers: list[dict[str, Any]] = []
    for p in range(n):
        key = rnd.randbytes(SRTP_KEY_SIZE)
        tx = Session(Policy(key=key, ssrc_type=Policy.SSRC_ANY_OUTBOUND,
                            srtp_profile=Policy.SRTP_PROFILE_AEAD_AES_256_GCM))
        publishers.append({
            "key": key.hex(), "tx": tx, "vp8": Vp8Encoder(), "opus": OpusEncoder(),
            "video": Stream(p, "video", rnd.getrandbits(32), VIDEO_PT, "video/VP8", 90000),
            "audio": Stream(p, "audio", rnd.getrandbits(32), AUDIO_PT, "audio/opus", 48000),
            "seq": {"video": rnd.getrandbits(16), "audio": rnd.getrandbits(16)},
            "ts0": {"video": rnd.getrandbits(32), "audio": rnd.getrandbits(32)},
        })
        if simulcast:
            # Drawn apart from ``rnd``, which then goes on as in the plain room. Each layer counts picture
            # ids and TL0PICIDX from its own start, far enough apart that a switch always shifts both.
            layer_rnd = random.Random(seed * 1000 + p)
            pub = publishers[-1]
            pub["low"] = Stream(p, "video", layer_rnd.getrandbits(32), VIDEO_PT, "video/VP8", 90000)
            pub["seq"]["low"], pub["ts0"]["low"] = layer_rnd.getrandbits(16), layer_rnd.getrandbits(32)
            picture, tl0 = layer_rnd.getrandbits(15), layer_rnd.getrandbits(8)
            pub["vp8_state"] = {
                "video": [picture, tl0],
                "low": [(picture + 1000 + layer_rnd.randrange(20000)) & 0x7FFF,
                        (tl0 + 17 + layer_rnd.randrange(200)) & 0xFF],
            }
    data_path = directory / f"room-{n}-{count}{'-simulcast' if simulcast else ''}.bin"
    written = 0
    times: list[float] = []
    switch_at = -1
    with open(data_path, "wb") as out:
        for t, p, kind, index in schedule(n, count, seed):
            pub = publishers[p]
            sends: list[tuple[str, Stream, list[bytes], int]] = []
            if kind == "video" and simulcast:
                for layer in ("low", "video"):
                    loop = loops[layer]
                    key_frame = index == SWITCH_KEY_FRAME or index % len(loop) == 0
                    frame = loop[0 if key_frame else index % len(loop)][0]
                    tid = 0 if key_frame else TEMPORAL_PATTERN[index % len(TEMPORAL_PATTERN)]
                    state = pub["vp8_state"][layer]
                    if tid == 0:
                        state[1] = (state[1] + 1) & 0xFF
                    payloads = chromium_vp8_payloads(frame, state[0], state[1], tid, key_frame or tid > 0)
                    state[0] = (state[0] + 1) & 0x7FFF
                    sends.append((layer, pub[layer], payloads, index * 3000))
                if index == SWITCH_KEY_FRAME and switch_at < 0:
                    switch_at = written  # the switches are asked for just before the first of these
            elif kind == "video":
                packet = av.Packet(video[index % len(video)][0])
                packet.pts = index
                packet.time_base = fractions.Fraction(1, 30)
                payloads, ts = pub["vp8"].pack(packet)
                sends.append(("video", pub["video"], payloads, ts))
            else:
                packet = av.Packet(audio[index % len(audio)])
                packet.pts = index * 960
                packet.time_base = fractions.Fraction(1, 48000)
                payloads, _ = pub["opus"].pack(packet)
                sends.append(("audio", pub["audio"], payloads, 960 * index))
            for name, stream, payloads, ts in sends:
                for i, payload in enumerate(payloads):
                    if written >= count:
                        break
                    rtp = RtpPacket(payload_type=stream.payload_type, sequence_number=pub["seq"][name],
                                    timestamp=(pub["ts0"][name] + ts) & 0xFFFFFFFF, ssrc=stream.ssrc,
                                    marker=1 if i == len(payloads) - 1 else 0)
                    rtp.payload = payload
                    pub["seq"][name] = (pub["seq"][name] + 1) & 0xFFFF
                    # As aiortc's sender writes them; audio also carries the level a browser sends (RFC 6464).
                    rtp.extensions.abs_send_time = (int(t * (1 << 18))) & 0x00FFFFFF
                    rtp.extensions.mid = str(2 * p + (0 if kind == "video" else 1))
                    if kind == "audio":
                        rtp.extensions.audio_level = (True, 30 + (index % 20))
                    datagram = pub["tx"].protect(rtp.serialize(ext_maps[kind]))
                    out.write(struct.pack("!HH", p, len(datagram)) + datagram)
                    times.append(round(t, 6))
                    written += 1
            if written >= count:
                break
    if written < count:
        raise RuntimeError(f"the schedule produced {written} packets, fewer than {count}")
    meta: dict[str, Any] = {
        "n": n, "count": count, "data": str(data_path),
        "extensions": {kind: {e.uri: e.id for e in HEADER_EXTENSIONS[kind]} for kind in ("audio", "video")},
        "publishers": [{"key": pub["key"],
                        "streams": [vars(pub["video"]), vars(pub["audio"])]} for pub in publishers],
        "subscriber_keys": [rnd.randbytes(SRTP_KEY_SIZE).hex() for _ in range(n)],
        "times": times,  # each datagram's media time (s)
    }
    if simulcast:
        meta["simulcast"] = True
        meta["switch_at"] = switch_at
        # What the Router's refill timer follows: packets of this room per second of media.
        meta["packets_per_second"] = round(written / times[-1], 3) if times[-1] > 0 else 118.8 * n
        for p, (pub, entry) in enumerate(zip(publishers, meta["publishers"], strict=True)):
            entry["streams"] = [{**vars(pub["low"]), "layer": "low"}, {**vars(pub["video"]), "layer": "high"},
                                vars(pub["audio"])]
            entry["viewers"] = {str(sub): layer for sub, layer in viewer_layers(n, p).items()}
    meta_path = directory / f"room-{n}-{count}{'-simulcast' if simulcast else ''}.json"
    meta_path.write_text(json.dumps(meta))
    return meta_path


def read_datagrams(blob: bytes) -> list[tuple[int, bytes]]:
    """Split a prepared datagram file into (publisher, datagram) pairs."""
    out = []
    off = 0
    while off < len(blob):
        if off + 4 > len(blob):
            raise ValueError("datagram file is truncated in a record header")
        p, size = struct.unpack_from("!HH", blob, off)
        off += 4
        if off + size > len(blob):
            raise ValueError("datagram file is truncated in a datagram")
        out.append((p, blob[off:off + size]))
        off += size
    return out


# -- the room (runs under valgrind) -------------------------------------------------------------------

class UdpSendPath:
    """What media/adapter.py's SendPath gives a slot: one subscriber's SRTP session, the shared socket."""

    def __init__(self, transport: Any, sock: socket.socket, addr: tuple[str, int], key: bytes) -> None:
        from pylibsrtp import Policy, Session

        from media import adapter

        session = Session(Policy(key=key, ssrc_type=Policy.SSRC_ANY_OUTBOUND,
                                 srtp_profile=Policy.SRTP_PROFILE_AEAD_AES_256_GCM))
        self.protect = session.protect
        self.protect_rtcp = session.protect_rtcp
        self.sendto = transport.sendto
        self.addr = addr
        self.buffer_size = transport.get_write_buffer_size
        self.fd = sock.fileno()
        self.session = session  # keeps the libsrtp context alive as long as the path
        self.srtp_protect, self.srtp_ctx = adapter.srtp_handles(session)


class _IceProtocol:
    """Stands in for aioice's protocol of one socket: guard_receive wraps its ``datagram_received``."""

    def datagram_received(self, data: bytes, addr: Any) -> None:
        raise RuntimeError("a prepared datagram reached the STUN/DTLS path")


class _IceConnection:
    def __init__(self, protocol: _IceProtocol) -> None:
        self._protocols = [protocol]


class _IceTransport:
    def __init__(self, connection: _IceConnection) -> None:
        self._connection = connection


class PublisherConnection:
    """Stands in for a publisher's DTLS transport: exactly what media/adapter.py guard_receive reads of it.

    That is the connection's socket protocols and the receiving SRTP session; guard_receive then does what
    it does in the server for every datagram (demultiplexing, size checks, SRTP unprotect with the send
    path's step) and hands the packet to ``on_rtp``.
    """

    def __init__(self, session: Any) -> None:
        self.protocol = _IceProtocol()
        self.transport = _IceTransport(_IceConnection(self.protocol))
        self._rx_srtp = session


def receive_entry(session: Any, by_ssrc: dict[int, Any], drops: dict[Any, int],
                  compiled: bool) -> Callable[[bytes], None]:
    """Return the server's receive path for one publisher connection, from datagram to Producer.receive.

    media/adapter.py guard_receive (with the compiled receive step when the send path is compiled, as
    media/transport.py does, if this tree's guard_receive has one) in front of what
    PublishTransport._on_rtp does: find the producer by SSRC.
    """
    import inspect

    from media import adapter
    from media.reasons import GUARD_DROPS

    def on_rtp(p: bytes) -> None:
        producer = by_ssrc.get((p[8] << 24) | (p[9] << 16) | (p[10] << 8) | p[11])
        if producer is None:
            raise RuntimeError("a prepared datagram has an unknown SSRC")
        producer.receive(p)

    def on_rtcp(data: bytes) -> None:
        raise RuntimeError("the prepared datagrams hold no RTCP")

    def on_drop(code: int) -> None:
        drops[GUARD_DROPS[code]] += 1

    dtls = PublisherConnection(session)
    options = {"compiled": compiled} if "compiled" in inspect.signature(adapter.guard_receive).parameters else {}
    if adapter.guard_receive(dtls, on_rtp, on_rtcp, on_drop, **options) != 1:  # type: ignore[arg-type]
        raise RuntimeError("guard_receive did not take the stand-in's socket")
    received = dtls.protocol.datagram_received
    addr = ("127.0.0.1", 9)

    def deliver(data: bytes) -> None:
        received(data, addr)

    return deliver


def shared_socket(loop: Any, compiled: bool) -> tuple[Any, socket.socket]:
    """Open the room's one UDP socket on 127.0.0.1 as media/udp_mux.py's UdpMux does for ``ice.udp_port``.

    With the compiled step the server reads it through media/udp_transport.py's recvmmsg transport (when
    this tree has one; server/app.py: ``UdpMux(batched=compiled_send)``), else through the event loop's own
    datagram transport: the transport whose ``sendto`` and ``get_write_buffer_size`` the slots call.
    """
    import asyncio

    if compiled:
        try:
            from media.udp_transport import open_batched
        except ImportError:  # a tree from before the recvmmsg transport
            pass
        else:
            batched = open_batched(loop, asyncio.DatagramProtocol(), "127.0.0.1", 0)
            return batched, batched.get_extra_info("socket")
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    transport, _ = loop.run_until_complete(loop.create_datagram_endpoint(asyncio.DatagramProtocol, sock=sock))
    return transport, sock


def run_room(meta_path: Path, packets: int, forwarding: str, switched: bool = False) -> dict[str, Any]:
    """Build the room of the prepared metadata and push the first ``packets`` datagrams through it.

    A simulcast room's cameras are built as media/transport.py ``_make_track`` builds them: one Producer per
    layer sharing the track's id, the lowest the ``track``, ``vp8_layer`` set on both. Each viewer has one
    slot for the camera and a LayeredConsumer on its layer. ``switched``: every viewer starts on the other
    layer and is switched (``Producer.switch``) just before the layers' extra key frame, so that from then
    on its copies carry shifted VP8 picture ids and TL0PICIDX.
    """
    import asyncio

    import uvloop
    from pylibsrtp import Policy, Session

    from media.consumer import Consumer, Slot, compiled_available
    from media.producer import DEFAULT_MAX_BITRATE, Producer
    from media.reasons import DropReason
    from media.simulcast import LayeredConsumer

    random.seed(0)  # the slots' first sequence numbers and timestamps: identical in both runs
    if forwarding == "c" and not compiled_available():
        raise RuntimeError("media/_fastsend.c was not built: --forwarding c cannot run")
    meta = json.loads(meta_path.read_text())
    n = meta["n"]
    if switched and not meta.get("simulcast"):
        raise ValueError("only a simulcast room has layers to switch")
    datagrams = read_datagrams(Path(meta["data"]).read_bytes())  # all of them, in both runs
    if packets > len(datagrams):
        raise ValueError(f"only {len(datagrams)} datagrams were prepared")

    loop = uvloop.new_event_loop()
    transport, server_sock = shared_socket(loop, compiled=forwarding == "c")
    subscribers = []
    for _ in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SUBSCRIBER_RCVBUF)
        s.bind(("127.0.0.1", 0))
        subscribers.append(s)
    drainer = subprocess.Popen(
        [sys.executable, "-m", "bench.instructions", "--drain", ",".join(str(s.fileno()) for s in subscribers)],
        cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        pass_fds=[s.fileno() for s in subscribers])
    try:
        assert drainer.stdout is not None and drainer.stdin is not None
        if drainer.stdout.readline().strip() != "draining":
            raise RuntimeError("the drain helper did not start")
        addrs = [s.getsockname() for s in subscribers]
        for s in subscribers:
            s.close()  # the helper holds them now

        drops: dict[DropReason, int] = {reason: 0 for reason in DropReason}
        paths = [UdpSendPath(transport, server_sock, addrs[i], bytes.fromhex(meta["subscriber_keys"][i]))
                 for i in range(n)]
        producers: list[Producer] = []
        consumers: list[Consumer] = []
        switches: list[tuple[Producer, Consumer, Producer]] = []  # (track, consumer, the layer it moves to)
        entries = []
        for p, pub in enumerate(meta["publishers"]):
            rx = Session(Policy(key=bytes.fromhex(pub["key"]), ssrc_type=Policy.SSRC_ANY_INBOUND,
                                srtp_profile=Policy.SRTP_PROFILE_AEAD_AES_256_GCM))
            by_ssrc = {}
            layers: dict[str, Producer] = {}
            for st in pub["streams"]:
                producer = Producer(
                    producer_id=f"t{p}{st['kind'][0]}", owner_id=f"p{p}", kind=st["kind"],
                    label="camera" if st["kind"] == "video" else "microphone", mime_type=st["mime_type"],
                    clock_rate=st["clock_rate"], extension_ids=meta["extensions"][st["kind"]],
                    rtcp_ssrc=0x10000 + 2 * p, send_rtcp=lambda data: True, drops=drops, ssrc=st["ssrc"],
                    payload_type=st["payload_type"], compiled=forwarding == "c",  # as media/transport.py builds it
                )
                by_ssrc[st["ssrc"]] = producer
                producers.append(producer)
                if st.get("layer"):
                    layers[st["layer"]] = producer  # the layer's viewers come below
                    continue
                for sub in range(n):
                    if sub == p:
                        continue
                    # One slot per (subscriber, track): its SSRC is unique within the subscriber's session.
                    ssrc = 0x20000000 + 64 * sub + len(producers)
                    slot = Slot(None, st["kind"], producer.codec_key, ssrc, f"c{sub}")
                    slot.attach_send_path(paths[sub], st["payload_type"], compiled=forwarding == "c")
                    consumer = Consumer(f"c{sub}-{producer.id}", producer, slot, f"p{sub}")
                    producer.add_consumer(consumer)
                    consumers.append(consumer)
            if layers:
                low, high = layers["low"], layers["high"]
                for layer, rid in ((low, "l"), (high, "h")):
                    layer.track, layer.rid, layer.layered, layer.vp8_layer = low, rid, True, True
                low.layers = [low, high]
                for sub_text, final in pub["viewers"].items():
                    sub = int(sub_text)
                    target = layers[final]
                    start = layers["high" if final == "low" else "low"] if switched else target
                    slot = Slot(None, "video", low.codec_key, 0x30000000 + 64 * sub + p, f"c{sub}")
                    slot.attach_send_path(paths[sub], low.payload_type, compiled=forwarding == "c")
                    consumer = LayeredConsumer(f"c{sub}-{low.id}", start, slot, f"p{sub}")
                    start.add_consumer(consumer)
                    consumers.append(consumer)
                    if start is not target:
                        switches.append((low, consumer, target))
            entries.append(receive_entry(rx, by_ssrc, drops, compiled=forwarding == "c"))

        # Media time of each datagram, for the Router's refill timer: packets of a plain room of n arrive at
        # ~118.8 n per second on the peer load.
        seconds_per_packet = 1 / meta.get("packets_per_second", 118.8 * n)
        next_refill = REFILL_SECONDS
        switch_at = meta.get("switch_at", -1) if switches else -1
        if switches and not 0 <= switch_at < packets:
            raise ValueError("the switches must be asked for within the run")
        start_at = 0
        for stop in ([switch_at, packets] if switches else [packets]):
            for k in range(start_at, stop):
                p, data = datagrams[k]
                entries[p](data)
                if k * seconds_per_packet >= next_refill:
                    next_refill += REFILL_SECONDS
                    for producer in producers:
                        producer.refill(REFILL_SECONDS, DEFAULT_MAX_BITRATE)
            start_at = stop
            if stop == switch_at:
                for track, consumer, target in switches:
                    track.switch(consumer, target)
        drainer.stdin.write("done\n")
        drainer.stdin.flush()
        received = json.loads(drainer.stdout.readline() or "{}").get("received")
    finally:
        if drainer.poll() is None:
            try:
                drainer.stdin.close()  # type: ignore[union-attr]
                drainer.wait(10)
            except (OSError, subprocess.TimeoutExpired):
                drainer.kill()
                drainer.wait(5)
        transport.close()
        loop.run_until_complete(asyncio.sleep(0))
        loop.close()
    layered = [c for c in consumers if isinstance(c, LayeredConsumer)]
    return {
        "n": n, "packets": packets, "forwarding": forwarding, "switched": switched,
        "forwarded": sum(c.packets for c in consumers),
        "received_by_subscribers": received,
        "drops": {reason.value: count for reason, count in drops.items() if count},
        "failures": sum(pr.failures for pr in producers),
        # Simulcast: the viewers on each layer at the end, those whose copies are rewritten, switches pending.
        "layer_viewers": {rid: sum(1 for c in layered if c.producer.rid == rid) for rid in ("l", "h")},
        "rewriting": sum(1 for c in layered if c.picture_off and c.tl0_off),
        "switches_pending": sum(1 for c in layered if c.pending is not None),
    }


def drain(fds: list[int]) -> None:
    """The helper process: read every subscriber socket until told to stop, then say how much arrived."""
    import selectors

    socks = [socket.socket(fileno=fd) for fd in fds]
    selector = selectors.DefaultSelector()
    for s in socks:
        s.setblocking(False)
        selector.register(s, selectors.EVENT_READ)
    selector.register(sys.stdin, selectors.EVENT_READ, data="control")
    received = 0
    print("draining", flush=True)

    def read_all() -> int:
        got = 0
        for s in socks:
            while True:
                try:
                    s.recv(2048)
                except BlockingIOError:
                    break
                got += 1
        return got

    stop = False
    while not stop:
        for key, _ in selector.select(1.0):
            if key.data == "control":
                sys.stdin.readline()
                stop = True
            else:
                received += read_all()
    time.sleep(0.2)  # what is still in flight on loopback
    received += read_all()
    print(json.dumps({"received": received}), flush=True)


# -- the driver ---------------------------------------------------------------------------------------

def callgrind(meta: Path, packets: int, forwarding: str, out_file: Path, timeout: float,
              scenario: str = "plain") -> dict[str, Any]:
    """Run one room under callgrind; return the room's own report and callgrind's file."""
    cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out_file}", "--compress-strings=no",
           "--compress-pos=no", "--trace-children=no",
           sys.executable, "-m", "bench.instructions", "--run-room", str(meta), "--packets", str(packets),
           "--forwarding", forwarding, "--scenarios", scenario]
    # A fixed hash seed: dict layouts, and so the instructions spent in them, are the same in every run.
    env = dict(os.environ, PYTHONHASHSEED="0")
    started = time.monotonic()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"the callgrind run failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise RuntimeError(f"the room printed no report:\n{proc.stderr[-3000:]}")
    report = json.loads(lines[-1])
    report["seconds"] = round(time.monotonic() - started, 1)
    return report


def measure(n: int, forwarding: str, meta: Path, k1: int, k2: int, workdir: Path, timeout: float,
            top: int, scenario: str = "plain") -> dict[str, Any]:
    """Two callgrind runs of one room (K1 and K2 packets) and what their difference says."""
    room = json.loads(meta.read_text())
    if scenario == "simulcast-switched" and not 0 <= room.get("switch_at", -1) < k1:
        raise ValueError(f"the layer switches (at packet {room.get('switch_at')}) must come before K1 = {k1}")
    copies, layer_copies = window_copies(room, read_datagrams(Path(room["data"]).read_bytes()), k1, k2)
    runs = {}
    profiles = {}
    inclusive = {}
    name = "" if scenario == "plain" else f"-{scenario}"
    files = {k: workdir / f"callgrind-n{n}-{forwarding}{name}-k{k}.out" for k in (k1, k2)}
    for k in (k1, k2):
        log(f"N={n}, {forwarding}, {scenario}: callgrind with {k} packets")
        runs[k] = callgrind(meta, k, forwarding, files[k], timeout, scenario)
        with open(files[k]) as f:
            profiles[k] = parse_callgrind(f)
        inclusive[k] = annotate_inclusive(files[k]) if shutil.which("callgrind_annotate") else {}
        log(f"N={n}, {forwarding}, {scenario}, K={k}: Ir {profiles[k].total:,} in {runs[k]['seconds']} s; "
            f"forwarded {runs[k]['forwarded']}, received {runs[k]['received_by_subscribers']}, "
            f"drops {runs[k]['drops']}")
    forwarded = runs[k2]["forwarded"] - runs[k1]["forwarded"]
    ir = profiles[k2].total - profiles[k1].total
    per_pkt = ir / copies
    split = differenced(by_category(profiles[k1].per_object), by_category(profiles[k2].per_object), copies)
    functions = differenced(inclusive[k1], inclusive[k2], copies) if inclusive[k1] else {}
    self_costs = differenced(profiles[k1].per_function, profiles[k2].per_function, copies)
    seconds = room["times"][k2 - 1] - room["times"][k1 - 1]
    row: dict[str, Any] = {
        "n": n, "forwarding": forwarding, "scenario": scenario, "k1": k1, "k2": k2,
        "ir_k1": profiles[k1].total, "ir_k2": profiles[k2].total,
        "instructions_per_fwd_pkt": round(per_pkt, 1),
        "instructions_per_incoming_pkt": round(ir / (k2 - k1), 1),
        "media_seconds": round(seconds, 3),
        "instructions_per_media_second": round(ir / seconds) if seconds > 0 else None,
        "expected_copies": copies,
        "forwarded_copies": forwarded,
        "received_copies": (None if runs[k2]["received_by_subscribers"] is None
                            or runs[k1]["received_by_subscribers"] is None
                            else runs[k2]["received_by_subscribers"] - runs[k1]["received_by_subscribers"]),
        "drops_k2": runs[k2]["drops"],
        "split_per_fwd_pkt": {k: round(v, 1) for k, v in split.items() if abs(v) >= 0.5},
        # callgrind_annotate --inclusive=yes, differenced; the program's outermost frames left out
        "top_inclusive_per_fwd_pkt": [(name, round(v, 1)) for name, v in telling(functions, per_pkt, top)],
        "top_self_per_fwd_pkt": [(short_name(name), round(v, 1)) for name, v in list(self_costs.items())[:top]],
        "callgrind_seconds": [runs[k1]["seconds"], runs[k2]["seconds"]],
        "callgrind_files": [str(files[k]) for k in (k1, k2)],
    }
    if room.get("simulcast"):
        row.update({"layer_copies": layer_copies, "layer_viewers": runs[k2]["layer_viewers"],
                    "rewriting_consumers": runs[k2]["rewriting"], "switches_pending": runs[k2]["switches_pending"]})
    return row


def compare(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Set each simulcast row beside the plain row of its N and send path; return the comparisons.

    ``over_plain``: the simulcast room's cost over the plain room's, per forwarded copy, per incoming packet
    and per second of the room's media. ``rewrite_per_copy``: what the switched viewers' VP8 rewrite adds to
    each of their copies, the switched room's instructions less the unswitched one's over the layers' copies
    (the two rooms' packets are the same).
    """
    by_key = {(r["n"], r["forwarding"], r.get("scenario", "plain")): r for r in rows}
    out = []
    for (n, forwarding, scenario), row in sorted(by_key.items()):
        plain = by_key.get((n, forwarding, "plain"))
        if scenario == "plain" or plain is None:
            continue
        entry: dict[str, Any] = {"n": n, "forwarding": forwarding, "scenario": scenario}
        for what in ("instructions_per_fwd_pkt", "instructions_per_incoming_pkt", "instructions_per_media_second"):
            if row.get(what) and plain.get(what):
                entry[f"over_plain_{what.removeprefix('instructions_')}"] = round(row[what] / plain[what], 3)
        unswitched = by_key.get((n, forwarding, "simulcast"))
        if scenario == "simulcast-switched" and unswitched is not None and row.get("layer_copies"):
            extra = (row["ir_k2"] - row["ir_k1"]) - (unswitched["ir_k2"] - unswitched["ir_k1"])
            entry["rewrite_per_copy"] = round(extra / row["layer_copies"], 1)
        out.append(entry)
    return out


def print_table(rows: list[dict[str, Any]]) -> None:
    print(f"{'N':>3} {'path':>6} {'scenario':>18} {'instr/fwd pkt':>14} {'instr/in pkt':>13} {'Minstr/media s':>15} "
          f"{'copies ok':>10}  split (per forwarded packet)")
    for r in rows:
        ok = "yes" if r["forwarded_copies"] == r["expected_copies"] == r["received_copies"] else "NO"
        split = ", ".join(f"{k.split(' (')[0]} {v:,.0f}" for k, v in list(r["split_per_fwd_pkt"].items())[:5])
        per_second = r.get("instructions_per_media_second")
        print(f"{r['n']:>3} {r['forwarding']:>6} {r.get('scenario', 'plain'):>18} "
              f"{r['instructions_per_fwd_pkt']:>14,.0f} {r['instructions_per_incoming_pkt']:>13,.0f} "
              f"{per_second / 1e6 if per_second else 0:>15,.1f} {ok:>10}  {split}")
    print("user-space instructions only (callgrind does not count the kernel: sendto and the loopback delivery "
          "are not in these figures); (Ir(K2) - Ir(K1)) / the copies packets K1..K2 make")
    by_n: dict[tuple[int, str], dict[str, dict[str, Any]]] = collections.defaultdict(dict)
    for r in rows:
        by_n[(r["n"], r.get("scenario", "plain"))][r["forwarding"]] = r
    for (n, scenario), modes in sorted(by_n.items()):
        if "c" in modes and "python" in modes:
            c, py = modes["c"]["instructions_per_fwd_pkt"], modes["python"]["instructions_per_fwd_pkt"]
            print(f"  N={n}, {scenario}: compiled / pure Python = {c / py:.3f}")
    for entry in compare(rows):
        ratios = ", ".join(f"{k.removeprefix('over_plain_')} x{v:.3f}" for k, v in entry.items()
                           if k.startswith("over_plain_"))
        rewrite = f"; VP8 rewrite {entry['rewrite_per_copy']:,.0f} per rewritten copy" if "rewrite_per_copy" in entry \
            else ""
        print(f"  N={entry['n']}, {entry['forwarding']}, {entry['scenario']} over plain: {ratios}{rewrite}")


def parse_list(kind: type, allowed: Iterable[Any] | None = None) -> Callable[[str], list[Any]]:
    def parse(text: str) -> list[Any]:
        values = [kind(v.strip()) for v in text.split(",") if v.strip()]
        if not values or (allowed is not None and any(v not in allowed for v in values)):
            raise argparse.ArgumentTypeError(f"expected a comma-separated list{f' of {allowed}' if allowed else ''}")
        return values

    return parse


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.instructions", description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=parse_list(int), default=[3, 8, 15], help="room sizes N (default 3,8,15)")
    parser.add_argument("--forwarding", type=parse_list(str, FORWARDING_MODES), default=list(FORWARDING_MODES),
                        help="send paths: c (media/_fastsend.c), python, or both (default c,python)")
    parser.add_argument("--k1", type=int, default=DEFAULT_K1, help=f"packets of the short run (default {DEFAULT_K1})")
    parser.add_argument("--k2", type=int, default=DEFAULT_K2, help=f"packets of the long run (default {DEFAULT_K2})")
    parser.add_argument("--top", type=int, default=15, help="functions listed per run (inclusive, default 15)")
    parser.add_argument("--timeout", type=float, default=600, help="seconds one callgrind run may take")
    parser.add_argument("--keep", metavar="DIR", help="keep the callgrind files and prepared packets here")
    parser.add_argument("--json", metavar="FILE", help="write the results as JSON")
    parser.add_argument("--scenarios", type=parse_list(str, SCENARIOS), default=["plain"],
                        help="rooms to measure: plain, simulcast (two layers per camera, viewers split between "
                             "them), simulcast-switched (the same, every viewer switched once; default plain)")
    parser.add_argument("--simulcast", action="store_true",
                        help="measure all three scenarios in one run (--scenarios " + ",".join(SCENARIOS) + ")")
    # Internal: what the driver runs under valgrind, and the drain helper.
    parser.add_argument("--run-room", metavar="META", help=argparse.SUPPRESS)
    parser.add_argument("--packets", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--drain", metavar="FDS", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.drain:
        drain([int(fd) for fd in args.drain.split(",")])
        return 0
    if args.run_room:
        forwarding = args.forwarding[0]
        switched = args.scenarios[0] == "simulcast-switched"
        print(json.dumps(run_room(Path(args.run_room), args.packets, forwarding, switched)), flush=True)
        return 0
    scenarios = list(SCENARIOS) if args.simulcast else args.scenarios
    if not 0 < args.k1 < args.k2:
        parser.error("need 0 < --k1 < --k2")
    if any(not 2 <= n <= 50 for n in args.sizes):
        parser.error("room sizes must be between 2 and 50")
    if shutil.which("valgrind") is None:
        parser.error("valgrind is not installed (apt-get install valgrind)")
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="haven-instructions-") as tmp:
        workdir = Path(args.keep) if args.keep else Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        for n in args.sizes:
            metas = {}
            if "plain" in scenarios:
                metas["plain"] = prepare_room(n, args.k2, workdir)
            if any(s != "plain" for s in scenarios):
                # Both simulcast rooms replay the same packets: only the viewers' switches differ.
                metas["simulcast"] = metas["simulcast-switched"] = prepare_room(n, args.k2, workdir, simulcast=True)
            for forwarding in args.forwarding:
                for scenario in scenarios:
                    row = measure(n, forwarding, metas[scenario], args.k1, args.k2, workdir, args.timeout, args.top,
                                  scenario)
                    rows.append(row)
                    log(json.dumps({k: row[k] for k in ("n", "forwarding", "scenario", "instructions_per_fwd_pkt",
                                                         "instructions_per_incoming_pkt", "split_per_fwd_pkt")}))
                    if args.json:
                        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")
    for entry in compare(rows):  # the simulcast rows carry their comparison with the plain room too
        row = next(r for r in rows if (r["n"], r["forwarding"], r["scenario"]) ==
                   (entry["n"], entry["forwarding"], entry["scenario"]))
        row.update({k: v for k, v in entry.items() if k.startswith(("over_plain_", "rewrite_"))})
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")
    print_table(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
