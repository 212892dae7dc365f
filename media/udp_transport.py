"""A datagram transport for the shared UDP port that reads with recvmmsg: many datagrams per wake-up.

The event loop's own UDP transport reads one datagram per system call and makes one more that finds the
socket empty, for every wake-up. On the shared port (``ice.udp_port``) every publisher's packets arrive
on one socket, so this transport drains it with media/_fastsend.c's ``recv_batch`` (one ``recvmmsg``
of up to 32 datagrams) and hands each datagram to the protocol exactly as the loop's transport would.
Sending is what aioice and the RTCP paths need of a DatagramTransport: a non-blocking ``sendto`` whose
datagrams, when the kernel has no room, wait in a bounded queue until the socket is writable (the
forwarded RTP never comes here: the compiled step sends it with ``sendmmsg``).
"""

from __future__ import annotations

import asyncio
import collections
import socket
from typing import Any

from . import _fastsend  # only imported where the compiled step was built (media/udp_mux.py checks)

# At most this many batches per wake-up: a socket that never empties must not keep the loop from the
# rest of its work (timers, signaling). 4 x 32 datagrams is a full second of a publisher's audio.
BATCHES_PER_WAKEUP = 4
# What waits for room in the kernel's send buffer; past it datagrams are dropped, as UDP would.
MAX_QUEUED_BYTES = 1024 * 1024


class BatchedDatagramTransport(asyncio.DatagramTransport):
    """A bound UDP socket read with recvmmsg; the protocol sees an ordinary datagram transport."""

    def __init__(self, loop: asyncio.AbstractEventLoop, sock: socket.socket,
                 protocol: asyncio.DatagramProtocol) -> None:
        super().__init__()
        self._loop = loop
        self._sock = sock
        self._fd = sock.fileno()
        self._protocol = protocol
        self._queue: collections.deque[tuple[bytes, Any]] = collections.deque()
        self._queued = 0
        self._closing = False
        self.dropped = 0  # datagrams refused because the send queue was full
        sock.setblocking(False)
        protocol.connection_made(self)
        loop.add_reader(self._fd, self._read)

    # -- receiving ----------------------------------------------------------------------------------

    def _read(self) -> None:
        protocol = self._protocol
        for _ in range(BATCHES_PER_WAKEUP):
            try:
                batch = _fastsend.recv_batch(self._fd)
            except OSError as exc:  # an ICMP error for one peer: the socket itself is fine
                protocol.error_received(exc)
                return
            for data, addr in batch:
                protocol.datagram_received(data, addr)  # the mux's handler never raises
            if len(batch) < _fastsend.RECV_BATCH:  # the socket is empty now
                return

    # -- sending ------------------------------------------------------------------------------------

    def sendto(self, data: bytes | bytearray | memoryview, addr: Any = None) -> None:
        if self._closing:
            return
        data = bytes(data)
        if not self._queue:
            try:
                self._sock.sendto(data, addr)
                return
            except (BlockingIOError, InterruptedError):
                self._loop.add_writer(self._fd, self._write)
            except OSError as exc:
                self._protocol.error_received(exc)
                return
        if self._queued + len(data) > MAX_QUEUED_BYTES:
            self.dropped += 1
            return
        self._queue.append((data, addr))
        self._queued += len(data)

    def _write(self) -> None:
        while self._queue:
            data, addr = self._queue[0]
            try:
                self._sock.sendto(data, addr)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                self._protocol.error_received(exc)
            self._queue.popleft()
            self._queued -= len(data)
        self._loop.remove_writer(self._fd)

    def get_write_buffer_size(self) -> int:
        return self._queued

    # -- the rest of a transport ----------------------------------------------------------------------

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name == "socket":
            return self._sock
        if name == "sockname":
            return self._sock.getsockname()
        return default

    def is_closing(self) -> bool:
        return self._closing

    def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        self._loop.remove_reader(self._fd)
        self._loop.remove_writer(self._fd)
        self._queue.clear()
        self._queued = 0
        # As the loop's transports do: the protocol hears of it on a later turn, after the socket is closed.
        self._loop.call_soon(self._finish)

    abort = close

    def _finish(self) -> None:
        self._sock.close()
        self._protocol.connection_lost(None)


def open_batched(loop: asyncio.AbstractEventLoop, protocol: asyncio.DatagramProtocol, host: str, port: int
                 ) -> BatchedDatagramTransport:
    """Bind ``host``:``port`` and serve it to ``protocol`` through a BatchedDatagramTransport."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        sock.bind((host, port))
    except BaseException:
        sock.close()
        raise
    return BatchedDatagramTransport(loop, sock, protocol)
