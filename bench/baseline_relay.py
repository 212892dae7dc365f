"""The naive baseline: an aiortc ``MediaRelay`` server speaking the subset of docs/protocol.md the
load generator uses (hello, join, set-room, publish, subscriber-answer, pong, leave).

This is what aiortc's own examples do: every publisher track is received by aiortc's normal receiver
(jitter buffer + decoder thread, decoded once), ``MediaRelay`` fans the decoded frames out, and every
subscriber's RTCRtpSender re-encodes them (VP8 with libvpx, Opus with libopus) in aiortc's thread pool.
It exists only to be measured against Haven by bench/forwarding.py; it checks the join token's
signature (same secret) and nothing else, and is not a server anyone should run.

    python -m bench.baseline_relay --port 8099
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import itertools
import json
import logging

from aiohttp import WSMsgType, web
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.contrib.media import MediaRelay
from aiortc.rtcconfiguration import RTCBundlePolicy

from server.auth import TokenError, TokenIssuer

from . import seam
from .common import SECRET, close_peer_connections

CONSENT = "benchmark"
CONSENT_VERSION = hashlib.sha256(CONSENT.encode()).hexdigest()
ANSWER_TIMEOUT = 20.0
log = logging.getLogger("baseline")


def configuration() -> RTCConfiguration:
    return RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)


class Participant:
    def __init__(self, relay: Relay, ws: web.WebSocketResponse) -> None:
        self.relay = relay
        self.ws = ws
        self.id: str | None = None
        self.name = ""
        self.role = "participant"
        self.joined = False
        self.pub_pc: RTCPeerConnection | None = None
        self.sub_pc: RTCPeerConnection | None = None
        self.tracks: list[dict] = []  # {"track_id", "kind", "label", "track"}
        self.subscribed: dict[str, dict] = {}  # track_id -> consumer description + transceiver
        self.revision = 0
        self.answer: asyncio.Future | None = None
        self.negotiation: asyncio.Task | None = None
        self.dirty = False

    async def send(self, message: dict) -> None:
        if not self.ws.closed:
            await self.ws.send_str(json.dumps(message))

    def describe(self) -> dict:
        return {"id": self.id, "name": self.name, "role": self.role, "state": "admitted",
                "tracks": [{k: t[k] for k in ("track_id", "kind", "label")} | {"muted": False} for t in self.tracks]}

    # -- subscribe connection: the server offers, one offer outstanding at a time ---------------------

    def request_negotiation(self) -> None:
        if self.negotiation is None or self.negotiation.done():
            self.negotiation = asyncio.ensure_future(self._negotiate())
        else:
            self.dirty = True

    async def _negotiate(self) -> None:
        try:
            while self.joined:
                self.dirty = False
                if self.sub_pc is None:
                    self.sub_pc = RTCPeerConnection(configuration())
                pc = self.sub_pc
                for other in list(self.relay.participants.values()):
                    if other is self:
                        continue
                    for t in other.tracks:
                        if t["track_id"] not in self.subscribed:
                            # aiortc's pattern: one relay proxy per subscriber, encoded by its own sender.
                            sender = pc.addTrack(self.relay.media.subscribe(t["track"]))
                            transceiver = next(x for x in pc.getTransceivers() if x.sender is sender)
                            self.subscribed[t["track_id"]] = {
                                "transceiver": transceiver, "track_id": t["track_id"], "participant_id": other.id,
                                "kind": t["kind"], "label": t["label"]}
                await pc.setLocalDescription(await pc.createOffer())
                consumers = [{"mid": c["transceiver"].mid, **{k: c[k] for k in
                              ("track_id", "participant_id", "kind", "label")}} for c in self.subscribed.values()]
                await self.send({"type": "consumers", "consumers": consumers})
                self.revision += 1
                self.answer = asyncio.get_running_loop().create_future()
                await self.send({"type": "subscriber-offer", "revision": self.revision,
                                 "sdp": pc.localDescription.sdp})
                await asyncio.wait_for(asyncio.shield(self.answer), ANSWER_TIMEOUT)
                if not self.dirty:
                    return
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("negotiation for %s failed: %r", self.id, exc)

    async def close(self) -> None:
        self.joined = False
        if self.negotiation is not None:
            self.negotiation.cancel()
        await close_peer_connections(self.pub_pc, self.sub_pc)


class Relay:
    def __init__(self) -> None:
        self.media = MediaRelay()
        self.participants: dict[str, Participant] = {}
        self.issuer = TokenIssuer(SECRET.encode(), "haven", "haven")
        self.track_ids = itertools.count(1)

    async def handle(self, p: Participant, message: dict) -> dict:
        kind = message.get("type")
        if kind == "hello":
            grant = self.issuer.verify(message.get("token", ""), room=message.get("room"))
            p.id, p.name, p.role = grant.sub, grant.name, grant.role
            return {"version": 1, "server": "baseline-relay", "room": grant.room,
                    "participant": {"id": p.id, "name": p.name, "role": p.role},
                    "heartbeat_interval_ms": 10000, "limits": {"max_message_bytes": 131072}, "ice_servers": [],
                    "consent": {"text": CONSENT, "version": CONSENT_VERSION}}
        if p.id is None:
            raise ValueError("not-authenticated")
        if kind == "join":
            others = [o.describe() for o in self.participants.values()]
            self.participants[p.id] = p
            p.joined = True
            for o in list(self.participants.values()):
                if o is not p:
                    await o.send({"type": "participant-joined", "participant": p.describe()})
            return {"state": "admitted", "self": p.describe(), "participants": others}
        if kind in ("set-room", "admit", "admit-all"):
            return {}
        if kind == "publish":
            return await self.publish(p, message["sdp"], message.get("tracks", []))
        if kind == "subscriber-answer":
            if p.sub_pc is None or p.answer is None or p.answer.done() or message.get("revision") != p.revision:
                raise ValueError("stale-revision")
            await p.sub_pc.setRemoteDescription(RTCSessionDescription(sdp=message["sdp"], type="answer"))
            p.answer.set_result(None)
            return {}
        if kind == "leave":
            return {}
        raise ValueError("unknown-type")

    async def publish(self, p: Participant, sdp: str, listed: list[dict]) -> dict:
        labels = {t["mid"]: t["label"] for t in listed}
        pc = p.pub_pc = RTCPeerConnection(configuration())
        await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        result = []
        for transceiver in pc.getTransceivers():
            label = labels.get(transceiver.mid)
            if label is None:
                continue
            entry = {"track_id": f"t-{next(self.track_ids)}", "kind": transceiver.kind, "label": label,
                     "track": transceiver.receiver.track}
            p.tracks.append(entry)
            result.append({"mid": transceiver.mid, "track_id": entry["track_id"], "kind": entry["kind"],
                           "label": label, "muted": False})
        for o in list(self.participants.values()):
            if o is not p and o.joined:
                for t in result:
                    await o.send({"type": "track-published", "participant_id": p.id,
                                  "track": {k: t[k] for k in ("track_id", "kind", "label", "muted")}})
                o.request_negotiation()
        return {"sdp": pc.localDescription.sdp, "tracks": result}

    async def websocket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=1 << 20)
        await ws.prepare(request)
        p = Participant(self, ws)
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    break
                message = json.loads(msg.data)
                if message.get("type") == "pong":
                    continue
                try:
                    data = await self.handle(p, message)
                    await p.send({"type": "result", "id": message.get("id"), "data": data})
                except (ValueError, TokenError, KeyError) as exc:
                    code = getattr(exc, "code", None) or str(exc) or "bad-request"
                    await p.send({"type": "error", "id": message.get("id"), "code": code, "message": str(exc)})
        finally:
            if p.id is not None and self.participants.get(p.id) is p:
                del self.participants[p.id]
                for o in list(self.participants.values()):
                    await o.send({"type": "participant-left", "participant_id": p.id, "reason": "left"})
            await p.close()
        return ws

    async def healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "participants": len(self.participants)})

    async def shutdown(self, app: web.Application) -> None:
        await asyncio.gather(*(p.close() for p in list(self.participants.values())), return_exceptions=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8099)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    import uvloop

    uvloop.install()
    seam.set_host_addresses(["127.0.0.1"])
    relay = Relay()
    app = web.Application()
    app.router.add_get("/ws", relay.websocket)
    app.router.add_get("/healthz", relay.healthz)
    app.on_shutdown.append(relay.shutdown)
    web.run_app(app, host=args.host, port=args.port, print=None, access_log=None, shutdown_timeout=5)


if __name__ == "__main__":
    main()
