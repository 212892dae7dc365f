"""Admission by identity, not by link possession (issue 13), against a real Haven app with protocol clients.

A join link that leaks must not let its holder take someone's place: tokens are single-use (across a
restart too), only the resume credential takes back a place, removed members wait to be readmitted and
members who lost their network wait unless the hosts chose otherwise.
"""

from __future__ import annotations

import asyncio
import time

import jwt
from aiohttp.test_utils import TestServer

from server.app import CONFIG, create_app
from tests.conftest import TEST_SECRET, RunningServer, make_config
from tests.support.client import ProtocolClient, ServerError, connect
from tests.support.peers import eventually

WAITING_ROOM = "[session]\nwaiting_room = true\n"
FAST_HEARTBEAT = '[limits]\nheartbeat_interval = "1s"\nheartbeat_timeout = "3s"\n'


def client_for(haven, token: str, name: str) -> ProtocolClient:
    return ProtocolClient(haven.base_url, token, name=name)


async def close_all(*clients: ProtocolClient) -> None:
    for client in clients:
        await client.close()


async def test_a_second_holder_of_a_link_waits_and_the_first_keeps_their_place(haven):
    host = await connect(haven, "rivera", "host")
    token = haven.token(name="Ana", sub="ana")
    ana, thief = client_for(haven, token, "ana"), client_for(haven, token, "thief")
    try:
        assert (await ana.connect())["state"] == "admitted"
        joined = await thief.connect()
        assert joined["state"] == "waiting", "a copy of the link went straight in"
        assert joined["self"]["id"] != "ana" and "resume" not in joined
        warning = await eventually(lambda: host.events_of("duplicate-join"), 5, what="the duplicate-join warning")
        assert warning[0]["original_id"] == "ana" and warning[0]["original_present"] is True
        assert warning[0]["participant_id"] == joined["self"]["id"]
        await asyncio.sleep(0.5)
        assert ana.close_code is None, "the first holder was replaced"
        assert haven.sessions.live["group"].room.participants["ana"].admitted
        assert not [e for e in host.events_of("participant-left") if e["participant_id"] == "ana"]
    finally:
        await close_all(host, ana, thief)


async def test_a_token_is_single_use_across_a_restart_and_the_resume_credential_is_not(tmp_path):
    config = make_config(tmp_path)
    token = None
    credential = None
    for attempt in range(2):
        server = TestServer(create_app(config, TEST_SECRET), host="127.0.0.1")
        await server.start_server()
        haven = RunningServer(server)
        host = await connect(haven, f"host{attempt}", "host")
        if token is None:
            token = haven.token(name="Ana", sub="ana")
        try:
            if attempt == 0:
                ana = client_for(haven, token, "ana")
                assert (await ana.connect())["state"] == "admitted"
                credential = ana.resume
                await ana.request("leave")
                await ana.close()
                continue
            # The restarted server still knows the token was used: without the credential it waits.
            copy = client_for(haven, token, "copy")
            assert (await copy.connect())["state"] == "waiting", "a used token was accepted again after a restart"
            await eventually(lambda h=host: h.events_of("duplicate-join"), 5, what="the duplicate-join warning")
            await copy.close()
            # The credential, signed with the server secret, still proves who holds it.
            assert credential, "the join result carried no resume credential"
            back = client_for(haven, token, "ana")
            back.resume = credential
            assert (await back.connect())["state"] == "admitted"
            await back.close()
        finally:
            await host.close()
            await server.close()


async def test_a_member_removed_without_a_ban_waits_to_be_readmitted(haven):
    host = await connect(haven, "rivera", "host")
    ana = await connect(haven, "ana")
    again = None
    try:
        await host.request("remove", participant_id="ana")
        await eventually(lambda: ana.close_code is not None, 5, what="ana to be closed")
        again = ProtocolClient(haven.base_url, haven.token(name="Ana", sub="ana"), name="ana")  # a new link
        assert (await again.connect())["state"] == "waiting", "a removed member rejoined at once, admitted"
        await host.request("admit", participant_id="ana")
        await eventually(lambda: again.events_of("admitted"), 5, what="ana to be readmitted")
    finally:
        await close_all(host, ana, *([again] if again else []))


async def test_a_timed_out_member_returns_to_the_waiting_room_unless_the_hosts_readmit(haven_factory):
    haven = await haven_factory(FAST_HEARTBEAT)
    host = await connect(haven, "rivera", "host")
    ana = await connect(haven, "ana")
    try:
        ana.answer_pings = False  # ana's network goes away
        await eventually(lambda: ana.close_code is not None, 15, what="ana to time out")
        assert ana.close_code == 4408
        ana.answer_pings = True
        assert (await ana.reconnect())["state"] == "waiting", "a timed-out member came back admitted"
        await host.request("admit", participant_id="ana")
        await eventually(lambda: ana.events_of("admitted"), 5, what="ana to be admitted")
        await host.request("set-room", readmit_after_timeout=True)
        await eventually(lambda: ana.events_of("resume-credential") or ana.events_of("room-state"), 5,
                         what="the room state")
        ana.resume = (ana.events_of("resume-credential") or [{"credential": ana.resume}])[-1]["credential"]
        ana.answer_pings = False
        await eventually(lambda: ana.close_code is not None, 15, what="ana to time out again")
        ana.answer_pings = True
        assert (await ana.reconnect())["state"] == "admitted"
    finally:
        await close_all(host, ana)


async def test_a_resume_after_a_lost_socket_takes_back_the_place_without_waiting(haven_factory):
    haven = await haven_factory(WAITING_ROOM)
    host = await connect(haven, "rivera", "host")
    ana = await connect(haven, "ana")
    try:
        await host.request("admit", participant_id="ana")
        await eventually(lambda: ana.events_of("admitted"), 5, what="ana to be admitted")
        assert (await ana.reconnect())["state"] == "admitted"
        # The same token without the credential is a copy: it waits, and the hosts hear of it.
        copy = client_for(haven, ana.token, "copy")
        assert (await copy.connect())["state"] == "waiting"
        await copy.close()
    finally:
        await close_all(host, ana)


async def test_the_server_refuses_tokens_beyond_the_lifetime_cap_or_issued_in_the_future(haven):
    now = int(time.time())
    claims = {"sub": "ana", "name": "Ana", "room": "group", "role": "participant", "jti": "j-1", "aud": "haven",
              "iss": "haven", "iat": now, "nbf": now, "exp": now + 600}
    max_ttl = int(haven.app[CONFIG].auth.max_ttl)
    for bad, code in (({"exp": now + max_ttl + 3600}, "token-invalid-claim"),
                      ({"iat": now + 3600, "exp": now + 4000}, "token-not-yet-valid")):
        client = client_for(haven, jwt.encode({**claims, **bad}, TEST_SECRET, "HS256"), "ana")
        try:
            try:
                await client.connect()
            except ServerError as refused:
                assert refused.code == code
            else:
                raise AssertionError(f"a token with {bad} was accepted")
            await eventually(lambda c=client: c.close_code is not None, 5, what="the 4401 close")
            assert client.close_code == 4401
        finally:
            await client.close()
