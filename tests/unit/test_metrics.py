"""Tests for server.metrics: what the collector reads from fake live objects, that counters never go down,
that nothing but counts and DropReason values reaches the exposition, the lag monitor, the [metrics] keys."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from prometheus_client.parser import text_string_to_metric_families

from media.reasons import DropReason
from media.router import Router
from server.config import ConfigError, load_config
from server.histogram import Histogram
from server.metrics import LAG_BUCKETS, LoopLagMonitor, MediaTotals, Metrics
from server.storage import LOST_KINDS, WRITE_BUCKETS, Storage
from tests.support.fake_transports import FakeSendPath, FakeTransports
from tests.unit.test_router import SETTINGS, FakeListener, add_track, consumers_of

NAMES = ("Dr Alvarez", "Bea Quinn", "p-ana-0001", "p-bea-0002", "room-sunday-group", "s-0123456789ab")


def fake_storage(writable: bool = True) -> SimpleNamespace:
    return SimpleNamespace(writable=writable, write_seconds={kind: Histogram(WRITE_BUCKETS) for kind in LOST_KINDS},
                           write_failures=dict.fromkeys(LOST_KINDS, 0))


class FakeRouter:
    def __init__(self, producers: dict[str, tuple[int, int, int]], consumers: int,
                 sent: tuple[int, int, int] = (0, 0, 0)) -> None:
        self.producers = {pid: SimpleNamespace() for pid in producers}
        self.counts = producers
        self.members = {"p-ana-0001": SimpleNamespace(consumers={
            f"c{i}": SimpleNamespace(suspended=i == 0) for i in range(consumers)})}  # one held back (audio first)
        self.drops = {reason: 0 for reason in DropReason}
        self.closed = False
        self.retired = [0, 0, 0]
        self.sent = sent  # what its consumers counted: bytes, NACKed packets, retransmissions

    def link_quality(self) -> tuple[list[float], list[float], list[float]]:
        return [0.02, 0.04], [0.0], [0.01]

    def totals(self) -> dict[str, int]:
        live = list(self.counts.values())
        return {"packets_in": self.retired[0] + sum(c[0] for c in live),
                "forwarded": self.retired[1] + sum(c[1] for c in live),
                "keyframe_requests": self.retired[2] + sum(c[2] for c in live),
                "bytes_forwarded": self.sent[0], "nacks": self.sent[1], "retransmissions": self.sent[2],
                "upstream_nacks": 4, "upstream_repaired": 3, "layer_switches": 2}


def participant(pid: str, name: str, admitted: bool) -> SimpleNamespace:
    return SimpleNamespace(id=pid, name=name, admitted=admitted)


def fake_sessions() -> SimpleNamespace:
    room = SimpleNamespace(participants={
        "p-ana-0001": participant("p-ana-0001", "Dr Alvarez", True),
        "p-bea-0002": participant("p-bea-0002", "Bea Quinn", False),
    }, id="room-sunday-group", session_id="s-0123456789ab")
    live = SimpleNamespace(room=room, ended=False, id="room-sunday-group")
    ended = SimpleNamespace(room=SimpleNamespace(participants={}), ended=True, id="old")
    return SimpleNamespace(live={"room-sunday-group": live, "old": ended})


RESOURCES = {"tasks": 7, "fds": 21, "udp_sockets": 4, "threads": 3, "rss_bytes": 50_000_000}


def build(writable: bool = True) -> tuple[Metrics, FakeRouter]:
    metrics = Metrics(fake_sessions(), fake_storage(writable), resources=lambda: dict(RESOURCES))
    router = FakeRouter({"t-1": (100, 180, 2), "t-2": (50, 50, 0)}, consumers=3, sent=(230_000, 12, 9))
    router.drops[DropReason.SUBSCRIBER_CONGESTED] = 5
    router.drops[DropReason.UNKNOWN_SSRC] = 1
    metrics.media.track(router)  # type: ignore[arg-type]
    return metrics, router


def samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = metrics.exposition().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(metrics: Metrics, name: str, **labels: str) -> float:
    return samples(metrics)[(name, tuple(sorted(labels.items())))]


def test_collector_counts_sessions_media_records_and_resources() -> None:
    metrics, _ = build()
    got = samples(metrics)
    assert got[("haven_rooms", ())] == 1  # the ended session is not counted
    assert got[("haven_participants", ())] == 2
    assert got[("haven_participants_waiting", ())] == 1
    assert got[("haven_routers", ())] == 1
    assert got[("haven_producers", ())] == 2
    assert got[("haven_consumers", ())] == 3
    assert got[("haven_packets_received_total", ())] == 150
    assert got[("haven_packets_forwarded_total", ())] == 230
    assert got[("haven_keyframe_requests_total", ())] == 2
    assert got[("haven_bytes_forwarded_total", ())] == 230_000
    assert got[("haven_nacks_received_total", ())] == 12
    assert got[("haven_retransmissions_total", ())] == 9
    assert got[("haven_upstream_nacks_total", ())] == 4
    assert got[("haven_upstream_repaired_total", ())] == 3
    assert got[("haven_layer_switches_total", ())] == 2
    assert got[("haven_videos_paused", ())] == 1
    assert got[("haven_records_write_failures_total", (("kind", "audit"),))] == 0
    assert got[("haven_records_write_seconds_count", (("kind", "attendance"),))] == 0
    assert got[("haven_packets_dropped_total", (("reason", "subscriber-congested"),))] == 5
    assert got[("haven_packets_dropped_total", (("reason", "unknown-ssrc"),))] == 1
    assert got[("haven_packets_dropped_total", (("reason", "malformed"),))] == 0
    assert got[("haven_records_writable", ())] == 1
    assert got[("haven_records_unwritable_total", ())] == 0
    assert got[("haven_asyncio_tasks", ())] == 7
    assert got[("haven_open_fds", ())] == 21
    assert got[("haven_udp_sockets", ())] == 4
    assert got[("haven_threads", ())] == 3
    assert got[("haven_resident_memory_bytes", ())] == 50_000_000


def test_every_drop_reason_is_a_series_and_the_labels_are_fixed_sets() -> None:
    metrics, _ = build()
    labels = {label for (_, pairs) in samples(metrics) for label, _ in pairs}
    assert labels <= {"reason", "le", "kind", "quantile"}  # le: histogram buckets; kind: of record;
    # quantile: the link-quality summaries
    kinds = {dict(pairs)["kind"] for (_, pairs) in samples(metrics) if "kind" in dict(pairs)}
    assert kinds == set(LOST_KINDS)
    reasons = {dict(pairs)["reason"] for (name, pairs) in samples(metrics) if name == "haven_packets_dropped_total"}
    assert reasons == {reason.value for reason in DropReason}


def test_no_name_or_id_appears_in_the_exposition() -> None:
    metrics, _ = build()
    text = metrics.exposition().decode()
    for secret in NAMES:
        assert secret not in text


def test_counters_survive_a_closed_router() -> None:
    metrics, router = build()
    assert value(metrics, "haven_packets_forwarded_total") == 230
    router.closed = True
    router.counts["t-1"] = (110, 200, 3)  # its last packets, counted before it closed
    assert value(metrics, "haven_packets_forwarded_total") == 250
    assert value(metrics, "haven_routers") == 0
    assert metrics.media.routers == []  # let go once folded
    assert value(metrics, "haven_packets_forwarded_total") == 250
    assert value(metrics, "haven_packets_dropped_total", reason="subscriber-congested") == 5
    newer = FakeRouter({"t-3": (1, 2, 1)}, consumers=0)
    metrics.media.track(newer)  # type: ignore[arg-type]
    assert value(metrics, "haven_packets_forwarded_total") == 252
    assert value(metrics, "haven_keyframe_requests_total") == 4


async def test_closed_routers_are_let_go_without_a_scrape() -> None:
    metrics, router = build()
    metrics.lag.interval = 0.01
    metrics.lag.start()
    try:
        router.closed = True
        for _ in range(100):
            await asyncio.sleep(0.01)
            if not metrics.media.routers:
                break
        assert metrics.media.routers == []  # nothing holds the closed Router (and its Session) any more
        assert metrics.media.closed["forwarded"] == 230
    finally:
        await metrics.lag.stop()
    assert value(metrics, "haven_packets_forwarded_total") == 230


def test_records_unwritable_are_counted_and_shown() -> None:
    metrics, _ = build(writable=False)
    metrics.records.changed(False)
    metrics.records.changed(True)
    metrics.records.changed(False)
    assert value(metrics, "haven_records_writable") == 0
    assert value(metrics, "haven_records_unwritable_total") == 2


def test_registries_are_per_app() -> None:
    first, _ = build()
    second = Metrics(SimpleNamespace(live={}), fake_storage(), resources=lambda: dict(RESOURCES))
    assert value(first, "haven_rooms") == 1
    assert value(second, "haven_rooms") == 0
    assert value(second, "haven_packets_forwarded_total") == 0


def test_lag_histogram_is_cumulative() -> None:
    lag = LoopLagMonitor()
    for seconds in (0.001, 0.03, 0.7, -0.002):
        lag.observe(seconds)
    assert lag.lag == 0.0  # a negative measurement (clock granularity) is no lag
    assert lag.count == 4
    assert lag.buckets[LAG_BUCKETS.index(0.005)] == 2
    assert lag.buckets[LAG_BUCKETS.index(0.05)] == 3
    assert lag.buckets[LAG_BUCKETS.index(1.0)] == 4
    metrics = Metrics(SimpleNamespace(live={}), fake_storage(), resources=lambda: dict(RESOURCES),
                      lag=lag)
    assert value(metrics, "haven_event_loop_lag_seconds_count") == 4
    assert value(metrics, "haven_event_loop_lag_seconds_bucket", le="+Inf") == 4
    assert value(metrics, "haven_event_loop_lag_seconds_bucket", le="0.5") == 3
    assert value(metrics, "haven_event_loop_lag_latest_seconds") == 0.0


async def test_lag_monitor_sees_a_blocked_loop() -> None:
    lag = LoopLagMonitor(interval=0.02)
    lag.start()
    try:
        await asyncio.sleep(0.05)
        time.sleep(0.2)  # block the loop
        for _ in range(50):
            await asyncio.sleep(0.01)
            if lag.lag >= 0.1:
                break
        assert lag.lag >= 0.1
    finally:
        await lag.stop()


# -- [metrics] config -----------------------------------------------------------------------------------


def refusal(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> ConfigError:
    path = tmp_path / "haven.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path, env=env or {})
    return info.value


def test_metrics_defaults() -> None:
    metrics = load_config(None, env={}).metrics
    assert (metrics.enabled, metrics.host, metrics.port, metrics.max_loop_lag) == (True, "127.0.0.1", 9464, 0.5)


@pytest.mark.parametrize(
    ("text", "key", "problem"),
    [
        ("[metrics]\nport = 70000", "metrics.port", "between 0 and 65535"),
        ('[metrics]\nport = "9464"', "metrics.port", "integer"),
        ('[metrics]\nhost = ""', "metrics.host", "must not be empty"),
        ('[metrics]\nenabled = "yes"', "metrics.enabled", "true or false"),
        ('[metrics]\nmax_loop_lag = "0s"', "metrics.max_loop_lag", "duration between"),
        ('[metrics]\nmax_loop_lag = 0.5', "metrics.max_loop_lag", "duration between"),
        ("[metrics]\nprot = 1", "metrics.prot", 'did you mean "port"'),
        ("[server]\nport = 9464\n[metrics]\nport = 9464", "metrics.port", "must differ from server.port"),
    ],
)
def test_bad_metrics_values_name_their_key(tmp_path: Path, text: str, key: str, problem: str) -> None:
    error = refusal(tmp_path, text)
    assert error.key == key
    assert problem in str(error)


def test_metrics_env_overrides_name_the_variable(tmp_path: Path) -> None:
    error = refusal(tmp_path, "", env={"HAVEN_METRICS_PORT": "x"})
    assert error.key == "metrics.port"
    assert error.variable == "HAVEN_METRICS_PORT"
    path = tmp_path / "haven.toml"
    config = load_config(path, env={"HAVEN_METRICS_ENABLED": "false", "HAVEN_METRICS_MAX_LOOP_LAG": "2s"})
    assert (config.metrics.enabled, config.metrics.max_loop_lag) == (False, 2.0)


def test_same_port_is_allowed_when_metrics_are_off(tmp_path: Path) -> None:
    path = tmp_path / "haven.toml"
    path.write_text("[server]\nport = 9464\n[metrics]\nenabled = false\n")
    assert load_config(path, env={}).metrics.enabled is False


# -- real Routers (fake transports): the totals through a breakout move, a departure and a close ----------


async def test_router_totals_never_go_down_through_move_leave_and_close() -> None:
    fakes = FakeTransports()
    totals = MediaTotals()
    main = totals.track(Router("main", SETTINGS, FakeListener(), fakes))
    breakout = totals.track(Router("breakout-1", SETTINGS, FakeListener(), fakes))
    try:
        for member in ("ann", "bob"):
            main.add_member(member)
        producer = await add_track(main, fakes, "ann")
        producer.packets_in, producer.forwarded, producer.keyframe_requests = 100, 90, 1
        seen = [totals.read()[0]]
        main.move_member("ann", breakout)  # the producer's counts go with it, counted once
        breakout.producers[producer.id].packets_in += 10
        seen.append(totals.read()[0])
        await breakout.remove_member("ann")  # closed: folded into the breakout's retired counts
        seen.append(totals.read()[0])
        await breakout.close()
        seen.append(totals.read()[0])
        assert totals.routers == [main]
        for name in ("packets_in", "forwarded", "keyframe_requests"):
            values = [counts[name] for counts in seen]
            assert values == sorted(values), name
        assert seen[-1]["packets_in"] == 110 and seen[-1]["forwarded"] == 90
        assert seen[-1]["keyframe_requests"] >= 1
    finally:
        await main.close()
        await breakout.close()


async def test_consumer_counts_survive_a_move_a_departure_and_a_close() -> None:
    fakes = FakeTransports()
    totals = MediaTotals()
    main = totals.track(Router("main", SETTINGS, FakeListener(), fakes))
    breakout = totals.track(Router("breakout-1", SETTINGS, FakeListener(), fakes))
    try:
        for member in ("ann", "bob", "cy"):
            main.add_member(member)
        await add_track(main, fakes, "ann")
        for name in ("bob", "cy"):
            (consumer,) = consumers_of(fakes, name).values()
            consumer.slot.attach_send_path(FakeSendPath(), 96)
            sender = consumer.slot.sender  # what the slot's send step counts: say 10 packets, 1000 bytes of payload
            sender.packets, sender.octets = 10, 1000
            consumer.nacks, consumer.retransmissions = 4, 3
        seen = [totals.read()[0]]
        assert seen[0]["bytes_forwarded"] == 2 * (10 * 12 + 1000)
        assert (seen[0]["nacks"], seen[0]["retransmissions"]) == (8, 6)
        main.move_member("bob", breakout)  # bob's consumer of ann ends in main: main keeps its counts
        seen.append(totals.read()[0])
        await main.remove_member("cy")
        seen.append(totals.read()[0])
        await main.close()
        seen.append(totals.read()[0])
        for name in ("bytes_forwarded", "nacks", "retransmissions"):
            assert [counts[name] for counts in seen] == [seen[0][name]] * len(seen), name
    finally:
        await main.close()
        await breakout.close()


def test_record_writes_are_timed_and_failures_counted_by_kind(tmp_path: Path) -> None:
    import sqlite3

    storage = Storage(str(tmp_path / "haven.db"))
    try:
        metrics = Metrics(SimpleNamespace(live={}), storage, resources=lambda: dict(RESOURCES))
        storage.audit("consent-accepted", detail={"version": "x"})
        storage.attendance("s-1", "p-1", "Dr Alvarez", "host", "join", 1.0)
        storage.flush()
        assert value(metrics, "haven_records_write_seconds_count", kind="audit") == 1
        assert value(metrics, "haven_records_write_seconds_bucket", kind="attendance", le="+Inf") == 1
        assert value(metrics, "haven_records_write_seconds_bucket", kind="attendance", le="5.0") == 1
        assert value(metrics, "haven_records_write_seconds_sum", kind="audit") >= 0
        assert value(metrics, "haven_records_write_failures_total", kind="attendance") == 0
        # The attendance table goes away under Haven's feet: its writes fail, and are counted as such.
        with sqlite3.connect(tmp_path / "haven.db") as other:
            other.execute("DROP TABLE attendance")
        storage.attendance("s-1", "p-1", "Dr Alvarez", "host", "left", 2.0)
        storage.attendance("s-1", "p-1", "Dr Alvarez", "host", "join", 3.0)
        storage.flush()
        assert value(metrics, "haven_records_write_failures_total", kind="attendance") == 2
        assert value(metrics, "haven_records_write_seconds_count", kind="attendance") == 1
        assert value(metrics, "haven_records_write_failures_total", kind="audit") == 0
        assert "Alvarez" not in metrics.exposition().decode()
    finally:
        storage.close()


def test_a_histogram_is_cumulative_and_its_snapshot_ends_at_the_count() -> None:
    histogram = Histogram((0.01, 0.1))
    for seconds in (0.005, 0.05, 0.5):
        histogram.observe(seconds)
    buckets, count, total = histogram.snapshot()
    assert buckets == [("0.01", 1), ("0.1", 2), ("+Inf", 3)] and count == 3
    assert total == pytest.approx(0.555)
