"""Fuzz target: media/packet_cache.py, where NACKed packets are looked up by a subscriber's sequence numbers.

Against a model (a dict of the last packet put in each slot): ``get`` returns exactly the packet stored
under that number and only if the packet's own sequence field says so, for any packets (short ones
included) and any numbers (negative or past 16 bits included); it never raises.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from media.packet_cache import PacketCache
from tests.fuzz.support import FUZZ

SEQS = st.one_of(st.integers(0, 0xFFFF), st.integers(-(2**20), 2**20))


def packet(seq: int, body: bytes) -> bytes:
    return b"\x80\x60" + (seq & 0xFFFF).to_bytes(2, "big") + body


OPERATIONS = st.lists(st.one_of(
    st.tuples(st.just("put"), SEQS, st.one_of(st.binary(max_size=6), st.builds(packet, SEQS, st.binary(max_size=8)))),
    st.tuples(st.just("get"), SEQS, st.just(b"")),
    st.tuples(st.just("clear"), st.just(0), st.just(b"")),
), max_size=60)


@FUZZ
@given(st.sampled_from([1, 2, 16, 1024, 32768]), OPERATIONS)
def test_get_returns_exactly_the_packet_stored_under_that_number(size: int, operations: list[tuple[str, int, bytes]]
                                                                 ) -> None:
    cache, slots = PacketCache(size), {}
    for op, seq, data in operations:
        if op == "put":
            cache.put(seq, data)
            slots[seq & (size - 1)] = data
        elif op == "clear":
            cache.clear()
            slots.clear()
        else:
            stored = slots.get(seq & (size - 1))
            own = int.from_bytes(stored[2:4], "big") if stored is not None and len(stored) >= 4 else None
            assert cache.get(seq) == (stored if own == seq else None)


@FUZZ
@given(st.integers(-(2**16), 2**16))
def test_only_powers_of_two_up_to_32768_are_cache_sizes(size: int) -> None:
    valid = 0 < size <= 32768 and size & (size - 1) == 0
    try:
        PacketCache(size)
    except ValueError:
        assert not valid
    else:
        assert valid
