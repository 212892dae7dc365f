"""The compiled send step puts exactly the bytes of the pure-Python one on the wire, batched."""

from __future__ import annotations

import os
import socket

import pytest
from pylibsrtp import Policy, Session

from media import adapter
from media.consumer import (
    FAILED,
    SENT,
    PythonSender,
    compiled_available,
    compiled_sender,
    failed_sends,
    flush_sends,
)
from media.rtp import build_extension_block

pytestmark = pytest.mark.skipif(not compiled_available(), reason="media/_fastsend.c was not built")

KEY = os.urandom(30)


class Path:
    """A send path over a real UDP socket and a real libsrtp session."""

    def __init__(self, sock: socket.socket, addr: tuple) -> None:
        session = Session(Policy(key=KEY, ssrc_type=Policy.SSRC_ANY_OUTBOUND))
        self.protect = session.protect
        self.protect_rtcp = session.protect_rtcp
        self.sendto = sock.sendto
        self.addr = addr
        self.buffer_size = lambda: 0
        self.fd = sock.fileno()
        self._session = session
        self.srtp_protect, self.srtp_ctx = adapter.srtp_handles(session)


@pytest.fixture
def sockets():
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(2)
    yield sender, receiver
    sender.close()
    receiver.close()


EXTENSION = build_extension_block([(2, b"\x85"), (3, b"\x01\x02\x03")])


@pytest.mark.parametrize("size", [0, 1, 160, 1188])
@pytest.mark.parametrize("header, prefix", [
    ((0x80, 0x6F, 0, 0), b""),
    ((0x80, 0xE0, 65535, 0xFFFFFFFF), b""),
    ((0x90, 0x7F, 1234, 99), EXTENSION),  # a header extension travels in the tail
])
def test_compiled_and_python_send_steps_emit_identical_srtp(sockets, size: int, header: tuple, prefix: bytes) -> None:
    sender, receiver = sockets
    tail = prefix + os.urandom(size)
    python = PythonSender(Path(sender, receiver.getsockname()), 0x11223344).emit
    compiled = compiled_sender(Path(sender, receiver.getsockname()), 0x11223344).emit
    assert python(*header, tail) == SENT
    assert compiled(*header, tail) == SENT
    python_bytes = receiver.recv(4096)
    assert flush_sends() == 0
    assert python_bytes == receiver.recv(4096)


def test_one_packets_copies_leave_in_one_sendmmsg_with_the_bytes_each_would_have_alone(sockets) -> None:
    """A fan-out to 5 subscribers on one socket: one system call, and per subscriber the immediate path's bytes."""
    from media import _fastsend

    sender, _ = sockets
    receivers = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(5)]
    try:
        for r in receivers:
            r.bind(("127.0.0.1", 0))
            r.settimeout(2)
        tail = EXTENSION + os.urandom(900)
        # Two paths per subscriber with the same key: the same SRTP state, so the same bytes.
        pairs = [(PythonSender(Path(sender, r.getsockname()), 0x1000 + i).emit,
                  compiled_sender(Path(sender, r.getsockname()), 0x1000 + i).emit) for i, r in enumerate(receivers)]
        expected = []
        for (python, _), r in zip(pairs, receivers, strict=True):
            assert python(0x90, 0x60, 7, 9000, tail) == SENT
            expected.append(r.recv(4096))
        calls, packets = _fastsend.counters()
        for _, compiled in pairs:
            assert compiled(0x90, 0x60, 7, 9000, tail) == SENT
        for r in receivers:  # nothing has left before the flush
            r.setblocking(False)
            with pytest.raises(BlockingIOError):
                r.recv(4096)
            r.setblocking(True)
            r.settimeout(2)
        assert flush_sends() == 0
        assert _fastsend.counters() == (calls + 1, packets + 5)
        assert [r.recv(4096) for r in receivers] == expected
    finally:
        for r in receivers:
            r.close()


def test_the_compiled_step_reports_a_failed_send_instead_of_raising(sockets) -> None:
    sender, receiver = sockets
    path = Path(sender, receiver.getsockname())
    owner = object()
    emit = compiled_sender(path, 1, owner).emit
    sender.close()  # a dead socket: sendmmsg fails with EBADF
    assert emit(0x80, 96, 1, 1, b"x" * 100) == SENT  # queued
    assert emit(0x80, 96, 2, 1, b"x" * 40) == SENT
    assert flush_sends() == 2
    assert failed_sends() == [(owner, FAILED, 100), (owner, FAILED, 40)]
    assert failed_sends() == [] and flush_sends() == 0


def test_a_full_batch_leaves_at_once_and_nothing_is_lost(sockets) -> None:
    sender, receiver = sockets
    emit = compiled_sender(Path(sender, receiver.getsockname()), 1).emit
    for seq in range(150):  # more than the batch holds (64)
        assert emit(0x80, 96, seq, 1, seq.to_bytes(2, "big") * 10) == SENT
    assert flush_sends() == 0
    received = [receiver.recv(4096) for _ in range(150)]
    assert [p[2:4] for p in received] == [seq.to_bytes(2, "big") for seq in range(150)]


def test_the_compiled_step_refuses_a_packet_larger_than_its_buffer(sockets) -> None:
    sender, receiver = sockets
    emit = compiled_sender(Path(sender, receiver.getsockname()), 1).emit
    assert emit(0x80, 96, 1, 1, b"x" * 5000) == 3


def inbound() -> Session:
    return Session(Policy(key=KEY, ssrc_type=Policy.SSRC_ANY_INBOUND))


def test_the_compiled_receive_step_accepts_and_refuses_exactly_what_pylibsrtp_does() -> None:
    """The same datagrams through both receive steps: equal plaintexts, and the same refusals."""
    sender = Session(Policy(key=KEY, ssrc_type=Policy.SSRC_ANY_OUTBOUND))
    rtp = [bytes([0x80, 0x60]) + seq.to_bytes(2, "big") + bytes(8) + os.urandom(size)
           for seq, size in ((1, 0), (2, 1), (3, 1188), (4, 300))]
    rtcp = bytes([0x80, 0xC9, 0, 1]) + os.urandom(4)  # an empty receiver report
    datagrams = [sender.protect(p) for p in rtp]
    protected_rtcp = sender.protect_rtcp(rtcp)
    tampered = bytearray(datagrams[3])
    tampered[20] ^= 1
    stream = [*datagrams, datagrams[1], bytes(tampered), datagrams[0][:11]]  # then a replay, a forgery, a stub

    python_session, compiled_session = inbound(), inbound()
    step = adapter._unprotector_factory()(compiled_session)

    def python(datagram: bytes) -> bytes | None:
        try:
            return python_session.unprotect(datagram)
        except Exception:
            return None

    results = [(python(d), step.rtp(d)) for d in stream]
    assert [a for a, _ in results] == rtp + [None, None, None]
    assert [b for _, b in results] == [a for a, _ in results]
    assert step.rtcp(protected_rtcp) == rtcp
    assert step.rtcp(protected_rtcp) is None  # replayed
    assert step.rtp(b"\x80" * 3000) is None  # longer than any packet the step takes
