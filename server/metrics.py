"""Prometheus metrics, collected at scrape time from the live objects, and the event-loop lag monitor.

Nothing here runs per packet: the collector reads counters the media layer already keeps (Router
``totals()`` and ``drops``) when Prometheus scrapes, and the lag monitor is one small timer task.
Every app has its own ``CollectorRegistry`` (tests build many apps in one process).

Confidentiality: metrics carry no names or ids. Every series is a process-wide count; the only labels
are ``reason``, whose values are the fixed ``DropReason`` enum, and ``kind``, the fixed kinds of record
(audit, attendance, sessions). Rooms, sessions and participants are counted, never named. Among several
nodes (server/cluster.py) every series also carries ``node``, the operator's name for the process.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import structlog
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from media.api import COUNTERS, Router, UdpMux
from media.reasons import DropReason

from .resources import resource_counts

__all__ = ["CONTENT_TYPE_LATEST", "LoopLagMonitor", "MediaTotals", "Metrics"]

log = structlog.get_logger("haven.metrics")

LAG_INTERVAL = 0.25  # seconds between two lag measurements
LAG_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class LoopLagMonitor:
    """Measure how late the event loop runs a timer: sleep `interval`, see how much longer it took.

    ``lag`` is the latest measurement (what /readyz compares with metrics.max_loop_lag); the histogram
    of all measurements is exposed as ``haven_event_loop_lag_seconds``.
    """

    def __init__(self, interval: float = LAG_INTERVAL, clock: Callable[[], float] = time.monotonic,
                 tick: Callable[[], None] | None = None) -> None:
        self.interval = interval
        self.tick = tick  # housekeeping run after each measurement
        self.clock = clock
        self.lag = 0.0
        self.buckets = [0] * len(LAG_BUCKETS)
        self.count = 0
        self.sum = 0.0
        self._task: asyncio.Task[None] | None = None

    def observe(self, lag: float) -> None:
        lag = max(0.0, lag)
        self.lag = lag
        self.count += 1
        self.sum += lag
        for index, bound in enumerate(LAG_BUCKETS):
            if lag <= bound:
                self.buckets[index] += 1

    async def run(self) -> None:
        while True:
            start = self.clock()
            await asyncio.sleep(self.interval)
            self.observe(self.clock() - start - self.interval)
            if self.tick is not None:
                try:
                    self.tick()
                except Exception:  # housekeeping must never stop the measurements
                    log.exception("metrics_tick_failed")

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.ensure_future(self.run())

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass


class MediaTotals:
    """Every Router the app made, so packet counters stay monotonic after a room's session ends.

    A closed Router's final counts are folded into the totals at the next scrape and the Router is let go.
    """

    def __init__(self, shared_port: UdpMux | None = None) -> None:
        self.routers: list[Router] = []
        self.closed = {name: 0 for name in COUNTERS}
        self.closed_drops = {reason: 0 for reason in DropReason}
        self.shared_port = shared_port  # its drops are per server, not per Router

    def track(self, router: Router) -> Router:
        self.routers.append(router)
        return router

    def fold(self) -> None:
        """Add the final counts of the Routers that closed to the totals and let them go.

        Run at every scrape and on the lag monitor's tick, so a closed Router (and the Session its
        listener is) is not held for long even when nobody scrapes or metrics are disabled.
        """
        live: list[Router] = []
        for router in self.routers:
            if router.closed:
                counts = router.totals()
                for name in COUNTERS:
                    self.closed[name] += counts[name]
                for reason, n in router.drops.items():
                    self.closed_drops[reason] += n
            else:
                live.append(router)
        self.routers = live

    def read(self) -> tuple[dict[str, int], dict[DropReason, int]]:
        """Return the lifetime counters and drops by reason over every Router, live or closed."""
        self.fold()
        totals = dict(self.closed)
        drops = dict(self.closed_drops)
        for router in self.routers:
            counts = router.totals()
            for name in COUNTERS:
                totals[name] += counts[name]
            for reason, n in router.drops.items():
                drops[reason] += n
        if self.shared_port is not None:
            for reason, n in self.shared_port.drops.items():
                drops[reason] += n
        return totals, drops


class RecordsWatch:
    """Counts how often the records became unwritable (Storage tells its listeners on every change)."""

    def __init__(self) -> None:
        self.failures = 0

    def changed(self, writable: bool) -> None:  # called on the storage thread; an int add is enough
        if not writable:
            self.failures += 1


class HavenCollector(Collector):
    """Read at scrape time: counts of sessions and media, drops by reason, records, loop lag, resources."""

    def __init__(self, sessions: Any, storage: Any, media: MediaTotals, lag: LoopLagMonitor,
                 records: RecordsWatch, resources: Callable[[], dict[str, int]] = resource_counts) -> None:
        self.sessions = sessions
        self.storage = storage
        self.media = media
        self.lag = lag
        self.records = records
        self.resources = resources

    def describe(self) -> Iterable[Metric]:
        return []  # no describe-time collection: registering must not read live objects

    def collect(self) -> Iterator[Metric]:
        live = [s for s in list(self.sessions.live.values()) if not s.ended]
        participants = [p for s in live for p in list(s.room.participants.values())]
        waiting = sum(1 for p in participants if not p.admitted)
        routers = [r for r in self.media.routers if not r.closed]
        yield _gauge("haven_rooms", "Rooms with a session in progress", len(live))
        yield _gauge("haven_participants", "Participants in sessions, waiting or admitted", len(participants))
        yield _gauge("haven_participants_waiting", "Participants in a waiting room", waiting)
        yield _gauge("haven_routers", "Open Routers (main rooms and breakouts)", len(routers))
        yield _gauge("haven_producers", "Published tracks being forwarded",
                     sum(len(r.producers) for r in routers))
        consumers = [c for r in routers for m in list(r.members.values()) for c in list(m.consumers.values())]
        yield _gauge("haven_consumers", "Copies of tracks forwarded to subscribers", len(consumers))
        yield _gauge("haven_videos_paused", "Videos held back from subscribers whose links cannot carry them "
                     "with their audio", sum(1 for c in consumers if c.suspended))
        totals, drops = self.media.read()
        yield _counter("haven_packets_received", "RTP packets received from publishers", totals["packets_in"])
        yield _counter("haven_packets_forwarded", "RTP packets forwarded to subscribers", totals["forwarded"])
        yield _counter("haven_keyframe_requests", "Key frames asked of publishers (PLI)", totals["keyframe_requests"])
        yield _counter("haven_bytes_forwarded",
                       "RTP bytes sent to subscribers (header and payload, before SRTP), retransmissions included",
                       totals["bytes_forwarded"])
        yield _counter("haven_nacks_received", "Packets subscribers reported lost (RTCP NACK) within their budget",
                       totals["nacks"])
        yield _counter("haven_retransmissions", "Packets resent to subscribers from the cache, answering NACKs",
                       totals["retransmissions"])
        yield _counter("haven_upstream_nacks", "Video packets asked of publishers again (RTCP NACK), retries included",
                       totals["upstream_nacks"])
        yield _counter("haven_upstream_repaired",
                       "Video packets lost on the way in that arrived after all (mostly as RTX retransmissions)",
                       totals["upstream_repaired"])
        yield _counter("haven_layer_switches", "Simulcast layer changes of subscribers' videos",
                       totals["layer_switches"])
        dropped = CounterMetricFamily("haven_packets_dropped", "Packets not forwarded, by reason",
                                      labels=["reason"])
        for reason in DropReason:
            dropped.add_metric([reason.value], drops[reason])
        yield dropped
        yield from _link_quality(routers)
        yield _gauge("haven_records_writable", "1 while attendance and audit records can be written",
                     1 if self.storage.writable else 0)
        yield _counter("haven_records_unwritable", "Times the records became unwritable", self.records.failures)
        failures = CounterMetricFamily("haven_records_write_failures", "Record writes that failed (records lost)",
                                       labels=["kind"])
        latency = HistogramMetricFamily("haven_records_write_seconds",
                                        "Time from queueing a record to its write being done", labels=["kind"])
        for kind, histogram in self.storage.write_seconds.items():
            failures.add_metric([kind], self.storage.write_failures[kind])
            buckets, _, total = histogram.snapshot()
            latency.add_metric([kind], buckets, total)
        yield failures
        yield latency
        lag = self.lag
        yield _gauge("haven_event_loop_lag_latest_seconds", "Latest event-loop scheduling delay", lag.lag)
        buckets = [(f"{bound}", count) for bound, count in zip(LAG_BUCKETS, lag.buckets, strict=True)]
        yield HistogramMetricFamily("haven_event_loop_lag_seconds", "Event-loop scheduling delay",
                                    buckets=[*buckets, ("+Inf", lag.count)], sum_value=lag.sum)
        resources = self.resources()
        yield _gauge("haven_asyncio_tasks", "asyncio tasks alive", resources["tasks"])
        yield _gauge("haven_open_fds", "Open file descriptors", resources["fds"])
        yield _gauge("haven_udp_sockets", "Open UDP sockets (the shared media port's, or one per connection)",
                     resources["udp_sockets"])
        shared = self.media.shared_port
        yield _gauge("haven_shared_port_entries", "Routing entries of the shared media port (connections, "
                     "learnt addresses, STUN transactions in flight)", shared.table_entries() if shared else 0)
        yield _gauge("haven_threads", "Python threads", resources["threads"])
        yield _gauge("haven_resident_memory_bytes", "Resident memory", resources["rss_bytes"])


QUANTILES = (0.5, 0.9, 0.99)


def _link_quality(routers: list[Router]) -> Iterator[Metric]:
    """Summaries over the live streams of their latest round trip and loss: how the calls sound now.

    One value per stream, no labels but the quantile: which room or person a bad link belongs to is
    not the metrics' business (a host sees it in the room).
    """
    rtts: list[float] = []
    down: list[float] = []
    up: list[float] = []
    for router in routers:
        r, d, u = router.link_quality()
        rtts += r
        down += d
        up += u
    yield _summary("haven_subscriber_rtt_seconds", "Round trip to subscribers, per forwarded stream (latest)", rtts)
    yield _summary("haven_subscriber_loss_ratio",
                   "Fraction of packets lost on the way to subscribers, per forwarded stream (latest report)", down)
    yield _summary("haven_publisher_loss_ratio",
                   "Fraction of packets lost on the way in from publishers, per published track (latest)", up)


def _summary(name: str, documentation: str, values: list[float]) -> Metric:
    metric = Metric(name, documentation, "summary")
    ordered = sorted(values)
    for q in QUANTILES:
        value = ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")
        metric.add_sample(name, {"quantile": str(q)}, value)
    metric.add_sample(name + "_count", {}, len(ordered))
    metric.add_sample(name + "_sum", {}, sum(ordered))
    return metric


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


def _counter(name: str, documentation: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, documentation, value=value)


class NodeLabelled(Collector):
    """Another collector's series, each with the ``node`` label added (one of several nodes)."""

    def __init__(self, collector: Collector, node: str) -> None:
        self.collector = collector
        self.node = node

    def describe(self) -> Iterable[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        for metric in self.collector.collect():
            metric.samples = [sample._replace(labels={**sample.labels, "node": self.node})
                              for sample in metric.samples]
            yield metric


class Metrics:
    """One app's metrics: its registry, its collector and the parts the collector reads."""

    def __init__(self, sessions: Any, storage: Any, resources: Callable[[], dict[str, int]] = resource_counts,
                 lag: LoopLagMonitor | None = None, routers: MediaTotals | None = None,
                 node: str | None = None) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.media = routers if routers is not None else MediaTotals()
        self.lag = lag or LoopLagMonitor(tick=self.media.fold)
        self.records = RecordsWatch()
        collector: Collector = HavenCollector(sessions, storage, self.media, self.lag, self.records, resources)
        self.registry.register(collector if node is None else NodeLabelled(collector, node))

    def exposition(self) -> bytes:
        """Return the text exposition format of every metric, read now."""
        return generate_latest(self.registry)
