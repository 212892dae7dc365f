"""The compiled send step puts exactly the bytes of the pure-Python one on the wire."""

from __future__ import annotations

import os
import socket

import pytest
from pylibsrtp import Policy, Session

from media import adapter
from media.consumer import FAILED, SENT, compiled_available, compiled_emitter, python_emitter
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
    python = python_emitter(Path(sender, receiver.getsockname()), 0x11223344)
    compiled = compiled_emitter(Path(sender, receiver.getsockname()), 0x11223344)
    assert python(*header, tail) == SENT
    assert compiled(*header, tail) == SENT
    assert receiver.recv(4096) == receiver.recv(4096)


def test_the_compiled_step_reports_a_failed_send_instead_of_raising(sockets) -> None:
    sender, receiver = sockets
    path = Path(sender, receiver.getsockname())
    emit = compiled_emitter(path, 1)
    sender.close()  # a dead socket: sendto fails with EBADF
    assert emit(0x80, 96, 1, 1, b"x" * 100) == FAILED


def test_the_compiled_step_refuses_a_packet_larger_than_its_buffer(sockets) -> None:
    sender, receiver = sockets
    emit = compiled_emitter(Path(sender, receiver.getsockname()), 1)
    assert emit(0x80, 96, 1, 1, b"x" * 5000) == 3
