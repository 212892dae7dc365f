"""The compiled fan-out (media/_fastsend.c ``fan_out``) puts exactly the pure-Python loop's bytes on the wire.

Two rooms run the same script side by side: one Producer and its consumers on pure-Python slots, the same on
compiled slots, each slot sending over a real UDP socket through a real libsrtp session with the same key
as its twin (so the same SRTP bytes for the same packet). The script goes through what changes a
consumer's numbering (key frames, reordering, duplicates, congestion and the key frame after it, a late
packet, a consumer that joins and one that leaves, sequence and timestamp wrap) and every subscriber's
datagrams, counts and drops must match.
"""

from __future__ import annotations

import socket

import pytest

from media.consumer import Consumer, Slot, compiled_available, failed_sends
from media.producer import Producer
from media.reasons import CloseReason, DropReason
from media.simulcast import LayeredConsumer, ShiftedConsumer
from tests.unit.test_consumer import make_producer, vp8
from tests.unit.test_fastsend import Path
from tests.unit.test_simulcast import HIGH_SSRC, LOW_SSRC, packet

pytestmark = pytest.mark.skipif(not compiled_available(), reason="media/_fastsend.c was not built")

SUBSCRIBERS = 4


class Room:
    """One Producer and up to SUBSCRIBERS consumers, each on its own slot and receiving socket."""

    def __init__(self, compiled: bool, sender: socket.socket) -> None:
        self.compiled = compiled
        self.sender = sender
        self.producer: Producer = make_producer()
        self.consumers: list[Consumer] = []
        self.receivers: list[socket.socket] = []

    def subscribe(self, producer: Producer | None = None, kind: type[Consumer] = Consumer) -> Consumer:
        i = len(self.consumers)
        receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        receiver.bind(("127.0.0.1", 0))
        self.receivers.append(receiver)
        slot = Slot(None, "video", ("video", "video/vp8", ""), 0x51000 + i, "cname")
        # Numbering that starts near the wrap points, different per slot.
        slot.next_seq, slot.next_ts = (0xFFF0 + 7 * i) & 0xFFFF, (0xFFFFFF00 + 1000 * i) & 0xFFFFFFFF
        slot.attach_send_path(Path(self.sender, receiver.getsockname()), 100 + i, compiled=self.compiled)
        producer = producer or self.producer
        consumer = kind(f"c-{i}", producer, slot, f"member-{i}")
        self.consumers.append(consumer)
        producer.add_consumer(consumer)
        return consumer

    def received(self) -> list[list[bytes]]:
        out = []
        for receiver in self.receivers:
            receiver.setblocking(False)
            datagrams = []
            while True:
                try:
                    datagrams.append(receiver.recv(4096))
                except BlockingIOError:
                    break
            out.append(datagrams)
        return out

    def close(self) -> None:
        for receiver in self.receivers:
            receiver.close()


@pytest.fixture
def rooms():
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    python, compiled = Room(False, sender), Room(True, sender)
    yield python, compiled
    python.close()
    compiled.close()
    sender.close()


def script(room: Room) -> None:
    """Drive one room; both rooms get exactly the same calls."""
    p = room.producer
    for _ in range(3):
        room.subscribe()
    ts = 0xFFFFF000  # the source's timestamps wrap during the script
    seq = 65520  # and so do its sequence numbers

    def send(n: int, key: bool = False, marker: bool = False, body: bytes = b"frame-bytes") -> None:
        p.receive(vp8(n, ts, key=key, marker=marker, body=body))

    send(seq, key=True)
    for n in range(seq + 1, seq + 8):
        send(n, marker=n % 3 == 0, body=bytes([n & 0xFF]) * (50 + n % 7))
    seq += 8
    ts += 3000
    send(seq + 1)  # reordered
    send(seq)
    send(seq + 1)  # duplicate
    seq += 2
    # Congestion holds consumer 0 until a key frame; it resumes on the next one.
    c0 = room.consumers[0]
    c0.hold(p.newest_unsent(p.cycles + p.max_seq))
    for n in range(seq, seq + 3):
        send(n)
    seq += 3
    ts += 3000
    send(seq, key=True)
    send(seq - 2)  # late for consumer 0 (before its new epoch), a reordered old packet for the others
    seq += 1
    room.subscribe()  # waits for a key frame
    send(seq)
    seq += 1
    ts += 3000
    send(seq, key=True, marker=True)
    seq += 1
    room.consumers[1].detach(CloseReason.REQUESTED)
    for n in range(seq, seq + 40):  # across the 16-bit wrap
        ts += 1500 * (n % 2)
        send(n & 0xFFFF, marker=n % 2 == 1, body=b"\x00" * 1100)
    p.receive(b"\x80")  # malformed: dropped, nothing sent


def test_the_compiled_fan_out_sends_what_the_python_loop_sends(rooms) -> None:
    python, compiled = rooms
    script(python)
    script(compiled)
    # The compiled room really forwarded through fan_out (steady consumers), not the Python loop.
    senders, slow = compiled.producer.routes or compiled.producer._route()
    assert len(senders) == 3 and slow == []
    assert python.producer.routes is not None and python.producer.routes[0] == ()

    expected, got = python.received(), compiled.received()
    assert [len(d) for d in expected] == [len(d) for d in got]
    assert all(len(d) > 0 for d in expected)
    assert expected == got
    assert [(c.packets, c.octets) for c in python.consumers] == [(c.packets, c.octets) for c in compiled.consumers]
    assert python.producer.drops == compiled.producer.drops
    assert python.producer.drops[DropReason.LATE_PACKET] == 1
    assert python.producer.forwarded == compiled.producer.forwarded
    assert [c.seq_off for c in python.consumers] == [c.seq_off for c in compiled.consumers]


def test_a_refused_copy_is_not_counted_and_is_a_failed_send(rooms) -> None:
    _, room = rooms
    p = room.producer
    kept, refused = room.subscribe(), room.subscribe()
    p.receive(vp8(1, 1000, key=True))
    assert (kept.packets, refused.packets) == (1, 1)
    # The refused subscriber's socket is another one, closed: its sendmmsg run fails with EBADF.
    dead = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    slot = refused.slot
    refused.detach(CloseReason.REQUESTED)
    slot.attach_send_path(Path(dead, room.receivers[1].getsockname()), 101, compiled=True)
    late = Consumer("late", p, slot, "member-1")
    p.add_consumer(late)
    p.receive(vp8(2, 4000, key=True))  # late starts here, in the Python loop (it waited for this key frame)
    assert late.packets == 1
    dead.close()
    p.receive(vp8(3, 4000))  # both in fan_out now: late's copy is refused at the flush
    assert p.routes is not None and len(p.routes[0]) == 2
    assert (kept.packets, late.packets) == (3, 1)  # the refused copy was taken back
    assert p.drops[DropReason.SEND_FAILED] == 1
    assert failed_sends() == []  # the producer collected them
    # A send failure is a loss the subscriber may NACK, not congestion: late stays in its epoch.
    assert not late.waiting_key


def simulcast_script(room: Room) -> None:
    """Two layers of one camera; three viewers switch between them, so their VP8 counters get shifted."""
    low = room.producer
    high = make_producer(ssrc=HIGH_SSRC)
    low.ssrc = LOW_SSRC
    for layer, rid in ((low, "l"), (high, "h")):
        layer.track, layer.rid, layer.layered, layer.vp8_layer = low, rid, True, True
    low.layers = [low, high]
    viewers = [room.subscribe(low, LayeredConsumer), room.subscribe(high, LayeredConsumer),
               room.subscribe(low, LayeredConsumer)]
    seq = {LOW_SSRC: 65530, HIGH_SSRC: 100}
    picture = {LOW_SSRC: 0x7FF0, HIGH_SSRC: 9000}
    tl0 = {LOW_SSRC: 250, HIGH_SSRC: 3}

    def frame(layer: Producer, ssrc: int, key: bool = False, packets: int = 2) -> None:
        for _ in range(packets):
            layer.receive(packet(ssrc, seq[ssrc], 1000 * picture[ssrc], picture[ssrc], tl0[ssrc], key=key))
            seq[ssrc] += 1
        picture[ssrc] = (picture[ssrc] + 1) & 0x7FFF
        tl0[ssrc] = (tl0[ssrc] + 1) & 0xFF

    frame(low, LOW_SSRC, key=True)
    frame(high, HIGH_SSRC, key=True)
    for rounds in range(3):
        for _ in range(3):
            frame(low, LOW_SSRC)
            frame(high, HIGH_SSRC)
        # Viewer 0 and 2 go up, viewer 1 down (and back the next round): each at the target's key frame.
        up, down = (high, low) if rounds % 2 == 0 else (low, high)
        low.switch(viewers[0], up)
        low.switch(viewers[1], down)
        low.switch(viewers[2], up)
        frame(low, LOW_SSRC)
        frame(high, HIGH_SSRC)
        frame(up, HIGH_SSRC if up is high else LOW_SSRC, key=True)
        frame(down, HIGH_SSRC if down is high else LOW_SSRC, key=True)
        frame(low, LOW_SSRC)
        frame(high, HIGH_SSRC)
    # A retransmission after the switches carries the shifted counters too (emit, not fan_out).
    for viewer in viewers:
        viewer.retransmit((viewer.slot.next_seq - 1) & 0xFFFF)


def test_the_compiled_fan_out_shifts_vp8_counters_as_the_python_consumer_does(rooms) -> None:
    python, compiled = rooms
    simulcast_script(python)
    simulcast_script(compiled)
    assert any(type(c) is ShiftedConsumer for c in compiled.consumers)  # the shifts are really exercised
    assert any(c.picture_off and c.tl0_off for c in compiled.consumers)
    layers = compiled.producer.layers
    assert sum(len((layer.routes or layer._route())[0]) for layer in layers) == 3  # all in fan_out
    expected, got = python.received(), compiled.received()
    assert all(len(d) > 20 for d in expected)
    assert expected == got
    assert [(c.packets, c.octets, c.switches) for c in python.consumers] == [
        (c.packets, c.octets, c.switches) for c in compiled.consumers]
