"""The setup-check HTTP API with a real aiortc peer through a real Haven app: the media round trip, its verdict,
the bounds (busy, time limit, DELETE), hostile input, and every response checked against
docs/openapi.yaml."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import aiohttp
import jsonschema
import pytest
import yaml
from aiortc import RTCPeerConnection, RTCSessionDescription

from server.practice.setup_check import SETUP_CHECKS
from tests.support.peers import RtpCounter, ToneTrack, client_configuration, eventually

SPEC = yaml.safe_load((Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml").read_text())


def response_schema(path: str, method: str, status: int) -> dict[str, Any] | None:
    """Return the JSON schema docs/openapi.yaml gives for a response, components inlined by $ref resolution."""
    template = next(p for p in SPEC["paths"] if re.fullmatch(re.sub(r"\{[^}]+\}", "[^/]+", p), path))
    response = SPEC["paths"][template][method]["responses"][str(status)]
    if "$ref" in response:
        response = SPEC["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
    content = response.get("content", {}).get("application/json")
    return None if content is None else {**content["schema"], "components": SPEC["components"]}


async def call(http: aiohttp.ClientSession, base: str, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
    """Make a request and check its response against docs/openapi.yaml (status documented, body valid)."""
    async with http.request(method, base + path, **kwargs) as response:
        body = await response.json() if response.content_type == "application/json" else None
        schema = response_schema(path.split("?")[0], method.lower(), response.status)
        if schema is not None:
            assert response.content_type == "application/json"
            jsonschema.validate(body, schema)
        return response.status, body


@pytest.fixture
async def haven(haven_factory):
    return await haven_factory(
        '[setup_check]\nmax_concurrent = 2\ntime_limit = "5s"\nsupport_contact = "Call 555-0100"\n'
    )


async def round_trip(http, base: str, walk_away: bool = False) -> dict | None:
    status, started = await call(http, base, "POST", "/api/v1/setup-check", json={"invite": "invite-secret-1"})
    assert status == 201
    check = started["id"]
    send, receive = RTCPeerConnection(client_configuration()), RTCPeerConnection(client_configuration())
    counter = RtpCounter()
    try:
        transceiver = send.addTransceiver(ToneTrack(), direction="sendonly")
        await send.setLocalDescription(await send.createOffer())
        status, answer = await call(
            http,
            base,
            "POST",
            f"/api/v1/setup-check/{check}/publish",
            json={"sdp": send.localDescription.sdp, "tracks": [{"mid": transceiver.mid, "label": "microphone"}]},
        )
        assert status == 200
        await send.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))
        status, offer = await call(http, base, "GET", f"/api/v1/setup-check/{check}/offer?after=0")
        assert status == 200
        await receive.setRemoteDescription(RTCSessionDescription(offer["sdp"], "offer"))
        await receive.setLocalDescription(await receive.createAnswer())
        counter.install(receive)
        status, _ = await call(
            http,
            base,
            "POST",
            f"/api/v1/setup-check/{check}/answer",
            json={"revision": offer["revision"], "sdp": receive.localDescription.sdp},
        )
        assert status == 200
        await eventually(lambda: counter.total() > 20, 20, what="the tone to come back through the SFU")
        if walk_away:
            return None
        status, verdict = await call(
            http,
            base,
            "POST",
            f"/api/v1/setup-check/{check}/result",
            json={"path": "udp", "rtt_ms": 2.5, "loss": 0.0, "received": counter.total()},
        )
        assert status == 200
        return verdict
    finally:
        await send.close()
        await receive.close()


async def test_media_goes_through_the_sfu_and_back_and_the_result_is_recorded(haven) -> None:
    recorded: list[tuple[str | None, dict]] = []

    async def record(invite: str | None, result: dict) -> None:
        recorded.append((invite, result))

    haven.app[SETUP_CHECKS].record_result = record
    async with aiohttp.ClientSession() as http:
        verdict = await round_trip(http, haven.base_url)
    assert verdict["passed"] and verdict["udp"]
    assert verdict["packets_forwarded"] > 0
    assert verdict["rtt_ms"] == 2.5 and verdict["loss"] == 0.0
    assert verdict["advice"] == ["Your connection is ready for a session."]
    assert verdict["support"] == "Call 555-0100"
    assert recorded == [("invite-secret-1", verdict)]
    assert haven.app[SETUP_CHECKS].checks == {}  # closed with its Router


async def test_a_page_that_closes_its_connections_ends_its_check(haven_factory) -> None:
    haven = await haven_factory('[setup_check]\ntime_limit = "5m"\n')
    async with aiohttp.ClientSession() as http:
        await round_trip(http, haven.base_url, walk_away=True)  # closes both connections, posts no result
    checks = haven.app[SETUP_CHECKS]
    await eventually(lambda: not checks.checks, 20, what="the check to end when its connections closed")


async def test_nothing_forwarded_fails_with_advice(haven) -> None:
    async with aiohttp.ClientSession() as http:
        _, started = await call(http, haven.base_url, "POST", "/api/v1/setup-check")
        status, verdict = await call(
            http,
            haven.base_url,
            "POST",
            f"/api/v1/setup-check/{started['id']}/result",
            json={"path": "udp", "rtt_ms": None, "loss": None, "received": 0},
        )
    assert status == 200
    assert not verdict["passed"] and not verdict["udp"]
    assert "firewall" in verdict["advice"][0]


async def test_checks_are_bounded_in_number_and_time_and_close_on_delete(haven) -> None:
    checks = haven.app[SETUP_CHECKS]
    async with aiohttp.ClientSession() as http:
        first = (await call(http, haven.base_url, "POST", "/api/v1/setup-check"))[1]["id"]
        await call(http, haven.base_url, "POST", "/api/v1/setup-check")
        status, body = await call(http, haven.base_url, "POST", "/api/v1/setup-check")
        assert (status, body["error"]) == (503, "busy")
        assert await call(http, haven.base_url, "DELETE", f"/api/v1/setup-check/{first}") == (204, None)
        assert await call(http, haven.base_url, "DELETE", f"/api/v1/setup-check/{first}") == (204, None)
        status, body = await call(http, haven.base_url, "GET", f"/api/v1/setup-check/{first}/offer")
        assert (status, body["error"]) == (404, "unknown-check")
        assert (await call(http, haven.base_url, "POST", "/api/v1/setup-check"))[0] == 201
        await eventually(lambda: not checks.checks, 10, what="both checks to end at the 5 s time limit")


async def test_one_client_cannot_hold_every_slot(haven_factory) -> None:
    haven = await haven_factory("[setup_check]\nmax_concurrent = 10\n")
    async with aiohttp.ClientSession() as http:
        assert (await call(http, haven.base_url, "POST", "/api/v1/setup-check"))[0] == 201
        second = (await call(http, haven.base_url, "POST", "/api/v1/setup-check"))[1]["id"]
        status, body = await call(http, haven.base_url, "POST", "/api/v1/setup-check")
        assert (status, body["error"]) == (429, "too-many")
        await call(http, haven.base_url, "DELETE", f"/api/v1/setup-check/{second}")
        assert (await call(http, haven.base_url, "POST", "/api/v1/setup-check"))[0] == 201


@pytest.mark.parametrize(
    ("path", "body", "status", "code"),
    [
        ("", "not json", 400, "invalid-json"),
        ("", [1, 2], 400, "invalid-json"),
        ("", {"invite": 5}, 400, "invalid-field"),
        ("", {"invite": "x" * 300}, 400, "invalid-field"),
        ("/{id}/publish", {"sdp": "", "tracks": []}, 400, "invalid-field"),
        ("/{id}/publish", {"sdp": "v=0", "tracks": [{"mid": "0", "label": "screen"}]}, 400, "invalid-field"),
        (
            "/{id}/publish",
            {"sdp": "v=0", "tracks": [{"mid": "0", "label": "camera"}, {"mid": "1", "label": "camera"}]},
            400,
            "invalid-field",
        ),
        ("/{id}/publish", {"sdp": "v=0\r\nnonsense", "tracks": [{"mid": "0", "label": "camera"}]}, 400, None),
        ("/{id}/publish", {"sdp": "x" * 40000, "tracks": [{"mid": "0", "label": "camera"}]}, 400, "invalid-field"),
        ("/{id}/answer", {"revision": "1", "sdp": "v=0"}, 400, "invalid-field"),
        ("/{id}/answer", {"revision": 1, "sdp": "v=0"}, 400, None),
        ("/{id}/result", {"path": "carrier-pigeon", "received": 1}, 400, "invalid-field"),
        ("/{id}/result", {"path": "udp", "received": -1}, 400, "invalid-field"),
        ("/{id}/result", {"path": "udp", "received": 1, "loss": 7}, 400, "invalid-field"),
        ("/{id}/result", {"path": "udp", "received": True}, 400, "invalid-field"),
        ("/sc-000000000000000000000000/result", {"path": "udp", "received": 1}, 404, "unknown-check"),
        ("/../../etc/result", {"path": "udp", "received": 1}, 404, None),
        ("/'; drop table/publish", {}, 404, "unknown-check"),
    ],
)
async def test_hostile_requests_get_a_json_error_and_disturb_no_one(haven, path, body, status, code) -> None:
    async with aiohttp.ClientSession() as http:
        _, started = await call(http, haven.base_url, "POST", "/api/v1/setup-check")
        kwargs = {"data": body} if isinstance(body, str) else {"json": body}
        async with http.post(
            haven.base_url + "/api/v1/setup-check" + path.replace("{id}", started["id"]), **kwargs
        ) as response:
            assert response.status == status
            if code is not None:
                assert (await response.json())["error"] == code
        # The check that was sent garbage, and the server, carry on.
        async with http.get(haven.base_url + "/healthz") as health:
            assert health.status == 200
        status_after, _ = await call(http, haven.base_url, "DELETE", f"/api/v1/setup-check/{started['id']}")
        assert status_after == 204


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", ""), ("PUT", "/sc-000000000000000000000000/result"), ("POST", "/x/y/z"), ("GET", "/")],
)
async def test_unknown_requests_under_the_api_get_a_json_error(haven, method, path) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.request(method, haven.base_url + "/api/v1/setup-check" + path) as response:
            assert response.status == 404
            assert (await response.json())["error"] == "not-found"


async def test_oversized_body_is_refused(haven) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.post(
            haven.base_url + "/api/v1/setup-check",
            data=b"{" + b" " * 70000 + b"}",
            headers={"Content-Type": "application/json"},
        ) as response:
            assert response.status == 413
            assert (await response.json())["error"] == "too-large"


async def test_page_is_served(haven) -> None:
    async with aiohttp.ClientSession() as http, http.get(haven.base_url + "/setup") as response:
        assert response.status == 200
        assert "Test my setup" in await response.text()
        assert "script-src 'self'" in response.headers["Content-Security-Policy"]
