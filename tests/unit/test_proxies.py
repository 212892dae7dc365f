"""server/proxies.py: forwarding headers count only from trusted proxies, and only as far as they vouch."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.config import ConfigError, load_config
from server.proxies import Client, parse_address, parse_networks, resolve

NGINX = parse_networks(["127.0.0.1"])
TWO_TIERS = parse_networks(["127.0.0.1", "10.0.0.0/8"])


def test_no_trusted_proxy_means_the_peer_is_the_client_whatever_the_headers_say() -> None:
    client = resolve("198.51.100.7", "http", ["203.0.113.9"], ["https"], ())
    assert client == Client("198.51.100.7", "http")


def test_a_spoofed_header_from_an_untrusted_peer_is_ignored() -> None:
    # The peer is not the proxy: it went round it, straight to Haven's port.
    client = resolve("198.51.100.7", "http", ["127.0.0.1, 10.1.2.3"], ["https"], TWO_TIERS)
    assert client == Client("198.51.100.7", "http")


def test_the_trusted_proxy_names_the_client() -> None:
    assert resolve("127.0.0.1", "http", ["203.0.113.9"], ["https"], NGINX) == Client("203.0.113.9", "https", True)


def test_what_the_client_wrote_in_front_of_the_proxys_entry_is_not_believed() -> None:
    # nginx appends the address it saw; whatever the client sent stands to the left of it.
    client = resolve("127.0.0.1", "http", ["10.9.9.9, 127.0.0.1", "203.0.113.9"], ["https"], NGINX)
    assert client.address == "203.0.113.9"


def test_a_chain_through_two_trusted_proxies_ends_at_the_first_untrusted_address() -> None:
    # browser 203.0.113.9 -> load balancer 10.0.0.2 -> nginx 127.0.0.1 -> Haven
    client = resolve("127.0.0.1", "http", ["192.0.2.66, 203.0.113.9, 10.0.0.2"], ["https"], TWO_TIERS)
    assert client == Client("203.0.113.9", "https", True)


def test_a_chain_of_only_trusted_addresses_gives_the_leftmost() -> None:
    assert resolve("127.0.0.1", "http", ["10.0.0.3, 10.0.0.2"], [], TWO_TIERS).address == "10.0.0.3"


def test_a_trusted_peer_without_headers_is_the_client_itself() -> None:
    assert resolve("127.0.0.1", "https", [], [], NGINX) == Client("127.0.0.1", "https", True)


@pytest.mark.parametrize("header", ["not-an-address", "unknown", "203.0.113.9.1", "", " , ", "[::1", "::ffff:zz"])
def test_a_malformed_header_stops_at_the_trusted_proxy(header: str) -> None:
    client = resolve("127.0.0.1", "http", [header], [], NGINX)
    assert client.address == "127.0.0.1"


def test_a_malformed_entry_further_left_is_never_reached() -> None:
    assert resolve("127.0.0.1", "http", ["garbage, 203.0.113.9"], [], NGINX).address == "203.0.113.9"


def test_a_malformed_entry_behind_a_trusted_hop_stops_at_that_hop() -> None:
    assert resolve("127.0.0.1", "http", ["garbage, 10.0.0.2"], [], TWO_TIERS).address == "10.0.0.2"


@pytest.mark.parametrize(("proto", "scheme"), [
    (["https"], "https"), (["HTTPS"], "https"), (["http"], "http"),
    (["https, http"], "http"), (["https", "https"], "http"), (["gopher"], "http"), ([], "http"),
])
def test_forwarded_proto_counts_only_as_one_plain_scheme(proto: list[str], scheme: str) -> None:
    assert resolve("127.0.0.1", "http", ["203.0.113.9"], proto, NGINX).scheme == scheme


def test_addresses_with_ports_ipv6_and_mapped_ipv4() -> None:
    assert str(parse_address("192.0.2.1:5000")) == "192.0.2.1"
    assert str(parse_address("[2001:db8::1]:443")) == "2001:db8::1"
    assert str(parse_address(" 2001:db8::1 ")) == "2001:db8::1"
    assert str(parse_address("::ffff:127.0.0.1")) == "127.0.0.1"
    assert parse_address("haven.example") is None
    # A dual-stack listener reports the proxy as ::ffff:127.0.0.1: it is still 127.0.0.1.
    assert resolve("::ffff:127.0.0.1", "http", ["203.0.113.9"], [], NGINX).address == "203.0.113.9"
    assert resolve("::1", "http", ["203.0.113.9"], [], parse_networks(["::1"])).address == "203.0.113.9"


def test_an_unknown_peer_is_no_proxy() -> None:
    assert resolve(None, "http", ["203.0.113.9"], [], NGINX) == Client(None, "http")


def test_networks_are_parsed_strictly() -> None:
    assert [str(n) for n in parse_networks(["10.0.0.0/8", "::1", "192.0.2.7"])] == ["10.0.0.0/8", "::1/128",
                                                                                     "192.0.2.7/32"]
    for bad in ("10.0.0.1/8", "localhost", "10.0.0.0/33", ""):
        with pytest.raises(ValueError):
            parse_networks([bad])


def test_the_config_key_is_validated_and_named(tmp_path: Path) -> None:
    path = tmp_path / "haven.toml"
    path.write_text('[server]\ntrusted_proxies = ["127.0.0.1", "10.0.0.0/8", "::1"]\n')
    assert load_config(path, env={}).server.trusted_proxies == ("127.0.0.1", "10.0.0.0/8", "::1")
    assert load_config(None, env={}).server.trusted_proxies == ()
    path.write_text('[server]\ntrusted_proxies = ["127.0.0.1", "10.0.0.1/8"]\n')
    with pytest.raises(ConfigError) as refused:
        load_config(path, env={})
    assert refused.value.key == "server.trusted_proxies"
    assert '"10.0.0.1/8"' in refused.value.problem
    path.write_text('[server]\ntrusted_proxies = "127.0.0.1"\n')
    with pytest.raises(ConfigError) as refused:
        load_config(path, env={})
    assert refused.value.key == "server.trusted_proxies"
    env = {"HAVEN_SERVER_TRUSTED_PROXIES": "127.0.0.1, proxy.example"}
    with pytest.raises(ConfigError) as refused:
        load_config(None, env=env)
    assert refused.value.key == "server.trusted_proxies" and refused.value.variable == "HAVEN_SERVER_TRUSTED_PROXIES"
