"""Small helpers shared by the benchmark processes: /proc readings, percentiles, stopping by PID."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")
SECRET = "haven-bench-secret-0123456789-abcdefghijklmnopqrstuvwxyz"
ROOM = "bench-room"


def cpu_seconds(pid: int) -> float:
    """User+system CPU time of a process so far, all threads, from /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def cpu_split(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds of a process, all threads, from /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return int(fields[11]) / CLK_TCK, int(fields[12]) / CLK_TCK


def cpu_ns_exact(pid: int) -> int:
    """CPU time of all live threads in ns from /proc/<pid>/task/*/schedstat (not tick-sampled).

    Used for short, nearly idle windows where /proc/<pid>/stat's 10 ms ticks are too coarse.
    """
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            continue
    return total


def rss_mb(pid: int) -> float:
    """Resident set size of a process in MB (VmRSS from /proc/<pid>/status)."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def thread_count(pid: int) -> int:
    """Number of threads of a process: the entries of /proc/<pid>/task."""
    try:
        return len(os.listdir(f"/proc/{pid}/task"))
    except OSError:
        return 0


def percentile(sorted_values: list, q: float) -> float | None:
    """Nearest-rank percentile of an already sorted list (None when empty)."""
    if not sorted_values:
        return None
    k = min(len(sorted_values) - 1, max(0, int(round(q / 100 * len(sorted_values) + 0.5)) - 1))
    return sorted_values[k]


def stop_process(proc: subprocess.Popen | None, grace: float = 10.0) -> None:
    """Stop one process we started, by its PID: SIGTERM, then SIGKILL if it has not exited in time."""
    if proc is None or proc.poll() is not None:
        return
    try:
        os.kill(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        try:
            os.kill(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        proc.wait(5)


def pin_to(cpu: int):
    """Return a preexec_fn pinning the child to one CPU (no-op if that CPU does not exist)."""

    def pin() -> None:
        if cpu in os.sched_getaffinity(0):
            os.sched_setaffinity(0, {cpu})

    return pin


def wait_until(predicate, timeout: float, interval: float = 0.1) -> bool:
    """Poll ``predicate`` until true or ``timeout`` seconds pass; return the last result."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


def cpu_times(cpus: tuple[int, ...] = (0, 1)) -> dict[int, tuple[int, int]]:
    """(busy, steal) jiffies per CPU from /proc/stat; busy excludes idle, iowait and steal."""
    out: dict[int, tuple[int, int]] = {}
    with open("/proc/stat") as stat:
        for line in stat:
            if not line.startswith("cpu") or line.startswith("cpu "):
                continue
            name, *values = line.split()
            cpu = int(name[3:])
            if cpu in cpus:
                v = [int(x) for x in values]
                user, nice, system, idle, iowait, irq, softirq, steal = v[:8]
                out[cpu] = (user + nice + system + irq + softirq, steal)
    return out


def nice_to(value: int, autogroup: bool = False):
    """Return a preexec_fn that sets a nice value (ignored when not permitted).

    ``autogroup``: also give the child's session autogroup that nice, for a child started in a session of
    its own. With the kernel's autogroup scheduling on (sched_autogroup_enabled), CPU time is shared first
    among sessions and a nice value only ranks processes inside one: the unrelated work of other sessions
    on a shared machine would get as much as the whole benchmark whatever its nice.
    """

    def apply() -> None:
        if value:
            try:
                os.setpriority(os.PRIO_PROCESS, 0, value)
            except OSError:
                pass
            if autogroup:
                try:
                    with open("/proc/self/autogroup", "w") as f:
                        f.write(str(value))
                except OSError:
                    pass

    return apply


def haven_config(port: int, data_dir: Path, udp_port: int, max_participants: int, server: str = "",
                 media: str = "", more: str = "") -> str:
    """The TOML of a benchmarked Haven server on 127.0.0.1: ``server`` and ``media`` are more lines of those
    tables, ``more`` more tables after them."""
    return (
        "[server]\n"
        'host = "127.0.0.1"\n'
        f"port = {port}\n"
        f'public_url = "http://127.0.0.1:{port}"\n'
        f'data_dir = "{data_dir}"\n'
        f"{server}"
        "[auth]\n"
        f'secret = "{SECRET}"\n'
        "[ice]\n"
        'host_addresses = ["127.0.0.1"]\n'
        f"udp_port = {udp_port}\n"
        "[limits]\n"
        f"max_participants_per_room = {max(2, max_participants)}\n"
        "[media]\n"
        "use_uvloop = true\n"
        f"{media}"
        "[logging]\n"
        'level = "info"\n'
        'format = "json"\n'
        f"{more}"
    )


def udp_counters() -> dict[str, int]:
    """This network namespace's UDP counters (InDatagrams, RcvbufErrors, SndbufErrors, ...)."""
    with open("/proc/net/snmp") as snmp:
        rows = [line.split()[1:] for line in snmp if line.startswith("Udp:")]
    return dict(zip(rows[0], map(int, rows[1]), strict=True)) if len(rows) >= 2 else {}


def sched_counters(pid: int) -> dict[str, int]:
    """Major page faults and involuntary context switches of a process (noise indicators)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    out = {"majflt": int(fields[9])}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("nonvoluntary_ctxt_switches:"):
                out["preempted"] = int(line.split()[1])
    return out


async def close_peer_connections(*pcs) -> None:
    """Close RTCPeerConnections, each bounded to 5 s, ignoring ones already gone."""
    for pc in pcs:
        if pc is not None:
            try:
                await asyncio.wait_for(pc.close(), 5)
            except Exception:
                pass
