"""Forwarding benchmark: what a Haven server costs per forwarded packet, measured from outside.

    python -m bench.forwarding --sizes 3,8,15 --duration 30 --json results.json
    python -m bench.forwarding --scenario slow --duration 20 --json slow.json
    python -m bench.forwarding --sizes 8 --udp-ports shared,per-connection   # one port vs. a port each
    python -m bench.forwarding --sizes 3,8,15 --load heavy,peer   # both loads side by side, with ratios

For every room size N it starts a fresh Haven server (uvloop, pinned to CPU 0) and a load generator
(bench/loadgen.py, pinned to CPU 1) whose N participants each publish pre-encoded VP8 at 30 fps plus Opus
and subscribe to everyone else, over the real protocol (docs/protocol.md), ICE, DTLS and SRTP on
127.0.0.1. The load (``--load``, bench/media.py's profiles) is ``heavy`` (640x480 at ~1 Mbit/s, the
default) or ``peer`` (640x360 at ~600 kbit/s, one key frame per 10 s), or both. The same load generator
then drives the naive aiortc MediaRelay server (bench/baseline_relay.py) for the sizes in --baseline-sizes.
See docs/performance.md.

Runs inside a private network namespace with only loopback: when started as root on a machine with
other interfaces it re-executes itself under ``unshare --net``. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from .common import CLK_TCK, cpu_times, haven_config, nice_to, pin_to, rss_mb, stop_process, thread_count
from .media import PROFILES

ROOT = Path(__file__).resolve().parents[1]
NETNS_ENV = "HAVEN_BENCH_NETNS"
SERVER_CPU, LOADGEN_CPU = 0, 1

FIELDS = [
    "n", "load", "fwd_pkts_per_s", "server_cpu_pct", "us_cpu_per_fwd_pkt", "delivery_ratio", "lat_p50_ms",
    "lat_p95_ms", "lat_p99_ms", "rss_mb", "rss_per_participant_mb", "idle_cpu_pct_per_participant",
    "idle_server_rss_mb", "server_threads_idle", "server_threads", "baseline_server_cpu_pct",
    "baseline_delivery_ratio", "cpu_ratio_haven_over_baseline",
]


def log(*args: Any) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}]", *args, file=sys.stderr, flush=True)


# -- isolation ----------------------------------------------------------------------------------------

def interfaces() -> list[str]:
    """Network interfaces of this process's network namespace."""
    import socket

    try:
        return sorted(name for _, name in socket.if_nameindex())
    except OSError:
        return []


def ensure_private_netns(argv: list[str], module: str = "bench.forwarding") -> None:
    """Re-exec ``python -m module argv`` under a fresh network namespace (loopback only) when we can and need to."""
    if os.environ.get(NETNS_ENV) == "1" or interfaces() in (["lo"], []):
        return
    if os.geteuid() != 0 or shutil.which("unshare") is None or shutil.which("ip") is None:
        log(f"warning: interfaces {interfaces()} exist and unshare is not available (not root?); "
            "running in this namespace: every socket still binds and sends to 127.0.0.1 only")
        return
    inner = " ".join(shlex.quote(a) for a in [sys.executable, "-m", module, *argv])
    env = dict(os.environ, **{NETNS_ENV: "1"})
    log("re-executing inside a private network namespace (loopback only)")
    os.chdir(ROOT)
    os.execvpe("unshare", ["unshare", "--net", "sh", "-c", f"ip link set lo up && exec {inner}"], env)


# -- processes ----------------------------------------------------------------------------------------

def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def free_udp_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


class ServerUnderTest:
    """A Haven server (or the baseline relay) process with its own temp directory, pinned to CPU 0."""

    def __init__(self, kind: str, workdir: Path, max_participants: int, nice: int = 0,
                 server_root: Path = ROOT, forwarding: str = "auto", udp_port: str = "shared") -> None:
        self.kind = kind
        self.server_root = server_root
        self.nice = nice
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / f"{kind}-server.log"
        self.proc: subprocess.Popen | None = None
        if kind == "haven":
            config = workdir / "haven.toml"
            # ice.udp_port: every connection on one shared socket, or a socket of its own (0)
            config.write_text(haven_config(self.port, workdir / "data",
                                           free_udp_port() if udp_port == "shared" else 0, max_participants,
                                           media=f'forwarding = "{forwarding}"\n'))
            self.cmd = [sys.executable, "-m", "server.cli", "serve", "--config", str(config)]
        else:
            self.cmd = [sys.executable, "-m", "bench.baseline_relay", "--port", str(self.port)]

    def start(self, timeout: float = 30.0) -> None:
        log_file = open(self.log_path, "w")
        cwd = ROOT if self.kind != "haven" else self.server_root
        self.proc = subprocess.Popen(self.cmd, cwd=cwd, stdout=log_file, stderr=subprocess.STDOUT,
                                     preexec_fn=prepare(SERVER_CPU, self.nice))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.kind} server exited ({self.proc.returncode}); see {self.log_path}")
            if healthy(self.url):
                return
            time.sleep(0.1)
        raise RuntimeError(f"{self.kind} server did not become healthy in {timeout:.0f} s")

    def stop(self) -> None:
        stop_process(self.proc)


def prepare(cpu: int, nice: int):
    """preexec_fn: pin the child to one CPU and give it a nice value."""
    pin, renice = pin_to(cpu), nice_to(nice)

    def apply() -> None:
        pin()
        renice()

    return apply


def warmup_for(load: str, requested: float | None) -> float:
    """Seconds of media before the first window: what was asked, else enough for this load's key frames.

    A new consumer starts at a key frame and the replaying publishers have one per loop (they do not
    answer PLIs), so a shorter warm-up would count subscribers that have not started yet as losses.
    """
    if requested is not None:
        return requested
    return max(5.0, PROFILES[load].min_warmup_s + 1)


def run_loadgen(server: ServerUnderTest, n: int, args: argparse.Namespace, scenario: str,
                profile_to: Path | None, load: str) -> dict:
    """Run one load generator process against a started server; return its JSON result."""
    assert server.proc is not None
    server_pid = server.proc.pid
    out = server.workdir / f"loadgen-{server.kind}-{n}.json"
    warmup = warmup_for(load, args.warmup)
    cmd = [sys.executable, "-m", "bench.loadgen", "--url", server.url, "--server-pid", str(server.proc.pid),
           "--n", str(n), "--duration", str(args.duration), "--warmup", str(warmup),
           "--idle", str(args.idle), "--scenario", scenario, "--drop", str(args.drop), "--load", load,
           "--out", str(out)]
    # each window may also wait up to 2 x 15 s for the subscribers to go quiet (bench/loadgen.py settle)
    budget = 120 + 8 * n + args.idle + warmup + (args.duration + 30) * (3 if scenario == "slow" else 1)
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True,
                            preexec_fn=prepare(LOADGEN_CPU, args.nice))
    profiler: list[subprocess.Popen] = []

    def watch() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("MEASURE-START") and profile_to is not None:
                time.sleep(1.0)  # past the window's initial pause
                profiler.extend(start_profilers(server_pid, profile_to, args))

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        proc.wait(budget)
    except subprocess.TimeoutExpired:
        log(f"load generator exceeded its {budget:.0f} s budget; stopping it")
    finally:
        stop_process(proc)
        for p in profiler:
            try:
                p.wait(args.profile_seconds + 30)
            except subprocess.TimeoutExpired:
                pass
            stop_process(p)
        watcher.join(5)
    if proc.returncode != 0 or not out.exists():
        raise RuntimeError(f"load generator failed (exit {proc.returncode}) for {server.kind} N={n}")
    return json.loads(out.read_text())


def machine_busy_pct(seconds: float = 3.0) -> float:
    """Busiest CPU's use over a short sample (nothing of ours runs between measurements)."""
    a = cpu_times((SERVER_CPU, LOADGEN_CPU))
    time.sleep(seconds)
    b = cpu_times((SERVER_CPU, LOADGEN_CPU))
    return max(100 * (b[c][0] - a[c][0]) / CLK_TCK / seconds for c in a)


def wait_for_quiet(limit: float, threshold: float = 15.0) -> float:
    """Wait (at most ``limit`` s) until other processes leave both CPUs mostly idle; return the last load."""
    deadline = time.monotonic() + limit
    busy = machine_busy_pct()
    while busy > threshold and time.monotonic() < deadline:
        log(f"machine busy ({busy:.0f} % of a CPU used by other processes); waiting for a quieter moment")
        time.sleep(5)
        busy = machine_busy_pct()
    return busy


def measure(kind: str, n: int, args: argparse.Namespace, scenario: str = "normal", load: str = "heavy") -> dict:
    """Start a fresh server of ``kind``, load it with a room of ``n``, stop it; return the numbers."""
    before = wait_for_quiet(args.quiet_wait) if args.quiet_wait > 0 else None
    with tempfile.TemporaryDirectory(prefix=f"haven-bench-{kind}-{n}-") as tmp:
        workdir = Path(tmp)
        server = ServerUnderTest(kind, workdir, n, args.nice, Path(args.server_root).resolve(), args.forwarding,
                                 args.udp_port)
        try:
            server.start()
            time.sleep(1.5)
            assert server.proc is not None
            idle_rss = rss_mb(server.proc.pid)
            idle_threads = thread_count(server.proc.pid)  # before anyone joined
            profile_to = None
            if args.profile and kind == "haven":
                Path(args.profile).mkdir(parents=True, exist_ok=True)
                profile_to = Path(args.profile).resolve() / f"{kind}-{scenario}-n{n}"
            log(f"{kind}: N={n} ({scenario}, {load} load, UDP port {args.udp_port}); server pid "
                f"{server.proc.pid}, idle RSS {idle_rss:.1f} MB, {idle_threads} threads")
            result = run_loadgen(server, n, args, scenario, profile_to, load)
            result["idle_server_rss_mb"] = round(idle_rss, 1)
            result["server_threads_idle"] = idle_threads
            result["other_load_before_pct"] = None if before is None else round(before, 1)
            if profile_to is not None:
                result["profile"] = summarize_profiles(profile_to)
            return result
        except Exception:
            if server.log_path.exists():
                tail = server.log_path.read_text()[-3000:]
                log(f"{kind} server log (tail):\n{tail}")
            raise
        finally:
            server.stop()
            if args.keep_logs:
                dest = Path(args.keep_logs)
                dest.mkdir(parents=True, exist_ok=True)
                for f in workdir.glob("*.log"):
                    shutil.copy(f, dest / f"{scenario}-n{n}-{f.name}")


# -- profile ------------------------------------------------------------------------------------------

def start_profilers(pid: int, prefix: Path, args: argparse.Namespace) -> list[subprocess.Popen]:
    """Sample the server: perf (all CPU time, kernel and C included) and py-spy (Python frames).

    perf samples on the kernel's cpu-clock without stopping the process; py-spy runs non-blocking.
    Both still perturb the server a little: never use a profiled run's numbers as results.
    """
    seconds = int(min(args.duration - 1, args.profile_seconds))
    procs = []
    if shutil.which("perf"):
        procs.append(subprocess.Popen(
            ["perf", "record", "-F", "999", "-g", "--pid", str(pid), "-o", f"{prefix}.perf.data", "--",
             "sleep", str(seconds)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=pin_to(LOADGEN_CPU)))
    if shutil.which("py-spy"):
        procs.append(subprocess.Popen(
            ["py-spy", "record", "--pid", str(pid), "--duration", str(seconds), "--rate", "250",
             "--nonblocking", "--idle", "--threads", "--format", "raw", "-o", f"{prefix}.pyspy.txt"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=pin_to(LOADGEN_CPU)))
    if not procs:
        log("warning: --profile needs perf or py-spy (pip install py-spy)")
    return procs


def perf_table(data: Path, sort: str, limit: int) -> list[tuple[str, float]]:
    """``perf report`` flat shares (self time) sorted by dso or sym."""
    out = subprocess.run(["perf", "report", "-i", str(data), "--stdio", "--no-children", "--sort", sort,
                          "-g", "none", "--percent-limit", "0.3"],
                         capture_output=True, text=True, timeout=120).stdout
    rows = []
    for line in out.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "%" not in line:
            continue
        pct, _, name = line.partition("%")
        try:
            rows.append((name.strip(), float(pct)))
        except ValueError:
            continue
    return rows[:limit]


def summarize_pyspy(path: Path, top: int = 25) -> dict:
    """Python-level view of the main thread: share of the time spent inside Python callbacks, by function.

    Samples whose deepest Python frame is the event loop itself (uvloop's C code or waiting in epoll)
    are counted as "loop"; the rest are attributed inclusively to every function on the stack.
    """
    incl: collections.Counter = collections.Counter()
    self_counts: collections.Counter = collections.Counter()
    loop = busy = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        if "MainThread" not in frames[0] and "thread" in frames[0]:
            continue
        names = [f.split(" (")[0] + " (" + f.split(" (")[1].split(":")[0].rsplit("/", 1)[-1] + ")"
                 if " (" in f else f for f in frames[1:]]
        c = int(count)
        if not names or names[-1].startswith("run_app ") or names[-1].startswith("serve "):
            loop += c
            continue
        busy += c
        self_counts[names[-1]] += c
        for f in set(names):
            incl[f] += c
    pct = lambda c: round(100 * c / busy, 1) if busy else 0.0  # noqa: E731
    return {
        "main_thread_samples_in_callbacks": busy, "main_thread_samples_in_loop": loop,
        "self_pct_of_callback_time": [(f, pct(c)) for f, c in self_counts.most_common(top)],
        "inclusive_pct_of_callback_time": [(f, pct(c)) for f, c in incl.most_common(top + 12)
                                           if not f.startswith(("_run_module_as_main", "_run_code", "<module>",
                                                                "main ", "_serve", "serve ", "run_app"))],
    }


def summarize_profiles(prefix: Path) -> dict:
    out: dict[str, Any] = {}
    perf_data = Path(f"{prefix}.perf.data")
    if perf_data.exists():
        out["perf_data"] = str(perf_data)
        out["perf_by_object_pct"] = perf_table(perf_data, "dso", 12)
        out["perf_top_symbols_pct"] = perf_table(perf_data, "dso,sym", 40)
    pyspy = Path(f"{prefix}.pyspy.txt")
    if pyspy.exists():
        out["pyspy_raw"] = str(pyspy)
        out["pyspy"] = summarize_pyspy(pyspy)
    return out


# -- report -------------------------------------------------------------------------------------------

RUN_KEYS = ("server_cpu_pct", "us_cpu_per_fwd_pkt", "delivery_ratio", "lat_p50_ms", "lat_p95_ms", "lat_p99_ms",
            "lat_app_p99_ms",
            "rss_mb", "idle_cpu_pct_per_participant", "loadgen_lag_p99_ms", "loadgen_lag_max_ms", "cpu0_other_pct",
            "server_preempted_per_s", "server_major_faults")


NOISY_OTHER_PCT = 15.0  # a run in which other processes used more of the server's CPU than this is "noisy"


def median_run(all_runs: list[dict]) -> dict:
    """With --repeat, every number is the median over the runs that were not noisy (over all runs if every
    run was); the runs themselves are kept. The rule depends only on the neighbours' load, never on results."""
    for r in all_runs:
        r["noisy"] = (r.get("cpu0_other_pct") or 0) > NOISY_OTHER_PCT
    runs = [r for r in all_runs if not r["noisy"]] or all_runs
    summary = [{k: r.get(k) for k in RUN_KEYS + ("noisy",)} for r in all_runs]
    if len(runs) == 1:
        return dict(runs[0], runs=summary, runs_used=1, quietest_run=quietest(all_runs))
    merged = dict(runs[0])
    for key, value in runs[0].items():
        values = [r.get(key) for r in runs]
        if isinstance(value, (int, float)) and not isinstance(value, bool) and None not in values:
            merged[key] = statistics.median(v for v in values if v is not None)
    merged["runs"] = summary
    merged["runs_used"] = len(runs)
    merged["quietest_run"] = quietest(all_runs)
    return merged


def quietest(runs: list[dict]) -> dict:
    """The run in which other processes used the server's CPU least (selected by that alone)."""
    def other_pct(run: dict) -> float:
        value = run.get("cpu0_other_pct")
        return float(value) if value is not None else 1e9

    best = min(runs, key=other_pct)
    return {k: best.get(k) for k in RUN_KEYS}


def combine(n: int, haven: dict, baseline: dict | None, baseline_planned: bool) -> dict:
    row: dict[str, Any] = {
        "n": n,
        "load": haven.get("load", "heavy"),
        "fwd_pkts_per_s": haven["fwd_pkts_per_s"],
        "server_cpu_pct": haven["server_cpu_pct"],
        "us_cpu_per_fwd_pkt": haven["us_cpu_per_fwd_pkt"],
        "delivery_ratio": haven["delivery_ratio"],
        "lat_p50_ms": haven["lat_p50_ms"],
        "lat_p95_ms": haven["lat_p95_ms"],
        "lat_p99_ms": haven["lat_p99_ms"],
        "rss_mb": haven["rss_mb"],
        "rss_per_participant_mb": round((haven["rss_mb"] - haven["idle_server_rss_mb"]) / n, 2),
        "idle_cpu_pct_per_participant": haven["idle_cpu_pct_per_participant"],
        "baseline_server_cpu_pct": None,
        "baseline_delivery_ratio": None,
        "cpu_ratio_haven_over_baseline": None,
        "baseline_note": "not run (size not in --baseline-sizes)" if not baseline_planned else None,
        # context
        "published_pkts_per_s": haven["published_pkts_per_s"],
        # The real packet rate of one publisher (video + audio), counted at its SRTP hand-off.
        "published_pkts_per_s_per_publisher": round(haven["published_pkts_per_s"] / n, 1),
        "video_pps_per_publisher": haven.get("video_pps_per_publisher"),
        "video_kbps_per_publisher": haven.get("video_kbps_per_publisher"),
        "frame_delivery_ratio": haven["frame_delivery_ratio"],
        "lat_min_ms": haven.get("lat_min_ms"),
        "lat_max_ms": haven["lat_max_ms"],
        "lat_app_p50_ms": haven.get("lat_app_p50_ms"),
        "lat_app_p95_ms": haven.get("lat_app_p95_ms"),
        "lat_app_p99_ms": haven.get("lat_app_p99_ms"),
        "lat_samples": haven["lat_samples"],
        "idle_cpu_pct": haven["idle_cpu_pct"],
        "idle_server_rss_mb": haven["idle_server_rss_mb"],
        "loadgen_cpu_pct": haven["loadgen_cpu_pct"],
        "loadgen_lag_p99_ms": haven.get("loadgen_lag_p99_ms"),
        "cpu0_other_pct": haven.get("cpu0_other_pct"),
        "cpu1_busy_pct": haven.get("cpu1_busy_pct"),
        "steal_pct": haven.get("steal_pct"),
        "udp_rcvbuf_errors": haven.get("udp_rcvbuf_errors"),
        "server_preempted_per_s": haven.get("server_preempted_per_s"),
        "server_sys_share": haven.get("server_sys_share"),
        "server_major_faults": haven.get("server_major_faults"),
        "loadgen_major_faults": haven.get("loadgen_major_faults"),
        "runs": haven.get("runs"),
        "quietest_run": haven.get("quietest_run"),
        "runs_used": haven.get("runs_used"),
        "loadgen_lag_max_ms": haven.get("loadgen_lag_max_ms"),
        "lat_hist_ms": haven.get("lat_hist_ms"),
        "seconds": haven["seconds"],
        "setup_s": haven["setup_s"],
        "server_threads": haven["server_threads"],
        "server_threads_idle": haven.get("server_threads_idle"),
        # the counts behind delivery_ratio, and datagrams the subscribers could not unprotect (replays,
        # forgeries): what tells duplicates from a window that did not close when delivery exceeds 1
        "received": haven.get("received"),
        "expected": haven.get("expected"),
        "rx_per_member": haven.get("rx_per_member"),
        "tx_per_member": haven.get("tx_per_member"),
        "unprotect_failures": haven.get("unprotect_failures"),
        "settle_before_s": haven.get("settle_before_s"),
        "settle_after_s": haven.get("settle_after_s"),
    }
    if "profile" in haven:
        row["profile"] = haven["profile"]
    if haven["loadgen_cpu_pct"] > 90:
        row["warning"] = "load generator near saturation: delivery and latency may be understated"
    if (haven["delivery_ratio"] or 0) > 1:
        # Closed windows make every counted packet one that was sent in the window, unless the server is
        # further behind than the drain pause when a window opens, or something arrived twice.
        row["warning"] = (f"delivery above 100 %: more packets arrived than were sent in the window (server "
                          f"up to {haven['lat_max_ms']} ms behind, subscribers' callbacks up to "
                          f"{haven.get('lat_app_p99_ms')} ms at p99); the row is not valid")
    if baseline is not None:
        cpu = baseline["server_cpu_pct"]
        delivery = baseline["frame_delivery_ratio"]
        row["baseline_delivery_ratio"] = delivery
        row["baseline_server_cpu_pct_measured"] = cpu
        row["baseline_loadgen_cpu_pct"] = baseline["loadgen_cpu_pct"]
        row["baseline_server_threads"] = baseline["server_threads"]
        if delivery is None or delivery < 0.9 or cpu >= 95:
            row["baseline_note"] = (f"baseline cannot keep up at N={n}: {cpu:.0f} % CPU, "
                                    f"delivery {delivery if delivery is None else round(100 * delivery, 1)} %")
        else:
            row["baseline_server_cpu_pct"] = cpu
            row["cpu_ratio_haven_over_baseline"] = round(haven["server_cpu_pct"] / cpu, 3) if cpu else None
            row["baseline_note"] = "ok"
    elif baseline_planned:
        row["baseline_note"] = "baseline run failed"
    return row


def fmt(value: Any, spec: str = "") -> str:
    if value is None:
        return "-"
    return format(value, spec) if spec else str(value)


def print_table(rows: list[dict]) -> None:
    head = (f"{'N':>3} {'load':>6} {'fwd pkt/s':>10} {'CPU %':>7} {'us/pkt':>7} {'delivery':>9} {'p50 ms':>7} "
            f"{'p95 ms':>7} {'p99 ms':>7} {'RSS MB':>7} {'idle MB':>7} {'MB/part':>8} {'idle%/p':>8} "
            f"{'threads':>9} {'base CPU%':>9} {'base dlv':>9} {'ratio':>6}")
    print(head)
    print("-" * len(head))
    for r in rows:
        threads = f"{fmt(r.get('server_threads_idle'))}/{fmt(r.get('server_threads'))}"
        print(f"{r['n']:>3} {r.get('load', 'heavy'):>6} {fmt(r['fwd_pkts_per_s'], '.0f'):>10} "
              f"{fmt(r['server_cpu_pct'], '.1f'):>7} "
              f"{fmt(r['us_cpu_per_fwd_pkt'], '.2f'):>7} {fmt(r['delivery_ratio'], '.4%'):>9} "
              f"{fmt(r['lat_p50_ms'], '.2f'):>7} {fmt(r['lat_p95_ms'], '.2f'):>7} {fmt(r['lat_p99_ms'], '.2f'):>7} "
              f"{fmt(r['rss_mb'], '.1f'):>7} {fmt(r.get('idle_server_rss_mb'), '.1f'):>7} "
              f"{fmt(r['rss_per_participant_mb'], '.2f'):>8} "
              f"{fmt(r['idle_cpu_pct_per_participant'], '.3f'):>8} {threads:>9} "
              f"{fmt(r['baseline_server_cpu_pct'], '.1f'):>9} "
              f"{fmt(r['baseline_delivery_ratio'], '.1%'):>9} {fmt(r['cpu_ratio_haven_over_baseline'], '.3f'):>6}")
    print("threads = the server's threads before anyone joined / at the end of the window; idle MB = RSS of the "
          "fresh server; us/pkt is CPU time on a shared machine (noisy)")
    print("latency = publisher's send to the kernel's delivery into the subscriber's socket (the server's hop);"
          f" medians over the runs in which other processes used <= {NOISY_OTHER_PCT:.0f} % of the server's CPU")
    for r in rows:
        runs = r.get("runs") or []
        noisy = [x for x in runs if x.get("noisy")]
        if noisy:
            print(f"  N={r['n']}: {len(noisy)} of {len(runs)} runs noisy (other processes on the server's CPU: "
                  f"{', '.join(str(x.get('cpu0_other_pct')) for x in runs)} %)"
                  + ("; all noisy, so the row is their median" if len(noisy) == len(runs) else ""))
    for r in rows:
        q = r.get("quietest_run")
        if q and r.get("runs") and len(r["runs"]) > 1:
            print(f"  N={r['n']}: quietest of {len(r['runs'])} runs ({q['cpu0_other_pct']} % of CPU 0 used by other "
                  f"processes): {q['us_cpu_per_fwd_pkt']} us/pkt, p50/p95/p99 {q['lat_p50_ms']}/{q['lat_p95_ms']}/"
                  f"{q['lat_p99_ms']} ms")
    for r in rows:
        if r.get("baseline_note") not in (None, "ok"):
            print(f"  N={r['n']}: baseline: {r['baseline_note']}")
        if r.get("warning"):
            print(f"  N={r['n']}: warning: {r['warning']}")


def print_slow(result: dict) -> None:
    phases = result["phases"]
    print(f"slow subscriber, N={result['n']}: the other {result['n'] - 1} subscribers")
    print(f"{'phase':>9} {'delivery':>9} {'p50 ms':>7} {'p99 ms':>7} {'CPU %':>7} {'d delivery':>11} {'d p99':>7}")
    for name, ph in phases.items():
        print(f"{name:>9} {fmt(ph['delivery_ratio'], '.4%'):>9} {fmt(ph['lat_p50_ms'], '.2f'):>7} "
              f"{fmt(ph['lat_p99_ms'], '.2f'):>7} {fmt(ph['server_cpu_pct'], '.1f'):>7} "
              f"{fmt(ph.get('delivery_change'), '+.3%'):>11} {fmt(ph.get('p99_change'), '+.1%'):>7}")


def load_ratios(rows: list[dict]) -> list[dict]:
    """For each N and UDP port mode measured under both loads: the peer load's figures over the heavy one's."""
    by_key: dict[tuple[int, str], dict[str, dict]] = collections.defaultdict(dict)
    for row in rows:
        by_key[(row["n"], row.get("udp_port", "shared"))][row.get("load", "heavy")] = row
    out = []
    for (n, mode), loads in sorted(by_key.items()):
        heavy, peer = loads.get("heavy"), loads.get("peer")
        if heavy is None or peer is None:
            continue
        ratio: dict[str, Any] = {"n": n, "udp_port": mode}
        for key in ("us_cpu_per_fwd_pkt", "server_cpu_pct", "fwd_pkts_per_s", "rss_mb", "lat_p99_ms"):
            a, b = peer.get(key), heavy.get(key)
            ratio[f"{key}_peer_over_heavy"] = round(a / b, 3) if a is not None and b else None
        out.append(ratio)
    return out


def print_load_ratios(ratios: list[dict]) -> None:
    for r in ratios:
        print(f"  N={r['n']}: peer / heavy load: us/pkt {fmt(r['us_cpu_per_fwd_pkt_peer_over_heavy'])}, "
              f"server CPU {fmt(r['server_cpu_pct_peer_over_heavy'])}, forwarded pkt/s "
              f"{fmt(r['fwd_pkts_per_s_peer_over_heavy'])}, RSS {fmt(r['rss_mb_peer_over_heavy'])}, "
              f"p99 {fmt(r['lat_p99_ms_peer_over_heavy'])}")


def parse_loads(text: str) -> list[str]:
    loads = [m.strip() for m in text.split(",") if m.strip()]
    if not loads or any(m not in PROFILES for m in loads) or len(set(loads)) != len(loads):
        raise argparse.ArgumentTypeError(f"loads are a comma-separated subset of {', '.join(PROFILES)}")
    return loads


def parse_udp_ports(text: str) -> list[str]:
    modes = [m.strip() for m in text.split(",") if m.strip()]
    if not modes or any(m not in UDP_PORT_MODES for m in modes) or len(set(modes)) != len(modes):
        raise argparse.ArgumentTypeError(f"UDP port modes are a comma-separated subset of {', '.join(UDP_PORT_MODES)}")
    return modes


UDP_PORT_MODES = ("shared", "per-connection")


def print_udp_port_ratios(rows: list[dict]) -> None:
    """Each N's shared-port cost over its per-connection cost, from runs made side by side."""
    by_n: dict[tuple[int, str], dict[str, dict]] = collections.defaultdict(dict)
    for row in rows:
        by_n[(row["n"], row.get("load", "heavy"))][row["udp_port"]] = row
    for (n, _), modes in sorted(by_n.items()):
        shared, own = modes.get("shared"), modes.get("per-connection")
        if not shared or not own or not shared["us_cpu_per_fwd_pkt"] or not own["us_cpu_per_fwd_pkt"]:
            continue
        one, each = shared["us_cpu_per_fwd_pkt"], own["us_cpu_per_fwd_pkt"]
        print(f"  N={n}: one shared UDP port {one:.2f} us/pkt, a port per connection {each:.2f} us/pkt: "
              f"ratio {one / each:.3f}; threads {shared['server_threads']} / {own['server_threads']}")


def parse_sizes(text: str) -> list[int]:
    sizes = [int(s) for s in text.split(",") if s.strip()]
    if any(not 2 <= s <= 50 for s in sizes):
        raise argparse.ArgumentTypeError("room sizes must be between 2 and 50")
    return sizes


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="python -m bench.forwarding", description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=parse_sizes, default=[3, 8, 15], help="room sizes N (default 3,8,15)")
    parser.add_argument("--duration", type=float, default=30, help="measured seconds per size (default 30)")
    parser.add_argument("--load", type=parse_loads, default=["heavy"],
                        help="media each publisher sends: heavy (VP8 640x480 ~1 Mbit/s, key frame every 3 s; "
                             "the default), peer (VP8 640x360 ~600 kbit/s, key frame every 10 s), or both "
                             "(heavy,peer: side by side, with their ratios)")
    parser.add_argument("--warmup", type=float, default=None,
                        help="seconds of media before measuring (default 5 for heavy, 12 for peer; at least the "
                             "load's key frame interval + 1: subscribers start at a key frame)")
    parser.add_argument("--idle", type=float, default=10, help="seconds of idle-CPU measurement (default 10)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="Haven runs per size, each on a fresh server; the row holds the medians and 'runs' "
                             "every run (default 1)")
    parser.add_argument("--quiet-wait", type=float, default=180,
                        help="before each run wait up to this many seconds for other processes to leave the CPUs "
                             "mostly idle (default 180; 0 disables)")
    parser.add_argument("--json", metavar="FILE", help="write the results as JSON")
    parser.add_argument("--no-baseline", action="store_true", help="skip the MediaRelay baseline")
    parser.add_argument("--baseline-sizes", type=parse_sizes, default=[3],
                        help="sizes also run against the MediaRelay baseline (default 3; it saturates at ~7 "
                             "video subscribers per core, so N=4 already saturates it); a size missing from "
                             "--sizes gets its own row")
    parser.add_argument("--scenario", choices=("normal", "slow"), default="normal",
                        help="slow: room of --slow-n where one subscriber loses 30 %% and then stops reading")
    parser.add_argument("--slow-n", type=int, default=8)
    parser.add_argument("--drop", type=float, default=0.3, help="slow subscriber's drop fraction (default 0.3)")
    parser.add_argument("--profile", metavar="DIR",
                        help="profile the Haven server during each window with perf and py-spy into DIR "
                             "(perturbs it: use a separate run for the numbers)")
    parser.add_argument("--profile-seconds", type=float, default=15)
    parser.add_argument("--nice", type=int, default=-10 if os.geteuid() == 0 else 0,
                        help="nice value for server and load generator (default -10 as root: unrelated work on a "
                             "shared machine preempts them less; 0 disables)")
    parser.add_argument("--server-root", default=str(ROOT),
                        help="directory to run `python -m server.cli serve` in (default: this checkout); "
                             "e.g. a snapshot of a known-good tree")
    parser.add_argument("--keep-logs", metavar="DIR", help="copy server logs here")
    parser.add_argument("--forwarding", choices=("auto", "c", "python"), default="auto",
                        help="the server's send step (media.forwarding): compiled, pure Python, or auto")
    parser.add_argument("--udp-ports", type=parse_udp_ports, default=["shared"],
                        help="ice.udp_port modes to measure, in turn for each N: shared (one port for all media, "
                             "the default), per-connection (ice.udp_port = 0), or both, e.g. shared,per-connection")
    args = parser.parse_args(argv)
    if args.duration <= 0 or args.duration > 600:
        parser.error("--duration must be in (0, 600] seconds")
    if args.warmup is not None:
        # A new consumer starts at a key frame and the replayed video has one per loop: a shorter warm-up
        # measures subscribers that have not started yet as losses.
        least = max(PROFILES[load].min_warmup_s for load in args.load)
        if not least <= args.warmup <= 120:
            parser.error(f"--warmup must be in [{least:g}, 120] seconds for --load {','.join(args.load)}")
    if not 1 <= args.repeat <= 10:
        parser.error("--repeat must be between 1 and 10")
    ensure_private_netns(argv)
    if len(os.sched_getaffinity(0)) < 2:
        log("warning: fewer than 2 CPUs available; server and load generator will share a core")
    log(f"interfaces in this namespace: {interfaces()}")

    args.udp_port = args.udp_ports[0]
    if args.scenario == "slow":
        result = measure("haven", args.slow_n, args, scenario="slow", load=args.load[0])
        print_slow(result)
        if args.json:
            Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
        return 0

    rows = []
    sizes = sorted(set(args.sizes) | (set() if args.no_baseline else set(args.baseline_sizes)))
    modes = args.udp_ports
    for n in sizes:
        for load_index, load in enumerate(args.load):
            for index, mode in enumerate(modes):
                args.udp_port = mode
                runs = [measure("haven", n, args, load=load) for _ in range(args.repeat)]
                haven = median_run(runs)
                baseline = None
                planned = not args.no_baseline and n in args.baseline_sizes and index == 0 and load_index == 0
                if planned:
                    try:
                        baseline = measure("baseline", n, args, load=load)
                    except Exception as exc:
                        log(f"baseline N={n} failed: {exc}")
                row = combine(n, haven, baseline, planned)
                row["udp_port"] = mode
                rows.append(row)
                log(json.dumps({k: row.get(k) for k in FIELDS}))
                if args.json:  # write as we go, so a late failure keeps the earlier sizes
                    Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")
    ratios = load_ratios(rows)
    for ratio in ratios:  # the peer row carries its ratios to the heavy row of the same N
        for row in rows:
            if row["n"] == ratio["n"] and row["udp_port"] == ratio["udp_port"] and row["load"] == "peer":
                row["peer_over_heavy"] = {k: v for k, v in ratio.items() if k.endswith("_peer_over_heavy")}
    if ratios and args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")
    print_table(rows)
    print_udp_port_ratios(rows)
    print_load_ratios(ratios)
    return 0


if __name__ == "__main__":
    sys.exit(main())
