"""Video lost between a publisher and the server is repaired: the server NACKs the gap, the publisher (a real
aiortc peer) retransmits on its RTX stream (RFC 4588), and the subscriber receives the packet in its place.

The publisher's DTLS transport really drops every tenth VP8 packet before it is encrypted and sent, so the
loss is on the wire; its retransmissions (another payload type and SSRC) are never dropped.
"""

from __future__ import annotations

import itertools

from media import adapter
from media.rtp import HEADER
from tests.integration.test_call import close_all, start_call
from tests.support.peers import eventually


def drop_every_tenth_vp8_packet(client, video_pt: int) -> list[int]:
    """Make the client's uplink lose every tenth packet of its camera stream; return the dropped seqs."""
    dtls = adapter.dtls_transport(client.publish_pc)
    send = dtls._send_rtp
    counter = itertools.count()
    dropped: list[int] = []

    async def lossy(data: bytes) -> None:
        if len(data) >= 12 and 127 < data[0] < 192 and not 191 < data[1] < 224 and data[1] & 0x7F == video_pt:
            if next(counter) % 10 == 9:
                dropped.append(HEADER.unpack_from(data, 0)[2])
                return
        await send(data)

    dtls._send_rtp = lossy
    return dropped


async def test_video_lost_on_the_way_in_is_nacked_retransmitted_and_reaches_the_subscriber(haven_each_path):
    haven = haven_each_path
    clients, _ = await start_call(haven, names=("pub", "sub"))
    pub, sub = clients
    sub.counter.keep_seqs = True
    try:
        router = haven.sessions.live["group"].router
        camera = next(p for p in router.producers.values() if p.owner_id == "pub" and p.kind == "video")
        assert camera.rtx_payload_type >= 0, "the publisher's RTX stream was negotiated and bound"
        dropped = drop_every_tenth_vp8_packet(pub, camera.payload_type)
        await eventually(lambda: len(dropped) >= 30 and camera.repair.repaired >= 20, 30,
                         what="30 packets lost upstream and 20 of them repaired")
        assert camera.rtx_in >= camera.repair.repaired - 1 > 0
        # The subscriber got the repaired packets: its stream from the publisher has (almost) no holes
        # from where the losses began (the newest loss may still be on its way).
        ssrc = sub.ssrcs_by_participant()["pub"]["camera"]

        def holes() -> int:
            seen = sorted(sub.counter.seqs[ssrc])
            return (seen[-1] - seen[0] + 1) - len(seen) if seen else 1_000_000

        await eventually(lambda: holes() <= 2, 10, what="the subscriber's camera stream without holes")
        assert camera.repair.abandoned <= 2
    finally:
        await close_all(clients)
