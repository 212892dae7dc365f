"""Bad tokens and bad messages are refused cleanly while a call in progress keeps flowing."""

from __future__ import annotations

import asyncio
import base64
import json
import time

import aiohttp
import jwt
import pytest

from server.app import CONFIG
from tests.conftest import TEST_SECRET
from tests.integration.test_call import close_all, start_call
from tests.support.client import ProtocolClient, ServerError
from tests.support.peers import eventually


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _claims(**overrides):
    now = int(time.time())
    claims = {"sub": "mallory", "name": "Mallory", "room": "group", "role": "host", "iat": now, "nbf": now,
              "exp": now + 600, "jti": "j-1", "aud": "haven", "iss": "haven"}
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


BAD_TOKENS = {
    "token-expired": lambda: jwt.encode(_claims(exp=int(time.time()) - 60, iat=int(time.time()) - 120,
                                                nbf=int(time.time()) - 120), TEST_SECRET, "HS256"),
    "token-not-yet-valid": lambda: jwt.encode(_claims(nbf=int(time.time()) + 600, exp=int(time.time()) + 900),
                                              TEST_SECRET, "HS256"),
    "token-bad-signature": lambda: jwt.encode(_claims(), b"another-secret-another-secret-another-secret", "HS256"),
    "token-algorithm-not-allowed": lambda: _b64({"alg": "none", "typ": "JWT"}) + "." + _b64(_claims()) + ".",
    "token-missing-claim": lambda: jwt.encode(_claims(role=None), TEST_SECRET, "HS256"),
    "token-wrong-audience": lambda: jwt.encode(_claims(aud="elsewhere"), TEST_SECRET, "HS256"),
    "token-malformed": lambda: "not-a-jwt-at-all",
}


async def _expect_refused(haven, token: str, code: str, room: str | None = None) -> None:
    client = ProtocolClient(haven.base_url, token, room=room)
    await client.open()
    try:
        with pytest.raises(ServerError) as refused:
            await client.request("hello", version=1, token=token, **({"room": room} if room else {}))
        assert refused.value.code == code
        await eventually(lambda: client.close_code is not None, 5, what="the socket to close")
        assert client.close_code == 4401
    finally:
        await client.close()


async def test_bad_tokens_are_refused_with_distinct_codes_and_the_call_keeps_flowing(haven):
    clients, _ = await start_call(haven, names=("ana", "ben"))
    ana, ben = clients
    try:
        await eventually(lambda: ben.received_from("ana", "camera") > 10, 20, what="the call to start")
        for code, make in BAD_TOKENS.items():
            await _expect_refused(haven, make(), code)
        other_room = haven.token(room="other-room", name="Eve", sub="eve")
        await _expect_refused(haven, other_room, "token-wrong-room", room="group")
        # Nothing was created for any refused token.
        assert set(haven.sessions.live) == {"group"}
        assert set(haven.sessions.live["group"].router.members) == {"ana", "ben"}
        before = ben.received_from("ana", "camera")
        await eventually(lambda: ben.received_from("ana", "camera") > before + 20, 10, what="the call to go on")
        assert not [e for e in ben.events_of("participant-joined") if e["participant"]["id"] == "mallory"]
    finally:
        await close_all(clients)


async def test_malformed_unknown_and_invalid_messages_get_errors_and_disturb_no_one(haven):
    clients, _ = await start_call(haven, names=("ana", "ben"))
    ana, ben = clients
    rogue = ProtocolClient(haven.base_url, haven.token(name="Rogue", sub="rogue"), name="rogue")
    try:
        await rogue.connect()
        await eventually(lambda: ben.received_from("ana", "camera") > 10, 20, what="the call to start")

        async def error_for(text: str) -> dict:
            count = len(rogue.events_of("error"))
            await rogue.send_raw(text)
            await eventually(lambda: len(rogue.events_of("error")) > count, 5, what=f"an error for {text[:30]!r}")
            return rogue.events_of("error")[-1]

        assert (await error_for("{not json"))["code"] == "bad-request"
        assert (await error_for("[1, 2, 3]"))["code"] == "bad-request"
        assert (await error_for('{"type": "join"}'))["code"] == "bad-request"
        assert (await error_for('{"type": "teleport", "id": 7}'))["code"] == "unknown-type"
        for kind, fields, code in [
            ("publish", {"sdp": "v=0\r\nthis is not sdp", "tracks": [{"mid": "0", "label": "camera"}]}, "invalid-sdp"),
            ("publish", {"sdp": "hello", "tracks": []}, "invalid-sdp"),
            ("publish", {"sdp": "v=0", "tracks": [{"mid": "0", "label": "hologram"}]}, "bad-request"),
            ("mute", {"track_id": "t-nope", "muted": True}, "invalid-track"),
            ("unpublish", {"track_id": 5}, "bad-request"),
            ("subscriber-answer", {"revision": 99, "sdp": "v=0"}, "stale-revision"),
            ("join", {}, "already-joined"),
            ("hello", {"version": 1, "token": "x" * 20}, "already-authenticated"),
        ]:
            with pytest.raises(ServerError) as refused:
                await rogue.request(kind, **fields)
            assert refused.value.code == code, (kind, fields)
        # Someone else's track cannot be muted by a participant.
        ana_camera = next(t["track_id"] for t in ana.published["tracks"] if t["label"] == "camera")
        with pytest.raises(ServerError) as refused:
            await rogue.request("mute", track_id=ana_camera, muted=True)
        assert refused.value.code == "invalid-track"
        # An oversized frame gets an error and the socket closes with 1009.
        await rogue.send_raw(json.dumps({"type": "publish", "id": 99, "sdp": "v=0" + "x" * 140_000, "tracks": []}))
        await eventually(lambda: rogue.close_code is not None, 5, what="the oversized sender to be closed")
        assert rogue.close_code == 1009
        assert rogue.events_of("error")[-1]["code"] == "message-too-large"
        await eventually(lambda: "rogue" not in haven.sessions.live["group"].router.members, 5, what="rogue to leave")
        before = ben.received_from("ana", "camera")
        await eventually(lambda: ben.received_from("ana", "camera") > before + 20, 10, what="the call to go on")
        assert not ben.events_of("track-muted")
    finally:
        await rogue.close()
        await close_all(clients)


async def test_binary_frames_and_floods_close_only_the_offender(haven):
    clients, _ = await start_call(haven, names=("ana", "ben"))
    ana, ben = clients
    flooder = ProtocolClient(haven.base_url, haven.token(name="Flo", sub="flo"))
    binary = ProtocolClient(haven.base_url, haven.token(name="Bin", sub="bin"))
    try:
        await flooder.connect()
        await binary.connect()
        await binary.ws.send_bytes(b"\x00\x01")
        await eventually(lambda: binary.close_code is not None, 5, what="the binary sender to be closed")
        assert binary.close_code == 4400
        for i in range(300):  # bounded flood, far over rate and burst
            if flooder.ws.closed:
                break
            await flooder.send_raw(json.dumps({"type": "mute", "id": 1000 + i, "track_id": "t", "muted": True}))
        await eventually(lambda: flooder.close_code is not None, 5, what="the flooder to be closed")
        assert flooder.close_code == 4429
        assert flooder.events_of("error")[-1]["code"] == "rate-limited"
        await eventually(lambda: set(haven.sessions.live["group"].router.members) == {"ana", "ben"}, 5,
                         what="only the honest participants to remain")
        before = ben.received_from("ana", "camera")
        await eventually(lambda: ben.received_from("ana", "camera") > before + 20, 10, what="the call to go on")
    finally:
        await flooder.close()
        await binary.close()
        await close_all(clients)


async def test_requests_before_hello_are_refused_and_silence_closes_the_socket(haven):
    client = ProtocolClient(haven.base_url, "")
    await client.open()
    try:
        with pytest.raises(ServerError) as refused:
            await client.request("join")
        assert refused.value.code == "not-authenticated"
        with pytest.raises(ServerError) as refused:
            await client.request("hello", version=2, token="x")
        assert refused.value.code == "unsupported-version"
    finally:
        await client.close()


async def test_a_foreign_origin_cannot_open_the_socket(haven):
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await session.ws_connect(f"{haven.base_url}/ws", headers={"Origin": "https://evil.example"})
        assert refused.value.status == 403
        public_url = haven.app[CONFIG].public_url
        ws = await session.ws_connect(f"{haven.base_url}/ws", headers={"Origin": public_url})
        await ws.close()


async def test_a_second_connection_with_the_resume_credential_replaces_the_first(haven):
    other = ProtocolClient(haven.base_url, haven.token(name="Dr. Ben", sub="ben", role="host"))
    first = ProtocolClient(haven.base_url, haven.token(name="Ana", sub="ana"))
    second = ProtocolClient(haven.base_url, haven.token(name="Ana", sub="ana"))
    try:
        await other.connect()
        await first.connect()
        second.resume = first.resume  # the same participant, e.g. after switching networks
        await second.connect()
        await eventually(lambda: first.close_code is not None, 5, what="the first connection to close")
        assert first.close_code == 4409
        await asyncio.sleep(0.2)
        assert set(haven.sessions.live["group"].router.members) == {"ana", "ben"}
        left = other.events_of("participant-left")
        assert [e["reason"] for e in left] == ["replaced"]
        assert [e["participant"]["id"] for e in other.events_of("participant-joined")][-1] == "ana"
    finally:
        for client in (other, first, second):
            await client.close()
