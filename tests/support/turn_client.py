"""A minimal TURN client over UDP (RFC 8656 long-term credentials), built on aioice's STUN messages.

Just enough to ask a TURN server for an allocation and for permissions, and to see its answer codes;
the tests use it to check what coturn lets a credential holder do.
"""

from __future__ import annotations

import hashlib
import socket
from dataclasses import dataclass

from aioice import stun

UNAUTHORIZED = 401
FORBIDDEN = 403
UDP_TRANSPORT = 17 << 24  # REQUESTED-TRANSPORT: protocol number in the first byte, then RFFU
TIMEOUT = 2.0  # per request; a TURN server on loopback answers in milliseconds or not at all


@dataclass(frozen=True)
class Answer:
    code: int | None  # None: a success response
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.code is None


class TurnClient:
    """One UDP socket to a TURN server, speaking for one username and password."""

    def __init__(self, server: tuple[str, int], username: str, password: str) -> None:
        self.server = server
        self.username = username
        self.password = password
        self.realm: str | None = None
        self.nonce: bytes | None = None
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.settimeout(TIMEOUT)

    def __enter__(self) -> TurnClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.sock.close()

    def allocate(self) -> Answer:
        """Ask for a UDP relay allocation (first unauthenticated, to learn the realm and nonce)."""
        return self._authenticated(stun.Method.ALLOCATE, {"REQUESTED-TRANSPORT": UDP_TRANSPORT})

    def create_permission(self, peer_ip: str) -> Answer:
        """Ask the server to relay to and from ``peer_ip`` (RFC 8656 section 9)."""
        return self._authenticated(stun.Method.CREATE_PERMISSION, {"XOR-PEER-ADDRESS": (peer_ip, 9)})

    def _authenticated(self, method: stun.Method, attributes: dict) -> Answer:
        response = self._send(method, attributes)
        if response.code == UNAUTHORIZED and "NONCE" in response.message.attributes and self.nonce is None:
            # The first 401 is the challenge, not a verdict: it carries the realm and nonce to sign with.
            self.realm = response.message.attributes["REALM"]
            self.nonce = response.message.attributes["NONCE"]
            response = self._send(method, attributes)
        return Answer(response.code, response.reason)

    def _send(self, method: stun.Method, attributes: dict) -> _Response:
        request = stun.Message(method, stun.Class.REQUEST)
        request.attributes.update(attributes)
        if self.nonce is not None and self.realm is not None:
            request.attributes["USERNAME"] = self.username
            request.attributes["REALM"] = self.realm
            request.attributes["NONCE"] = self.nonce
            key = hashlib.md5(f"{self.username}:{self.realm}:{self.password}".encode()).digest()
            request.add_message_integrity(key)
        request.add_fingerprint()
        self.sock.sendto(bytes(request), self.server)
        while True:  # bounded by the socket timeout: skip anything that is not this request's answer
            data, _ = self.sock.recvfrom(4096)
            message = stun.parse_message(data)
            if message.transaction_id == request.transaction_id:
                break
        code, reason = message.attributes.get("ERROR-CODE", (None, ""))
        if message.message_class == stun.Class.ERROR and code is None:
            raise AssertionError("an error response without an ERROR-CODE")
        return _Response(message, code, reason)


@dataclass(frozen=True)
class _Response:
    message: stun.Message
    code: int | None
    reason: str
