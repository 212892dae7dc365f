"""Owns join tokens: HS256 JWTs that admit one person to one room in one role until they expire."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import jwt

ALGORITHM = "HS256"
LEEWAY_SECONDS = 5
ROLES = ("host", "participant")
REQUIRED_CLAIMS = ("sub", "name", "room", "role", "iat", "nbf", "exp", "jti", "aud", "iss")
ROOM_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
ROOM_RULE = "1 to 64 letters, digits, '_' or '-', starting with a letter or digit"
MAX_NAME_CHARS = 64
MAX_SUB_CHARS = 128
MIN_SECRET_BYTES = 32


# Chat addresses "room" and "hosts" share the namespace of participant ids.
RESERVED_SUBS = ("room", "hosts")


class TokenError(Exception):
    """A token that does not admit its bearer, with a stable `code` for the wire and the logs."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        super().__init__(message)


@dataclass(frozen=True)
class Grant:
    sub: str
    name: str
    room: str
    role: str
    jti: str
    expires_at: float
    starts_at: float | None = None  # optional scheduled start of the session, shown while waiting
    # The token's `use` claim is "once": a second use without a resume credential is refused
    # (`token-used`) instead of waiting as a duplicate join. Invites mint these (server/practice/invites.py).
    once: bool = False


def is_valid_room(room: object) -> bool:
    """Return whether the value is an acceptable room name."""
    # fullmatch, because "$" would also accept a trailing newline.
    return isinstance(room, str) and ROOM_PATTERN.fullmatch(room) is not None


def _check_claims(claims: dict[str, Any]) -> None:
    """Raise token-invalid-claim unless every claim has the type and shape we rely on."""

    def invalid(claim: str, why: str) -> TokenError:
        return TokenError("token-invalid-claim", f"claim {claim!r} {why}")

    for claim in ("sub", "name", "room", "role", "jti"):
        if not isinstance(claims[claim], str):
            raise invalid(claim, "must be a string")
    for claim in ("iat", "nbf", "exp"):
        if isinstance(claims[claim], bool) or not isinstance(claims[claim], (int, float)):
            raise invalid(claim, "must be a number of seconds since the epoch")
    if not 0 < len(claims["sub"]) <= MAX_SUB_CHARS:
        raise invalid("sub", f"must be 1 to {MAX_SUB_CHARS} characters")
    if "~" in claims["sub"]:
        raise invalid("sub", "must not contain '~' (the protocol marks duplicate joins with it)")
    if claims["sub"] in RESERVED_SUBS:
        raise invalid("sub", "must not be one of the protocol's reserved words (room, hosts)")
    if not claims["name"].strip() or len(claims["name"]) > MAX_NAME_CHARS:
        raise invalid("name", f"must be 1 to {MAX_NAME_CHARS} characters and not only spaces")
    if not is_valid_room(claims["room"]):
        raise invalid("room", f"must be {ROOM_RULE}")
    if claims["role"] not in ROLES:
        raise invalid("role", f"must be one of {', '.join(ROLES)}")
    if not claims["jti"]:
        raise invalid("jti", "must not be empty")
    if claims.get("use", "once") != "once":
        raise invalid("use", 'must be "once" when present')
    starts_at = claims.get("starts_at")
    if starts_at is not None and (isinstance(starts_at, bool) or not isinstance(starts_at, (int, float))):
        raise invalid("starts_at", "must be a number of seconds since the epoch")


class TokenIssuer:
    """Signs and verifies join tokens with one shared secret."""

    def __init__(self, secret: bytes, issuer: str, audience: str, max_ttl: float | None = None) -> None:
        if len(secret) < MIN_SECRET_BYTES:
            raise ValueError(f"secret must be at least {MIN_SECRET_BYTES} bytes")
        self._secret = secret
        self._issuer = issuer
        self._audience = audience
        # The longest lifetime a token may claim (auth.max_ttl); None: no cap (tests of the format only).
        self._max_ttl = max_ttl

    def resume_key(self) -> bytes:
        """Return the key that signs resume credentials: derived from the secret, never the secret itself."""
        return hmac.new(self._secret, b"haven resume credential v1", hashlib.sha256).digest()

    def invite_key(self) -> bytes:
        """Return the key that derives members' invite secrets from their invite ids (server/practice)."""
        return hmac.new(self._secret, b"haven invite v1", hashlib.sha256).digest()

    def calendar_key(self) -> bytes:
        """Return the key that derives members' calendar feed addresses from their invites (server/practice)."""
        return hmac.new(self._secret, b"haven calendar feed v1", hashlib.sha256).digest()

    def issue(self, room: str, name: str, role: str, ttl_seconds: float, sub: str | None = None,
              starts_at: float | None = None, once: bool = False) -> str:
        """Return a signed token admitting `name` to `room` as `role` for `ttl_seconds`."""
        if ttl_seconds <= 0:
            raise ValueError("ttl_seconds must be positive")
        if self._max_ttl is not None and ttl_seconds > self._max_ttl:
            raise ValueError(f"ttl_seconds must be at most auth.max_ttl ({self._max_ttl:.0f} s)")
        now = int(time.time())
        claims = {
            "sub": uuid.uuid4().hex if sub is None else sub,
            "name": name,
            "room": room,
            "role": role,
            "iat": now,
            "nbf": now,
            "exp": now + int(ttl_seconds),
            "jti": secrets.token_urlsafe(16),
            "aud": self._audience,
            "iss": self._issuer,
        }
        if starts_at is not None:
            claims["starts_at"] = int(starts_at)
        if once:
            claims["use"] = "once"
        _check_claims(claims)
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM)

    def verify(self, token: str, room: str | None = None, now: float | None = None) -> Grant:
        """Return the grant a token carries, or raise TokenError saying why it admits no one."""
        if not token:
            raise TokenError("token-missing", "no token was given")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError as exc:
            raise TokenError("token-malformed", f"not a JWT: {exc}") from None
        # Checked before anything else so "none" and asymmetric algorithms never reach a verifier.
        if header.get("alg") != ALGORITHM:
            raise TokenError("token-algorithm-not-allowed", f"algorithm {header.get('alg')!r} is not allowed")
        claims = self._decode(token)
        _check_claims(claims)
        now = time.time() if now is None else now
        if claims["exp"] <= now - LEEWAY_SECONDS:
            raise TokenError("token-expired", "the token has expired")
        if claims["nbf"] > now + LEEWAY_SECONDS:
            raise TokenError("token-not-yet-valid", "the token is not valid yet")
        # A token "issued" in the future was not issued by us at that time; refuse it like an early nbf.
        if claims["iat"] > now + LEEWAY_SECONDS:
            raise TokenError("token-not-yet-valid", "the token claims to be issued in the future")
        if self._max_ttl is not None and claims["exp"] - claims["iat"] > self._max_ttl + LEEWAY_SECONDS:
            raise TokenError("token-invalid-claim", "the token lives longer than this server allows (auth.max_ttl)")
        if room is not None and claims["room"] != room:
            raise TokenError("token-wrong-room", "the token is for a different room")
        return Grant(
            sub=claims["sub"],
            name=claims["name"],
            room=claims["room"],
            role=claims["role"],
            jti=claims["jti"],
            expires_at=float(claims["exp"]),
            starts_at=float(claims["starts_at"]) if claims.get("starts_at") is not None else None,
            once=claims.get("use") == "once",
        )

    def _decode(self, token: str) -> dict[str, Any]:
        """Check signature, presence of claims, audience and issuer; times are checked by the caller against `now`."""
        try:
            return jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                audience=self._audience,
                issuer=self._issuer,
                options={
                    "require": list(REQUIRED_CLAIMS),
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                    # _check_claims checks sub and jti with messages that name the claim.
                    "verify_sub": False,
                    "verify_jti": False,
                },
            )
        except jwt.InvalidSignatureError:
            raise TokenError("token-bad-signature", "the token signature does not match") from None
        except jwt.MissingRequiredClaimError as exc:
            raise TokenError("token-missing-claim", f"the token lacks the {exc.claim!r} claim") from None
        except jwt.InvalidAudienceError:
            raise TokenError("token-wrong-audience", "the token is for a different audience") from None
        except jwt.InvalidIssuerError:
            raise TokenError("token-wrong-issuer", "the token comes from a different issuer") from None
        except jwt.InvalidTokenError as exc:
            raise TokenError("token-malformed", f"cannot decode the token: {exc}") from None


def join_url(public_url: str, room: str, token: str, title: str | None = None) -> str:
    """Return the link that opens a room with its token in the fragment, which browsers never send to servers.

    ``title`` is what the page calls the room instead of its id (a practice group's name); it is for
    display only and rides in the fragment too, so it never reaches a server log.
    """
    link = f"{public_url.rstrip('/')}/r/{room}#token={token}"
    return f"{link}&{urlencode({'title': title}, quote_via=quote)}" if title else link
