"""Capacity benchmark: how many rooms of N a `haven serve --workers W` holds at >= 99.9 % delivery.

    python -m bench.capacity --workers 1,2 --room-size 8 --max-rooms 6 --duration 15 --load peer --json out.json

For every W it starts a Redis (Debian's redis-server, 127.0.0.1, no persistence) and a fresh
``python -m server.cli serve --workers W --config <temp>.toml`` with ``[nodes] redis_url`` set, so the W
workers share server.port (SO_REUSEPORT), each with its own UDP media port and relay listener, and place
the rooms through Redis as a deployment does. Nothing is pinned: the workers, and the load generators,
may run on every core. Then it adds rooms of N one at a time (1, 2, 3, ... up to --max-rooms). Each room
is a room of bench/loadgen.py (the real protocol, ICE/DTLS/SRTP, pre-encoded media, light subscribers),
run by bench/capacity_loadgen.py; --loadgen-procs of those processes (default 2, one per core) share
the rooms, and all of them open and close the same closed window at the same moment. After each new room
and its warm-up, one window of --duration seconds is measured: delivery (counted on the publishers'
side, per room), forwarded packets/s, the server's latency percentiles over every subscriber, the CPU of
every worker (summed), of the load generators, of Redis and of everything else on the machine.

A room count holds when delivery over all rooms is >= --threshold (99.9 %). A window that misses it is
measured once more (--retries; this machine is shared and its neighbours come in bursts), and the count
holds if a retry does. A window is void, whatever its delivery, when the load generator could not
give the server the load asked for (its publishers sent less than 99 % of their nominal rate) or lost
packets itself (the kernel dropped datagrams at its sockets). The climb stops at the first count that
does not hold, and that count is classified: ``loadgen`` when the load generator fell behind (as above,
or its event loop woke up more than 50 ms late at p99), which says nothing about the server;
``server`` when a worker ran out of CPU or the kernel dropped datagrams at a worker's
socket; ``machine`` when both cores were saturated; ``unexplained`` otherwise. The capacity for W is the
largest count that held; the ratio capacity(W=2) / capacity(W=1) is reported with both limits.

On a machine with C cores the load generators compete with the workers for the same cores: with W = C
the server cannot have the whole machine, and the report says so (``loadgen_cpu_pct`` next to
``server_cpu_pct``). The workers run at --nice (default -10 as root), the load generators at
--loadgen-nice (default -5 as root): both ahead of unrelated work on a shared machine, and the server
ahead of the load generator, so that when the machine saturates the load generator falls behind first,
and the step is then reported as limited by the load generator, not by the server. Each of them leads a
session of its own whose autogroup gets the same nice (with autogroup scheduling on, a plain nice value
would only rank our processes among themselves).

Runs inside a private network namespace with only loopback (bench/forwarding.py's ensure_private_netns).
Every process it starts is stopped by its PID in a ``finally``; every wait is bounded. Not part of the
test suite. See docs/scaling.md, "Capacity (measured)".
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from array import array
from pathlib import Path
from typing import Any

import redis as redis_client

from .common import (
    CLK_TCK,
    cpu_seconds,
    cpu_times,
    haven_config,
    nice_to,
    percentile,
    rss_mb,
    stop_process,
    udp_counters,
)
from .forwarding import ensure_private_netns, free_port, free_udp_port, interfaces, warmup_for
from .media import PROFILES

ROOT = Path(__file__).resolve().parents[1]
REDIS_SERVER = "/usr/bin/redis-server"
NODE_ID = "bench"
LOADGEN_LAG_LIMIT_MS = 50.0  # the load generator's loop waking this late (p99) means it is behind
PUBLISH_RATE_LIMIT = 0.99  # publishers sending less than this share of their nominal rate: behind
WORKER_BUSY_PCT = 90.0  # a worker using this much of a core is saturated


def log(*args: Any) -> None:
    print(f"[capacity {time.strftime('%H:%M:%S')}]", *args, file=sys.stderr, flush=True)


# -- /proc ---------------------------------------------------------------------------------------------

def children_of(pid: int) -> list[int]:
    """Child PIDs of ``pid``: /proc/<pid>/task/*/children, else a scan of /proc for that parent."""
    found: set[int] = set()
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{tid}/children") as f:
                    found.update(int(c) for c in f.read().split())
            except OSError:
                continue
    except OSError:
        pass
    if found:
        return sorted(found)
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        found.add(int(entry))
            except (OSError, ValueError, IndexError):
                continue
    return sorted(found)


def start_time(pid: int) -> int | None:
    """A process's start time in ticks since boot (with the PID, it names one process for good)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def environ_of(pid: int) -> dict[str, str]:
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            items = [e.decode(errors="replace").partition("=") for e in f.read().split(b"\0") if e]
    except OSError:
        return {}
    return {k: v for k, _, v in items}


def safe_cpu(pid: int) -> float | None:
    try:
        return cpu_seconds(pid)
    except (OSError, ValueError, IndexError):
        return None


def socket_inodes(pid: int) -> set[int]:
    out = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:["):
                out.add(int(target[8:-1]))
    except OSError:
        pass
    return out


def udp_socket_drops() -> dict[int, int]:
    """Drops per UDP socket of this network namespace (inode -> the kernel's drop counter)."""
    out = {}
    for path in ("/proc/net/udp", "/proc/net/udp6"):
        try:
            with open(path) as f:
                next(f)
                for line in f:
                    fields = line.split()
                    if len(fields) >= 13:
                        out[int(fields[9])] = int(fields[12])
        except (OSError, StopIteration, ValueError):
            continue
    return out


# -- processes -----------------------------------------------------------------------------------------

def free_port_run(count: int, udp: bool = False, tries: int = 50) -> int:
    """A port P such that P .. P+count-1 are all free on 127.0.0.1 (TCP or UDP)."""
    kind = socket.SOCK_DGRAM if udp else socket.SOCK_STREAM
    for _ in range(tries):
        base = free_udp_port() if udp else free_port()
        if base + count > 65535:
            continue
        socks = []
        try:
            for p in range(base, base + count):
                s = socket.socket(socket.AF_INET, kind)
                socks.append(s)
                s.bind(("127.0.0.1", p))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError(f"no run of {count} free ports")


def get_json(url: str, timeout: float = 2.0) -> dict | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return json.loads(response.read()) if response.status == 200 else None
    except (OSError, ValueError):
        return None


AUTOGROUP = Path("/proc/sys/kernel/sched_autogroup_enabled")


def autogroup_enabled() -> bool:
    try:
        return AUTOGROUP.read_text().strip() == "1"
    except OSError:
        return False


def autogroup_of(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/autogroup") as f:
            return f.read().strip()
    except OSError:
        return None


class Redis:
    """redis-server on 127.0.0.1 with no persistence, stopped by its PID."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 10.0) -> None:
        log_file = open(self.workdir / "redis.log", "w")
        self.proc = subprocess.Popen(
            [REDIS_SERVER, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no",
             "--dir", str(self.workdir), "--protected-mode", "yes", "--daemonize", "no"],
            stdout=log_file, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited: {(self.workdir / 'redis.log').read_text()[-2000:]}")
            if self.command("PING") is True:
                return
            time.sleep(0.05)
        raise RuntimeError("redis-server did not answer PING")

    def command(self, *words: str) -> Any:
        """One command (redis-py, bounded by a 2 s socket timeout); None when Redis does not answer."""
        client = redis_client.Redis(host="127.0.0.1", port=self.port, socket_timeout=2, socket_connect_timeout=2,
                                    decode_responses=True)
        try:
            return client.execute_command(*words)
        except redis_client.RedisError:
            return None
        finally:
            client.close()

    def values(self, *words: str) -> list[str]:
        """A set reply (SMEMBERS) or a string (GET) as a list of strings."""
        answer = self.command(*words)
        if answer is None:
            return []
        return [answer] if isinstance(answer, str) else sorted(answer)

    def stop(self) -> None:
        stop_process(self.proc)


class Cluster:
    """`python -m server.cli serve --workers W` (the supervisor) and its W workers, found by PID."""

    def __init__(self, workdir: Path, workers: int, redis: Redis, max_participants: int, nice: int,
                 server_root: Path) -> None:
        self.workdir = workdir
        self.workers = workers
        self.redis = redis
        self.nice = nice
        self.server_root = server_root
        self.port = free_port_run(1)
        self.url = f"http://127.0.0.1:{self.port}"
        self.udp_port = free_port_run(workers, udp=True)
        self.internal_port = free_port_run(workers)
        self.log_path = workdir / "server.log"
        self.proc: subprocess.Popen | None = None
        self.worker_pids: list[int] = []
        self.worker_starts: dict[int, int | None] = {}
        self.worker_nodes: dict[int, str] = {}
        config = workdir / "haven.toml"
        config.write_text(haven_config(
            self.port, workdir / "data", self.udp_port, max_participants, server='drain_timeout = "5s"\n',
            more=("[metrics]\n"
                  "port = 0\n"
                  "[nodes]\n"
                  f'redis_url = "{redis.url}"\n'
                  f'node_id = "{NODE_ID}"\n'
                  f"internal_port = {self.internal_port}\n")))
        self.cmd = [sys.executable, "-m", "server.cli", "serve", "--workers", str(workers), "--config", str(config)]

    def start(self, timeout: float = 60.0) -> None:
        log_file = open(self.log_path, "w")
        self.proc = subprocess.Popen(self.cmd, cwd=self.server_root, stdout=log_file, stderr=subprocess.STDOUT,
                                     start_new_session=True, preexec_fn=nice_to(self.nice, autogroup=True))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited ({self.proc.returncode}); see {self.log_path}")
            pids = children_of(self.proc.pid)
            for pid in pids:
                if pid not in self.worker_starts:
                    self.worker_starts[pid] = start_time(pid)
            internal_ok = all(get_json(f"http://127.0.0.1:{self.internal_port + i}/healthz", 1)
                              for i in range(self.workers))
            nodes = self.redis.values("SMEMBERS", "haven:nodes")
            if len(pids) == self.workers and internal_ok and len(nodes) == self.workers:
                self.worker_pids = pids
                for pid in pids:
                    self.worker_nodes[pid] = environ_of(pid).get("HAVEN_NODES_NODE_ID", "?")
                return
            time.sleep(0.2)
        raise RuntimeError(f"{self.workers} workers did not come up in {timeout:.0f} s; see {self.log_path}")

    def alive_workers(self) -> list[int]:
        return [p for p in self.worker_pids if start_time(p) == self.worker_starts.get(p)]

    def restarted(self) -> bool:
        """A worker died (and the supervisor may have started another): the run is not valid."""
        assert self.proc is not None
        return sorted(children_of(self.proc.pid)) != sorted(self.worker_pids)

    def worker_health(self) -> dict[str, Any]:
        out = {}
        for i in range(self.workers):
            h = get_json(f"http://127.0.0.1:{self.internal_port + i}/healthz", 2)
            out[f"{NODE_ID}-w{i}"] = None if h is None else {"rooms": h.get("rooms"),
                                                              "participants": h.get("participants"),
                                                              "forwarding": h.get("forwarding")}
        return out

    def stop(self) -> None:
        """SIGTERM the supervisor (it drains and stops its workers); then any worker still there, by PID."""
        known = list(self.worker_starts)
        stop_process(self.proc, grace=20)
        for pid in known:
            if start_time(pid) is None or start_time(pid) != self.worker_starts.get(pid):
                continue  # gone (or the PID now names another process)
            for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    break
                deadline = time.monotonic() + wait
                while time.monotonic() < deadline and start_time(pid) == self.worker_starts.get(pid):
                    time.sleep(0.1)
                if start_time(pid) != self.worker_starts.get(pid):
                    break


class LoadgenProcess:
    """One bench/capacity_loadgen.py process, ordered through its stdin; replies read by a thread."""

    def __init__(self, index: int, url: str, load: str, workdir: Path, nice: int, max_seconds: float) -> None:
        self.index = index
        self.log_path = workdir / f"loadgen-{index}.log"
        log_file = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.capacity_loadgen", "--url", url, "--load", load,
             "--index-base", str(10000 * index), "--max-seconds", str(max_seconds)],
            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log_file, text=True,
            start_new_session=True, preexec_fn=nice_to(nice, autogroup=True))
        self.replies: queue.Queue[dict] = queue.Queue()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith("REPLY "):
                self.replies.put(json.loads(line[6:]))
        self.replies.put({"ok": False, "error": f"load generator {self.index} exited"})

    def send(self, **order: Any) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(order) + "\n")
        self.proc.stdin.flush()

    def wait(self, timeout: float) -> dict:
        try:
            answer = self.replies.get(timeout=timeout)
        except queue.Empty:
            raise RuntimeError(f"load generator {self.index} did not answer in {timeout:.0f} s "
                               f"(see {self.log_path})") from None
        if not answer.get("ok"):
            raise RuntimeError(f"load generator {self.index}: {answer.get('error')} (see {self.log_path})")
        return answer

    def call(self, timeout: float, **order: Any) -> dict:
        self.send(**order)
        return self.wait(timeout)

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                self.call(60, cmd="quit")
            except (RuntimeError, OSError, ValueError):
                pass
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                pass
        stop_process(self.proc)
        self.reader.join(5)


# -- one window ----------------------------------------------------------------------------------------

def snapshot(cluster: Cluster, redis: Redis, loadgens: list[LoadgenProcess], cpus: tuple[int, ...]) -> dict:
    return {
        "t": time.monotonic(),
        "workers": {pid: safe_cpu(pid) for pid in cluster.worker_pids},
        "supervisor": safe_cpu(cluster.proc.pid) if cluster.proc else None,
        "redis": safe_cpu(redis.proc.pid) if redis.proc else None,
        "loadgens": {lg.proc.pid: safe_cpu(lg.proc.pid) for lg in loadgens},
        "cpus": cpu_times(cpus),
        "udp": udp_counters(),
    }


def socket_drops(cluster: Cluster, loadgens: list[LoadgenProcess]) -> dict[str, int]:
    """Kernel drops so far at the workers' and at the load generators' UDP sockets."""
    drops = udp_socket_drops()
    server = set().union(*(socket_inodes(p) for p in cluster.worker_pids))
    gen = set().union(*(socket_inodes(lg.proc.pid) for lg in loadgens))
    return {"server": sum(d for i, d in drops.items() if i in server),
            "loadgen": sum(d for i, d in drops.items() if i in gen),
            "other": sum(d for i, d in drops.items() if i not in server and i not in gen)}


def pct(a: float | None, b: float | None, dt: float) -> float | None:
    return None if a is None or b is None else round(100 * (b - a) / dt, 1)


def others_pct(cluster: Cluster, redis: Redis, loadgens: list[LoadgenProcess], seconds: float = 2.0) -> float:
    """CPU (% of one core) used over a short sample by processes other than ours (neighbours)."""
    cpus = tuple(sorted(os.sched_getaffinity(0)))
    a = snapshot(cluster, redis, loadgens, cpus)
    time.sleep(seconds)
    b = snapshot(cluster, redis, loadgens, cpus)
    dt = b["t"] - a["t"]
    machine = sum(100 * (b["cpus"][c][0] - a["cpus"][c][0]) / CLK_TCK / dt for c in a["cpus"])
    ours = sum(pct(a[k], b[k], dt) or 0 for k in ("supervisor", "redis"))
    ours += sum(pct(a["workers"][p], b["workers"].get(p), dt) or 0 for p in a["workers"])
    ours += sum(pct(a["loadgens"][p], b["loadgens"].get(p), dt) or 0 for p in a["loadgens"])
    return machine - ours


def wait_for_quiet(cluster: Cluster, redis: Redis, loadgens: list[LoadgenProcess], args: argparse.Namespace) -> float:
    """Wait (at most --quiet-wait s) until the neighbours use less than --quiet-threshold; return their last use."""
    deadline = time.monotonic() + args.quiet_wait
    others = others_pct(cluster, redis, loadgens)
    while others > args.quiet_threshold and time.monotonic() < deadline:
        log(f"neighbours use {others:.0f} % of a core; waiting for a quieter moment")
        others = others_pct(cluster, redis, loadgens)
    return round(others, 1)


def measure_window(cluster: Cluster, redis: Redis, loadgens: list[LoadgenProcess], args: argparse.Namespace,
                   workdir: Path, rooms: int, attempt: int) -> dict:
    """Pause everyone, open one window at the same moment in every load generator, and combine."""
    others_before = wait_for_quiet(cluster, redis, loadgens, args) if args.quiet_wait > 0 else None
    cpus = tuple(sorted(os.sched_getaffinity(0)))
    for lg in loadgens:
        lg.send(cmd="pause")
    settle = [lg.wait(60)["settle_s"] for lg in loadgens]
    drops_a = socket_drops(cluster, loadgens)
    t0 = time.monotonic() + 0.5
    lat_files = [workdir / f"lat-{rooms}-{attempt}-{lg.index}.bin" for lg in loadgens]
    for lg, path in zip(loadgens, lat_files, strict=True):
        lg.send(cmd="window", t0=t0, seconds=args.duration, lat_file=str(path))
    time.sleep(max(0.0, t0 - time.monotonic()))
    a = snapshot(cluster, redis, loadgens, cpus)
    time.sleep(max(0.0, t0 + args.duration - time.monotonic()))
    b = snapshot(cluster, redis, loadgens, cpus)
    parts = [lg.wait(args.duration + 150) for lg in loadgens]
    drops_b = socket_drops(cluster, loadgens)
    health = cluster.worker_health()
    for lg in loadgens:
        lg.call(30, cmd="resume")
    dt = b["t"] - a["t"]

    room_rows = {name: r for p in parts for name, r in p["rooms"].items()}
    expected = sum(r["expected"] for r in room_rows.values())
    received = sum(r["received"] for r in room_rows.values())
    lat = array("q")
    for path in lat_files:
        with open(path, "rb") as f:
            lat.frombytes(f.read())
        path.unlink()
    lat_sorted = sorted(lat)
    ms = lambda v: None if v is None else round(v / 1e6, 3)  # noqa: E731
    worker_cpu = {cluster.worker_nodes.get(pid, str(pid)): pct(a["workers"][pid], b["workers"].get(pid), dt)
                  for pid in a["workers"]}
    server_cpu = round(sum(v for v in worker_cpu.values() if v is not None), 1)
    loadgen_cpu = {str(pid): pct(a["loadgens"][pid], b["loadgens"].get(pid), dt) for pid in a["loadgens"]}
    loadgen_total = round(sum(v for v in loadgen_cpu.values() if v is not None), 1)
    busy = {c: round(100 * (b["cpus"][c][0] - a["cpus"][c][0]) / CLK_TCK / dt, 1) for c in a["cpus"]}
    steal = round(sum(100 * (b["cpus"][c][1] - a["cpus"][c][1]) / CLK_TCK / dt for c in a["cpus"]), 1)
    machine = round(sum(busy.values()), 1)
    redis_cpu = pct(a["redis"], b["redis"], dt)
    supervisor_cpu = pct(a["supervisor"], b["supervisor"], dt)
    ours = server_cpu + loadgen_total + (redis_cpu or 0) + (supervisor_cpu or 0)
    nominal = parts[0]["nominal_pkts_per_s_per_publisher"]
    pub_rate = min(r["published_pkts_per_s_per_publisher"] for r in room_rows.values())
    lag_p99 = max(p["loadgen_lag_p99_ms"] or 0 for p in parts)
    drops = {k: drops_b[k] - drops_a.get(k, 0) for k in drops_b}
    owners: dict[str, str | None] = {name: next(iter(redis.values("GET", f"haven:room:{name}")), None)
                                     for name in room_rows}
    row: dict[str, Any] = {
        "rooms": rooms, "attempt": attempt, "seconds": round(dt, 2),
        "participants": sum(r["members"] for r in room_rows.values()),
        "delivery_ratio": round(received / expected, 6) if expected else None,
        "min_room_delivery_ratio": min((r["delivery_ratio"] or 0) for r in room_rows.values()),
        "expected": expected, "received": received,
        "fwd_pkts_per_s": round(sum(p["fwd_pkts_per_s"] for p in parts), 1),
        "lat_samples": len(lat_sorted),
        "lat_p50_ms": ms(percentile(lat_sorted, 50)),
        "lat_p95_ms": ms(percentile(lat_sorted, 95)),
        "lat_p99_ms": ms(percentile(lat_sorted, 99)),
        "lat_max_ms": ms(lat_sorted[-1] if lat_sorted else None),
        "lat_app_p99_ms": max((p["lat_app_p99_ms"] or 0) for p in parts),
        # False when a process's kernel stamps were later than its own callbacks (the clock moved): the
        # latency figures of the window are then not valid (delivery and CPU are not affected)
        "lat_valid": all(p["lat_valid"] for p in parts),
        "clock_drift_ms": max((abs(p["clock_drift_ms"]) for p in parts), default=0.0),
        "server_cpu_pct": server_cpu,  # sum over the workers, % of one core
        "worker_cpu_pct": worker_cpu,
        "server_cpu_pct_per_room": round(server_cpu / rooms, 2),
        "us_server_cpu_per_fwd_pkt": None,
        "supervisor_cpu_pct": supervisor_cpu,
        "redis_cpu_pct": redis_cpu,
        "loadgen_cpu_pct": loadgen_total,
        "loadgen_cpu_pct_per_process": loadgen_cpu,
        "machine_busy_pct": machine,  # all cores, % of one core (200 = both cores of two)
        "cpu_busy_pct": {str(c): v for c, v in busy.items()},
        "others_cpu_pct": round(machine - ours, 1),  # neighbours on this shared machine
        "others_cpu_pct_before": others_before,
        "steal_pct": steal,
        "published_pkts_per_s_per_publisher": pub_rate,
        "nominal_pkts_per_s_per_publisher": nominal,
        "loadgen_lag_p99_ms": lag_p99,
        "loadgen_lag_max_ms": max((p["loadgen_lag_max_ms"] or 0) for p in parts),
        "settle_before_s": max(settle),
        "settle_after_s": max(p["settle_after_s"] for p in parts),
        "late_start_s": max(p["late_start_s"] for p in parts),
        "udp_socket_drops": drops,
        "udp_rcvbuf_errors": b["udp"].get("RcvbufErrors", 0) - a["udp"].get("RcvbufErrors", 0),
        "unprotect_failures": sum(p["unprotect_failures"] for p in parts),
        "closed_sockets": [c for p in parts for c in p["closed_sockets"]],
        "room_owner": owners,
        "rooms_per_node": {node: sum(1 for o in owners.values() if o == node) for node in sorted(health)},
        "worker_health": health,
        "per_room": room_rows,
    }
    if row["fwd_pkts_per_s"]:
        row["us_server_cpu_per_fwd_pkt"] = round(1e4 * server_cpu / row["fwd_pkts_per_s"], 2)
    # The load the server was given is not the load asked for when the publishers sent less than their
    # rate, and losses at the load generator's own sockets are not the server's: either voids the window.
    behind = []
    if pub_rate < PUBLISH_RATE_LIMIT * nominal:
        behind.append(f"publishers sent {pub_rate:.1f} of {nominal:.1f} packets/s")
    if drops["loadgen"] > 0:
        behind.append(f"the kernel dropped {drops['loadgen']} datagrams at its sockets")
    row["loadgen_behind"] = behind
    # A late event loop alone (the subscribers read late, nothing lost) does not void a window; it names
    # the load generator as the likely cause when the window misses.
    row["loadgen_lagging"] = lag_p99 > LOADGEN_LAG_LIMIT_MS
    row["held"] = row["delivery_ratio"] is not None and row["delivery_ratio"] >= args.threshold and not behind
    if row["delivery_ratio"] is not None and row["delivery_ratio"] > 1.0:
        row["held"] = False
        row["warning"] = "delivery above 100 %: the window was not closed; not valid"
    row["limit"] = None if row["held"] else classify(row, args.workers_now)
    return row


def classify(row: dict, workers: int) -> str:
    """Why a window missed: the load generator, the server, the whole machine, or nothing we can name."""
    if row["loadgen_behind"] or row["loadgen_lagging"]:
        return "loadgen"
    if row["udp_socket_drops"].get("server", 0) > 0 or any(
            v is not None and v >= WORKER_BUSY_PCT for v in row["worker_cpu_pct"].values()):
        return "server"
    if row["machine_busy_pct"] >= 0.95 * 100 * len(row["cpu_busy_pct"]):
        return "machine"
    return "unexplained"


def run_workers(workers: int, args: argparse.Namespace) -> dict:
    """One W: Redis, the cluster, the load generators; rooms added one at a time until a count misses."""
    args.workers_now = workers
    result: dict[str, Any] = {"workers": workers, "steps": [], "capacity_rooms": 0, "limit": None}
    with tempfile.TemporaryDirectory(prefix=f"haven-capacity-w{workers}-") as tmp:
        workdir = Path(tmp)
        redis = Redis(workdir)
        cluster: Cluster | None = None
        loadgens: list[LoadgenProcess] = []
        try:
            redis.start()
            cluster = Cluster(workdir, workers, redis, args.room_size, args.nice, Path(args.server_root).resolve())
            cluster.start()
            idle_rss = {cluster.worker_nodes[p]: round(rss_mb(p), 1) for p in cluster.worker_pids}
            log(f"W={workers}: supervisor {cluster.proc.pid if cluster.proc else '?'}, workers "
                f"{[(p, cluster.worker_nodes[p]) for p in cluster.worker_pids]}, "
                f"redis {redis.proc.pid if redis.proc else '?'}"
                f"; server port {cluster.port}, UDP {cluster.udp_port}.., relay {cluster.internal_port}..")
            result["idle_worker_rss_mb"] = idle_rss
            result["autogroup_enabled"] = autogroup_enabled()
            result["autogroups"] = {"server": autogroup_of(cluster.worker_pids[0])}
            budget = 600 + (args.max_rooms * (args.warmup + args.duration + 120)) * (1 + args.retries)
            loadgens = [LoadgenProcess(i, cluster.url, args.load, workdir, args.loadgen_nice, budget)
                        for i in range(args.loadgen_procs)]
            result["autogroups"]["loadgens"] = [autogroup_of(lg.proc.pid) for lg in loadgens]
            log(f"autogroups (with their nice values): {result['autogroups']}")
            for lg in loadgens:
                ready = lg.wait(120)
                result["nominal_pkts_per_s_per_publisher"] = ready["nominal_pkts_per_s_per_publisher"]
            for k in range(1, args.max_rooms + 1):
                lg = loadgens[(k - 1) % len(loadgens)]
                room = f"cap-{k}"
                for again in range(4):
                    try:
                        setup = lg.call(60 + 10 * args.room_size, cmd="add", room=room, n=args.room_size)
                        break
                    except RuntimeError as exc:
                        # A join refused because the server could not write its records at that moment
                        # (it says so, and takes joins again at its next probe) is the server's answer,
                        # not a measurement: note it, and add the room again under a new name.
                        if "records-unavailable" not in str(exc) or again == 3:
                            raise
                        result.setdefault("refused_joins", []).append(
                            {"room": room, "at_rooms": k, "error": str(exc)[:300]})
                        log(f"W={workers}: room {room} refused ({exc}); adding it again in 6 s")
                        time.sleep(6)
                        room = f"cap-{k}-again{again + 1}"
                log(f"W={workers}: room {k} ({room}, load generator {lg.index}) ready in {setup['setup_s']:.1f} s; "
                    f"warm-up {args.warmup:.0f} s")
                time.sleep(args.warmup)
                if cluster.restarted():
                    raise RuntimeError(f"a worker died (see {cluster.log_path})")
                step = None
                for attempt in range(1 + args.retries):
                    row = measure_window(cluster, redis, loadgens, args, workdir, k, attempt)
                    row["setup_s"] = setup["setup_s"]
                    result["steps"].append(row)
                    log(f"W={workers} rooms={k} attempt {attempt}: delivery {row['delivery_ratio']:.4%}, "
                        f"{row['fwd_pkts_per_s']:.0f} fwd pkt/s, server CPU {row['server_cpu_pct']:.0f} % "
                        f"{row['worker_cpu_pct']}, loadgen CPU {row['loadgen_cpu_pct']:.0f} %, machine "
                        f"{row['machine_busy_pct']:.0f} % (others {row['others_cpu_pct']:.0f} %), p99 "
                        f"{row['lat_p99_ms']} ms, rooms per node {row['rooms_per_node']}"
                        + (f"; load generator's loop {row['loadgen_lag_p99_ms']} ms late (p99)"
                           if row["loadgen_lagging"] else "")
                        + (f"; {len(row['closed_sockets'])} members' sockets closed by the server (codes "
                           f"{sorted(set(row['closed_sockets']))})" if row["closed_sockets"] else "")
                        + ("" if row["held"] else f"; MISSED ({row['limit']}: {row['loadgen_behind']})"))
                    if args.json_partial:
                        args.json_partial(result)
                    step = row
                    if row["held"]:
                        break
                assert step is not None
                if not step["held"]:
                    result["limit"] = step["limit"]
                    result["first_missed_rooms"] = k
                    break
                result["capacity_rooms"] = k
            else:
                result["limit"] = "max-rooms"
            if cluster.restarted():
                result["warning"] = "a worker restarted during the run"
        except Exception as exc:
            log(f"W={workers}: failed: {exc!r}")
            result["error"] = repr(exc)
            for path in [cluster.log_path if cluster else None, *(lg.log_path for lg in loadgens)]:
                if path is not None and path.exists():
                    log(f"{path.name} (tail):\n{path.read_text()[-2500:]}")
        finally:
            for lg in loadgens:
                lg.stop()
            if cluster is not None:
                cluster.stop()
            redis.stop()
            if args.keep_logs:
                dest = Path(args.keep_logs)
                dest.mkdir(parents=True, exist_ok=True)
                for f in workdir.glob("*.log"):
                    dest.joinpath(f"w{workers}-{f.name}").write_bytes(f.read_bytes())
    held = [s for s in result["steps"] if s["held"] and s["rooms"] == result["capacity_rooms"]]
    result["at_capacity"] = held[-1] if held else None
    return result


def summarize(results: list[dict], args: argparse.Namespace) -> dict:
    by_w = {r["workers"]: r for r in results}
    summary: dict[str, Any] = {
        "room_size": args.room_size, "load": args.load, "threshold": args.threshold, "duration_s": args.duration,
        "warmup_s": args.warmup, "max_rooms": args.max_rooms, "loadgen_procs": args.loadgen_procs,
        "cpus": len(os.sched_getaffinity(0)), "nice": args.nice, "loadgen_nice": args.loadgen_nice,
        "capacity": {},
    }
    for w, r in sorted(by_w.items()):
        cap = r.get("at_capacity") or {}
        summary["capacity"][str(w)] = {
            "rooms": r["capacity_rooms"],
            "participants": r["capacity_rooms"] * args.room_size,
            "limit": r.get("limit"),
            "bounded_by_max_rooms": r.get("limit") == "max-rooms",
            "delivery_ratio": cap.get("delivery_ratio"),
            "fwd_pkts_per_s": cap.get("fwd_pkts_per_s"),
            "server_cpu_pct": cap.get("server_cpu_pct"),
            "worker_cpu_pct": cap.get("worker_cpu_pct"),
            "server_cpu_pct_per_room": cap.get("server_cpu_pct_per_room"),
            "loadgen_cpu_pct": cap.get("loadgen_cpu_pct"),
            "machine_busy_pct": cap.get("machine_busy_pct"),
            "others_cpu_pct": cap.get("others_cpu_pct"),
            "lat_p50_ms": cap.get("lat_p50_ms"),
            "lat_p99_ms": cap.get("lat_p99_ms"),
            "lat_valid": cap.get("lat_valid"),
            "rooms_per_node": cap.get("rooms_per_node"),
            "error": r.get("error"),
        }
    if 1 in by_w and 2 in by_w and by_w[1]["capacity_rooms"]:
        one, two = by_w[1], by_w[2]
        summary["ratio_rooms_w2_over_w1"] = round(two["capacity_rooms"] / one["capacity_rooms"], 3)
        f1 = (one.get("at_capacity") or {}).get("fwd_pkts_per_s")
        f2 = (two.get("at_capacity") or {}).get("fwd_pkts_per_s")
        summary["ratio_fwd_pkts_w2_over_w1"] = round(f2 / f1, 3) if f1 and f2 else None
        summary["ratio_limits"] = {"1": one.get("limit"), "2": two.get("limit")}
    return summary


def print_report(results: list[dict], summary: dict) -> None:
    head = (f"{'W':>2} {'rooms':>5} {'try':>3} {'delivery':>9} {'fwd pkt/s':>9} {'server CPU %':>12} "
            f"{'per worker':>16} {'loadgen %':>9} {'machine %':>9} {'others %':>8} {'p50 ms':>7} {'p99 ms':>7} "
            f"{'per node':>10}  verdict")
    print(head)
    print("-" * len(head))
    for r in results:
        for s in r["steps"]:
            per_worker = "/".join(f"{v:.0f}" if v is not None else "-" for v in s["worker_cpu_pct"].values())
            per_node = "/".join(str(v) for v in s["rooms_per_node"].values())
            verdict = "held" if s["held"] else f"missed ({s['limit']})"
            print(f"{r['workers']:>2} {s['rooms']:>5} {s['attempt']:>3} {s['delivery_ratio']:>9.4%} "
                  f"{s['fwd_pkts_per_s']:>9.0f} {s['server_cpu_pct']:>12.1f} {per_worker:>16} "
                  f"{s['loadgen_cpu_pct']:>9.1f} {s['machine_busy_pct']:>9.1f} {s['others_cpu_pct']:>8.1f} "
                  f"{s['lat_p50_ms'] or 0:>7.2f} {s['lat_p99_ms'] or 0:>7.2f} {per_node:>10}  {verdict}"
                  + ("" if s.get("lat_valid", True) else "  (latency not valid: the clock moved)"))
    print()
    for w, c in summary["capacity"].items():
        bound = " (the largest count tried: the real capacity may be higher)" if c["bounded_by_max_rooms"] else ""
        print(f"W={w}: {c['rooms']} rooms of {summary['room_size']} ({c['participants']} participants) at >= "
              f"{summary['threshold']:.1%} delivery{bound}; stopped by: {c['limit']}; server CPU "
              f"{c['server_cpu_pct']} % ({c['server_cpu_pct_per_room']} % per room), load generator CPU "
              f"{c['loadgen_cpu_pct']} %, p99 {c['lat_p99_ms']} ms" + (f"; error {c['error']}" if c["error"] else ""))
    if "ratio_rooms_w2_over_w1" in summary:
        print(f"capacity(W=2) / capacity(W=1) = {summary['ratio_rooms_w2_over_w1']} (rooms), "
              f"{summary['ratio_fwd_pkts_w2_over_w1']} (forwarded packets/s); limits {summary['ratio_limits']}")
    print(f"note: the load generators ran on the same {summary['cpus']} cores as the server (their CPU is in "
          "'loadgen %'); 'others %' is what other processes on this shared machine used; CPU figures are % of "
          "one core")


def tree_state(root: Path) -> dict[str, Any]:
    """The commit the server ran from and whether its code differed from it (read-only git)."""
    def git(*words: str) -> str | None:
        try:
            return subprocess.run(["git", "--no-optional-locks", "-C", str(root), *words], capture_output=True,
                                  text=True, timeout=20).stdout.strip() or None
        except (OSError, subprocess.TimeoutExpired):
            return None

    changed = git("status", "--porcelain", "--", "server", "media", "signaling")
    return {"root": str(root), "commit": git("rev-parse", "--short", "HEAD"),
            "server_code_modified": None if changed is None else bool(changed)}


def parse_workers(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError("--workers is a comma-separated list of counts, e.g. 1,2") from None
    if not values or any(not 1 <= v <= 16 for v in values):
        raise argparse.ArgumentTypeError("worker counts must be between 1 and 16")
    return values


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="python -m bench.capacity", description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=parse_workers, default=[1, 2], help="worker counts W (default 1,2)")
    parser.add_argument("--room-size", type=int, default=8, help="participants per room (default 8)")
    parser.add_argument("--max-rooms", type=int, default=6, help="stop climbing here (default 6)")
    parser.add_argument("--duration", type=float, default=20, help="measured seconds per window (default 20)")
    parser.add_argument("--load", choices=sorted(PROFILES), default="peer",
                        help="media each publisher sends (bench/media.py; default peer: VP8 640x360 ~600 kbit/s)")
    parser.add_argument("--warmup", type=float, default=None,
                        help="seconds of media after a room is added, before its window (default: the load's key "
                             "frame interval + 1, 12 for peer: new subscribers start at a key frame)")
    parser.add_argument("--threshold", type=float, default=0.999, help="delivery a room count must hold (0.999)")
    parser.add_argument("--retries", type=int, default=1,
                        help="windows measured again at a count that missed (not when the load generator was "
                             "behind; default 1)")
    parser.add_argument("--loadgen-procs", type=int, default=max(1, min(2, len(os.sched_getaffinity(0)))),
                        help="load generator processes sharing the rooms (default: 2, one per core of two)")
    parser.add_argument("--nice", type=int, default=-10 if os.geteuid() == 0 else 0,
                        help="nice value of the server (supervisor and workers; default -10 as root)")
    parser.add_argument("--loadgen-nice", type=int, default=-5 if os.geteuid() == 0 else 0,
                        help="nice value of the load generators (default -5 as root: below the server, above "
                             "unrelated work on a shared machine)")
    parser.add_argument("--quiet-wait", type=float, default=20,
                        help="before each window wait up to this many seconds while other processes use more than "
                             "--quiet-threshold (default 20; 0 disables)")
    parser.add_argument("--quiet-threshold", type=float, default=30,
                        help="%% of one core the neighbours may use when a window opens (default 30)")
    parser.add_argument("--server-root", default=str(ROOT),
                        help="directory to run `python -m server.cli serve` in (default: this checkout)")
    parser.add_argument("--json", metavar="FILE", help="write the results as JSON (rewritten after every window)")
    parser.add_argument("--keep-logs", metavar="DIR", help="copy the server, Redis and load generator logs here")
    args = parser.parse_args(argv)
    if not 2 <= args.room_size <= 50:
        parser.error("--room-size must be between 2 and 50")
    if not 1 <= args.max_rooms <= 100:
        parser.error("--max-rooms must be between 1 and 100")
    if not 0 < args.duration <= 600:
        parser.error("--duration must be in (0, 600] seconds")
    if not 0 <= args.retries <= 3 or not 1 <= args.loadgen_procs <= 8:
        parser.error("--retries must be 0..3 and --loadgen-procs 1..8")
    least = PROFILES[args.load].min_warmup_s
    if args.warmup is not None and not least <= args.warmup <= 120:
        parser.error(f"--warmup must be in [{least:g}, 120] seconds for --load {args.load}")
    args.warmup = warmup_for(args.load, args.warmup)
    if not Path(REDIS_SERVER).exists():
        parser.error(f"{REDIS_SERVER} is missing: apt-get install redis-server")
    ensure_private_netns(argv, module="bench.capacity")

    def interrupted(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")  # the finally blocks stop what was started

    # Started in the background, SIGINT may be ignored: take it and SIGTERM back.
    signal.signal(signal.SIGINT, interrupted)
    signal.signal(signal.SIGTERM, interrupted)
    log(f"interfaces in this namespace: {interfaces()}; CPUs {sorted(os.sched_getaffinity(0))}")

    results: list[dict] = []
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())

    def write(partial: dict | None = None) -> None:
        if not args.json:
            return
        done = results + ([partial] if partial is not None and partial not in results else [])
        document = {"command": "python -m bench.capacity " + " ".join(argv), "started": started, "tree": tree,
                    "summary": summarize([r for r in done if "at_capacity" in r], args), "results": done}
        Path(args.json).write_text(json.dumps(document, indent=2) + "\n")

    tree = {"checkout": tree_state(ROOT), "server_root": str(Path(args.server_root).resolve())}
    args.json_partial = write
    for w in args.workers:
        results.append(run_workers(w, args))
        write()
    summary = summarize(results, args)
    write()
    print_report(results, summary)
    return 0 if all("error" not in r for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
