"""Load generator for bench/capacity.py: rooms of N in one process, added on command, measured in shared windows.

Every room is what bench/loadgen.py runs for one room (its ``Member``: the real protocol, ICE, DTLS, SRTP,
pre-encoded media from bench/media.py, light subscribers with kernel receive stamps); this process only
holds several of them and takes its orders, one JSON document per line, from its standard input, so that
bench/capacity.py can run two of these (one per core) and open and close every process's window at the
same moment:

    {"cmd": "add", "room": "cap-1", "n": 8}           join, publish, subscribe; reply when all are ready
    {"cmd": "pause"}                                   close the gate and wait until the subscribers are quiet
    {"cmd": "window", "t0": <monotonic s>, "seconds": D, "lat_file": PATH}
                                                       open at t0 (CLOCK_MONOTONIC is the machine's), close
                                                       at t0 + D, wait for quiet, reply with the counts
    {"cmd": "resume"}                                  media on again
    {"cmd": "quit"}

Replies are one JSON line on standard output, prefixed ``REPLY ``; logs go to standard error. Delivery is
counted per room on the publishers' side (each packet a publisher handed to SRTP is expected once at each
of the other N-1 members of its room). The window's latency samples (ns, the server's hop) are written to
``lat_file`` as native int64s, so that the coordinator can take percentiles over all processes. Every wait
is bounded; end of input, or ``--max-seconds``, ends the process.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import sys
import time
from array import array
from typing import Any

from server.auth import TokenIssuer

from . import seam
from .common import SECRET, percentile, udp_counters
from .loadgen import LoadGenerator, Member, realtime_offset
from .media import PROFILES, Media

AUDIO_PPS = 50.0


def log(*args: Any) -> None:
    print(f"[capacity-loadgen {os.getpid()} {time.strftime('%H:%M:%S')}]", *args, file=sys.stderr, flush=True)


def reply(**fields: Any) -> None:
    print("REPLY " + json.dumps(fields), flush=True)


class RoomsGenerator(LoadGenerator):
    """Several rooms in one process; bench/loadgen.py's members, gate, settle and loop-lag watcher."""

    def __init__(self, args: argparse.Namespace) -> None:
        args.server_pid = 0  # the coordinator reads the servers' CPU itself
        super().__init__(args)
        self.media = Media(PROFILES[args.load])
        self.issuer = TokenIssuer(SECRET.encode(), "haven", "haven")
        self.rooms: dict[str, list[Member]] = {}
        self.next_index = args.index_base

    @property
    def nominal_pps(self) -> float:
        """Packets per second one publisher sends when it keeps up: the VP8 loop's rate plus Opus."""
        return self.media.video_pps + AUDIO_PPS

    async def add_room(self, room: str, n: int) -> float:
        members = []
        for i in range(n):
            index = self.next_index
            self.next_index += 1
            token = self.issuer.issue(room, f"bench-{index}", "host" if i == 0 else "participant", 3600,
                                      sub=f"bench-{index}")
            members.append(Member(self, index, token, room=room))
        self.rooms[room] = members
        self.members.extend(members)
        try:
            return await self._join_room(room, n, members)
        except BaseException:
            # A room that did not come up is taken out whole, so that no window counts its members.
            del self.rooms[room]
            self.members = [m for m in self.members if m not in members]
            await asyncio.wait_for(asyncio.gather(*(m.close() for m in members), return_exceptions=True), 30)
            raise

    async def _join_room(self, room: str, n: int, members: list[Member]) -> float:
        t0 = time.monotonic()
        host = members[0]
        await host.connect()
        try:  # no waiting room for the benchmark's rooms; admit explicitly if this is refused
            await host.request("set-room", waiting_room=False)
        except Exception as exc:
            log(f"{room}: set-room waiting_room=false refused ({exc}); admitting each member instead")
        for m in members[1:]:
            await m.connect()
            if m.waiting:
                await host.request("admit", participant_id=f"bench-{m.index}")
                await asyncio.wait_for(m.admitted.wait(), 15)
        for m in members:
            await m.publish()
        deadline = time.monotonic() + 30 + 4 * n
        while time.monotonic() < deadline:
            if all(m.ready(n) for m in members):
                return time.monotonic() - t0
            await asyncio.sleep(0.2)
        states = [(m.index, m.pub_pc and m.pub_pc.connectionState, m.sub_pc and m.sub_pc.connectionState,
                   len(m.consumers), m.offer_revision, m.answered_revision, m.fast_installed) for m in members]
        raise RuntimeError(f"room {room} of {n} not ready: {states}")

    def counts(self) -> dict[str, Any]:
        return {
            "t": time.monotonic(),
            "self_cpu": sum(os.times()[:2]),
            "udp": udp_counters(),
            "tx": [m.tx for m in self.members],
            "tx_marker": [m.tx_marker for m in self.members],
            "rx": [m.rx for m in self.members],
            "unprotect_failures": sum(m.unprotect_failures for m in self.members),
        }

    async def window(self, t0: float, seconds: float, lat_file: str) -> dict[str, Any]:
        """One closed window (the gate is already closed and the subscribers quiet: ``pause`` came first)."""
        for m in self.members:
            m.lat = array("q")
            m.lat_app = array("q")
        self.realtime_offset = realtime_offset()
        await asyncio.sleep(max(0.0, t0 - time.monotonic()))
        self.lag = array("q")
        a = self.counts()
        self.gate.open()
        late_start = time.monotonic() - t0
        await asyncio.sleep(max(0.0, t0 + seconds - time.monotonic()))
        self.gate.close()
        b_end = self.counts()
        late_end = time.monotonic() - (t0 + seconds)
        offset_end = realtime_offset()
        settle_after = await self.settle()
        b = self.counts()
        dt = b_end["t"] - a["t"]
        index = {id(m): k for k, m in enumerate(self.members)}
        rooms = {}
        for room, members in self.rooms.items():
            ks = [index[id(m)] for m in members]
            tx = [b["tx"][k] - a["tx"][k] for k in ks]
            rx = [b["rx"][k] - a["rx"][k] for k in ks]
            expected = sum(tx) * (len(ks) - 1)
            rooms[room] = {
                "members": len(ks), "expected": expected, "received": sum(rx),
                "delivery_ratio": round(sum(rx) / expected, 6) if expected else None,
                "published_pkts_per_s_per_publisher": round(sum(tx) / len(ks) / dt, 2),
                "min_publisher_pkts_per_s": round(min(tx) / dt, 2),
            }
        lat = array("q", itertools.chain.from_iterable(m.lat for m in self.members))
        with open(lat_file, "wb") as f:
            lat.tofile(f)
        lat_sorted = sorted(lat)
        lat_app = sorted(itertools.chain.from_iterable(m.lat_app for m in self.members))
        # The server's hop (kernel stamp) can never exceed the time to this process's callback (lat_app):
        # when its median does, CLOCK_REALTIME moved against CLOCK_MONOTONIC and the stamps are not valid.
        clock_drift_ms = (offset_end - self.realtime_offset) / 1e6
        lat_valid = not lat_sorted or not lat_app or (
            percentile(lat_sorted, 50) <= percentile(lat_app, 50) and abs(clock_drift_ms) < 1)  # type: ignore[operator]
        lag = sorted(self.lag)
        ms = lambda v: None if v is None else round(v / 1e6, 3)  # noqa: E731
        return {
            "pid": os.getpid(),
            "rooms": rooms,
            "seconds": round(dt, 3),
            "late_start_s": round(late_start, 3), "late_end_s": round(late_end, 3),
            "settle_after_s": round(settle_after, 2),
            "fwd_pkts_per_s": round(sum(b["rx"][k] - a["rx"][k] for k in range(len(self.members))) / dt, 1),
            "nominal_pkts_per_s_per_publisher": round(self.nominal_pps, 2),
            "loadgen_cpu_pct_self": round(100 * (b_end["self_cpu"] - a["self_cpu"]) / dt, 1),
            "lat_samples": len(lat_sorted),
            "lat_p50_ms": ms(percentile(lat_sorted, 50)),
            "lat_p99_ms": ms(percentile(lat_sorted, 99)),
            "lat_app_p50_ms": ms(percentile(lat_app, 50)),
            "lat_app_p99_ms": ms(percentile(lat_app, 99)),
            "lat_valid": lat_valid, "clock_drift_ms": round(clock_drift_ms, 3),
            "loadgen_lag_p99_ms": ms(percentile(lag, 99)),
            "loadgen_lag_max_ms": ms(lag[-1] if lag else None),
            "unprotect_failures": b["unprotect_failures"] - a["unprotect_failures"],
            "closed_sockets": [m.closed_code for m in self.members if m.closed_code is not None],
        }


async def serve(args: argparse.Namespace) -> None:
    seam.set_host_addresses(["127.0.0.1"])
    gen = RoomsGenerator(args)
    lag_task = asyncio.ensure_future(gen.watch_lag())
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    log(f"media ({args.load}): {gen.media.video_kbps:.0f} kbit/s VP8, {gen.media.video_pps:.1f} video packets/s")
    reply(ok=True, ready=True, nominal_pkts_per_s_per_publisher=round(gen.nominal_pps, 2))
    try:
        while True:
            line = await reader.readline()
            if not line:
                log("end of input; stopping")
                return
            order = json.loads(line)
            cmd = order.get("cmd")
            try:
                if cmd == "add":
                    setup_s = await asyncio.wait_for(gen.add_room(order["room"], int(order["n"])), 120)
                    gen.gate.open()
                    reply(ok=True, setup_s=round(setup_s, 2))
                elif cmd == "pause":
                    gen.gate.close()
                    reply(ok=True, settle_s=round(await gen.settle(), 2))
                elif cmd == "window":
                    result = await asyncio.wait_for(
                        gen.window(float(order["t0"]), float(order["seconds"]), order["lat_file"]),
                        float(order["seconds"]) + 120)
                    reply(ok=True, **result)
                elif cmd == "resume":
                    gen.gate.open()
                    reply(ok=True)
                elif cmd == "quit":
                    reply(ok=True)
                    return
                else:
                    reply(ok=False, error=f"unknown command {cmd!r}")
            except Exception as exc:
                log(f"{cmd} failed: {exc!r}")
                reply(ok=False, error=repr(exc))
    finally:
        lag_task.cancel()
        try:
            await asyncio.wait_for(gen.close(), 60)
        except Exception:
            pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--load", choices=sorted(PROFILES), default="peer")
    parser.add_argument("--index-base", type=int, default=0, help="first member index (unique per process)")
    parser.add_argument("--max-seconds", type=float, default=3600, help="stop after this long in any case")
    args = parser.parse_args()
    import uvloop

    uvloop.install()

    async def bounded() -> None:
        try:
            await asyncio.wait_for(serve(args), args.max_seconds)
        except TimeoutError:
            log(f"--max-seconds {args.max_seconds:.0f} reached; stopping")

    asyncio.run(bounded())


if __name__ == "__main__":
    main()
