"""`haven serve --workers N`: N node processes on one machine, one per core, sharing one public port.

One Haven process uses one core (its event loop forwards every packet). The workers are ordinary nodes
(server/cluster.py) that meet in Redis: they share server.port through SO_REUSEPORT, the kernel spreading
new connections among them, and a WebSocket that lands on a worker that does not own its room is relayed
to the one that does, through that worker's own ``nodes.internal_port``. Each has its own UDP media port
(ice.udp_port + i) and metrics port (metrics.port + i).

This process only supervises: it prepares what the workers share (the signing secret, the records key,
the anchor key, the database's migrations) once, so that N starting together do not race to create them,
starts the workers, restarts one that dies, and at SIGTERM/SIGINT stops them all (each drains as a single
server does) and waits for them by PID.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import structlog

from .config import Config, ConfigError, resolve_secret

log = structlog.get_logger("haven.workers")

RESTART_DELAY = 1.0  # after a worker died, doubling to RESTART_DELAY_MAX while it keeps dying young
RESTART_DELAY_MAX = 30.0
HEALTHY_AFTER = 60.0  # a worker that ran this long starts the delay again from RESTART_DELAY


def worker_count(text: str) -> int:
    """Parse --workers: a positive count, or ``auto`` for one per core this process may run on."""
    if text == "auto":
        return max(1, len(os.sched_getaffinity(0)))
    try:
        count = int(text)
    except ValueError:
        raise ValueError(f"--workers must be a number or auto (got {text!r})") from None
    if not 1 <= count <= 256:
        raise ValueError(f"--workers must be between 1 and 256 (got {count})")
    return count


def worker_environment(config: Config, index: int) -> dict[str, str]:
    """The HAVEN_* overrides that make worker ``index`` a node of its own beside the others."""
    base_id = config.nodes.node_id or socket.gethostname()
    internal = (config.nodes.internal_port or config.server.port + 1) + index
    env = {
        "HAVEN_NODES_NODE_ID": f"{base_id}-w{index}",
        "HAVEN_SERVER_REUSE_PORT": "true",
        "HAVEN_NODES_INTERNAL_PORT": str(internal),
        "HAVEN_ICE_UDP_PORT": str(config.ice.udp_port + index if config.ice.udp_port else 0),
        "HAVEN_METRICS_PORT": str(config.metrics.port + index if config.metrics.port else 0),
    }
    if config.nodes.internal_url:
        raise ConfigError("nodes.internal_url", "must be empty with --workers: each worker has its own "
                          "nodes.internal_port and is reached there")
    return env


def prepare_shared(config: Config) -> None:
    """Create, once, what every worker reads at its start."""
    from .anchor import load_key
    from .practice.store import PracticeStore
    from .records_key import records_keyring
    from .storage import Storage

    resolve_secret(config)
    keyring = records_keyring(config.server.data_dir, create=True)
    load_key(config.server.data_dir, create=True)
    storage = Storage(config.records_target, keyring)
    storage.close()
    PracticeStore(config.records_target, keyring).close()


def run_workers(config: Config, count: int, config_path: str | None) -> int:
    """Start ``count`` workers and supervise them until SIGTERM or SIGINT; 0 once all have stopped."""
    if not config.nodes.redis_url:
        raise ConfigError("nodes.redis_url", "must be set for --workers: the workers place rooms through Redis")
    environments = [worker_environment(config, i) for i in range(count)]
    prepare_shared(config)
    command = [sys.executable, "-m", "server.cli", "serve"] + (["--config", config_path] if config_path else [])
    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    workers: list[subprocess.Popen | None] = [None] * count
    started = [0.0] * count
    delay = [RESTART_DELAY] * count
    due = [0.0] * count
    log.info("workers_starting", workers=count)
    try:
        while not stopping:
            now = time.monotonic()
            for i in range(count):
                process = workers[i]
                if process is not None and process.poll() is not None:
                    log.warning("worker_exited", worker=i, code=process.returncode)
                    workers[i] = None
                    lived = now - started[i]
                    delay[i] = RESTART_DELAY if lived >= HEALTHY_AFTER else min(delay[i] * 2, RESTART_DELAY_MAX)
                    due[i] = now + delay[i]
                if workers[i] is None and now >= due[i]:
                    workers[i] = subprocess.Popen(command, env={**os.environ, **environments[i]})
                    started[i] = now
            time.sleep(0.2)
    finally:
        _stop_all([w for w in workers if w is not None], config.server.drain_timeout + 5)
    log.info("workers_stopped")
    return 0


def _stop_all(processes: list[subprocess.Popen], timeout: float) -> None:
    """SIGTERM every worker (each drains), then SIGKILL any still running after ``timeout``."""
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for process in processes:
        try:
            process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
