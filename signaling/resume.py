"""Admission by identity: single-use join tokens and the resume credential (docs/protocol.md section 5.4).

A join token admits its bearer once. What lets a participant take back their own place after a lost
socket is the **resume credential** the server hands out in the ``join`` result and renews while the
connection lives: opaque to the client, signed with a key derived from the server secret (so it
survives a restart), bound to one participant id, room and session, and short-lived.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

RESUME_TTL = 300.0  # seconds a credential stays valid; renewed every RESUME_TTL / 3 while connected
MAX_CREDENTIAL_CHARS = 1024


@dataclass(frozen=True)
class Claim:
    """How a participant comes to a join: the identity proof they brought, beyond the token's claims."""

    resume_session: str | None = None  # the session a valid resume credential names (None: none given)
    reused: bool = False  # the join token was used before and no valid resume credential came with it

    def resumes(self, session_id: str) -> bool:
        """Whether this claim takes back a place in that session."""
        return self.resume_session is not None and self.resume_session == session_id


FRESH = Claim()


class TokenLedger(Protocol):
    """Where the ids (``jti``) of used join tokens are kept until the tokens expire."""

    async def spend(self, jti: str, expires_at: float) -> bool:
        """Record a token's use; return True the first time, False if it was used before."""
        ...


class MemoryLedger:
    """A TokenLedger in memory (tests; a server uses server.storage's durable one)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.used: dict[str, float] = {}
        self._clock = clock

    async def spend(self, jti: str, expires_at: float) -> bool:
        now = self._clock()
        self.used = {k: v for k, v in self.used.items() if v >= now}
        if jti in self.used:
            return False
        self.used[jti] = expires_at
        return True


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class Credential:
    """A resume credential as the client holds it."""

    value: str
    expires_at: float

    def describe(self) -> dict[str, object]:
        """Return the protocol form: ``{"credential", "expires_at"}`` (ms since the epoch)."""
        return {"credential": self.value, "expires_at": int(self.expires_at * 1000)}


class ResumeKeys:
    """Issues and checks resume credentials with one key (derived from the server secret)."""

    def __init__(self, key: bytes, ttl: float = RESUME_TTL, clock: Callable[[], float] = time.time) -> None:
        if len(key) < 32:
            raise ValueError("the resume key must be at least 32 bytes")
        self._key = key
        self.ttl = ttl
        self._clock = clock

    def issue(self, participant_id: str, room: str, session_id: str) -> Credential:
        """Return a credential for one participant of one session, valid for ``ttl`` seconds."""
        expires_at = self._clock() + self.ttl
        payload = json.dumps({"v": 1, "p": participant_id, "r": room, "s": session_id, "e": int(expires_at)},
                             separators=(",", ":"), sort_keys=True).encode()
        body = _b64(payload)
        return Credential(f"{body}.{self._sign(body)}", float(int(expires_at)))

    def session_of(self, credential: object, participant_id: str, room: str) -> str | None:
        """Return the session a credential resumes for this participant and room; None if it is not valid."""
        if not isinstance(credential, str) or len(credential) > MAX_CREDENTIAL_CHARS or credential.count(".") != 1:
            return None
        body, signature = credential.split(".")
        if not hmac.compare_digest(signature, self._sign(body)):
            return None
        try:
            payload = json.loads(_unb64(body))
        except (ValueError, UnicodeDecodeError):
            return None
        if not isinstance(payload, dict) or payload.get("v") != 1:
            return None
        expires_at = payload.get("e")
        if not isinstance(expires_at, int) or expires_at <= self._clock():
            return None
        if payload.get("p") != participant_id or payload.get("r") != room:
            return None
        session_id = payload.get("s")
        return session_id if isinstance(session_id, str) else None

    def _sign(self, body: str) -> str:
        return _b64(hmac.new(self._key, b"resume." + body.encode(), hashlib.sha256).digest())
