"""The load profiles of bench/media.py, its cache of encoded loops, and the forwarding report's pure parts."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from bench import forwarding, media
from bench.media import PROFILES, Profile, load_vp8, parse_loop, serialize_loop

LOOP = [(b"\x10\x02\x00key frame", True), (b"\x11delta", False), (b"", False), (b"\x00" * 300, False)]


def test_the_heavy_profile_is_the_landed_load() -> None:
    heavy = PROFILES["heavy"]
    assert (heavy.width, heavy.height, heavy.frames, heavy.bitrate) == (640, 480, 90, 1_000_000)
    assert heavy.keyframe_interval_s == 3
    assert heavy.min_warmup_s == 4  # the landed benchmark's minimum warm-up


def test_the_peer_profile_is_the_load_measured_beside_janus() -> None:
    peer = PROFILES["peer"]
    assert (peer.width, peer.height, peer.bitrate) == (640, 360, 600_000)
    assert peer.frames == 300  # 10 s at 30 fps, one key frame per loop
    assert peer.keyframe_interval_s == 10
    assert peer.min_warmup_s == 11


def test_the_cache_key_names_the_profile_and_changes_with_what_decides_the_bytes() -> None:
    peer = PROFILES["peer"]
    assert peer.cache_key().startswith("vp8-peer-640x360-300f-600k-")
    assert peer.cache_key() == Profile("peer", 640, 360, 300, 600_000).cache_key()
    assert peer.cache_key() != Profile("peer", 640, 360, 300, 650_000).cache_key()
    assert peer.cache_key() != PROFILES["heavy"].cache_key()


def test_a_loop_survives_the_cache_format() -> None:
    assert parse_loop(serialize_loop(LOOP)) == LOOP


def test_every_truncation_of_a_cache_file_is_refused() -> None:
    blob = serialize_loop(LOOP)
    for size in range(len(blob)):
        with pytest.raises(ValueError):
            parse_loop(blob[:size])


@pytest.mark.parametrize(("blob", "message"), [
    (b"HvX1" + serialize_loop(LOOP)[4:], "magic"),
    (serialize_loop(LOOP) + b"x", "after its last frame"),
    (serialize_loop([(b"delta", False), (b"key", True)]), "start with a key frame"),
    (serialize_loop([]), "start with a key frame"),
])
def test_a_corrupt_cache_file_is_refused_with_its_reason(blob: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_loop(blob)


def test_a_cached_loop_is_read_instead_of_encoded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    profile = PROFILES["peer"]
    (tmp_path / f"{profile.cache_key()}.bin").write_bytes(serialize_loop(LOOP))

    def no_encoding(*args: object) -> list:
        raise AssertionError("encoded although the loop was cached")

    monkeypatch.setattr(media, "encode_vp8", no_encoding)
    assert load_vp8(profile, tmp_path) == (LOOP, True)


def test_a_missing_or_corrupt_cache_file_is_encoded_and_replaced(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    profile = PROFILES["peer"]
    calls = []

    def encode(frames: int, bitrate: int, gop: int, width: int, height: int) -> list:
        calls.append((frames, bitrate, gop, width, height))
        return LOOP

    monkeypatch.setattr(media, "encode_vp8", encode)
    assert load_vp8(profile, tmp_path / "new") == (LOOP, False)
    # One key frame per loop: the group of pictures is the loop.
    assert calls == [(300, 600_000, 300, 640, 360)]
    cached = tmp_path / "new" / f"{profile.cache_key()}.bin"
    assert parse_loop(cached.read_bytes()) == LOOP
    assert list((tmp_path / "new").iterdir()) == [cached]  # no partial file left behind
    cached.write_bytes(b"HvC1 garbage")
    assert load_vp8(profile, tmp_path / "new") == (LOOP, False)
    assert parse_loop(cached.read_bytes()) == LOOP


def test_the_cache_directory_can_be_chosen(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HAVEN_BENCH_CACHE", str(tmp_path))
    assert media.cache_dir() == tmp_path


def test_the_warm_up_lets_every_subscriber_reach_a_key_frame() -> None:
    assert forwarding.warmup_for("heavy", None) == 5
    assert forwarding.warmup_for("peer", None) == 12
    assert forwarding.warmup_for("peer", 30) == 30


def test_loads_are_a_comma_separated_subset_of_the_profiles() -> None:
    assert forwarding.parse_loads("heavy,peer") == ["heavy", "peer"]
    assert forwarding.parse_loads("peer") == ["peer"]
    for bad in ("", "light", "peer,peer"):
        with pytest.raises(argparse.ArgumentTypeError):
            forwarding.parse_loads(bad)


def test_the_peer_row_is_compared_with_the_heavy_row_of_the_same_size() -> None:
    def row(n: int, load: str, us: float, cpu: float) -> dict:
        return {"n": n, "load": load, "udp_port": "shared", "us_cpu_per_fwd_pkt": us, "server_cpu_pct": cpu,
                "fwd_pkts_per_s": 1000.0, "rss_mb": 90.0, "lat_p99_ms": None}

    rows = [row(3, "heavy", 40.0, 4.0), row(3, "peer", 50.0, 3.0), row(8, "heavy", 10.0, 9.0)]
    ratios = forwarding.load_ratios(rows)
    assert len(ratios) == 1  # N=8 ran with one load only
    assert ratios[0]["n"] == 3
    assert ratios[0]["us_cpu_per_fwd_pkt_peer_over_heavy"] == 1.25
    assert ratios[0]["server_cpu_pct_peer_over_heavy"] == 0.75
    assert ratios[0]["fwd_pkts_per_s_peer_over_heavy"] == 1.0
    assert ratios[0]["lat_p99_ms_peer_over_heavy"] is None


def loadgen_result(**changes: object) -> dict:
    """One load-generator result as bench/loadgen.py reports it (the fields forwarding.combine reads)."""
    result = {
        "load": "peer", "fwd_pkts_per_s": 714.0, "server_cpu_pct": 3.8, "us_cpu_per_fwd_pkt": 53.2,
        "delivery_ratio": 1.0, "frame_delivery_ratio": 1.0, "lat_p50_ms": 0.15, "lat_p95_ms": 0.35,
        "lat_p99_ms": 0.84, "lat_max_ms": 4.9, "lat_samples": 9610, "rss_mb": 92.6, "idle_server_rss_mb": 82.9,
        "idle_cpu_pct": 0.79, "idle_cpu_pct_per_participant": 0.264, "loadgen_cpu_pct": 8.4,
        "published_pkts_per_s": 357.0, "seconds": 20.0, "setup_s": 0.3, "server_threads": 12,
        "server_threads_idle": 6, "received": 14280, "expected": 14280,
    }
    result.update(changes)
    return result


def test_a_row_reports_memory_threads_and_the_real_packet_rate() -> None:
    row = forwarding.combine(3, loadgen_result(), None, False)
    assert row["load"] == "peer"
    assert row["rss_per_participant_mb"] == 3.23  # (92.6 - 82.9) / 3
    assert (row["server_threads_idle"], row["server_threads"]) == (6, 12)
    assert row["published_pkts_per_s_per_publisher"] == 119.0
    assert "warning" not in row


def test_a_row_with_more_packets_than_were_sent_is_flagged_not_valid() -> None:
    row = forwarding.combine(15, loadgen_result(delivery_ratio=1.06883, lat_max_ms=761.4), None, False)
    assert "not valid" in row["warning"]
    assert "761.4 ms behind" in row["warning"]


async def test_a_window_waits_until_the_subscribers_have_read_everything(monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio
    import os
    import types

    from bench import loadgen

    monkeypatch.setattr(loadgen, "DRAIN", 0.01)
    monkeypatch.setattr(loadgen, "QUIET", 0.05)
    gen = loadgen.LoadGenerator(argparse.Namespace(url="http://127.0.0.1:9", server_pid=os.getpid()))
    member = types.SimpleNamespace(rx=0)
    gen.members = [member]

    async def late_packets() -> None:  # a backlog the subscriber is still reading
        for _ in range(20):
            member.rx += 1
            await asyncio.sleep(0.01)

    backlog = asyncio.ensure_future(late_packets())
    await gen.settle()
    assert member.rx == 20
    await backlog


async def test_settling_gives_up_after_its_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio
    import os
    import types

    from bench import loadgen

    monkeypatch.setattr(loadgen, "DRAIN", 0.01)
    monkeypatch.setattr(loadgen, "QUIET", 0.02)
    monkeypatch.setattr(loadgen, "SETTLE_MAX", 0.2)
    gen = loadgen.LoadGenerator(argparse.Namespace(url="http://127.0.0.1:9", server_pid=os.getpid()))
    member = types.SimpleNamespace(rx=0)
    gen.members = [member]

    async def endless() -> None:
        while True:
            member.rx += 1
            await asyncio.sleep(0.005)

    stream = asyncio.ensure_future(endless())
    try:
        waited = await gen.settle()
    finally:
        stream.cancel()
    assert 0.2 <= waited < 1.0
