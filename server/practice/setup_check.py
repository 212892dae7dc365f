"""Owns "Test my setup": a short media round trip through the SFU, and the HTTP routes and page that run it.

Each check gets a Router of its own (an echo Router) with two members: the page's publishing connection
and its subscribing connection. The subscriber consumes the publisher's tracks under the ordinary forwarding
policy (they are different members), so the media goes browser -> SFU -> browser over the same UDP path
(the shared port, ice.udp_port) a session uses, through media.api like every other Router.

The page measures the round trip time and loss on its connections; the server adds what only it knows (how
many packets the echo Router forwarded) and gives the verdict with plain-language advice. Checks are bounded:
at most `max_concurrent` at once (503 "busy" beyond), each closed after `time_limit` whatever the page does,
on DELETE (the page sends one when it is closed), and when either of its connections closes or fails.
Every refusal is a 4xx with a JSON error body.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog
from aiohttp import web

import web_client
from media.api import MediaError, RouterApi, RouterListener

log = structlog.get_logger("haven.setup_check")

PAGE = Path(web_client.__file__).resolve().parent / "setup.html"
MAX_BODY = 64 * 1024
MAX_SDP = 32 * 1024
OFFER_WAIT = 10.0
# A check passes when media came back with at most this loss and this round trip; above them the page still
# says what was measured, with advice.
GOOD_LOSS = 0.05
GOOD_RTT_MS = 300.0
LABELS = ("camera", "microphone")
# Checks one address may run at once, so one client cannot hold every slot (a second tab is fine).
MAX_PER_CLIENT = 2

RecordResult = Callable[[str | None, dict[str, Any]], Awaitable[None]]
NewRouter = Callable[[str, RouterListener], RouterApi]


class CheckError(Exception):
    """A setup-check request refused, with its HTTP status and a stable code."""

    def __init__(self, status: int, code: str, message: str) -> None:
        self.status, self.code, self.message = status, code, message
        super().__init__(message)


@dataclass
class Check:
    """One connection test in progress: its echo Router and the subscriber offer the page has yet to fetch."""

    id: str
    invite: str | None
    router: RouterApi
    started: float
    client: str | None = None  # the browser's address, only to count its checks; never logged
    offers: list[tuple[int, str]] = field(default_factory=list)
    offer_ready: asyncio.Event = field(default_factory=asyncio.Event)
    failed: str | None = None
    published: bool = False
    expiry: asyncio.TimerHandle | None = None

    @property
    def publisher(self) -> str:
        return f"{self.id}-send"

    @property
    def subscriber(self) -> str:
        return f"{self.id}-receive"


class _Listener:
    """The echo Router's RouterListener: keeps the subscriber's offers for the page to fetch."""

    def __init__(self, on_failed: Callable[[str], None]) -> None:
        self.check: Check | None = None
        self.on_failed = on_failed

    def consumers_changed(self, participant_id: str, consumers: list[dict[str, str]]) -> None:
        pass  # the page pairs the tracks it receives by their kind: one camera, one microphone

    def subscriber_offer(self, participant_id: str, revision: int, sdp: str) -> None:
        if self.check is not None:
            self.check.offers.append((revision, sdp))
            self.check.offer_ready.set()

    def media_failed(self, participant_id: str, reason: str) -> None:
        if self.check is not None:
            self.check.failed = reason
            # The page went away (its connection closed or failed): nothing more can be measured.
            self.on_failed(self.check.id)

    def active_speaker(self, router_id: str, participant_id: str | None) -> None:
        pass


def verdict(forwarded: int, report: dict[str, Any], support: str) -> dict[str, Any]:
    """Return the result the page shows and the practice records, from the server's count and the page's figures."""
    received = report["received"]
    rtt_ms, loss, path = report["rtt_ms"], report["loss"], report["path"]
    udp = forwarded > 0 and received > 0 and path == "udp"
    advice: list[str] = []
    if forwarded == 0 or received == 0:
        advice.append(
            "Your video did not make the trip to our server and back. A firewall or a work or school network "
            "may be blocking it: try another network (a home connection or your phone's hotspot), or ask your "
            "IT team to allow UDP to this server."
        )
    elif path == "relay":
        advice.append(
            "Your connection works through a relay, which can add delay. If the session feels slow, try "
            "another network."
        )
    if udp and rtt_ms is not None and rtt_ms > GOOD_RTT_MS:
        advice.append(
            "Your connection is slow to answer. Moving closer to your Wi-Fi router, or using a cable, "
            "usually helps; close other apps that use the internet."
        )
    if udp and loss is not None and loss > GOOD_LOSS:
        advice.append(
            "Some of your video was lost on the way. Moving closer to your Wi-Fi router, or pausing "
            "downloads and other video calls, usually helps."
        )
    passed = (udp or path == "relay") and forwarded > 0 and received > 0
    passed = passed and (rtt_ms is None or rtt_ms <= GOOD_RTT_MS) and (loss is None or loss <= GOOD_LOSS)
    if passed and not advice:
        advice.append("Your connection is ready for a session.")
    return {
        "passed": passed,
        "udp": udp,
        "path": path,
        "rtt_ms": rtt_ms,
        "loss": loss,
        "packets_forwarded": forwarded,
        "advice": advice,
        "support": support,
    }


class SetupChecks:
    """The server's connection tests: at most `max_concurrent` echo Routers, each closed after `time_limit`."""

    def __init__(
        self,
        new_router: NewRouter,
        *,
        max_concurrent: int,
        time_limit: float,
        support: str = "",
        record_result: RecordResult | None = None,
        ice_servers: Callable[[], tuple[dict[str, Any], ...]] = tuple,
    ) -> None:
        self.new_router = new_router
        self.max_concurrent = max_concurrent
        self.time_limit = time_limit
        self.support = support
        # The practice wires this to store "passed the check" per invite (None: nothing is recorded).
        self.record_result = record_result
        self.ice_servers = ice_servers
        self.checks: dict[str, Check] = {}
        self.completed = 0
        self.refused_busy = 0
        self._closing: set[asyncio.Task[None]] = set()  # held so a running close is not garbage-collected

    def start(self, invite: str | None, client: str | None = None) -> Check:
        """Open a check; refuse with 503 when max_concurrent are running, 429 when this client runs MAX_PER_CLIENT."""
        if len(self.checks) >= self.max_concurrent:
            self.refused_busy += 1
            raise CheckError(503, "busy", "too many connection tests are running: try again in a minute")
        if client is not None and sum(c.client == client for c in self.checks.values()) >= MAX_PER_CLIENT:
            raise CheckError(429, "too-many", "finish or close your other connection tests first")
        check_id = "sc-" + secrets.token_hex(12)
        listener = _Listener(self._close_soon)
        router = self.new_router(check_id, listener)
        check = Check(check_id, invite, router, time.monotonic(), client)
        listener.check = check
        # One member only sends, the other only receives: the policy routes one to the other, through the SFU.
        router.add_member(check.publisher, sending=True, receiving=False)
        router.add_member(check.subscriber, sending=False, receiving=True)
        self.checks[check_id] = check
        check.expiry = asyncio.get_running_loop().call_later(self.time_limit, self._expire, check_id)
        log.info("setup_check_started", running=len(self.checks))
        return check

    def get(self, check_id: str) -> Check:
        """Return a running check, or refuse with 404."""
        check = self.checks.get(check_id)
        if check is None:
            raise CheckError(404, "unknown-check", "no such connection test (it may have timed out): start again")
        return check

    async def publish(self, check: Check, sdp: str, tracks: dict[str, str]) -> str:
        """Apply the page's publish offer to the echo Router and return the answer."""
        if check.published:
            raise CheckError(409, "already-published", "this connection test already has its media")
        check.published = True
        try:
            result = await check.router.publish(check.publisher, sdp, tracks)
        except MediaError as exc:
            raise CheckError(400, exc.code, str(exc)) from None
        return result.answer

    async def next_offer(self, check: Check, after: int) -> tuple[int, str] | None:
        """Wait (bounded) for a subscriber offer newer than revision `after`."""
        deadline = time.monotonic() + OFFER_WAIT
        while True:
            newer = [offer for offer in check.offers if offer[0] > after]
            if newer:
                return newer[-1]
            remaining = deadline - time.monotonic()
            if remaining <= 0 or check.id not in self.checks:
                return None
            check.offer_ready.clear()
            try:
                await asyncio.wait_for(check.offer_ready.wait(), remaining)
            except TimeoutError:
                return None

    async def answer(self, check: Check, revision: int, sdp: str) -> None:
        """Apply the page's answer to the subscriber offer."""
        try:
            await check.router.subscriber_answer(check.subscriber, revision, sdp)
        except MediaError as exc:
            raise CheckError(400, exc.code, str(exc)) from None

    async def finish(self, check: Check, report: dict[str, Any]) -> dict[str, Any]:
        """Judge the check, record it through record_result, and close it."""
        if self.checks.get(check.id) is not check:  # a second result raced the first, or it just expired
            raise CheckError(404, "unknown-check", "this connection test has already ended: start again")
        forwarded = int(check.router.stats().get("forwarded", 0))
        result = verdict(forwarded, report, self.support)
        await self.close(check.id)
        self.completed += 1
        log.info("setup_check_finished", passed=result["passed"], udp=result["udp"])
        if self.record_result is not None:
            try:
                await self.record_result(check.invite, result)
            except Exception as exc:  # a store failure must not lose the member their result page
                log.warning("setup_check_record_failed", error=type(exc).__name__)
        return result

    async def close(self, check_id: str) -> None:
        """Close a check and its echo Router (idempotent)."""
        check = self.checks.pop(check_id, None)
        if check is None:
            return
        if check.expiry is not None:
            check.expiry.cancel()
        check.offer_ready.set()  # wake a page waiting for an offer
        await check.router.close()

    async def close_all(self) -> None:
        """Close every running check (at shutdown)."""
        for check_id in list(self.checks):
            await self.close(check_id)

    def _expire(self, check_id: str) -> None:
        if check_id in self.checks:
            log.info("setup_check_expired")
            self._close_soon(check_id)

    def _close_soon(self, check_id: str) -> None:
        """Close a check from a synchronous callback (its timer, or its Router's listener)."""
        if check_id in self.checks:
            task = asyncio.ensure_future(self.close(check_id))
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)


SETUP_CHECKS = web.AppKey("setup_checks", SetupChecks)


def _error(error: CheckError) -> web.Response:
    return web.json_response(
        {"error": error.code, "message": error.message}, status=error.status, headers={"Cache-Control": "no-store"}
    )


async def _body(request: web.Request) -> dict[str, Any]:
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise CheckError(413, "too-large", f"the request body must be at most {MAX_BODY} bytes")
    raw = await request.content.read(MAX_BODY + 1)
    if len(raw) > MAX_BODY:
        raise CheckError(413, "too-large", f"the request body must be at most {MAX_BODY} bytes")
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise CheckError(400, "invalid-json", "the request body must be a JSON object") from None
    if not isinstance(data, dict):
        raise CheckError(400, "invalid-json", "the request body must be a JSON object")
    return data


def _sdp(data: dict[str, Any]) -> str:
    sdp = data.get("sdp")
    if not isinstance(sdp, str) or not sdp or len(sdp) > MAX_SDP:
        raise CheckError(400, "invalid-field", f"sdp must be a non-empty string of at most {MAX_SDP} characters")
    return sdp


def _tracks(data: dict[str, Any]) -> dict[str, str]:
    tracks = data.get("tracks")
    if not isinstance(tracks, list) or not 1 <= len(tracks) <= len(LABELS):
        raise CheckError(400, "invalid-field", "tracks must be a list of one or two {mid, label}")
    labels: dict[str, str] = {}
    for track in tracks:
        mid = track.get("mid") if isinstance(track, dict) else None
        label = track.get("label") if isinstance(track, dict) else None
        if not isinstance(mid, str) or not 0 < len(mid) <= 16 or label not in LABELS or mid in labels:
            raise CheckError(400, "invalid-field", "each track needs a distinct mid and a label camera or microphone")
        labels[mid] = label
    if len(set(labels.values())) != len(labels):
        raise CheckError(400, "invalid-field", "at most one camera and one microphone")
    return labels


def _number(data: dict[str, Any], name: str, low: float, high: float, optional: bool = True) -> float | None:
    value = data.get(name)
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise CheckError(400, "invalid-field", f"{name} must be a number between {low:g} and {high:g}")
    return float(value)


def _report(data: dict[str, Any]) -> dict[str, Any]:
    path = data.get("path")
    if path not in ("udp", "relay", "none"):
        raise CheckError(400, "invalid-field", 'path must be "udp", "relay" or "none"')
    rtt = _number(data, "rtt_ms", 0, 60000)
    loss = _number(data, "loss", 0, 1)
    received = _number(data, "received", 0, 10**9, optional=False)
    return {
        "path": path,
        "rtt_ms": None if rtt is None else round(rtt, 1),
        "loss": None if loss is None else round(loss, 4),
        "received": int(received or 0),
    }


def add_setup_check_routes(app: web.Application, checks: SetupChecks) -> None:
    """Register the page (GET /setup) and /api/v1/setup-check routes, and close running checks at cleanup."""
    app[SETUP_CHECKS] = checks
    # Any text matches, so a malformed id gets the same JSON 404 as an expired one.
    check_id = "{check_id}"

    def guarded(handler: Callable[[web.Request], Awaitable[web.Response]]):
        async def run(request: web.Request) -> web.Response:
            try:
                return await handler(request)
            except CheckError as exc:
                return _error(exc)

        return run

    async def page(request: web.Request) -> web.FileResponse:
        return web.FileResponse(PAGE, headers={"Cache-Control": "no-store"})

    async def start(request: web.Request) -> web.Response:
        data = await _body(request)
        invite = data.get("invite")
        if invite is not None and (not isinstance(invite, str) or not 0 < len(invite) <= 256):
            raise CheckError(400, "invalid-field", "invite must be a string of at most 256 characters, or null")
        # request.remote is the browser's address (server.app resolves trusted proxies before handlers).
        check = checks.start(invite, request.remote)
        return web.json_response(
            {"id": check.id, "time_limit_s": checks.time_limit, "ice_servers": list(checks.ice_servers())},
            status=201,
            headers={"Cache-Control": "no-store"},
        )

    async def publish(request: web.Request) -> web.Response:
        check = checks.get(request.match_info["check_id"])
        data = await _body(request)
        answer = await checks.publish(check, _sdp(data), _tracks(data))
        return web.json_response({"sdp": answer}, headers={"Cache-Control": "no-store"})

    async def offer(request: web.Request) -> web.Response:
        check = checks.get(request.match_info["check_id"])
        after_text = request.query.get("after", "0")
        if not after_text.isdigit() or len(after_text) > 9:
            raise CheckError(400, "invalid-field", "after must be a revision number")
        found = await checks.next_offer(check, int(after_text))
        if found is None:
            raise CheckError(404, "no-offer", "no new offer yet: ask again")
        revision, sdp = found
        return web.json_response({"revision": revision, "sdp": sdp}, headers={"Cache-Control": "no-store"})

    async def answer(request: web.Request) -> web.Response:
        check = checks.get(request.match_info["check_id"])
        data = await _body(request)
        revision = data.get("revision")
        if isinstance(revision, bool) or not isinstance(revision, int) or not 0 <= revision < 10**9:
            raise CheckError(400, "invalid-field", "revision must be the offer's revision number")
        await checks.answer(check, revision, _sdp(data))
        return web.json_response({}, headers={"Cache-Control": "no-store"})

    async def result(request: web.Request) -> web.Response:
        check = checks.get(request.match_info["check_id"])
        report = _report(await _body(request))
        return web.json_response(await checks.finish(check, report), headers={"Cache-Control": "no-store"})

    async def stop(request: web.Request) -> web.Response:
        await checks.close(request.match_info["check_id"])
        return web.Response(status=204, headers={"Cache-Control": "no-store"})

    async def other(request: web.Request) -> web.Response:
        # Registered last: a wrong method or path under the API still gets a JSON error, not aiohttp's text.
        raise CheckError(404, "not-found", "no such setup-check request: see docs/openapi.yaml")

    async def close_checks(app: web.Application) -> None:
        await checks.close_all()

    app.router.add_get("/setup", page)
    app.router.add_post("/api/v1/setup-check", guarded(start))
    app.router.add_post(f"/api/v1/setup-check/{check_id}/publish", guarded(publish))
    app.router.add_get(f"/api/v1/setup-check/{check_id}/offer", guarded(offer))
    app.router.add_post(f"/api/v1/setup-check/{check_id}/answer", guarded(answer))
    app.router.add_post(f"/api/v1/setup-check/{check_id}/result", guarded(result))
    app.router.add_delete(f"/api/v1/setup-check/{check_id}", guarded(stop))
    app.router.add_route("*", "/api/v1/setup-check{tail:(/.*)?}", guarded(other))
    # Sessions' Routers close in _close_sessions; these before the shared media port closes.
    app.on_cleanup.insert(0, close_checks)
