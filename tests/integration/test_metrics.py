"""The metrics listener of a real server during a real call: counters move, and nothing in the exposition
names a room, a session or a participant."""

from __future__ import annotations

import asyncio
import socket
import time

import aiohttp
from aiortc.rtp import RtcpReceiverInfo, RtcpRrPacket
from prometheus_client.parser import text_string_to_metric_families

from media import adapter
from media.rtp import HEADER_SIZE
from server.app import METRICS_ADDRESS, STORAGE
from tests.adversarial.media_support import nack, send_rtcp
from tests.support.client import ProtocolClient
from tests.support.peers import RandomVp8Track, ToneTrack, eventually
from tests.support.server_process import free_port
from tests.support.waiting import eventually as eventually_async

ROOM = "sunday-circle-7"
PEOPLE = (("dr-alvarez-41", "Dr Marisol Alvarez", "host"), ("bea-quinn-92", "Beatrice Quinn", "participant"))


async def scrape(haven) -> str:
    host, port = haven.app[METRICS_ADDRESS]
    assert host == "127.0.0.1"
    async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/metrics") as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain")
        return await response.text()


def values(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(text: str, name: str, **labels: str) -> float:
    return values(text)[(name, tuple(sorted(labels.items())))]


async def test_metrics_move_during_a_call_and_name_nobody(haven):
    before = await scrape(haven)
    assert value(before, "haven_rooms") == 0
    assert value(before, "haven_packets_forwarded_total") == 0
    clients = []
    try:
        for sub, name, role in PEOPLE:
            client = ProtocolClient(haven.base_url, haven.token(room=ROOM, name=name, sub=sub, role=role), name=sub)
            await client.connect()
            clients.append(client)
        for client in clients:
            client.published = await client.publish({"camera": RandomVp8Track(), "microphone": ToneTrack()})
        await eventually(lambda: all(c.received_from(o.name, label) >= 20 for c in clients for o in clients
                                     if o is not c for label in ("camera", "microphone")), timeout=30)
        during = await scrape(haven)
        assert value(during, "haven_rooms") == 1
        assert value(during, "haven_participants") == 2
        assert value(during, "haven_participants_waiting") == 0
        assert value(during, "haven_producers") == 4
        assert value(during, "haven_consumers") == 4
        assert value(during, "haven_packets_received_total") > 0
        assert value(during, "haven_packets_forwarded_total") >= 80
        assert value(during, "haven_udp_sockets") >= 1
        assert value(during, "haven_records_writable") == 1
        assert value(during, "haven_event_loop_lag_seconds_count") >= 1
        assert value(during, "haven_bytes_forwarded_total") >= 80 * HEADER_SIZE

        # A subscriber reports five packets of the other's camera lost: the server resends them from its cache.
        subscriber, publisher = clients[1], clients[0]
        ssrc = subscriber.ssrcs_by_participant()[publisher.name]["camera"]
        newest = subscriber.counter.newest[ssrc]
        send_rtcp(subscriber.subscribe_pc, nack(0x5EED, ssrc, [((newest - 5) & 0xFFFF, 0b1111)]))

        async def answered() -> str | None:
            text = await scrape(haven)
            return text if value(text, "haven_retransmissions_total") >= 1 else None

        during = await eventually_async(answered, 10, what="the NACK to be answered")
        assert value(during, "haven_nacks_received_total") >= 5
        assert value(during, "haven_retransmissions_total") <= value(during, "haven_nacks_received_total")
        await asyncio.to_thread(haven.app[STORAGE].flush)
        records = await scrape(haven)
        assert value(records, "haven_records_write_seconds_count", kind="attendance") >= 2  # both joined
        assert value(records, "haven_records_write_seconds_count", kind="sessions") >= 1
        assert value(records, "haven_records_write_seconds_bucket", kind="attendance", le="+Inf") >= 2
        for kind in ("audit", "attendance", "sessions"):
            assert value(records, "haven_records_write_failures_total", kind=kind) == 0

        # Nothing that names the room, the session or a person, in any label or value.
        live = haven.sessions.live[ROOM]
        secrets = {ROOM, live.id, live.room.session_id, *live.room.participants}
        for sub, name, _ in PEOPLE:
            secrets |= {sub, name, *(word for word in name.split() if len(word) > 3)}
        for participant in live.room.participants.values():
            secrets.add(participant.id)
        for router in live.routers.values():
            if router.id != "main":  # the main room's Router is called main in every session
                secrets.add(router.id)
            secrets |= set(getattr(router, "producers", {}))  # track ids
        assert len(secrets) >= 8
        for secret in secrets:
            assert secret and secret not in during, secret
        assert {label for (_, pairs) in values(during) for label, _ in pairs} <= {"reason", "le", "kind", "quantile"}

        # Link quality from the reports both ways: subscribers' RRs answer the SRs Haven translated for
        # them (round trip on Haven's own clock), and Haven's RRs to publishers say what was lost coming in.
        # The test peers count the RTP they receive themselves, so aiortc has no reception statistics to
        # report: the subscriber's RR is written here, the way a browser writes it, about an SR Haven sent.
        member = live.routers["main"].members[clients[1].joined["self"]["id"]]
        for consumer in member.consumers.values():
            slot = consumer.slot
            await eventually(lambda: slot.reports_sent, timeout=20)  # noqa: B023 (awaited here)
            lsr = next(reversed(consumer.slot.reports_sent))
            block = RtcpReceiverInfo(ssrc=consumer.slot.ssrc, fraction_lost=0, packets_lost=0,
                                     highest_sequence=0, jitter=0, lsr=lsr, dlsr=0)
            path = adapter.SendPath(adapter.dtls_transport(clients[1].subscribe_pc))
            path.sendto(path.protect_rtcp(bytes(RtcpRrPacket(ssrc=0x5EB5C41B, reports=[block]))), path.addr)
        for _ in range(100):  # aiortc sends reports every few seconds: up to 20 s
            quality = await scrape(haven)
            if all(value(quality, f"{name}_count") > 0 for name in (
                    "haven_subscriber_rtt_seconds", "haven_subscriber_loss_ratio", "haven_publisher_loss_ratio")):
                break
            await asyncio.sleep(0.2)
        else:
            raise AssertionError("no link quality reached the metrics")
        assert 0 <= value(quality, "haven_subscriber_rtt_seconds", quantile="0.5") < 1  # loopback
        assert value(quality, "haven_subscriber_loss_ratio", quantile="0.99") == 0
        assert value(quality, "haven_publisher_loss_ratio", quantile="0.99") == 0

        forwarded = value(during, "haven_packets_forwarded_total")
        for client in clients:
            await client.close()
        clients = []
        await eventually(lambda: ROOM not in haven.sessions.live, timeout=20)
        after = await scrape(haven)
        assert value(after, "haven_rooms") == 0
        assert value(after, "haven_producers") == 0
        assert value(after, "haven_packets_forwarded_total") >= forwarded  # counters never go down
    finally:
        for client in clients:
            await client.close()


async def test_readyz_fails_while_the_event_loop_lags(haven_factory):
    haven = await haven_factory('[metrics]\nport = 0\nmax_loop_lag = "0.05s"\n')
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{haven.base_url}/readyz") as response:
            assert response.status == 200
        body = None
        for _ in range(5):  # bounded: the lag is measured once the loop runs again
            time.sleep(0.4)  # block the server's event loop (it runs in this process)
            async with http.get(f"{haven.base_url}/readyz") as response:
                if response.status == 503:
                    body = await response.json()
                    break
        assert body is not None and body["status"] == "event-loop-lag"
        assert body["loop_lag_s"] > 0.05 and body["max_loop_lag_s"] == 0.05
        for _ in range(40):  # and ready again once the loop keeps time
            await asyncio.sleep(0.1)
            async with http.get(f"{haven.base_url}/readyz") as response:
                if response.status == 200:
                    break
        assert response.status == 200


async def test_metrics_disabled_opens_no_listener(haven_factory):
    port = free_port()
    haven = await haven_factory(f"[metrics]\nenabled = false\nport = {port}\n")
    assert METRICS_ADDRESS not in haven.app
    with socket.socket() as probe:
        probe.settimeout(2)
        assert probe.connect_ex(("127.0.0.1", port)) != 0
    async with aiohttp.ClientSession() as http, http.get(f"{haven.base_url}/metrics") as response:
        assert response.status == 404  # and the public listener never serves them
