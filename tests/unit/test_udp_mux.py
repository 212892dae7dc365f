"""The shared media port's demultiplexer (media/udp_mux.py), driven with plain datagrams: no sockets, no ICE."""

from __future__ import annotations

from typing import Any

import pytest
from aioice import stun

from media.consumer import compiled_available
from media.reasons import DropReason
from media.udp_mux import MAX_ADDRESSES_PER_ROUTE, SharedSocket, UdpMux

ALICE, BOB, MALLORY = ("10.0.0.1", 5000), ("10.0.0.2", 6000), ("10.0.0.66", 6666)
SRTP = bytes([0x80, 0x60]) + bytes(40)
DTLS = bytes([22, 0xFE, 0xFD]) + bytes(40)


class FakeRoute:
    def __init__(self, ufrag: str, password: str) -> None:
        self.ufrag = ufrag
        self.password = password
        self.addresses: set[Any] = set()
        self.received: list[tuple[bytes, Any]] = []

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.received.append((data, addr))

    def integrity_key(self) -> bytes:
        return self.password.encode()


def check(ufrag: str, password: str, remote: str = "them") -> bytes:
    message = stun.Message(message_method=stun.Method.BINDING, message_class=stun.Class.REQUEST)
    message.attributes["USERNAME"] = f"{ufrag}:{remote}"
    message.attributes["PRIORITY"] = 1
    message.add_message_integrity(password.encode())
    message.add_fingerprint()
    return bytes(message)


def response(txid: bytes) -> bytes:
    message = stun.Message(message_method=stun.Method.BINDING, message_class=stun.Class.RESPONSE,
                           transaction_id=txid)
    message.attributes["XOR-MAPPED-ADDRESS"] = ("10.0.0.9", 9)
    return bytes(message)


@pytest.fixture
def shared() -> SharedSocket:
    return SharedSocket(UdpMux(0, ["127.0.0.1"]), "127.0.0.1")


@pytest.fixture
def alice(shared: SharedSocket) -> FakeRoute:
    route = FakeRoute("aliceufragaliceu", "alice-password-0123456")
    shared.attach(route)
    return route


@pytest.fixture
def bob(shared: SharedSocket) -> FakeRoute:
    route = FakeRoute("bobufragbobufrag", "bob-password-012345678")
    shared.attach(route)
    return route


def test_an_authenticated_check_routes_it_and_teaches_the_address(shared, alice, bob):
    shared.datagram_received(check(alice.ufrag, alice.password), ALICE)
    shared.datagram_received(DTLS, ALICE)
    shared.datagram_received(SRTP, ALICE)
    assert [addr for _, addr in alice.received] == [ALICE] * 3
    assert bob.received == [] and alice.addresses == {ALICE}


def test_media_from_an_address_nobody_authenticated_is_dropped(shared, alice):
    shared.datagram_received(SRTP, MALLORY)
    shared.datagram_received(DTLS, MALLORY)
    assert alice.received == [] and shared.drops[DropReason.UNKNOWN_SOURCE] == 2


def test_a_check_for_an_unknown_ufrag_or_with_a_wrong_password_is_dropped(shared, alice):
    shared.datagram_received(check("nosuchufragnosuc", alice.password), MALLORY)
    shared.datagram_received(check(alice.ufrag, "not-alices-password-00"), MALLORY)
    assert alice.received == [] and MALLORY not in shared.by_addr
    assert shared.drops[DropReason.UNKNOWN_UFRAG] == 1 and shared.drops[DropReason.STUN_UNAUTHENTICATED] == 1


def test_an_address_one_connection_owns_is_never_handed_to_another(shared, alice, bob):
    shared.datagram_received(check(alice.ufrag, alice.password), ALICE)
    # Bob's own credentials do not take Alice's address: her media keeps going to her.
    shared.datagram_received(check(bob.ufrag, bob.password), ALICE)
    shared.datagram_received(SRTP, ALICE)
    assert bob.received == [] and len(alice.received) == 2
    assert shared.drops[DropReason.ADDRESS_CONFLICT] == 1


def test_a_route_learns_a_bounded_number_of_addresses(shared, alice):
    for port in range(MAX_ADDRESSES_PER_ROUTE + 5):
        shared.datagram_received(check(alice.ufrag, alice.password), ("10.1.0.1", 1000 + port))
    assert len(alice.addresses) == MAX_ADDRESSES_PER_ROUTE == len(shared.by_addr)
    assert shared.drops[DropReason.ADDRESS_CONFLICT] == 5


def test_responses_go_to_the_route_whose_request_is_in_flight(shared, alice, bob):
    txid = b"\x01" * 12
    shared.expect(txid, bob)
    shared.datagram_received(response(txid), BOB)
    assert [addr for _, addr in bob.received] == [BOB]
    assert BOB not in shared.by_addr  # only a check the peer sent teaches its address
    shared.forget(txid)
    shared.datagram_received(response(txid), BOB)
    shared.datagram_received(response(b"\x02" * 12), BOB)
    assert len(bob.received) == 1 and shared.drops[DropReason.UNKNOWN_SOURCE] == 2


def test_malformed_stun_and_empty_datagrams_are_counted(shared, alice):
    shared.datagram_received(b"", ALICE)
    shared.datagram_received(b"\x00\x01\x00\x04" + bytes(16), ALICE)  # length says 4, nothing follows
    shared.datagram_received(check(alice.ufrag, alice.password)[:30], ALICE)
    assert alice.received == []
    assert shared.drops[DropReason.TRUNCATED] == 1 and shared.drops[DropReason.STUN_ERROR] == 2


def test_detaching_forgets_every_way_to_the_route(shared, alice, bob):
    shared.datagram_received(check(alice.ufrag, alice.password), ALICE)
    shared.datagram_received(check(bob.ufrag, bob.password), BOB)
    shared.expect(b"\x03" * 12, alice)
    shared.detach(alice)
    shared.detach(alice)  # idempotent
    assert shared.by_ufrag == {bob.ufrag: bob} and shared.by_addr == {BOB: bob} and shared.by_txid == {}
    shared.datagram_received(SRTP, ALICE)
    assert len(alice.received) == 1 and shared.drops[DropReason.UNKNOWN_SOURCE] == 1
    with pytest.raises(ValueError):
        shared.attach(FakeRoute(bob.ufrag, "x" * 22))


def test_ufrags_are_long_random_and_unique():
    mux = UdpMux(0, [])
    ufrags = {mux.new_ufrag() for _ in range(200)}
    assert len(ufrags) == 200 and all(len(u) == 16 and u.isalnum() for u in ufrags)


BATCHED = [False, pytest.param(True, marks=pytest.mark.skipif(
    not compiled_available(), reason="media/_fastsend.c was not built"))]


@pytest.mark.parametrize("batched", BATCHED)
async def test_open_binds_one_port_and_a_taken_port_is_named(batched: bool):
    mux = UdpMux(0, ["127.0.0.1"], batched=batched)
    await mux.open()
    try:
        port = mux.sockets[0].port
        assert port > 0
        rival = UdpMux(port, ["127.0.0.1"], batched=batched)
        with pytest.raises(OSError, match=f"cannot bind UDP 127.0.0.1 port {port}"):
            await rival.open()
        assert rival.sockets == []
    finally:
        mux.close()
    assert mux.sockets == [] and mux.table_entries() == 0


@pytest.mark.parametrize("batched", BATCHED)
async def test_a_closed_mux_releases_its_port_for_the_next_server(batched: bool):
    mux = UdpMux(0, ["127.0.0.1"], batched=batched)
    await mux.open()
    port = mux.sockets[0].port
    mux.close()
    await mux.wait_closed()
    again = UdpMux(port, ["127.0.0.1"], batched=batched)
    await again.open()  # a restart in the same process binds the same port
    again.close()
    await again.wait_closed()
