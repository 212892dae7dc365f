"""Fuzz target: ``media.producer.Producer.receive``, the hot path every decrypted RTP packet takes.

A Producer (VP8 video or Opus audio, with Chrome's extension ids) with zero to two Consumers on fake send
paths receives a run of arbitrary packets: random bytes, and RTP packets with VP8/Opus payloads that are
truncated or changed. ``receive`` must never raise; every packet is either forwarded or counted as a
DropReason; a packet of at least the RTP header's size never ends in HOOK_ERROR (an exception inside
the loop); and whatever reaches a subscriber is a well-formed RTP packet with the slot's SSRC and PT.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from media.producer import Producer
from media.reasons import DropReason
from media.rtp import HEADER, HEADER_SIZE, iter_extensions, payload_offset
from tests.fuzz.support import FUZZ
from tests.fuzz.test_rtp import rtp_packets, vp8_payloads
from tests.unit.test_consumer import CHROME_IDS, FakeSendPath, make_producer, subscribe

VP8_PACKETS = rtp_packets(vp8_payloads().map(lambda drawn: drawn[0]))
PACKETS = st.one_of(st.binary(max_size=64), rtp_packets(), VP8_PACKETS)


def counted(producer: Producer) -> int:
    return sum(producer.drops.values())


@FUZZ
@given(st.sampled_from(["video", "audio"]), st.integers(0, 2), st.lists(PACKETS, min_size=1, max_size=20),
       st.sets(st.integers(0, 19), max_size=3))
def test_receive_never_raises_and_accounts_for_every_packet(kind: str, consumers: int, packets: list[bytes],
                                                            toggle_pause_before: set[int]) -> None:
    producer = make_producer(kind=kind, mime="video/VP8" if kind == "video" else "audio/opus",
                             extension_ids=CHROME_IDS)
    subscribed = [subscribe(producer, ssrc=0x51070001 + n, pt=100 + n) for n in range(consumers)]
    paths: list[FakeSendPath] = [path for _, _, path in subscribed]
    for i, p in enumerate(packets):
        if i in toggle_pause_before:
            producer.set_paused(not producer.paused)
        drops_before, hook_errors = counted(producer), producer.drops[DropReason.HOOK_ERROR]
        sent_before = sum(len(path.sent) for path in paths)
        producer.receive(p)  # raising here fails the test
        sent = sum(len(path.sent) for path in paths) - sent_before
        dropped = counted(producer) - drops_before
        if len(p) >= HEADER_SIZE:
            assert producer.drops[DropReason.HOOK_ERROR] == hook_errors, f"exception inside receive for {p!r}"
        else:
            # Shorter than an RTP header: PublishTransport._on_rtp counts it MALFORMED before calling receive;
            # called directly, receive's unpack fails and the catch-all counts it (HOOK_ERROR).
            assert dropped == 1 and sent == 0
        if consumers:
            # Each consumer either got the packet or one drop was counted for it.
            assert sent + dropped >= 1
            assert sent <= consumers
        if payload_offset(p) < 0:
            assert sent == 0  # a packet whose CSRCs or extension run past its end is never forwarded
    for n, path in enumerate(paths):
        for out in path.sent:
            b0, b1, _, _, ssrc = HEADER.unpack_from(out)
            assert (ssrc, b1 & 0x7F, b0 & 0x0F) == (0x51070001 + n, 100 + n, 0)
            assert payload_offset(out) >= 0
            assert {xid for xid, _ in iter_extensions(out)} <= {2, 3}  # only the forwarded extensions


@FUZZ
@given(st.lists(st.one_of(PACKETS, VP8_PACKETS.map(lambda p: p[:1] + b"\x60" + p[2:])), min_size=1, max_size=20),
       st.lists(st.integers(0, 19), max_size=10), st.lists(st.integers(0, 0xFFFF), max_size=5))
def test_retransmitting_from_a_cache_of_arbitrary_packets_never_raises(packets: list[bytes], indices: list[int],
                                                                       others: list[int]) -> None:
    producer = make_producer(extension_ids=CHROME_IDS)
    consumer, _, path = subscribe(producer)
    for p in packets:
        producer.receive(p)
    # NACK what was received (in the subscriber's numbering), and numbers never sent.
    nacked = [((packets[i][2] << 8 | packets[i][3]) + consumer.seq_off) & 0xFFFF
              for i in indices if i < len(packets) and len(packets[i]) >= 4] + others
    for seq in nacked:
        before = len(path.sent)
        resent = consumer.retransmit(seq)  # raising here fails the test
        assert len(path.sent) - before == int(resent)
    for out in path.sent:
        assert payload_offset(out) >= 0
