"""One UDP port for the media of every connection (``ice.udp_port``): the shared sockets and their demultiplexer.

An ops person opens one UDP port in the firewall instead of the ephemeral range. Each configured host
address gets one socket bound to that port; every ICE connection of the server has one Route per socket
(media/adapter.py makes the Route an aioice protocol). A datagram finds its Route by:

* STUN binding requests: the local ICE username fragment, the part of USERNAME before the colon (every
  connection gets a long random one, unique among the live ones), and only if its MESSAGE-INTEGRITY
  verifies with that connection's ICE password; the source address is then learnt for the Route.
* STUN responses: the transaction id of a request the Route sent (kept only while it is in flight).
* Everything else (DTLS, SRTP, SRTCP): the source address, learnt above.

An address learnt by one live Route is never handed to another (that would let a peer that knows one
connection's ICE password steal another's media path), and a Route learns a bounded number of them.
What finds no Route is dropped and counted by reason. The receive path costs one dict lookup more than
a socket per connection; the send path is the shared socket's own ``sendto``, unchanged.

State only, no aioice connection objects: tests/unit/test_udp_mux.py drives it with plain datagrams.
"""

from __future__ import annotations

import asyncio
import secrets
import socket
import string
from collections.abc import Iterable
from typing import Any, Protocol

from aioice import stun

from .reasons import DropReason

# Browsers offer a handful of candidates (host v4/v6, server-reflexive, relayed per TURN server); a
# Route that has learnt this many addresses learns no more, so one peer cannot grow the table.
MAX_ADDRESSES_PER_ROUTE = 16
# The ufrag's length: 96 bits of randomness, so a guess never lands on a live connection, while aioice's
# own 4 characters would collide among a few thousand connections.
UFRAG_CHARS = 16
_UFRAG_ALPHABET = string.ascii_letters + string.digits
# The socket buffer of a shared socket: it takes every publisher's frame bursts at once.
SHARED_RCVBUF = 8 * 1024 * 1024
SHARED_SNDBUF = 4 * 1024 * 1024

MUX_DROPS = (
    DropReason.UNKNOWN_SOURCE,
    DropReason.UNKNOWN_UFRAG,
    DropReason.STUN_UNAUTHENTICATED,
    DropReason.ADDRESS_CONFLICT,
    DropReason.STUN_ERROR,
    DropReason.TRUNCATED,
)


class Route(Protocol):
    """What the demultiplexer needs of one connection on one shared socket."""

    ufrag: str
    addresses: set[Any]

    def datagram_received(self, data: bytes, addr: Any) -> None: ...

    def integrity_key(self) -> bytes: ...


class SharedSocket(asyncio.DatagramProtocol):
    """One bound socket (host address, port) and the routing tables of the connections on it."""

    def __init__(self, mux: UdpMux, host: str) -> None:
        self.mux = mux
        self.host = host
        self.port = 0
        self.transport: asyncio.DatagramTransport | None = None
        self.closed = asyncio.Event()  # set once the socket is released (the port can be bound again)
        self.drops = mux.drops
        self.by_addr: dict[Any, Route] = {}
        self.by_ufrag: dict[str, Route] = {}
        self.by_txid: dict[bytes, Route] = {}

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a datagram endpoint's transport
        self.port = transport.get_extra_info("sockname")[1]

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.closed.set()

    def error_received(self, exc: Exception) -> None:
        pass  # ICMP errors for one peer's address say nothing about the socket

    # -- hot path ---------------------------------------------------------------------------------

    def datagram_received(self, data: bytes, addr: Any) -> None:
        if data and data[0] > 3:  # DTLS, SRTP, SRTCP (RFC 7983): by source address
            route = self.by_addr.get(addr)
            if route is not None:
                route.datagram_received(data, addr)
            else:
                self.drops[DropReason.UNKNOWN_SOURCE] += 1
            return
        self._stun(data, addr)

    # -- STUN ---------------------------------------------------------------------------------------

    def _stun(self, data: bytes, addr: Any) -> None:
        if not data:
            self.drops[DropReason.TRUNCATED] += 1
            return
        try:
            message = stun.parse_message(data)
        except Exception:  # ValueError for most; a malformed attribute can raise others
            self.drops[DropReason.STUN_ERROR] += 1
            return
        kind = message.message_class
        if kind == stun.Class.REQUEST:
            route = self._authenticated(message)
            if route is None or not self._learn(route, addr):
                return
        elif kind == stun.Class.RESPONSE or kind == stun.Class.ERROR:
            pending = self.by_txid.get(message.transaction_id)
            if pending is None:
                self.drops[DropReason.UNKNOWN_SOURCE] += 1
                return
            # Delivered, but no address is learnt from it: a peer's media address is always one that
            # sent us an authenticated check (RFC 8445 7.3: its own or a triggered one).
            route = pending
        else:  # indications: only from a known peer
            found = self.by_addr.get(addr)
            if found is None:
                self.drops[DropReason.UNKNOWN_SOURCE] += 1
                return
            route = found
        route.datagram_received(data, addr)

    def _authenticated(self, message: stun.Message) -> Route | None:
        username = message.attributes.get("USERNAME")
        route = self.by_ufrag.get(username.split(":", 1)[0]) if isinstance(username, str) else None
        if route is None:
            self.drops[DropReason.UNKNOWN_UFRAG] += 1
            return None
        if not message.check_message_integrity(route.integrity_key()):
            self.drops[DropReason.STUN_UNAUTHENTICATED] += 1
            return None
        return route

    def _learn(self, route: Route, addr: Any) -> bool:
        owner = self.by_addr.get(addr)
        if owner is route:
            return True
        if owner is not None or len(route.addresses) >= MAX_ADDRESSES_PER_ROUTE:
            self.drops[DropReason.ADDRESS_CONFLICT] += 1
            return False
        self.by_addr[addr] = route
        route.addresses.add(addr)
        return True

    # -- routes -------------------------------------------------------------------------------------

    def attach(self, route: Route) -> None:
        if route.ufrag in self.by_ufrag:
            raise ValueError("ICE username fragment already in use")
        self.by_ufrag[route.ufrag] = route

    def detach(self, route: Route) -> None:
        """Forget every way a datagram could reach the route (idempotent)."""
        if self.by_ufrag.get(route.ufrag) is route:
            del self.by_ufrag[route.ufrag]
        for addr in route.addresses:
            if self.by_addr.get(addr) is route:
                del self.by_addr[addr]
        route.addresses.clear()
        stale = [txid for txid, owner in self.by_txid.items() if owner is route]
        for txid in stale:
            del self.by_txid[txid]

    def expect(self, txid: bytes, route: Route) -> None:
        """Route the response to a request the route is sending (until ``forget``)."""
        self.by_txid[txid] = route

    def forget(self, txid: bytes) -> None:
        self.by_txid.pop(txid, None)


class UdpMux:
    """The server's shared media sockets: one per host address, all on one port."""

    def __init__(self, port: int, hosts: Iterable[str], batched: bool = False) -> None:
        self.port = port
        self.hosts = list(hosts)
        # Read the sockets with recvmmsg (media/udp_transport.py, needs media/_fastsend.c) instead of
        # the event loop's one-datagram-per-call transport; both hand the protocol the same datagrams.
        self.batched = batched
        self.drops: dict[DropReason, int] = {reason: 0 for reason in MUX_DROPS}
        self.sockets: list[SharedSocket] = []
        self._closing: list[SharedSocket] = []

    async def open(self) -> None:
        """Bind every host address on the port; raise OSError naming the address that cannot be bound."""
        loop = asyncio.get_running_loop()
        try:
            for host in self.hosts:
                shared = SharedSocket(self, host)
                family = socket.AF_INET6 if ":" in host else socket.AF_INET
                try:
                    if self.batched:
                        from .udp_transport import open_batched

                        open_batched(loop, shared, host, self.port)
                    else:
                        await loop.create_datagram_endpoint(lambda s=shared: s, local_addr=(host, self.port),  # type: ignore[misc]
                                                            family=family)
                except OSError as exc:
                    raise OSError(exc.errno, f"cannot bind UDP {host} port {self.port}: {exc.strerror}") from None
                _enlarge_buffers(shared)
                self.sockets.append(shared)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Close the sockets; Routes still attached are detached (their connections are closing anyway)."""
        for shared in self.sockets:
            for route in list(shared.by_ufrag.values()):
                shared.detach(route)
            if shared.transport is not None:
                shared.transport.close()
                self._closing.append(shared)
        self.sockets = []

    async def wait_closed(self) -> None:
        """Wait until the sockets ``close`` closed are released: asyncio closes a socket a loop turn later."""
        closing, self._closing = self._closing, []
        for shared in closing:
            await shared.closed.wait()

    def new_ufrag(self) -> str:
        """Return a random ICE username fragment no live connection uses."""
        while True:
            ufrag = "".join(secrets.choice(_UFRAG_ALPHABET) for _ in range(UFRAG_CHARS))
            if not any(ufrag in s.by_ufrag for s in self.sockets):
                return ufrag

    def table_entries(self) -> int:
        """Routes, learnt addresses and pending transactions over every socket (what a leak would grow)."""
        return sum(len(s.by_ufrag) + len(s.by_addr) + len(s.by_txid) for s in self.sockets)


def _enlarge_buffers(shared: SharedSocket) -> None:
    sock = shared.transport.get_extra_info("socket") if shared.transport is not None else None
    if sock is None:
        return
    for option, size in ((socket.SO_RCVBUF, SHARED_RCVBUF), (socket.SO_SNDBUF, SHARED_SNDBUF)):
        try:
            sock.setsockopt(socket.SOL_SOCKET, option, size)
        except OSError:
            pass
