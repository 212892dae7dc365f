"""Tests for server.auth: a valid token round-trips, and every way a token can fail has its own code."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import jwt
import pytest

from server.auth import REQUIRED_CLAIMS, Grant, TokenError, TokenIssuer, join_url

SECRET = b"k" * 48
OTHER_SECRET = b"o" * 48
NOW = 1_700_000_000


@pytest.fixture
def issuer() -> TokenIssuer:
    return TokenIssuer(SECRET, issuer="haven", audience="haven")


def claims(**changes: Any) -> dict[str, Any]:
    base = {
        "sub": "p-1",
        "name": "Sam",
        "room": "group-a",
        "role": "participant",
        "iat": NOW,
        "nbf": NOW,
        "exp": NOW + 3600,
        "jti": "j-1",
        "aud": "haven",
        "iss": "haven",
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not ...}


def signed(payload: dict[str, Any], secret: bytes = SECRET, algorithm: str = "HS256") -> str:
    return jwt.encode(payload, secret, algorithm=algorithm)


def b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def refusal(issuer: TokenIssuer, token: str, room: str | None = None, now: float = NOW) -> TokenError:
    with pytest.raises(TokenError) as info:
        issuer.verify(token, room=room, now=now)
    return info.value


def test_issued_token_verifies_into_its_grant(issuer: TokenIssuer) -> None:
    before = time.time()
    token = issuer.issue("group-a", "Sam", "host", ttl_seconds=600, sub="therapist-1")
    grant = issuer.verify(token, room="group-a")
    assert grant.sub == "therapist-1"
    assert (grant.name, grant.room, grant.role) == ("Sam", "group-a", "host")
    assert grant.jti
    assert before + 599 <= grant.expires_at <= time.time() + 601


def test_issued_token_has_all_required_claims_and_hs256_header(issuer: TokenIssuer) -> None:
    token = issuer.issue("group-a", "Sam", "participant", ttl_seconds=600)
    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    payload = jwt.decode(token, options={"verify_signature": False})
    assert set(payload) == set(REQUIRED_CLAIMS)
    assert payload["nbf"] == payload["iat"]


def test_sub_defaults_to_a_random_id_and_jti_is_unique(issuer: TokenIssuer) -> None:
    first = issuer.verify(issuer.issue("group-a", "Sam", "participant", 600))
    second = issuer.verify(issuer.issue("group-a", "Sam", "participant", 600))
    assert len(first.sub) == 32
    assert first.sub != second.sub
    assert first.jti != second.jti


def test_hand_signed_token_verifies_at_the_given_time(issuer: TokenIssuer) -> None:
    grant = issuer.verify(signed(claims()), now=NOW + 10)
    assert grant == Grant(sub="p-1", name="Sam", room="group-a", role="participant", jti="j-1", expires_at=NOW + 3600.0)


def test_grant_is_frozen(issuer: TokenIssuer) -> None:
    grant = issuer.verify(signed(claims()), now=NOW)
    with pytest.raises(AttributeError):
        grant.role = "host"  # type: ignore[misc]


@pytest.mark.parametrize("token", ["", None])
def test_empty_token_is_missing(issuer: TokenIssuer, token: Any) -> None:
    assert refusal(issuer, token).code == "token-missing"


@pytest.mark.parametrize("token", ["garbage", "a.b.c", "a.b", "....", "eyJhbGciOiJIUzI1NiJ9.!!!.sig"])
def test_garbage_is_malformed(issuer: TokenIssuer, token: str) -> None:
    assert refusal(issuer, token).code == "token-malformed"


def test_payload_that_is_not_json_object_is_malformed(issuer: TokenIssuer) -> None:
    token = jwt.api_jws.encode(b"[1, 2]", SECRET, algorithm="HS256")
    assert refusal(issuer, token).code == "token-malformed"


def test_expired_token_is_refused(issuer: TokenIssuer) -> None:
    assert refusal(issuer, signed(claims()), now=NOW + 3600 + 6).code == "token-expired"


def test_expiry_allows_five_seconds_of_clock_skew(issuer: TokenIssuer) -> None:
    assert issuer.verify(signed(claims()), now=NOW + 3600 + 4).room == "group-a"


def test_token_before_nbf_is_not_yet_valid(issuer: TokenIssuer) -> None:
    token = signed(claims(nbf=NOW + 60))
    assert refusal(issuer, token, now=NOW).code == "token-not-yet-valid"
    assert issuer.verify(token, now=NOW + 56).room == "group-a"


def test_real_clock_is_used_when_no_time_is_given(issuer: TokenIssuer) -> None:
    with pytest.raises(TokenError) as info:
        issuer.verify(signed(claims()))
    assert info.value.code == "token-expired"


def test_token_signed_with_another_secret_has_a_bad_signature(issuer: TokenIssuer) -> None:
    assert refusal(issuer, signed(claims(), secret=OTHER_SECRET)).code == "token-bad-signature"


def test_tampered_payload_has_a_bad_signature(issuer: TokenIssuer) -> None:
    header, _, signature = signed(claims()).split(".")
    forged = f"{header}.{b64(claims(role='host'))}.{signature}"
    assert refusal(issuer, forged).code == "token-bad-signature"


@pytest.mark.parametrize("alg", ["none", "None", "NONE"])
def test_unsigned_token_is_refused_by_algorithm(issuer: TokenIssuer, alg: str) -> None:
    token = f"{b64({'alg': alg, 'typ': 'JWT'})}.{b64(claims())}."
    error = refusal(issuer, token)
    assert error.code == "token-algorithm-not-allowed"
    assert alg in str(error)


@pytest.mark.filterwarnings("ignore::jwt.InsecureKeyLengthWarning")
def test_hs512_token_is_refused_by_algorithm_even_with_the_right_secret(issuer: TokenIssuer) -> None:
    assert refusal(issuer, signed(claims(), algorithm="HS512")).code == "token-algorithm-not-allowed"


def test_rs256_header_is_refused_before_any_verification(issuer: TokenIssuer) -> None:
    # The classic confusion attack: an RS256 header whose "signature" is an HMAC keyed with a public key.
    token = f"{b64({'alg': 'RS256', 'typ': 'JWT'})}.{b64(claims())}.c2lnbmF0dXJl"
    assert refusal(issuer, token).code == "token-algorithm-not-allowed"


def test_header_without_alg_is_refused_by_algorithm(issuer: TokenIssuer) -> None:
    token = f"{b64({'typ': 'JWT'})}.{b64(claims())}.c2ln"
    assert refusal(issuer, token).code == "token-algorithm-not-allowed"


def test_wrong_audience_is_refused(issuer: TokenIssuer) -> None:
    assert refusal(issuer, signed(claims(aud="other-app"))).code == "token-wrong-audience"


def test_wrong_issuer_is_refused(issuer: TokenIssuer) -> None:
    assert refusal(issuer, signed(claims(iss="someone-else"))).code == "token-wrong-issuer"


@pytest.mark.parametrize("claim", REQUIRED_CLAIMS)
def test_each_missing_claim_is_named(issuer: TokenIssuer, claim: str) -> None:
    error = refusal(issuer, signed(claims(**{claim: ...})))
    assert error.code == "token-missing-claim"
    assert repr(claim) in str(error)


@pytest.mark.parametrize(
    ("changes", "claim"),
    [
        ({"role": "admin"}, "role"),
        ({"role": "Host"}, "role"),
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 65}, "name"),
        ({"name": 7}, "name"),
        ({"room": "has space"}, "room"),
        ({"room": "-leading-dash"}, "room"),
        ({"room": "r" * 65}, "room"),
        ({"room": "room\n"}, "room"),
        ({"room": "../etc"}, "room"),
        ({"sub": ""}, "sub"),
        ({"sub": "s" * 129}, "sub"),
        ({"sub": 12}, "sub"),
        ({"jti": ""}, "jti"),
        ({"exp": "tomorrow"}, "exp"),
        ({"nbf": True}, "nbf"),
    ],
)
def test_invalid_claim_is_refused(issuer: TokenIssuer, changes: dict[str, Any], claim: str) -> None:
    error = refusal(issuer, signed(claims(**changes)))
    assert error.code == "token-invalid-claim"
    assert claim in str(error)


def test_longest_allowed_name_room_and_sub_are_accepted(issuer: TokenIssuer) -> None:
    grant = issuer.verify(signed(claims(name="n" * 64, room="R" * 64, sub="s" * 128)), now=NOW)
    assert (len(grant.name), len(grant.room), len(grant.sub)) == (64, 64, 128)


def test_token_for_another_room_is_refused(issuer: TokenIssuer) -> None:
    assert refusal(issuer, signed(claims()), room="group-b").code == "token-wrong-room"


def test_issue_refuses_claims_that_verify_would_refuse(issuer: TokenIssuer) -> None:
    with pytest.raises(TokenError) as info:
        issuer.issue("bad room", "Sam", "participant", 600)
    assert info.value.code == "token-invalid-claim"
    with pytest.raises(TokenError):
        issuer.issue("group-a", "Sam", "observer", 600)
    with pytest.raises(ValueError):
        issuer.issue("group-a", "Sam", "participant", 0)


def test_short_secret_is_refused() -> None:
    with pytest.raises(ValueError):
        TokenIssuer(b"short", issuer="haven", audience="haven")


def test_join_url_puts_the_token_in_the_fragment() -> None:
    assert join_url("https://haven.example.org", "group-a", "abc.def.ghi") == (
        "https://haven.example.org/r/group-a#token=abc.def.ghi"
    )


def test_a_join_links_display_title_rides_in_the_fragment_too() -> None:
    assert join_url("https://haven.example.org/", "g-1-20270104T1800", "abc.def.ghi", "Evening group & co") == (
        "https://haven.example.org/r/g-1-20270104T1800#token=abc.def.ghi&title=Evening%20group%20%26%20co")
