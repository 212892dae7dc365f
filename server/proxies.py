"""Who is at the other end of a request: the TCP peer, or the client a trusted reverse proxy names.

X-Forwarded-For and X-Forwarded-Proto are plain request headers that anyone can send, so they are read
only when the TCP peer is one of `server.trusted_proxies`; from anyone else they are ignored. Each
trusted proxy appends the address it was connected from, so the client is the rightmost address of
the chain that is not itself a trusted proxy: what is to its left was written by the client or by
proxies we do not trust, and may be invented. Pure functions, no aiohttp: tests need no server.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

SCHEMES = ("http", "https")


@dataclass(frozen=True)
class Client:
    """The resolved client of one request: its address (None when unknown) and the scheme it used."""

    address: str | None
    scheme: str
    via_proxy: bool = False  # whether a trusted proxy's headers were used


def parse_networks(entries: Iterable[str]) -> tuple[Network, ...]:
    """Parse addresses and CIDR networks ("10.0.0.5", "10.0.0.0/8", "::1"); ValueError names the bad one."""
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=True))
        except ValueError:
            raise ValueError(f"{entry!r} is not an IP address or a network such as 10.0.0.0/8 "
                             "(a network's host bits must be zero)") from None
    return tuple(networks)


def parse_address(text: str) -> Address | None:
    """Parse one address of a forwarding header; None when it is not one (garbage, "unknown", a name).

    Accepts a port after the address ("192.0.2.1:5000", "[2001:db8::1]:5000"), which some proxies add.
    An IPv4-mapped IPv6 address (what a dual-stack socket reports) is its IPv4 address.
    """
    text = text.strip()
    if text.startswith("[") and "]" in text:
        text = text[1:text.index("]")]
    elif text.count(":") == 1:
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def is_trusted(address: Address, trusted: Sequence[Network]) -> bool:
    return any(address.version == network.version and address in network for network in trusted)


def resolve(peer: str | None, scheme: str, forwarded_for: Sequence[str], forwarded_proto: Sequence[str],
            trusted: Sequence[Network]) -> Client:
    """Return the client of a request from its TCP peer, its transport's scheme and its forwarding headers.

    ``forwarded_for`` and ``forwarded_proto`` are every value of those headers, in the order received.
    Walking X-Forwarded-For from the right, each trusted hop vouches for the entry to its left; the
    first untrusted entry is the client. A malformed entry stops the walk at the last hop known good
    (the trusted proxy that passed it on), since nothing further left can be believed.
    """
    peer_address = parse_address(peer) if peer else None
    if peer_address is None or not trusted or not is_trusted(peer_address, trusted):
        return Client(str(peer_address) if peer_address is not None else None, scheme)
    client = peer_address
    hops = [hop for value in forwarded_for for hop in value.split(",") if hop.strip()]
    while hops and is_trusted(client, trusted):
        hop = parse_address(hops.pop())
        if hop is None:
            break
        client = hop
    return Client(str(client), _forwarded_scheme(forwarded_proto) or scheme, via_proxy=True)


def _forwarded_scheme(values: Sequence[str]) -> str | None:
    """Return the scheme of X-Forwarded-Proto when it is one plain http or https, else None (ignored).

    A list ("https, http") means several proxies disagree about it: rather than guess, use the scheme
    of the connection from the trusted proxy.
    """
    if len(values) != 1:
        return None
    value = values[0].strip().lower()
    return value if value in SCHEMES else None
