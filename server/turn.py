"""TURN credentials for clients: the TURN REST scheme coturn checks with `use-auth-secret`.

Haven and coturn share one secret and no user list. Each credential is a username carrying its own
expiry and a password that is the HMAC of that username, so coturn can check it alone
(draft-uberti-behave-turn-rest-00, coturn's "TURN REST API"). coturn logs usernames, so a username
holds an expiry and a random id only — never a participant id, a name or a room.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from typing import Any

OPAQUE_ID_BYTES = 8  # 64 random bits: tells allocations apart in coturn's log, says nothing about who


def password_for(secret: bytes, username: str) -> str:
    """Return the TURN password coturn expects for a username: base64(HMAC-SHA1(secret, username))."""
    return base64.b64encode(hmac.new(secret, username.encode(), hashlib.sha1).digest()).decode()


def expiry_of(username: str) -> int:
    """Return the Unix time a TURN REST username stops being accepted (the part before the colon)."""
    return int(username.split(":", 1)[0])


class TurnCredentials:
    """Mints a fresh ice_servers entry for the configured TURN URLs on every call."""

    def __init__(self, urls: tuple[str, ...], secret: bytes, ttl: float,
                 clock: Callable[[], float] = time.time) -> None:
        self.urls = urls
        self._secret = secret
        self.ttl = ttl
        self._clock = clock

    def mint(self) -> dict[str, Any]:
        """Return {"urls", "username", "credential"} valid for ttl seconds from now."""
        expiry = int(self._clock() + self.ttl)
        username = f"{expiry}:{secrets.token_hex(OPAQUE_ID_BYTES)}"
        return {"urls": list(self.urls), "username": username, "credential": password_for(self._secret, username)}

    def __repr__(self) -> str:  # never show the secret, should this object reach a log or a traceback
        return f"TurnCredentials(urls={self.urls!r}, ttl={self.ttl:g})"
