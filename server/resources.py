"""What the server process holds right now: tasks, file descriptors, UDP sockets, threads, memory.

Read from /proc (Linux) for the admin-only ``GET /api/debug/resources``, so a leak (a task or socket
that outlives its connection) is visible from outside; the adversarial tests check that these
return to their baseline after hostile and aborted joins. No names, ids or rooms: counts only.
"""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path


def _socket_inodes(table: str) -> set[str]:
    try:
        lines = Path(f"/proc/self/net/{table}").read_text().splitlines()[1:]
    except OSError:
        return set()
    return {line.split()[9] for line in lines if len(line.split()) > 9}


def resource_counts() -> dict[str, int]:
    """Return counts of the process's live resources (best effort where /proc is missing)."""
    fds = 0
    udp = _socket_inodes("udp") | _socket_inodes("udp6")
    udp_sockets = 0
    try:
        names = os.listdir("/proc/self/fd")
    except OSError:
        names = []
    for name in names:
        try:
            target = os.readlink(f"/proc/self/fd/{name}")
        except OSError:
            continue  # closed while we looked (the listing's own fd, for one)
        fds += 1
        if target.startswith("socket:[") and target[8:-1] in udp:
            udp_sockets += 1
    try:
        rss_pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        rss_pages = 0
    return {"tasks": len(asyncio.all_tasks()), "fds": fds, "udp_sockets": udp_sockets,
            "threads": threading.active_count(), "rss_bytes": rss_pages * os.sysconf("SC_PAGE_SIZE")}
