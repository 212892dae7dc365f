"""Load generator: N participants in one room, each publishing VP8 + Opus and subscribing to all others.

Speaks docs/protocol.md over the WebSocket (hello, join, publish, subscriber-answer, pong) against a
Haven server or the MediaRelay baseline (bench/baseline_relay.py). Run by bench/forwarding.py on its own
CPU; it measures from outside the server:

* publishers replay pre-encoded packets (bench/media.py), counted and time-stamped at the moment aiortc
  hands them to SRTP;
* subscribers take decrypted RTP straight from aioice's datagram callback (through bench/seam.py, the
  way the server's own fast receive path does): no jitter buffer, no decoder; they count packets and read
  the trailer of every frame's last packet (marker bit) and the kernel's receive timestamp for latency;
* the server's CPU and RSS are read from /proc/<pid>.

Prints one JSON document (``--out``). Every wait is bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import ctypes
import fcntl
import itertools
import json
import os
import random
import socket
import struct
import sys
import time
from array import array
from typing import Any

import aiohttp
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.rtcconfiguration import RTCBundlePolicy
from aiortc.rtp import RtcpPsfbPacket, RtcpRtpfbPacket

from server.auth import TokenIssuer

from . import seam
from .common import (
    CLK_TCK,
    ROOM,
    SECRET,
    close_peer_connections,
    cpu_ns_exact,
    cpu_seconds,
    cpu_split,
    cpu_times,
    percentile,
    rss_mb,
    sched_counters,
    thread_count,
    udp_counters,
)
from .media import MAGIC, PROFILES, Gate, Media, make_tracks

SO_ATTACH_FILTER = 26
SIOCGSTAMPNS = 0x8907  # struct timespec (CLOCK_REALTIME) of the last datagram read from a socket
TIMESPEC = struct.Struct("qq")
ZERO16 = bytes(16)
DRAIN = 0.6  # seconds without media before/after a window: longer than any in-flight delay seen
# ... and then until the subscribers have read everything (their sockets can hold seconds of media when
# this process falls behind on a loaded machine): no packet for QUIET seconds, at most SETTLE_MAX.
QUIET = 0.25
SETTLE_MAX = 15.0


def log(*args: Any) -> None:
    print(f"[loadgen {time.strftime('%H:%M:%S')}]", *args, file=sys.stderr, flush=True)


def configuration() -> RTCConfiguration:
    return RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)


def drop_everything(sock_fd: int) -> None:
    """Attach a socket filter that discards every datagram: the socket is no longer serviced.

    For UDP this is what a process that stopped reading looks like from the sender: datagrams vanish
    at the receiver (a full receive buffer drops them the same way), sendto never fails.
    """
    insn = struct.pack("HBBI", 0x06, 0, 0, 0)  # BPF_RET | BPF_K, accept 0 bytes
    buf = ctypes.create_string_buffer(insn, len(insn))
    prog = struct.pack("HL", 1, ctypes.addressof(buf))
    dup = socket.socket(fileno=os.dup(sock_fd))
    try:
        dup.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, prog)
    finally:
        dup.close()


class Member:
    """One participant: a signaling WebSocket, a publish connection and a subscribe connection."""

    def __init__(self, gen: LoadGenerator, index: int, token: str, room: str = ROOM) -> None:
        self.gen = gen
        self.index = index
        self.token = token
        self.room = room  # bench/capacity.py runs several rooms in one process
        self.session: aiohttp.ClientSession | None = None
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.ids = itertools.count(1)
        self.pending: dict[int, asyncio.Future] = {}
        self.reader: asyncio.Task | None = None
        self.answering: asyncio.Task | None = None
        self.pub_pc: RTCPeerConnection | None = None
        self.sub_pc: RTCPeerConnection | None = None
        self.sub_dtls: Any = None
        self.consumers: list[dict] = []
        self.offer_revision = 0
        self.answered_revision = 0
        self.fast_installed = False
        self.closed_code: int | None = None
        self.waiting = False
        self.admitted = asyncio.Event()
        # publisher side (counted at the SRTP hand-off)
        self.tx = 0
        self.tx_marker = 0
        # subscriber side
        self.rx = 0
        self.rx_marker = 0
        self.lat = array("q")  # server path: kernel receive stamp - publisher stamp
        self.lat_app = array("q")  # end to end: this process's callback time - publisher stamp
        self.unprotect_failures = 0
        # slow-subscriber behaviour
        self.drop_fraction = 0.0
        self.dropped = 0
        self.nacks_sent = 0
        self.plis_sent = 0
        self.last_seq: dict[int, int] = {}
        self.lost_since_pli: dict[int, int] = {}
        self.last_pli: dict[int, float] = {}
        self.stopped = False
        self.lossy = False

    # -- signaling ------------------------------------------------------------------------------

    async def connect(self) -> None:
        self.session = aiohttp.ClientSession()
        self.ws = await self.session.ws_connect(f"{self.gen.base_url}/ws", max_msg_size=0)
        self.reader = asyncio.ensure_future(self._read())
        hello = await self.request("hello", version=1, token=self.token, room=self.room)
        fields: dict[str, Any] = {}
        consent = hello.get("consent")
        if isinstance(consent, dict) and "version" in consent:
            fields["consent_version"] = consent["version"]  # the agreement is "accepted" by the bench
        if hello.get("emergency_info_required"):
            # docs/protocol.md 5.2: confirmed at every join; the bench's members are nowhere in particular.
            fields["emergency_info"] = {"location": f"Benchmark member {self.index}", "contact": "Nobody (benchmark)"}
        joined = await self.request("join", **fields)
        self.waiting = joined.get("state") == "waiting"

    async def request(self, kind: str, timeout: float = 30.0, **fields: Any) -> dict:
        request_id = next(self.ids)
        future = asyncio.get_running_loop().create_future()
        self.pending[request_id] = future
        assert self.ws is not None
        await self.ws.send_json({"type": kind, "id": request_id, **fields})
        return await asyncio.wait_for(future, timeout)

    async def _read(self) -> None:
        assert self.ws is not None
        try:
            async for message in self.ws:
                if message.type != aiohttp.WSMsgType.TEXT:
                    break
                data = json.loads(message.data)
                kind = data.get("type")
                if kind in ("result", "error") and data.get("id") in self.pending:
                    future = self.pending.pop(data["id"])
                    if not future.done():
                        if kind == "result":
                            future.set_result(data.get("data", {}))
                        else:
                            future.set_exception(RuntimeError(f"{data.get('code')}: {data.get('message')}"))
                elif kind == "ping":
                    await self.ws.send_json({"type": "pong", "ts": data["ts"]})
                elif kind == "admitted":
                    self.waiting = False
                    self.admitted.set()
                elif kind == "consumers":
                    self.consumers = data["consumers"]
                elif kind == "subscriber-offer":
                    self.offer_revision = data["revision"]
                    previous = self.answering
                    self.answering = asyncio.ensure_future(self._answer(previous, data["revision"], data["sdp"]))
        except Exception as exc:  # the benchmark reports it; the socket is gone either way
            log(f"member {self.index}: reader stopped: {exc!r}")
        self.closed_code = self.ws.close_code
        for future in self.pending.values():
            if not future.done():
                future.set_exception(ConnectionError(f"socket closed ({self.closed_code})"))

    async def _answer(self, previous: asyncio.Task | None, revision: int, sdp: str) -> None:
        if previous is not None:
            await asyncio.wait([previous], timeout=30)
        try:
            if self.sub_pc is None:
                self.sub_pc = RTCPeerConnection(configuration())
                self.sub_pc.on("connectionstatechange", self._sub_state)
            pc = self.sub_pc
            await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
            await pc.setLocalDescription(await pc.createAnswer())
            if self.sub_dtls is None:
                self.sub_dtls = seam.dtls_transport(pc)
                # Until the fast path is installed, decrypted RTP still never reaches aiortc's receivers.
                if self.sub_dtls is not None:
                    seam.divert_rtp(self.sub_dtls, self.on_rtp)
            await self.request("subscriber-answer", revision=revision, sdp=pc.localDescription.sdp)
            self.answered_revision = max(self.answered_revision, revision)
        except Exception as exc:
            log(f"member {self.index}: answering offer {revision} failed: {exc!r}")

    async def _sub_state(self) -> None:
        pc = self.sub_pc
        if pc is None or self.fast_installed:
            return
        if pc.connectionState == "connected" and seam.is_connected(self.sub_dtls):
            self._install_fast_receive()
            self.fast_installed = True

    def _install_fast_receive(self) -> None:
        """Take SRTP straight from aioice's datagram callback, and read each frame's kernel receive timestamp.

        On loopback the kernel stamps a datagram (``SIOCGSTAMPNS``) inside the server's ``sendmsg``, so
        ``kernel stamp - publisher stamp`` is the latency the server adds, free of this process's own
        scheduling delays; ``now - publisher stamp`` (the "app" latency) includes them.
        """
        unprotect = seam.srtp_unprotect(self.sub_dtls)

        def wrap(original: seam.DatagramHandler, sock: seam.Socket | None) -> seam.DatagramHandler:
            fd = sock.fileno() if sock is not None else -1
            if sock is not None and fd >= 0:
                try:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
                except OSError:
                    pass
                try:
                    fcntl.ioctl(fd, SIOCGSTAMPNS, bytes(16))  # switches kernel timestamps on
                except OSError:
                    pass

            def datagram_received(data: bytes, addr: Any) -> None:
                if len(data) > 12 and 127 < data[0] < 192 and not 191 < data[1] < 224:
                    try:
                        packet = unprotect(data)
                    except Exception:
                        self.unprotect_failures += 1
                        return
                    self.on_rtp(packet, fd)
                else:
                    original(data, addr)

            return datagram_received

        seam.wrap_datagram_handlers(self.sub_dtls, wrap)

    async def publish(self) -> None:
        gen = self.gen
        rnd = random.Random(self.index)
        video, audio = make_tracks(gen.media, gen.gate, start_index=(self.index * 37) % len(gen.media.video),
                                   phase_v=rnd.uniform(0, 1 / 30), phase_a=rnd.uniform(0, 0.02))
        pc = self.pub_pc = RTCPeerConnection(configuration())
        tv = pc.addTransceiver(video, direction="sendonly")
        ta = pc.addTransceiver(audio, direction="sendonly")
        await pc.setLocalDescription(await pc.createOffer())
        tracks = [{"mid": tv.mid, "label": "camera"}, {"mid": ta.mid, "label": "microphone"}]
        data = await self.request("publish", sdp=pc.localDescription.sdp, tracks=tracks)
        await pc.setRemoteDescription(RTCSessionDescription(sdp=data["sdp"], type="answer"))

        def count_and_stamp(data: bytes) -> bytes:
            b1 = data[1]
            if not 191 < b1 < 224:  # RTP, not RTCP
                self.tx += 1
                if b1 & 0x80:
                    self.tx_marker += 1
                    if data[-12:-8] == MAGIC:
                        data = data[:-8] + time.monotonic_ns().to_bytes(8, "big")
            return data

        seam.intercept_outgoing(tv.sender.transport, count_and_stamp)

    def ready(self, n: int) -> bool:
        return (
            self.pub_pc is not None and self.pub_pc.connectionState == "connected"
            and self.sub_pc is not None and self.sub_pc.connectionState == "connected"
            and self.fast_installed
            and len(self.consumers) >= 2 * (n - 1)
            and self.answered_revision == self.offer_revision > 0
        )

    # -- subscriber hot path --------------------------------------------------------------------

    def on_rtp(self, p: bytes, fd: int = -1) -> None:
        self.rx += 1
        if p[1] & 0x80:
            self.rx_marker += 1
            if p[-12:-8] == MAGIC:
                now = time.monotonic_ns()
                sent = int.from_bytes(p[-8:], "big")
                self.lat_app.append(now - sent)
                if fd >= 0:
                    try:
                        sec, nsec = TIMESPEC.unpack(fcntl.ioctl(fd, SIOCGSTAMPNS, ZERO16))
                        self.lat.append(sec * 1_000_000_000 + nsec - self.gen.realtime_offset - sent)
                    except OSError:
                        pass
        if self.lossy:
            self._track_loss(p)

    def _track_loss(self, p: bytes) -> None:
        """The slow subscriber reacts to its losses like a browser: NACK each gap, PLI when it piles up."""
        ssrc = int.from_bytes(p[8:12], "big")
        seq = (p[2] << 8) | p[3]
        last = self.last_seq.get(ssrc)
        if last is None:
            self.last_seq[ssrc] = seq
            return
        gap = (seq - last) & 0xFFFF
        if gap == 0 or gap >= 0x8000:
            return  # duplicate or a retransmission of an older packet
        self.last_seq[ssrc] = seq
        if gap > 1:
            lost = [(last + k) & 0xFFFF for k in range(1, min(gap, 33))]
            self._send_rtcp(bytes(RtcpRtpfbPacket(fmt=1, ssrc=self.index + 1, media_ssrc=ssrc, lost=lost)))
            self.nacks_sent += 1
            self.lost_since_pli[ssrc] = self.lost_since_pli.get(ssrc, 0) + len(lost)
            now = time.monotonic()
            if self.lost_since_pli[ssrc] > 10 and now - self.last_pli.get(ssrc, 0.0) > 1.0:
                self._send_rtcp(bytes(RtcpPsfbPacket(fmt=1, ssrc=self.index + 1, media_ssrc=ssrc)))
                self.plis_sent += 1
                self.last_pli[ssrc] = now
                self.lost_since_pli[ssrc] = 0

    def _send_rtcp(self, data: bytes) -> None:
        dtls = self.sub_dtls
        if dtls is None or self.stopped:
            return
        future = asyncio.ensure_future(seam.protect_and_send(dtls)(data))
        future.add_done_callback(lambda f: f.cancelled() or f.exception())

    def make_slow(self, fraction: float) -> None:
        """Drop ``fraction`` of incoming SRTP datagrams before any processing, and NACK what is missing."""
        self.drop_fraction = fraction
        rnd = random.Random(1234).random

        def wrap(inner: seam.DatagramHandler, sock: seam.Socket | None) -> seam.DatagramHandler:
            def datagram_received(data: bytes, addr: Any) -> None:
                if len(data) > 12 and 127 < data[0] < 192 and not 191 < data[1] < 224 and rnd() < fraction:
                    self.dropped += 1
                    return
                inner(data, addr)

            return datagram_received

        seam.wrap_datagram_handlers(self.sub_dtls, wrap)
        self.lossy = True

    def stop_reading(self) -> None:
        """Stop servicing the subscribe connection's sockets entirely (kernel discards everything)."""
        self.stopped = True
        for sock in seam.ice_sockets(self.sub_dtls):
            drop_everything(sock.fileno())

    async def close(self) -> None:
        await close_peer_connections(self.pub_pc, self.sub_pc)
        if self.answering is not None:
            self.answering.cancel()
        if self.ws is not None and not self.ws.closed:
            try:
                await asyncio.wait_for(self.ws.close(), 3)
            except Exception:
                pass
        if self.reader is not None:
            self.reader.cancel()
        if self.session is not None:
            await self.session.close()


def realtime_offset() -> int:
    """CLOCK_REALTIME - CLOCK_MONOTONIC in ns (the tightest of a few readings)."""
    best: tuple[int, int] | None = None
    for _ in range(5):
        a = time.monotonic_ns()
        r = time.time_ns()
        b = time.monotonic_ns()
        if best is None or b - a < best[0]:
            best = (b - a, r - (a + b) // 2)
    assert best is not None  # the loop ran
    return best[1]


def histogram(sorted_ns) -> dict:
    """Counts of latency samples per bucket (ms upper bounds)."""
    bounds = [0.5, 1, 2, 5, 10, 20, 50, 100, float("inf")]
    out = {}
    i = 0
    for b in bounds:
        j = bisect.bisect_right(sorted_ns, b * 1e6)
        out[f"<={b:g}" if b != float("inf") else ">100"] = j - i
        i = j
    return out


class LoadGenerator:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.base_url = args.url
        self.server_pid = args.server_pid
        self.gate = Gate()
        self.media: Media = None  # type: ignore[assignment]
        self.members: list[Member] = []
        self.lag = array("q")
        self.realtime_offset = realtime_offset()

    async def watch_lag(self) -> None:
        """Record how late this process's event loop wakes up (its own scheduling noise)."""
        while True:
            t = time.monotonic_ns()
            await asyncio.sleep(0.005)
            self.lag.append(time.monotonic_ns() - t - 5_000_000)

    def snapshot(self) -> dict:
        return {
            "t": time.monotonic(),
            "cpu": cpu_seconds(self.server_pid),
            "cpu_split": cpu_split(self.server_pid),
            "self_cpu": sum(os.times()[:2]),
            "cpus": cpu_times((0, 1)),
            "udp": udp_counters(),
            "server_sched": sched_counters(self.server_pid),
            "self_sched": sched_counters(os.getpid()),
            "tx": [m.tx for m in self.members],
            "tx_marker": [m.tx_marker for m in self.members],
            "rx": [m.rx for m in self.members],
            "rx_marker": [m.rx_marker for m in self.members],
            "unprotect_failures": sum(m.unprotect_failures for m in self.members),
        }

    async def settle(self) -> float:
        """After the publishers paused: wait until no subscriber receives anything; return the seconds waited.

        Without this a window is only closed if everything in flight arrives within DRAIN; when the
        subscribers fall behind reading their sockets, packets sent before a window would be counted in it.
        """
        t0 = time.monotonic()
        await asyncio.sleep(DRAIN)
        last = sum(m.rx for m in self.members)
        while time.monotonic() - t0 < SETTLE_MAX:
            await asyncio.sleep(QUIET)
            now = sum(m.rx for m in self.members)
            if now == last:
                break
            last = now
        return time.monotonic() - t0

    async def measure(self, seconds: float, subscribers: list[int] | None = None) -> dict:
        """Measure one window; ``subscribers`` restricts delivery/latency to those members (indices)."""
        n = len(self.members)
        subs = list(range(n)) if subscribers is None else subscribers
        # Closed window: publishers pause and the pipes drain before the first snapshot and after the
        # last, so every packet counted as sent in the window is also counted if it arrives.
        self.gate.close()
        settle_before = await self.settle()
        for m in self.members:
            m.lat = array("q")
            m.lat_app = array("q")
        self.lag = array("q")
        self.realtime_offset = realtime_offset()
        a = self.snapshot()
        self.gate.open()
        await asyncio.sleep(seconds)
        self.gate.close()
        b_cpu = self.snapshot()
        settle_after = await self.settle()
        b = self.snapshot()
        self.gate.open()
        for key in ("t", "cpu", "cpu_split", "self_cpu", "cpus"):
            b[key] = b_cpu[key]
        lat = sorted(itertools.chain.from_iterable(self.members[i].lat for i in subs))
        lat_app = sorted(itertools.chain.from_iterable(self.members[i].lat_app for i in subs))
        lag = sorted(self.lag)
        dt = b["t"] - a["t"]
        tx = [y - x for x, y in zip(a["tx"], b["tx"], strict=True)]
        txm = [y - x for x, y in zip(a["tx_marker"], b["tx_marker"], strict=True)]
        rx = [y - x for x, y in zip(a["rx"], b["rx"], strict=True)]
        rxm = [y - x for x, y in zip(a["rx_marker"], b["rx_marker"], strict=True)]
        sub_set = set(subs)
        # Each published packet is expected once at every listed subscriber other than its publisher.
        expected = sum(tx[p] * len(sub_set - {p}) for p in range(n))
        expected_m = sum(txm[p] * len(sub_set - {p}) for p in range(n))
        received = sum(rx[i] for i in subs)
        received_m = sum(rxm[i] for i in subs)
        received_all = sum(rx)
        cpu = b["cpu"] - a["cpu"]
        ms = lambda v: None if v is None else round(v / 1e6, 3)  # noqa: E731
        return {
            "seconds": round(dt, 3),
            # how long the pauses around the window took to go quiet (DRAIN when nothing lagged)
            "settle_before_s": round(settle_before, 2), "settle_after_s": round(settle_after, 2),
            "published_pkts_per_s": round(sum(tx) / dt, 1),
            "fwd_pkts_per_s": round(received_all / dt, 1),
            "server_cpu_pct": round(100 * cpu / dt, 2),
            "server_sys_share": round((b["cpu_split"][1] - a["cpu_split"][1]) / cpu, 3) if cpu else None,
            "us_cpu_per_fwd_pkt": round(1e6 * cpu / received_all, 2) if received_all else None,
            "delivery_ratio": round(received / expected, 5) if expected else None,
            "frame_delivery_ratio": round(received_m / expected_m, 5) if expected_m else None,
            "received": received, "expected": expected,
            "rx_per_member": rx, "tx_per_member": tx,
            "lat_samples": len(lat),
            "lat_p50_ms": ms(percentile(lat, 50)),
            "lat_p95_ms": ms(percentile(lat, 95)),
            "lat_p99_ms": ms(percentile(lat, 99)),
            "lat_min_ms": ms(lat[0] if lat else None),
            "lat_max_ms": ms(lat[-1] if lat else None),
            "loadgen_lag_p99_ms": ms(percentile(lag, 99)),
            "loadgen_lag_max_ms": ms(lag[-1] if lag else None),
            "lat_hist_ms": histogram(lat),
            "lat_app_p50_ms": ms(percentile(lat_app, 50)),
            "lat_app_p95_ms": ms(percentile(lat_app, 95)),
            "lat_app_p99_ms": ms(percentile(lat_app, 99)),
            "loadgen_cpu_pct": round(100 * (b["self_cpu"] - a["self_cpu"]) / dt, 1),
            # Contention on this shared machine: what else ran on the server's CPU, and hypervisor steal.
            "cpu0_busy_pct": round(100 * (b["cpus"][0][0] - a["cpus"][0][0]) / CLK_TCK / dt, 1),
            "cpu0_other_pct": round(100 * (b["cpus"][0][0] - a["cpus"][0][0]) / CLK_TCK / dt - 100 * cpu / dt, 1),
            "cpu1_busy_pct": round(100 * (b["cpus"][1][0] - a["cpus"][1][0]) / CLK_TCK / dt, 1),
            # Datagrams the kernel dropped in this namespace (full receive buffers), server or load generator.
            "udp_rcvbuf_errors": b["udp"].get("RcvbufErrors", 0) - a["udp"].get("RcvbufErrors", 0),
            "udp_sndbuf_errors": b["udp"].get("SndbufErrors", 0) - a["udp"].get("SndbufErrors", 0),
            # How often the server was preempted (by anything: neighbours, our own load generator never
            # runs on its CPU) and had to page code back in: the main sources of latency outliers here.
            "server_preempted_per_s": round(
                (b_cpu["server_sched"]["preempted"] - a["server_sched"]["preempted"]) / dt, 1),
            "server_major_faults": b["server_sched"]["majflt"] - a["server_sched"]["majflt"],
            "loadgen_major_faults": b["self_sched"]["majflt"] - a["self_sched"]["majflt"],
            "steal_pct": round(100 * sum(b["cpus"][c][1] - a["cpus"][c][1] for c in (0, 1)) / CLK_TCK / dt, 1),
            "unprotect_failures": b["unprotect_failures"] - a["unprotect_failures"],
        }

    async def setup(self) -> float:
        args = self.args
        t0 = time.monotonic()
        self.media = Media(PROFILES[args.load])
        log(f"media ({args.load}): {self.media.video_kbps:.0f} kbit/s VP8, {self.media.video_pps:.1f} video "
            f"packets/s, 50 Opus packets/s{' (VP8 loop from the cache)' if self.media.cached else ''}")
        issuer = TokenIssuer(SECRET.encode(), "haven", "haven")
        self.members = [
            Member(self, i, issuer.issue(ROOM, f"bench-{i}", "host" if i == 0 else "participant", 3600,
                                         sub=f"bench-{i}"))
            for i in range(args.n)
        ]
        host = self.members[0]
        await host.connect()
        try:  # no waiting room for the benchmark's room (section 9.2); admit explicitly if this fails
            await host.request("set-room", waiting_room=False)
        except Exception as exc:
            log(f"set-room waiting_room=false refused ({exc}); admitting each member instead")
        for m in self.members[1:]:
            await m.connect()
            if m.waiting:
                await host.request("admit", participant_id=f"bench-{m.index}")
                await asyncio.wait_for(m.admitted.wait(), 15)
        for m in self.members:
            await m.publish()
        deadline = time.monotonic() + 30 + 4 * args.n
        while time.monotonic() < deadline:
            if all(m.ready(args.n) for m in self.members):
                break
            await asyncio.sleep(0.2)
        else:
            states = [(m.index, m.pub_pc and m.pub_pc.connectionState, m.sub_pc and m.sub_pc.connectionState,
                       len(m.consumers), m.offer_revision, m.answered_revision, m.fast_installed)
                      for m in self.members]
            raise RuntimeError(f"room of {args.n} not ready: {states}")
        return time.monotonic() - t0

    async def run(self) -> dict:
        args = self.args
        setup_s = await self.setup()
        lag_task = asyncio.ensure_future(self.watch_lag())
        log(f"{args.n} members joined, published and subscribed in {setup_s:.1f} s")
        await asyncio.sleep(2)  # let connection set-up work (DTLS, first RTCP) finish
        # Everyone connected, published and subscribed; no media yet. schedstat: exact ns, not ticks.
        c0, t0 = cpu_ns_exact(self.server_pid), time.monotonic()
        await asyncio.sleep(args.idle)
        idle_cpu_pct = 100 * (cpu_ns_exact(self.server_pid) - c0) / 1e9 / (time.monotonic() - t0)
        idle_rss = rss_mb(self.server_pid)
        self.gate.open()
        log(f"media on; warm-up {args.warmup:.0f} s")
        await asyncio.sleep(args.warmup)
        result: dict[str, Any] = {
            "n": args.n, "setup_s": round(setup_s, 2),
            "idle_cpu_pct": round(idle_cpu_pct, 2),
            "idle_cpu_pct_per_participant": round(idle_cpu_pct / args.n, 3),
            "rss_connected_idle_mb": round(idle_rss, 1),
            "load": args.load,
            "video_pps_per_publisher": round(self.media.video_pps, 1),
            "video_kbps_per_publisher": round(self.media.video_kbps, 1),
            "keyframe_interval_s": round(self.media.profile.keyframe_interval_s, 2),
        }
        print("MEASURE-START", flush=True)
        if args.scenario == "normal":
            result.update(await self.measure(args.duration))
        else:
            result.update(await self.slow_scenario())
        result["rss_mb"] = round(rss_mb(self.server_pid), 1)
        result["server_threads"] = thread_count(self.server_pid)
        result["closed_sockets"] = [m.closed_code for m in self.members if m.closed_code is not None]
        print("MEASURE-END", flush=True)
        lag_task.cancel()
        return result

    async def slow_scenario(self) -> dict:
        args = self.args
        slow = self.members[0]
        others = list(range(1, args.n))
        phases: dict[str, Any] = {}
        log("phase 1: all subscribers healthy")
        phases["healthy"] = await self.measure(args.duration, others)
        log(f"phase 2: subscriber 0 drops {args.drop:.0%} of incoming packets (and NACKs/PLIs like a browser)")
        slow.make_slow(args.drop)
        await asyncio.sleep(2)
        nacks0, plis0, dropped0 = slow.nacks_sent, slow.plis_sent, slow.dropped
        phases["drop"] = await self.measure(args.duration, others)
        phases["drop"].update(slow_nacks_sent=slow.nacks_sent - nacks0, slow_plis_sent=slow.plis_sent - plis0,
                              slow_dropped=slow.dropped - dropped0)
        log("phase 3: subscriber 0 stops reading its socket")
        slow.stop_reading()
        await asyncio.sleep(2)
        phases["stopped"] = await self.measure(args.duration, others)
        for ph in phases.values():
            tx, rx = ph["tx_per_member"], ph["rx_per_member"]
            expected_slow = sum(tx[1:])
            ph["slow_subscriber_delivery_ratio"] = round(rx[0] / expected_slow, 4) if expected_slow else None
        base = phases["healthy"]
        for name in ("drop", "stopped"):
            ph = phases[name]
            ph["delivery_change"] = None if not base["delivery_ratio"] else round(
                ph["delivery_ratio"] / base["delivery_ratio"] - 1, 5)
            ph["p99_change"] = None if not base["lat_p99_ms"] or ph["lat_p99_ms"] is None else round(
                ph["lat_p99_ms"] / base["lat_p99_ms"] - 1, 3)
        return {"scenario": "slow", "drop_fraction": args.drop, "phases": phases}

    async def close(self) -> None:
        self.gate.close()
        await asyncio.gather(*(m.close() for m in self.members), return_exceptions=True)


async def main_async(args: argparse.Namespace) -> dict:
    seam.set_host_addresses(["127.0.0.1"])
    gen = LoadGenerator(args)
    try:
        windows = 3 if args.scenario == "slow" else 1
        budget = 60 + 6 * args.n + args.idle + args.warmup + (args.duration + 2 * SETTLE_MAX) * windows + 10
        return await asyncio.wait_for(gen.run(), budget)
    finally:
        try:
            await asyncio.wait_for(gen.close(), 30)
        except Exception:
            pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--server-pid", type=int, required=True)
    parser.add_argument("--n", type=int, required=True)
    parser.add_argument("--duration", type=float, default=30)
    parser.add_argument("--warmup", type=float, default=5)
    parser.add_argument("--idle", type=float, default=10)
    parser.add_argument("--scenario", choices=("normal", "slow"), default="normal")
    parser.add_argument("--load", choices=sorted(PROFILES), default="heavy", help="the media each publisher sends")
    parser.add_argument("--drop", type=float, default=0.3)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    import uvloop

    uvloop.install()
    result = asyncio.run(main_async(args))
    with open(args.out, "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
