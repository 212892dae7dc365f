"""Small helpers shared by the benchmark processes: /proc readings, percentiles, stopping by PID."""

from __future__ import annotations

import os
import signal
import subprocess
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")
SECRET = "haven-bench-secret-0123456789-abcdefghijklmnopqrstuvwxyz"
ROOM = "bench-room"


def cpu_seconds(pid: int) -> float:
    """User+system CPU time of a process so far, all threads, from /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_mb(pid: int) -> float:
    """Resident set size of a process in MB (VmRSS from /proc/<pid>/status)."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def thread_count(pid: int) -> int:
    """Number of threads of a process."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("Threads:"):
                return int(line.split()[1])
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
