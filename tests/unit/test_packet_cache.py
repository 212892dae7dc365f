"""Tests for media.packet_cache: the NACK ring keyed by sequence number, its wrap and its slot reuse."""

from __future__ import annotations

import pytest

from media.packet_cache import PacketCache
from media.rtp import HEADER


def packet(seq: int, payload: bytes = b"payload") -> bytes:
    return HEADER.pack(0x80, 96, seq, 1000, 0x1234) + payload


def test_get_returns_the_packet_put_under_its_sequence_number() -> None:
    cache = PacketCache(16)
    cache.put(7, packet(7, b"seven"))
    assert cache.get(7) == packet(7, b"seven")


def test_get_of_a_never_seen_sequence_number_is_none() -> None:
    cache = PacketCache(16)
    cache.put(7, packet(7))
    assert cache.get(8) is None
    assert cache.get(7 + 16) is None


def test_a_reused_slot_returns_none_for_the_stale_sequence_number() -> None:
    cache = PacketCache(4)
    cache.put(1, packet(1, b"old"))
    cache.put(5, packet(5, b"new"))  # same slot: 5 & 3 == 1
    assert cache.get(1) is None
    assert cache.get(5) == packet(5, b"new")


def test_a_packet_whose_header_disagrees_with_its_key_is_never_returned() -> None:
    cache = PacketCache(16)
    cache.put(7, packet(8))
    assert cache.get(7) is None
    assert cache.get(8) is None


def test_a_packet_too_short_for_a_sequence_number_is_never_returned() -> None:
    cache = PacketCache(16)
    cache.put(0, b"\x80\x60\x00")
    assert cache.get(0) is None


@pytest.mark.parametrize(
    ("seqs", "kept", "gone"),
    [
        ([65534, 65535, 0, 1], [65534, 65535, 0, 1], []),
        (list(range(65530, 65536)) + list(range(0, 6)), list(range(65534, 65536)) + list(range(0, 6)), [65530, 65533]),
        ([65535, 0], [65535, 0], [65535 - 8, 8]),
        ([65535, 7], [7], [65535]),
    ],
)
def test_the_cache_keeps_the_last_packets_across_the_wrap(seqs: list[int], kept: list[int], gone: list[int]) -> None:
    cache = PacketCache(8)
    for seq in seqs:
        cache.put(seq, packet(seq))
    for seq in kept:
        assert cache.get(seq) == packet(seq), seq
    for seq in gone:
        assert cache.get(seq) is None, seq


def test_a_full_sequence_cycle_later_the_same_number_is_served_again() -> None:
    cache = PacketCache(1024)
    cache.put(100, packet(100, b"first"))
    cache.put(100, packet(100, b"second"))
    assert cache.get(100) == packet(100, b"second")


def test_clear_forgets_every_packet() -> None:
    cache = PacketCache(8)
    for seq in range(8):
        cache.put(seq, packet(seq))
    cache.clear()
    assert [cache.get(seq) for seq in range(8)] == [None] * 8


@pytest.mark.parametrize("size", [1, 2, 8, 1024, 32768])
def test_the_cache_accepts_every_power_of_two_up_to_32768(size: int) -> None:
    cache = PacketCache(size)
    cache.put(size - 1, packet(size - 1))
    assert cache.get(size - 1) == packet(size - 1)


@pytest.mark.parametrize("size", [0, -1, -1024, 3, 1000, 1025, 65536, 32769])
def test_the_cache_refuses_a_size_that_is_not_a_small_power_of_two(size: int) -> None:
    with pytest.raises(ValueError) as info:
        PacketCache(size)
    assert str(info.value) == "cache size must be a power of two up to 32768"
