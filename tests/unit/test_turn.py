"""Tests for server.turn: TURN REST credentials as coturn's use-auth-secret checks them."""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import re
from pathlib import Path

from server.config import load_config
from server.layers import connection_settings, session_policy
from server.turn import TurnCredentials, expiry_of, password_for

REPO = Path(__file__).resolve().parents[2]
SECRET = b"turn-secret-0123456789-abcdefghijklmnop"
URLS = ("turn:turn.example.org:3478?transport=udp", "turns:turn.example.org:443?transport=tcp")


def minter(now: float = 1_700_000_000.0, ttl: float = 3600) -> TurnCredentials:
    return TurnCredentials(URLS, SECRET, ttl, clock=lambda: now)


def test_an_entry_has_the_urls_a_username_and_a_credential() -> None:
    entry = minter().mint()
    assert set(entry) == {"urls", "username", "credential"}
    assert entry["urls"] == list(URLS)


def test_the_username_is_the_expiry_and_a_random_id_only() -> None:
    entry = minter(now=1_700_000_000.0, ttl=3600).mint()
    assert re.fullmatch(r"1700003600:[0-9a-f]{16}", entry["username"])
    assert expiry_of(entry["username"]) == 1_700_003_600


def test_the_expiry_is_whole_seconds_after_now_plus_ttl() -> None:
    assert expiry_of(minter(now=100.9, ttl=600).mint()["username"]) == 700


def test_the_credential_is_base64_hmac_sha1_of_the_username() -> None:
    entry = minter().mint()
    digest = hmac.new(SECRET, entry["username"].encode(), hashlib.sha1).digest()
    assert base64.b64decode(entry["credential"]) == digest
    assert entry["credential"] == password_for(SECRET, entry["username"])


def test_a_known_vector() -> None:
    # From openssl, not from this code: printf %s '12345:x' | openssl sha1 -hmac secret -binary | base64
    assert password_for(b"secret", "12345:x") == "JzfyUq2vF18OipNBox3GsELaId8="


def test_every_mint_is_a_new_username_and_credential() -> None:
    turn = minter()
    entries = [turn.mint() for _ in range(50)]
    assert len({e["username"] for e in entries}) == 50
    assert len({e["credential"] for e in entries}) == 50


def test_another_secret_gives_another_credential() -> None:
    entry = minter().mint()
    assert password_for(b"another secret entirely, also long", entry["username"]) != entry["credential"]


def test_the_secret_is_not_in_the_repr() -> None:
    assert SECRET.decode() not in repr(minter())


def test_each_hello_gets_fresh_credentials_after_the_static_servers() -> None:
    config = load_config(None, env={"HAVEN_TURN_URLS": ",".join(URLS), "HAVEN_TURN_SECRET": SECRET.decode(),
                                    "HAVEN_ICE_UDP_PORT": "0", "HAVEN_ICE_STUN_SERVER": "stun:stun.example.org:3478"})
    settings = connection_settings(config, session_policy(config))
    assert settings.ice_servers == ({"urls": ["stun:stun.example.org:3478"]},)
    first, second = settings.fresh_ice_servers(), settings.fresh_ice_servers()
    assert first[0]["urls"] == second[0]["urls"] == list(URLS)
    assert first[0]["username"] != second[0]["username"]
    assert expiry_of(first[0]["username"]) > 0


def test_no_turn_section_mints_nothing() -> None:
    config = load_config(None, env={})
    assert connection_settings(config, session_policy(config)).fresh_ice_servers() == ()


# -- deploy/coturn.conf: the relay reaches public addresses only ------------------------------------

def denied_ranges() -> list[tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, ...]]:
    ranges = []
    for line in (REPO / "deploy" / "coturn.conf").read_text().splitlines():
        if line.startswith("denied-peer-ip="):
            low, _, high = line.split("=", 1)[1].partition("-")
            ranges.append((ipaddress.ip_address(low), ipaddress.ip_address(high or low)))
    return ranges


def denied(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    return any(low.version == ip.version and low <= ip <= high for low, high in denied_ranges())  # type: ignore[operator]


def test_the_recipe_denies_every_special_purpose_range() -> None:
    inside = ["0.0.0.0", "0.1.2.3", "10.0.0.1", "10.255.255.255", "100.64.0.1", "100.127.255.254", "127.0.0.1",
              "127.255.0.1", "169.254.169.254", "172.16.0.1", "172.31.255.255", "192.0.0.8", "192.0.2.1",
              "192.88.99.1", "192.168.1.1", "198.18.0.1", "198.19.255.255", "198.51.100.1", "203.0.113.9",
              "224.0.0.251", "239.255.255.250", "240.0.0.1", "255.255.255.255",
              "::", "::1", "::127.0.0.1", "::ffff:10.0.0.1", "::ffff:127.0.0.1", "64:ff9b::a00:1", "64:ff9b:1::1",
              "100::1", "2001::1", "2001:db8::1", "2002:a00:1::", "3fff::1", "fc00::1", "fd12:3456::1", "fe80::1",
              "fec0::1", "ff02::1"]
    assert [a for a in inside if not denied(a)] == []


def test_the_recipe_leaves_public_addresses_reachable() -> None:
    public = ["1.1.1.1", "8.8.8.8", "100.63.255.255", "100.128.0.0", "172.15.255.255", "172.32.0.0",
              "192.169.0.0", "198.20.0.0", "223.255.255.255", "2606:4700::1111", "2a00:1450::1"]
    assert [a for a in public if denied(a)] == []
