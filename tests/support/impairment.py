"""Real network impairment for tests: a client machine of its own, behind a link that loses or narrows.

A ``Host`` is a separate network namespace joined to the test's own (the tests run inside ``unshare --net``
with only ``lo``) by a veth pair with private addresses: ``10.77.N.1/30`` on the test's side, where the
Haven server listens, and ``10.77.N.2/30`` in the host. Whatever runs in the host (Chromium, through
``executable``) reaches the server only across that pair, so the kernel's own tools can impair it:

- random loss: an nftables rule in the host's namespace (``numgen random``: every packet is dropped with
  the given probability, independently). The output hook is the uplink, what the host sends; the input
  hook is the downlink, what it receives. By default only UDP is dropped, so the media suffers and the
  signaling WebSocket (TCP, which would retransmit anyway) does not;
- a bandwidth bottleneck: a token bucket (``tbf``) on the egress of one end of the pair — the host's
  end for the uplink, the test's end for the downlink. This kernel has no ``netem``; ``tbf`` and nftables
  are what it offers, and both are the real thing, not a simulation in code.

The namespace lives as long as a holder process (``unshare --net sleep infinity``) that this module
starts and stops by its PID; the pair goes with it. Everything stays inside namespaces the test made,
on private addresses, as docs/browser-testing.md asks.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

from tests.support.server_process import stop_by_pid

Direction = Literal["up", "down"]
TABLE = "haven_impairment"
# nftables chains by direction: the host's own outgoing packets pass the output hook, incoming ones input.
CHAINS: dict[Direction, str] = {"up": "egress", "down": "ingress"}
RANDOM_SCALE = 10000  # loss is drawn as numgen random mod 10000 < n: a resolution of 0.01 %
_indexes = itertools.count(1)  # each Host of this process gets its own /30 and interface names


def _run(command: list[str]) -> str:
    """Run an ip/tc/nft command; a failure raises with what the tool said (these are setup errors)."""
    done = subprocess.run(command, capture_output=True, text=True, timeout=10)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout


def _namespace_of(pid: int | str) -> str:
    return os.readlink(f"/proc/{pid}/ns/net")


class Host:
    """A machine of its own on the test's network: a namespace, a veth pair, and its impairments."""

    def __init__(self, directory: Path) -> None:
        self.index = next(_indexes)
        if self.index > 250:
            raise RuntimeError("too many impairment hosts in one test process")
        self.directory = directory
        self.gateway = f"10.77.{self.index}.1"  # the test's side: where the server is reached
        self.address = f"10.77.{self.index}.2"  # the host's own address
        self.outer = f"hv{self.index}t"  # the pair's end in the test's namespace
        self.inner = f"hv{self.index}h"  # its end in the host
        self.holder: subprocess.Popen | None = None

    @property
    def netns(self) -> str:
        """The host's network namespace, for ``nsenter --net=``."""
        assert self.holder is not None, "the host is not running"
        return f"/proc/{self.holder.pid}/ns/net"

    # -- life -----------------------------------------------------------------------------------------

    @contextmanager
    def running(self) -> Iterator[Host]:
        """Make the namespace and the link for a ``with`` block; the holder is stopped by PID on the way out,
        which takes the namespace and both ends of the pair with it."""
        self.start()
        try:
            yield self
        finally:
            self.stop()

    def start(self, timeout: float = 5.0) -> None:
        own = _namespace_of("self")
        self.holder = subprocess.Popen(["unshare", "--net", "sleep", "infinity"], stdin=subprocess.DEVNULL)
        try:
            # Popen returns before unshare(2) ran: until then /proc/PID/ns/net is still ours, and a veth moved
            # "into" it would stay here. Wait until the holder is in a namespace of its own.
            deadline = time.monotonic() + timeout
            while _namespace_of(self.holder.pid) == own:
                if self.holder.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the namespace holder did not start")
                time.sleep(0.01)
            _run(["ip", "link", "add", "name", self.outer, "type", "veth", "peer", "name", self.inner])
            _run(["ip", "link", "set", self.inner, "netns", str(self.holder.pid)])
            _run(["ip", "address", "add", f"{self.gateway}/30", "dev", self.outer])
            _run(["ip", "link", "set", self.outer, "up"])
            self.run("ip", "link", "set", "lo", "up")
            self.run("ip", "address", "add", f"{self.address}/30", "dev", self.inner)
            self.run("ip", "link", "set", self.inner, "up")
            self.run("ip", "route", "add", "default", "via", self.gateway)
            # One table of our own holds both loss chains, so clearing is one flush and nothing else is touched.
            self.run("nft", "add", "table", "netdev", TABLE)
            for direction, hook in CHAINS.items():
                self.run("nft", "add", "chain", "netdev", TABLE, direction,
                         f"{{ type filter hook {hook} device {self.inner} priority 0; policy accept; }}")
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        # Deleting either end deletes the pair; the namespace goes when its last process (the holder) ends.
        subprocess.run(["ip", "link", "del", self.outer], capture_output=True, timeout=10)
        stop_by_pid(self.holder)

    def run(self, *command: str) -> str:
        """Run a command in the host's network namespace and return its output."""
        return _run(["nsenter", f"--net={self.netns}", *command])

    # -- impairments --------------------------------------------------------------------------------

    def lose(self, fraction: float, direction: Direction, udp_only: bool = True) -> None:
        """Drop each packet going ``direction`` with probability ``fraction`` (replacing any loss set before)."""
        if not 0 < fraction < 1:
            raise ValueError(f"loss must be between 0 and 1 exclusive (got {fraction})")
        self.run("nft", "flush", "chain", "netdev", TABLE, direction)
        match = ["meta", "l4proto", "udp"] if udp_only else []
        # A counter on the rule tells the test how many packets the kernel really dropped (dropped()).
        self.run("nft", "add", "rule", "netdev", TABLE, direction, *match, "numgen", "random", "mod",
                 str(RANDOM_SCALE), "<", str(round(fraction * RANDOM_SCALE)), "counter", "drop")

    def dropped(self, direction: Direction) -> int:
        """Packets the loss rule of that direction has dropped so far (0 without one)."""
        listing = json.loads(self.run("nft", "-j", "list", "chain", "netdev", TABLE, direction))
        total = 0
        for item in listing.get("nftables", []):
            for expression in item.get("rule", {}).get("expr", []):
                if "counter" in expression:
                    total += expression["counter"]["packets"]
        return total

    def limit(self, bits_per_second: int, direction: Direction, queue_ms: int = 200) -> None:
        """Hold the link going ``direction`` to ``bits_per_second``: a token bucket on that end's egress, whose
        queue holds ``queue_ms`` of traffic before it drops (a narrow link delays first, then loses)."""
        # The bucket must hold at least one full-size packet, or nothing larger passes at all.
        burst = max(1600, bits_per_second // 8 // 50)  # 20 ms of the rate
        qdisc = ["tc", "qdisc", "replace", "dev", self.inner if direction == "up" else self.outer, "root", "tbf",
                 "rate", f"{bits_per_second}bit", "burst", str(burst), "latency", f"{queue_ms}ms"]
        if direction == "up":
            self.run(*qdisc)
        else:
            _run(qdisc)

    def clear(self) -> None:
        """Lift every impairment: the link is a plain veth again."""
        for direction in CHAINS:
            self.run("nft", "flush", "chain", "netdev", TABLE, direction)
        # tc refuses to delete a root qdisc that is only the default; that refusal means "already clear".
        subprocess.run(["nsenter", f"--net={self.netns}", "tc", "qdisc", "del", "dev", self.inner, "root"],
                       capture_output=True, timeout=10)
        subprocess.run(["tc", "qdisc", "del", "dev", self.outer, "root"], capture_output=True, timeout=10)

    # -- programs in the host -----------------------------------------------------------------------

    def executable(self, program: str) -> str:
        """Return a wrapper that runs ``program`` (its arguments passed on) in the host's namespace.

        Given to Playwright as ``executable_path``: Playwright drives Chromium over a pipe (inherited file
        descriptors, which nsenter keeps), so control is unaffected and only the browser's network is the
        host's.
        """
        wrapper = self.directory / f"in-host-{self.index}-{Path(program).name}"
        wrapper.write_text(f'#!/bin/sh\nexec nsenter --net={self.netns} {program} "$@"\n')
        wrapper.chmod(0o755)
        return str(wrapper)
