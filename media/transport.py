"""Transports: one RTCPeerConnection each, publish (client offers) or subscribe (server offers).

aiortc does ICE, DTLS and SDP; decrypted packets never reach its receivers or senders (media/adapter.py
diverts them). A publish transport feeds Producers; a subscribe transport owns the Slots that
Consumers send on and renegotiates when more slots are needed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection, RTCSessionDescription
from aiortc.exceptions import InvalidStateError
from aiortc.mediastreams import MediaStreamTrack
from aiortc.rtcconfiguration import RTCBundlePolicy
from aiortc.rtcrtpsender import RTCRtpSender

from . import adapter
from .consumer import Slot, flush_sends, settle_failed_sends
from .errors import MediaError
from .producer import Producer
from .reasons import GUARD_DROPS, DropReason
from .rtcp import build_sender_report, nack_entries, parse_feedback, parse_sender_reports
from .rtp import HEADER_SIZE, URI_MID, iter_extensions
from .sdp import (
    ANSWER_BASE_CHARS,
    ANSWER_CHARS_PER_MLINE,
    OfferedSection,
    accept_simulcast,
    add_opus_repair,
    announce_address,
    check_size,
    parse_offer,
)
from .udp_mux import UdpMux

LABEL_KINDS = {"camera": "video", "microphone": "audio", "screen": "video", "screen-audio": "audio"}
SUPPORTED_MIME = {"video/vp8", "video/h264", "audio/opus"}
ANSWER_TIMEOUT = 20.0
# From the first offer (publish) or answer (subscribe) until ICE and DTLS are both up: a peer that
# completes ICE but never DTLS (or never ICE) is failed and closed instead of held forever.
CONNECT_TIMEOUT = 15.0
# Exceptions in one connection's packet path (its RTCP handling, its Producers' receive) that close
# it: a bug a peer can trigger hurts that peer only, and is not counted forever.
MAX_PATH_FAILURES = 50
# What one subscriber's feedback may cost per second (RTCP is not the hot path, but NACKs are
# expanded and answered): compound RTCP packets, NACK FCI entries (each names up to 17 losses),
# and retransmissions sent.
RTCP_PER_SECOND = 200
NACK_ENTRIES_PER_SECOND = 400
RETRANSMISSIONS_PER_SECOND = 300
NO_UDP_PORT = "the server could not open a UDP port for this media connection"


@dataclass(frozen=True)
class TransportSettings:
    """What every RTCPeerConnection of this server is configured with."""

    ice_servers: tuple[RTCIceServer, ...]
    announced_ip: str  # "" announces the host addresses themselves
    compiled_send: bool  # media/_fastsend.c instead of the pure-Python send step
    # The server's shared media port (ice.udp_port); None: every connection binds ports of its own.
    udp_mux: UdpMux | None = None

    def configuration(self) -> RTCConfiguration:
        """Build aiortc's configuration: no default STUN server, one bundled transport."""
        # aiortc falls back to a public STUN server when iceServers is None; a server must not.
        return RTCConfiguration(iceServers=list(self.ice_servers), bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)


class SilentTrack(MediaStreamTrack):
    """The track behind a subscribe slot: it never yields, so aiortc never encodes or packetizes."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind
        self._never = asyncio.Event()

    async def recv(self) -> Any:
        await self._never.wait()


class PublishTransport:
    """The connection a participant sends its tracks on; each sending m-line becomes a Producer."""

    def __init__(
        self,
        owner_id: str,
        settings: TransportSettings,
        drops: dict[DropReason, int],
        new_id: Callable[[str], str],
        on_failed: Callable[[], None],
    ) -> None:
        self.owner_id = owner_id
        self.settings = settings
        self.drops = drops
        self._new_id = new_id
        self._on_failed = on_failed
        self.pc = RTCPeerConnection(settings.configuration())
        self.producers: dict[str, Producer] = {}  # by mid
        self.by_ssrc: dict[int, Producer] = {}
        # The publishers' retransmission streams (RFC 4588), by their own SSRC: looked up only on a miss.
        self.rtx_by_ssrc: dict[int, Producer] = {}
        self.mid_ext_id: int | None = None
        # Simulcast: the extension ids naming a layer (RID) and a layer's retransmissions (repaired RID),
        # and each simulcast track's layers by RID; unsignalled SSRCs are bound by them (_learn_ssrc).
        self.rid_ext_id: int | None = None
        self.repaired_rid_ext_id: int | None = None
        self.layers_by_rid: dict[str, dict[str, Producer]] = {}  # by mid
        self.dtls: Any = None
        self.path: adapter.SendPath | None = None
        self.guarded = False
        self.closed = False
        self.failures = 0
        self._lock = asyncio.Lock()
        self._deadline: asyncio.TimerHandle | None = None
        self._closing: asyncio.Future[None] | None = None
        self.pc.on("connectionstatechange", self._on_state)
        self.pc.on("signalingstatechange", self._on_signaling)

    async def negotiate(
        self, offer: str, labels: dict[str, str]
    ) -> tuple[str, list[Producer], list[Producer]]:
        """Apply a (re)offer; return the answer, the Producers it started and those it ended."""
        sections = {s.mid: s for s in parse_offer(offer)}
        for mid, label in labels.items():
            section = sections.get(mid)
            if section is None or not section.sending:
                raise MediaError("invalid-track", f"mid {mid!r} is not a sending m-line of the offer")
            if LABEL_KINDS.get(label) != section.kind:
                raise MediaError("invalid-track", f"label {label!r} does not fit a {section.kind} m-line")
        if len(set(labels.values())) != len(labels):
            raise MediaError("invalid-track", "a label is used twice")
        if "a=candidate:" not in offer:
            # Haven takes no trickled candidates (docs/protocol.md 6): such an offer can never connect.
            raise MediaError("invalid-sdp", "the offer lists no ICE candidates: send it once ICE gathering is complete")
        async with self._lock:
            if self.closed:
                raise MediaError("invalid-sdp", "the publish connection is closed")
            try:
                await self.pc.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
            except Exception as exc:
                raise MediaError("invalid-sdp", f"the offer could not be applied ({type(exc).__name__})") from None
            if self.dtls is None:
                self.dtls = adapter.dtls_transport(self.pc)
                if self.settings.udp_mux is not None:
                    adapter.share_udp_port(self.dtls, self.settings.udp_mux)
                adapter.hook_dtls(self.dtls, self._on_rtp, self._on_rtcp)
                adapter.end_consent_with_connection(self.dtls)
            transceivers = {t.mid: t for t in self.pc.getTransceivers()}
            for transceiver in transceivers.values():
                adapter.forward_only(transceiver)
            for mid in labels:
                t = transceivers.get(mid)
                codecs = adapter.negotiated_codecs(t) if t is not None else []
                if not codecs or codecs[0].mimeType.lower() not in SUPPORTED_MIME:
                    raise MediaError("unsupported-codec", f"no codec Haven can forward on mid {mid!r}")
            try:
                await self.pc.setLocalDescription(await self.pc.createAnswer())
            except Exception as exc:
                raise MediaError("invalid-sdp", f"no answer could be made ({type(exc).__name__})") from None
            if self.closed:  # closed while the offer was applied: nothing it started may outlive it
                await self.pc.close()
                raise MediaError("invalid-sdp", "the publish connection is closed")
            if not self.guarded:
                if adapter.local_sockets(self.dtls) == 0:
                    # The refusal is the report: the Router forgets this connection, a retry makes a new one.
                    self.closed = True
                    await self.pc.close()
                    raise MediaError("internal-error", NO_UDP_PORT)
                adapter.guard_receive(self.dtls, self._on_rtp, self._on_rtcp, self._count_drop,
                                      compiled=self.settings.compiled_send)
                adapter.enlarge_receive_buffers(self.dtls)
                self.guarded = True
                self._deadline = asyncio.get_running_loop().call_later(CONNECT_TIMEOUT, self._connect_timeout)
            started = []
            for mid, label in labels.items():
                if mid in self.producers:
                    continue
                producer = self._make_track(transceivers[mid], label, sections[mid])
                self.producers[mid] = producer
                started.append(producer)
            # Every offer lists all sending tracks: a producer whose mid is no longer listed has ended.
            ended = [p for mid, p in self.producers.items() if mid not in labels]
            for producer in ended:
                self.forget(producer)
            answer = accept_simulcast(add_opus_repair(self.pc.localDescription.sdp),
                                      [sections[mid] for mid in labels if mid in self.layers_by_rid])
            return announce_address(answer, self.settings.announced_ip), started, ended

    def _make_track(self, transceiver: Any, label: str, section: OfferedSection) -> Producer:
        """Make the Producer of an offered track, or for simulcast one per layer, the lowest first."""
        if not section.rids or section.rid_ext_id is None:
            return self._make_producer(transceiver, label, section.ssrcs, section.rtx)
        # Layers are learnt from their packets' RIDs: browsers list no SSRCs for them.
        track_id = self._new_id("t")
        layers = [self._make_producer(transceiver, label, (), {}, track_id) for _ in section.rids]
        track = layers[0]
        for layer, rid in zip(layers, section.rids, strict=True):
            layer.track, layer.rid, layer.layered = track, rid, True
            layer.vp8_layer = track.mime_type.lower() == "video/vp8"
        track.layers = layers
        self.rid_ext_id = section.rid_ext_id
        self.repaired_rid_ext_id = section.repaired_rid_ext_id
        self.layers_by_rid = {**self.layers_by_rid, section.mid: dict(zip(section.rids, layers, strict=True))}
        return track

    def _make_producer(self, transceiver: Any, label: str, ssrcs: tuple[int, ...],
                       rtx: dict[int, int], producer_id: str | None = None) -> Producer:
        codec = adapter.negotiated_codecs(transceiver)[0]
        extensions = adapter.negotiated_extensions(transceiver)
        self.mid_ext_id = extensions.get(URI_MID, self.mid_ext_id)
        producer = Producer(
            producer_id=producer_id or self._new_id("t"),
            owner_id=self.owner_id,
            kind=transceiver.kind,
            label=label,
            mime_type=codec.mimeType,
            clock_rate=codec.clockRate,
            extension_ids=extensions,
            rtcp_ssrc=adapter.sender_ssrc(transceiver.sender),
            send_rtcp=self.send_rtcp,
            drops=self.drops,
            ssrc=ssrcs[0] if ssrcs else None,
            payload_type=-1 if codec.payloadType is None else codec.payloadType,
            profile=str(codec.parameters.get("profile-level-id", "")),
            compiled=self.settings.compiled_send,
        )
        if producer.ssrc is not None:
            self.by_ssrc[producer.ssrc] = producer
        if producer.payload_type >= 0:
            producer.rtx_payload_type = adapter.rtx_payload_type(transceiver, producer.payload_type)
            rtx_ssrc = rtx.get(producer.ssrc) if producer.ssrc is not None else None
            if producer.rtx_payload_type >= 0 and rtx_ssrc is not None and rtx_ssrc not in self.by_ssrc:
                self.rtx_by_ssrc = {**self.rtx_by_ssrc, rtx_ssrc: producer}
        return producer

    @property
    def connected(self) -> bool:
        """Tell whether the fast send path to the publisher is up (RTCP goes out on it)."""
        return self.path is not None

    @property
    def connecting(self) -> bool:
        """Tell whether the connection's handshake (ICE, then DTLS) is still under way."""
        return self.path is None and not self.closed

    def forget(self, producer: Producer) -> None:
        """Stop routing a producer's packets (it was unpublished); the Router closes it."""
        self.producers = {mid: p for mid, p in self.producers.items() if p is not producer}
        self.by_ssrc = {s: p for s, p in self.by_ssrc.items() if p.track is not producer}
        self.rtx_by_ssrc = {s: p for s, p in self.rtx_by_ssrc.items() if p.track is not producer}
        self.layers_by_rid = {mid: layers for mid, layers in self.layers_by_rid.items()
                              if next(iter(layers.values())) is not producer}

    # -- hot path ---------------------------------------------------------------------------------

    def _on_rtp(self, p: bytes) -> None:
        if len(p) < HEADER_SIZE:
            self.drops[DropReason.MALFORMED] += 1
            return
        producer = self.by_ssrc.get((p[8] << 24) | (p[9] << 16) | (p[10] << 8) | p[11])
        if producer is None:
            rtx = self.rtx_by_ssrc.get((p[8] << 24) | (p[9] << 16) | (p[10] << 8) | p[11])
            if rtx is not None:
                rtx.receive_rtx(p)
                return
            producer = self._learn_ssrc(p)
            if producer is None:
                self.drops[DropReason.UNKNOWN_SSRC] += 1
                return
            if producer.ssrc != ((p[8] << 24) | (p[9] << 16) | (p[10] << 8) | p[11]):
                producer.receive_rtx(p)  # a simulcast layer's retransmission, bound by its repaired RID
                return
        producer.receive(p)

    def _learn_ssrc(self, p: bytes) -> Producer | None:
        """Bind an unsignalled SSRC to a producer by its MID extension, or by a payload type only it uses.

        A simulcast layer's packets name their layer (RID) and its retransmissions the layer they repair
        (repaired RID), beside the MID.
        """
        try:
            ssrc = (p[8] << 24) | (p[9] << 16) | (p[10] << 8) | p[11]
            pt = p[1] & 0x7F
            if self.layers_by_rid:
                layer = self._learn_layer(p, ssrc, pt)
                if layer is not None:
                    return layer
            # A simulcast track's layers are bound by RID only (above).
            unbound = [pr for pr in self.producers.values() if pr.ssrc is None and len(pr.layers) == 1]
            if not unbound:
                return None
            candidate = None
            if self.mid_ext_id is not None:
                for xid, value in iter_extensions(p):
                    if xid == self.mid_ext_id:
                        candidate = self.producers.get(value.decode("ascii", "replace"))
                        break
            if candidate is None:
                same_pt = [pr for pr in unbound if pr.payload_type == pt]
                candidate = same_pt[0] if len(same_pt) == 1 else None
            if (candidate is None or candidate.ssrc is not None or candidate.payload_type != pt
                    or len(candidate.layers) > 1):
                return None
            candidate.ssrc = ssrc
            self.by_ssrc = {**self.by_ssrc, ssrc: candidate}
            return candidate
        except Exception:
            return None

    def _learn_layer(self, p: bytes, ssrc: int, pt: int) -> Producer | None:
        mid = rid = repaired = None
        for xid, value in iter_extensions(p):
            if xid == self.mid_ext_id:
                mid = value.decode("ascii", "replace")
            elif xid == self.rid_ext_id:
                rid = value.decode("ascii", "replace")
            elif xid == self.repaired_rid_ext_id:
                repaired = value.decode("ascii", "replace")
        layers = self.layers_by_rid.get(mid or "")
        if layers is None:
            return None
        if rid is not None:
            layer = layers.get(rid)
            if layer is None or layer.ssrc is not None or layer.payload_type != pt:
                return None
            layer.ssrc = ssrc
            self.by_ssrc = {**self.by_ssrc, ssrc: layer}
            return layer
        if repaired is not None:
            layer = layers.get(repaired)
            if layer is None or layer.ssrc is None or layer.rtx_payload_type != pt or ssrc in self.by_ssrc:
                return None
            self.rtx_by_ssrc = {**self.rtx_by_ssrc, ssrc: layer}
            return layer
        return None

    def _count_drop(self, code: int) -> None:
        self.drops[GUARD_DROPS[code]] += 1

    # -- RTCP -------------------------------------------------------------------------------------

    def send_rtcp(self, data: bytes) -> bool:
        """Send RTCP to the publisher now if the fast path is up, else through aiortc; never raises."""
        try:
            if self.path is not None:
                self.path.sendto(self.path.protect_rtcp(data), self.path.addr)
                return True
            if self.dtls is not None and self.dtls.state == "connected":
                asyncio.ensure_future(_quietly(adapter.async_send(self.dtls)(data)))
                return True
        except Exception:
            pass
        return False

    def _on_rtcp(self, data: bytes) -> None:
        try:
            for sr in parse_sender_reports(data):
                producer = self.by_ssrc.get(sr.ssrc)
                if producer is None:
                    continue
                info = sr.sender_info
                producer.last_sr = (info.ntp_timestamp >> 16) & 0xFFFFFFFF
                producer.sr_ntp, producer.sr_rtp = info.ntp_timestamp, info.rtp_timestamp
                producer.last_sr_time = now = time.monotonic()
                # Each subscriber gets the publisher's NTP↔RTP mapping in its own timestamp space,
                # which is what lets the browser synchronise lips and voice.
                for consumer in producer.consumers:
                    if consumer.started:
                        slot = consumer.slot
                        if slot.send_rtcp(build_sender_report(
                            slot.ssrc, info.ntp_timestamp, info.rtp_timestamp + consumer.ts_off,
                            consumer.packets, consumer.octets, slot.cname,
                        )):
                            slot.sent_report(info.ntp_timestamp, now)
        except Exception:
            self.drops[DropReason.HOOK_ERROR] += 1
            self.path_failed()

    # -- lifecycle --------------------------------------------------------------------------------

    def path_failed(self) -> None:
        """Count an exception in this connection's packet path; close it after MAX_PATH_FAILURES."""
        self.failures += 1
        if self.failures == MAX_PATH_FAILURES:
            self._fail_soon()

    def _connect_timeout(self) -> None:
        self._deadline = None
        if self.path is None:
            self._fail_soon()

    def _fail_soon(self) -> None:
        """Tell the Router the connection failed and close it (once); it counts as closed from now on."""
        if self.closed or self._closing is not None:
            return
        self._on_failed()
        self.closed = True  # close() below runs on the next turn; no offer may be applied meanwhile
        self._closing = asyncio.ensure_future(self.close())

    def _on_signaling(self) -> None:
        # aiortc closes a connection by itself once the client's DTLS has closed, before any state
        # change reaches _on_state: from that moment it must count as closed (see SubscribeTransport).
        if self.pc.signalingState == "closed" and not self.closed:
            self._fail_soon()

    async def _on_state(self) -> None:
        state = self.pc.connectionState
        if state == "connected" and self.path is None and not self.closed and adapter.has_nominated_pair(self.dtls):
            self.path = adapter.SendPath(self.dtls)
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None
            for producer in self.producers.values():
                for layer in producer.layers:
                    if layer.consumers:
                        layer.request_keyframe(force=True)
        elif state in ("failed", "closed") and not self.closed:
            self._on_failed()

    async def close(self) -> None:
        """Close the connection (idempotent); every task and timer it started ends with it."""
        self.closed = True
        self.path = None
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        await self.pc.close()
        adapter.close_ice(self.pc)


class SubscribeTransport:
    """The connection a participant receives others' tracks on, offered by the server.

    Slots are added, never removed (aiortc cannot remove m-lines); renegotiation runs in one task, one
    offer outstanding at a time, and a request arriving meanwhile triggers one more round.
    """

    def __init__(
        self,
        owner_id: str,
        settings: TransportSettings,
        send_offer: Callable[[int, str], Awaitable[None]],
        on_mids: Callable[[], None],
        on_ready: Callable[[], None],
        on_failed: Callable[[str], None],
    ) -> None:
        self.owner_id = owner_id
        self.settings = settings
        self._send_offer = send_offer
        self._on_mids = on_mids
        self._on_ready = on_ready
        self._on_failed = on_failed
        self.pc = RTCPeerConnection(settings.configuration())
        self.cname = adapter.connection_cname(self.pc)
        self.slots: list[Slot] = []
        self.by_ssrc: dict[int, Slot] = {}
        self.revision = 0
        self.dtls: Any = None
        self.path: adapter.SendPath | None = None
        self.closed = False
        self._answer: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._dirty = False
        # The Router gives its own counters (media/router.py); a transport made alone counts here.
        self.drops: dict[DropReason, int] = {reason: 0 for reason in DropReason}
        self.failures = 0
        self._deadline: asyncio.TimerHandle | None = None
        self._closing: asyncio.Future[None] | None = None
        self._window = float("-inf")  # the start of the current second of the feedback budget
        self._rtcp_left = 0
        self._nack_left = 0
        self._resend_left = 0
        self.pc.on("connectionstatechange", self._on_state)
        self.pc.on("signalingstatechange", self._on_signaling)

    def add_slot(self, kind: str, codec_key: tuple[str, str, str], stream_id: str) -> Slot:
        """Add a sendonly m-line for a codec; it is offered at the next negotiation.

        MediaError ``transport-closed`` when the client's side has already gone (its DTLS closed, which aiortc
        notices before any state change reaches us): the connection is then failed, once.
        """
        if self.closed:
            raise MediaError("transport-closed", "the subscribe connection is closed")
        try:
            transceiver = self.pc.addTransceiver(SilentTrack(kind), direction="sendonly")
        except InvalidStateError:
            self._fail_soon("media-failed")
            raise MediaError("transport-closed", "the subscribe connection is closed") from None
        mime = codec_key[1]
        capabilities = RTCRtpSender.getCapabilities(kind).codecs
        # Offer exactly the publisher's codec, so payloads never need translation (plus RTX, which
        # browsers expect to see; we retransmit on the main SSRC).
        chosen = [c for c in capabilities if c.mimeType.lower() == mime and
                  (mime != "video/h264" or c.parameters.get("profile-level-id") == codec_key[2])]
        rtx = [c for c in capabilities if c.mimeType.lower() == f"{kind}/rtx"]
        transceiver.setCodecPreferences(chosen[:1] + rtx)
        adapter.forward_only(transceiver)
        adapter.set_stream_id(transceiver.sender, stream_id)
        slot = Slot(transceiver, kind, codec_key, adapter.sender_ssrc(transceiver.sender), self.cname)
        self.slots.append(slot)
        self.by_ssrc[slot.ssrc] = slot
        return slot

    def request_negotiation(self) -> None:
        """Offer the current slots to the client, now or after the offer in flight is answered."""
        if self.closed:
            return
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._negotiate())
        else:
            self._dirty = True

    async def _negotiate(self) -> None:
        try:
            while not self.closed:
                self._dirty = False
                first = adapter.dtls_transport(self.pc) if self.dtls is None else None
                if first is not None and self.settings.udp_mux is not None:
                    adapter.share_udp_port(first, self.settings.udp_mux)
                await self.pc.setLocalDescription(await self.pc.createOffer())
                if self.dtls is None:
                    self.dtls = adapter.dtls_transport(self.pc)
                    adapter.hook_dtls(self.dtls, None, self._on_rtcp)
                    adapter.end_consent_with_connection(self.dtls)
                    if adapter.local_sockets(self.dtls) == 0:
                        self._fail_soon("no-udp-port")
                        return
                    adapter.guard_receive(self.dtls, None, self._on_rtcp, self._count_drop,
                                          compiled=self.settings.compiled_send)
                for slot in self.slots:
                    if slot.mid is None:
                        slot.mid = slot.transceiver.mid
                self._on_mids()
                self.revision += 1
                self._answer = asyncio.get_running_loop().create_future()
                sdp = announce_address(self.pc.localDescription.sdp, self.settings.announced_ip)
                await self._send_offer(self.revision, sdp)
                try:
                    await asyncio.wait_for(asyncio.shield(self._answer), ANSWER_TIMEOUT)
                except TimeoutError:
                    self._on_failed("negotiation-timeout")
                    return
                self._slots_negotiated()
                if not self._dirty:
                    return
        except asyncio.CancelledError:
            raise
        except Exception:
            if not self.closed:
                self._on_failed("negotiation-failed")

    async def apply_answer(self, revision: int, sdp: str) -> None:
        """Apply the client's answer to the outstanding offer."""
        answer = self._answer
        if answer is None or answer.done() or revision != self.revision:
            raise MediaError("stale-revision", f"no offer with revision {revision} is waiting for an answer")
        slots = len(self.slots)
        check_size(sdp, ANSWER_BASE_CHARS + ANSWER_CHARS_PER_MLINE * slots, slots, "answer")
        try:
            await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))
        except Exception as exc:
            raise MediaError("invalid-sdp", f"the answer could not be applied ({type(exc).__name__})") from None
        if self.path is None and self._deadline is None and not self.closed:
            self._deadline = asyncio.get_running_loop().call_later(CONNECT_TIMEOUT, self._connect_timeout)
        if not answer.done():
            answer.set_result(None)

    def _slots_negotiated(self) -> None:
        if self.path is None:
            return  # the first negotiation: slots become ready when the connection is up
        ready = False
        for slot in self.slots:
            if not slot.ready and slot.mid is not None:
                codecs = adapter.negotiated_codecs(slot.transceiver)
                if codecs and codecs[0].payloadType is not None:
                    slot.attach_send_path(self.path, codecs[0].payloadType, self.settings.compiled_send)
                    ready = True
        if ready:
            self._on_ready()

    async def _on_state(self) -> None:
        state = self.pc.connectionState
        if state == "connected" and self.path is None and not self.closed and adapter.has_nominated_pair(self.dtls):
            self.path = adapter.SendPath(self.dtls)
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None
            self._slots_negotiated()
        elif state in ("failed", "closed") and not self.closed:
            # Closed now, not when the Router removes the member: until then another member's publish
            # updates every subscriber, and this one's connection takes no new slot.
            self._fail_soon("media-failed")

    def _count_drop(self, code: int) -> None:
        self.drops[GUARD_DROPS[code]] += 1

    def _connect_timeout(self) -> None:
        self._deadline = None
        if self.path is None:
            self._fail_soon("connect-timeout")

    def _fail_soon(self, reason: str) -> None:
        """Tell the Router the connection failed and close it (once); it counts as closed from now on."""
        if self.closed or self._closing is not None:
            return
        self._on_failed(reason)
        self.closed = True  # close() below runs on the next turn; nothing may add to it meanwhile
        self._closing = asyncio.ensure_future(self.close())

    def _on_signaling(self) -> None:
        # aiortc closes a connection by itself once the client's DTLS has closed (signaling state
        # "closed" at once, connection state later): from that moment the Router must not add a slot
        # to it, which another member's publish would otherwise do before this member is removed.
        if self.pc.signalingState == "closed" and not self.closed:
            self._fail_soon("media-failed")

    def _on_rtcp(self, data: bytes) -> None:
        """Act on a subscriber's feedback within its per-second budget; never raises."""
        try:
            now = time.monotonic()
            if now - self._window >= 1.0:
                self._window = now
                self._rtcp_left = RTCP_PER_SECOND
                self._nack_left = NACK_ENTRIES_PER_SECOND
                self._resend_left = RETRANSMISSIONS_PER_SECOND
            if self._rtcp_left <= 0:
                self.drops[DropReason.RATE_LIMITED] += 1
                return
            self._rtcp_left -= 1
            # Charge the NACK entries before the lists are parsed and expanded.
            entries = nack_entries(data)
            if entries:
                if entries > self._nack_left:
                    self.drops[DropReason.NACK_LIMITED] += 1
                    return
                self._nack_left -= entries
            feedback = parse_feedback(data)
            by_ssrc = self.by_ssrc
            for ssrc in feedback.keyframe:
                slot = by_ssrc.get(ssrc)
                if slot is not None and slot.consumer is not None:
                    slot.consumer.producer.request_keyframe()
            for ssrc, lost in feedback.nacks.items():
                slot = by_ssrc.get(ssrc)
                if slot is not None and slot.consumer is not None:
                    consumer = slot.consumer
                    consumer.nacks += len(lost)
                    for seq in lost[:64]:  # bounded work per report
                        if self._resend_left <= 0:
                            self.drops[DropReason.NACK_LIMITED] += 1
                            break
                        if consumer.retransmit(seq):
                            self._resend_left -= 1
            if flush_sends():  # the retransmissions, in one sendmmsg
                settle_failed_sends(self.drops)
            for ssrc, bitrate in feedback.remb.items():
                slot = by_ssrc.get(ssrc)
                if slot is not None and slot.consumer is not None:
                    slot.consumer.remb = bitrate
            for ssrc, (fraction, lsr, dlsr) in feedback.reports.items():
                slot = by_ssrc.get(ssrc)
                if slot is not None:
                    slot.received_report(fraction, lsr, dlsr, now)
        except Exception:
            self.drops[DropReason.HOOK_ERROR] += 1
            self.failures += 1
            if self.failures == MAX_PATH_FAILURES:
                self._fail_soon("media-error")

    async def close(self) -> None:
        """Close the connection and stop negotiating (idempotent); its tasks and timers end with it."""
        self.closed = True
        self.path = None
        for slot in self.slots:
            slot.ready = False
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        if self._task is not None and not self._task.done():
            self._task.cancel()
        if self._answer is not None and not self._answer.done():
            self._answer.cancel()
        await self.pc.close()
        adapter.close_ice(self.pc)


async def _quietly(coro: Awaitable[None]) -> None:
    try:
        await coro
    except Exception:
        pass


class PublishSide(Protocol):
    """What the Router needs of a publish connection (PublishTransport; fakes in the tests)."""

    producers: dict[str, Producer]  # by mid
    closed: bool

    async def negotiate(self, offer: str, labels: dict[str, str]) -> tuple[str, list[Producer], list[Producer]]: ...

    def forget(self, producer: Producer) -> None: ...

    @property
    def connected(self) -> bool: ...

    @property
    def connecting(self) -> bool: ...

    def send_rtcp(self, data: bytes) -> bool: ...

    async def close(self) -> None: ...


class SubscribeSide(Protocol):
    """What the Router needs of a subscribe connection (SubscribeTransport; fakes in the tests)."""

    slots: list[Slot]
    closed: bool  # failed or closed: it takes no new slot

    def add_slot(self, kind: str, codec_key: tuple[str, str, str], stream_id: str) -> Slot:
        """A new m-line; MediaError ``transport-closed`` when the connection is gone."""
        ...

    def request_negotiation(self) -> None: ...

    async def apply_answer(self, revision: int, sdp: str) -> None: ...

    async def close(self) -> None: ...


class TransportFactory(Protocol):
    """Makes a member's two connections; the Router's only way to I/O."""

    def publish_transport(
        self, owner_id: str, settings: TransportSettings, drops: dict[DropReason, int],
        new_id: Callable[[str], str], on_failed: Callable[[], None],
    ) -> PublishSide: ...

    def subscribe_transport(
        self, owner_id: str, settings: TransportSettings, send_offer: Callable[[int, str], Awaitable[None]],
        on_mids: Callable[[], None], on_ready: Callable[[], None], on_failed: Callable[[str], None],
    ) -> SubscribeSide: ...


class AiortcTransports:
    """The real connections: one aiortc RTCPeerConnection each."""

    def publish_transport(
        self, owner_id: str, settings: TransportSettings, drops: dict[DropReason, int],
        new_id: Callable[[str], str], on_failed: Callable[[], None],
    ) -> PublishTransport:
        """Make a publish connection (the client offers)."""
        return PublishTransport(owner_id, settings, drops, new_id, on_failed)

    def subscribe_transport(
        self, owner_id: str, settings: TransportSettings, send_offer: Callable[[int, str], Awaitable[None]],
        on_mids: Callable[[], None], on_ready: Callable[[], None], on_failed: Callable[[str], None],
    ) -> SubscribeTransport:
        """Make a subscribe connection (the server offers)."""
        return SubscribeTransport(owner_id, settings, send_offer, on_mids, on_ready, on_failed)


AIORTC_TRANSPORTS = AiortcTransports()
