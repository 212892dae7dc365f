"""Simulcast without sockets: the offer's layers, the answer's lines, layer switches as a subscriber sees them,
VP8's counters, and which layer (or none) each subscriber gets.

The SDP is a real offer Chromium made for a two-layer camera (tests/unit/data). Switches are driven through
Producers and a LayeredConsumer on a recording send path, so each test reads the bytes a subscriber receives.
"""

from __future__ import annotations

import itertools
import struct
from pathlib import Path

import pytest

from media import adapter, vp8
from media.allocation import CALM_BEFORE_RAISE, PAUSED, UNLIMITED, Ceiling, Video, allocate, wanted_layer
from media.errors import MediaError
from media.producer import Producer
from media.reasons import DropReason
from media.rtp import HEADER, build_extension_block
from media.sdp import URI_REPAIRED_RID, URI_RID, accept_simulcast, parse_offer
from media.simulcast import LayeredConsumer
from media.transport import PublishTransport, TransportSettings
from tests.support.clock import Clock
from tests.unit.test_consumer import FakeSendPath, make_producer, make_slot

# SDP lines end in CRLF, which a text file in git does not keep.
OFFER_FILE = Path(__file__).parent / "data" / "chromium_simulcast_offer.sdp"
CHROMIUM_OFFER = "\r\n".join(OFFER_FILE.read_text().splitlines()) + "\r\n"
LOW_SSRC, HIGH_SSRC = 0x1111, 0x2222


# -- SDP ------------------------------------------------------------------------------------------


def test_chromiums_simulcast_offer_names_its_layers_lowest_first() -> None:
    video, audio = parse_offer(CHROMIUM_OFFER)
    assert video.kind == "video" and video.rids == ("l", "h")
    assert (video.rid_ext_id, video.repaired_rid_ext_id) == (10, 11)
    assert video.ssrcs == ()  # the layers' SSRCs are learnt from their packets
    assert audio.rids == () and audio.rid_ext_id is None


def test_the_answer_receives_the_offered_layers_with_their_extensions() -> None:
    sections = parse_offer(CHROMIUM_OFFER)
    answer = "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:0\r\na=sendrecv\r\nm=audio 9 RTP 111\r\na=mid:1\r\n"
    edited = accept_simulcast(answer, sections)
    video, audio = edited.split("m=audio")
    assert f"a=extmap:10 {URI_RID}\r\n" in video and f"a=extmap:11 {URI_REPAIRED_RID}\r\n" in video
    assert "a=rid:l recv\r\na=rid:h recv\r\na=simulcast:recv l;h\r\n" in video
    assert "rid" not in audio and edited.endswith("a=mid:1\r\n")
    assert accept_simulcast(answer, [s for s in sections if not s.rids]) == answer


def _with_simulcast(line: str, rids: tuple[str, ...] = ("l", "h")) -> str:
    lines = [x for x in CHROMIUM_OFFER.split("\r\n") if not x.startswith(("a=simulcast:", "a=rid:"))]
    at = lines.index("m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126")
    return "\r\n".join(lines[:at] + [f"a=rid:{rid} send" for rid in rids] + [line] + lines[at:])


def test_a_layer_offered_paused_or_as_an_alternative_is_read_as_the_browser_means_it() -> None:
    assert parse_offer(_with_simulcast("a=simulcast:send l;~h", ("l", "h")))[0].rids == ()  # one layer left
    assert parse_offer(_with_simulcast("a=simulcast:send l,x;h", ("l", "h", "x")))[0].rids == ("l", "h")


@pytest.mark.parametrize(("line", "rids"), [
    ("a=simulcast:send l;h;m;x", ("l", "h", "m", "x")),  # more layers than Haven forwards
    ("a=simulcast:send l;q", ("l", "h")),  # a layer without its a=rid line
    ("a=simulcast:recv l;h", ("l", "h")),  # the server does not send simulcast
    ("a=simulcast:send l;h{", ("l", "h{")),  # not a RID
])
def test_simulcast_the_server_cannot_take_is_refused_as_invalid_sdp(line: str, rids: tuple[str, ...]) -> None:
    with pytest.raises(MediaError) as refused:
        parse_offer(_with_simulcast(line, rids))
    assert refused.value.code == "invalid-sdp"


def test_simulcast_without_the_rid_extension_is_refused() -> None:
    offer = CHROMIUM_OFFER.replace(f"a=extmap:10 {URI_RID}\r\n", "")
    with pytest.raises(MediaError, match="rtp-stream-id"):
        parse_offer(offer)


# -- VP8 ------------------------------------------------------------------------------------------


def descriptor(picture: int, tl0: int, key: bool, height: int = 240) -> bytes:
    """A VP8 payload descriptor (X, I with a 15-bit picture id, L, T) and the start of a frame."""
    head = bytes((0x90, 0xE0, 0x80 | (picture >> 8), picture & 0xFF, tl0, 0x00))
    if not key:
        return head + b"\x01\x00\x00delta"
    # Frame tag (P=0: key frame), start code, 14-bit width and height, little-endian.
    return head + b"\x00\x00\x00\x9d\x01\x2a" + struct.pack("<HH", height * 4 // 3, height) + b"key"


def packet(ssrc: int, seq: int, ts: int, picture: int, tl0: int, key: bool = False, height: int = 240) -> bytes:
    return HEADER.pack(0x80, 96, seq & 0xFFFF, ts & 0xFFFFFFFF, ssrc) + descriptor(picture, tl0, key, height)


def counters_of(sent: bytes) -> tuple[int, int]:
    return vp8.counters(sent, 12)


def test_vp8_counters_are_read_and_shifted_with_wraparound() -> None:
    p = packet(1, 0, 0, 0x7FFE, 0xFF)
    assert vp8.counters(p, 12) == (0x7FFE, 0xFF)
    tail = vp8.rewrite(p[12:], 0x80, 3, 2)
    assert vp8.counters(HEADER.pack(0x80, 96, 0, 0, 1) + tail, 12) == (1, 1)
    assert vp8.rewrite(b"\x10\x00", 0x80, 5, 5) == b"\x10\x00"  # no extension: nothing to shift
    assert vp8.counters(b"\x90", 0) == (vp8.NO_VALUE, vp8.NO_VALUE)  # truncated


def test_a_key_frame_tells_its_height() -> None:
    assert vp8.keyframe_height(packet(1, 0, 0, 5, 1, key=True, height=360), 12) == 360
    assert vp8.keyframe_height(packet(1, 0, 0, 5, 1, key=False), 12) == vp8.NO_VALUE


# -- switching layers --------------------------------------------------------------------------------


def make_track() -> tuple[Producer, Producer]:
    low = make_producer(ssrc=LOW_SSRC)
    high = make_producer(ssrc=HIGH_SSRC)
    for layer, rid in ((low, "l"), (high, "h")):
        layer.track, layer.rid, layer.layered, layer.vp8_layer = low, rid, True, True
    low.layers = [low, high]
    return low, high


def watch(track: Producer, layer: Producer) -> tuple[LayeredConsumer, FakeSendPath]:
    slot, path = make_slot()
    consumer = LayeredConsumer("c-1", layer, slot, "bob")
    layer.add_consumer(consumer)
    return consumer, path


def test_a_viewer_switches_layers_at_the_target_layers_key_frame_and_sees_one_stream(clock: Clock) -> None:
    low, high = make_track()
    consumer, path = watch(low, high)
    high.receive(packet(HIGH_SSRC, 500, 90_000, 7000, 40, key=True, height=480))
    high.receive(packet(HIGH_SSRC, 501, 93_000, 7001, 41))
    low.receive(packet(LOW_SSRC, 20, 5_000_000, 300, 200, key=True))
    assert len(path.sent) == 2  # on the high layer only
    assert high.height == 480 and low.height == 240

    low.switch(consumer, low)
    assert consumer.pending is low and consumer in low.switchers
    low.receive(packet(LOW_SSRC, 21, 5_003_000, 301, 201))  # not a key frame: the switch waits
    high.receive(packet(HIGH_SSRC, 502, 96_000, 7002, 42))  # and the high layer still flows
    assert len(path.sent) == 3 and consumer.producer is high

    low.receive(packet(LOW_SSRC, 22, 5_006_000, 302, 202, key=True))
    high.receive(packet(HIGH_SSRC, 503, 99_000, 7003, 43))  # no longer forwarded
    low.receive(packet(LOW_SSRC, 23, 5_009_000, 303, 203))
    assert consumer.producer is low and consumer.pending is None and low.switchers == []
    assert path.seqs() == [1000, 1001, 1002, 1003, 1004]
    stamps = path.timestamps()
    # Without sender reports the new layer's key frame comes one frame (1/30 s) after the last one sent.
    assert [(t - stamps[0]) & 0xFFFFFFFF for t in stamps] == [0, 3000, 6000, 9000, 12000]
    assert [counters_of(p) for p in path.sent] == [(7000, 40), (7001, 41), (7002, 42), (7003, 43), (7004, 44)]


def test_sender_reports_relate_the_layers_clocks_exactly(clock: Clock) -> None:
    low, high = make_track()
    consumer, path = watch(low, high)
    high.receive(packet(HIGH_SSRC, 1, 90_000, 1, 1, key=True))
    # Both reports at one NTP second: high's clock reads 90,000 and low's 5,000,000 at that instant.
    high.sr_ntp = low.sr_ntp = 1 << 32
    high.sr_rtp, low.sr_rtp = 90_000, 5_000_000
    low.switch(consumer, low)
    low.receive(packet(LOW_SSRC, 1, 5_006_000, 9, 9, key=True))  # 6,000 ticks after that instant
    first, switched = path.timestamps()
    assert (switched - first) & 0xFFFFFFFF == 6000


def test_a_retransmission_after_a_switch_carries_the_shifted_counters(clock: Clock) -> None:
    low, high = make_track()
    consumer, path = watch(low, high)
    high.receive(packet(HIGH_SSRC, 1, 0, 100, 10, key=True))
    low.switch(consumer, low)
    low.receive(packet(LOW_SSRC, 50, 0, 900, 90, key=True))
    low.receive(packet(LOW_SSRC, 51, 3000, 901, 91))
    assert consumer.retransmit(path.seqs()[-1])
    assert counters_of(path.sent[-1]) == counters_of(path.sent[-2]) == (102, 12)


def test_switching_back_before_the_key_frame_cancels_the_switch(clock: Clock) -> None:
    low, high = make_track()
    consumer, path = watch(low, high)
    high.receive(packet(HIGH_SSRC, 1, 0, 1, 1, key=True))
    low.switch(consumer, low)
    low.switch(consumer, high)
    assert consumer.pending is None and low.switchers == []
    low.receive(packet(LOW_SSRC, 5, 0, 5, 5, key=True))
    assert consumer.producer is high and len(path.sent) == 1


def test_a_viewer_that_has_not_started_moves_at_once_and_closing_the_track_ends_every_layer(clock: Clock) -> None:
    low, high = make_track()
    consumer, path = watch(low, high)
    low.switch(consumer, low)  # nothing sent yet: it simply starts on the low layer
    assert consumer.producer is low and consumer in low.consumers and consumer not in high.consumers
    low.receive(packet(LOW_SSRC, 1, 0, 1, 1, key=True))
    assert len(path.sent) == 1
    closed = low.close()
    assert consumer in closed and consumer.closed and high.closed


def test_a_viewer_whose_slot_cannot_send_yet_is_not_started_by_a_switch(clock: Clock) -> None:
    low, high = make_track()
    slot, path = make_slot()
    consumer = LayeredConsumer("c-1", high, slot, "bob")  # its connection is not up: not in any fan-out
    low.switch(consumer, low)
    assert consumer.producer is low and not consumer.active and low.consumers == []
    low.add_consumer(consumer)  # what Router._activate does once the slot is ready
    low.receive(packet(LOW_SSRC, 1, 0, 1, 1, key=True))
    assert len(path.sent) == 1


def test_a_suspended_viewer_holds_its_numbering(clock: Clock) -> None:
    low, high = make_track()
    consumer, path = watch(low, high)
    high.receive(packet(HIGH_SSRC, 1, 0, 1, 1, key=True))
    high.suspend(consumer)
    high.receive(packet(HIGH_SSRC, 2, 3000, 2, 2))
    assert len(path.sent) == 1 and not consumer.active
    high.add_consumer(consumer)  # back: from the cached key frame, replayed at once, and on
    high.receive(packet(HIGH_SSRC, 3, 6000, 3, 3))
    assert path.seqs() == [1000, 1001, 1002, 1003]
    assert path.timestamps()[1:] == [path.timestamps()[0] + step for step in (0, 3000, 6000)]


# -- which layer each subscriber gets ------------------------------------------------------------------


def video(rates: tuple[int, ...] = (150_000, 900_000), tile: int = -1, important: bool = False,
          heights: tuple[int, ...] = (240, 480)) -> Video:
    return Video(rates, heights, tile, important)


def test_a_tile_gets_the_smallest_layer_sharp_enough_for_it() -> None:
    assert wanted_layer(video(tile=200)) == 0
    assert wanted_layer(video(tile=400)) == 1
    assert wanted_layer(video(tile=-1)) == 1  # size not told: the full picture
    assert wanted_layer(video(tile=200, heights=(-1, -1))) == 1  # heights not known yet


def test_audio_first_cuts_the_others_video_before_the_speakers() -> None:
    speaker, other = video(important=True), video()
    assert allocate(UNLIMITED, [speaker, other]) == [1, 1]
    assert allocate(1_100_000, [speaker, other]) == [1, 0]  # the others drop to the low layer first
    assert allocate(400_000, [speaker, other]) == [0, 0]  # then the speaker's
    assert allocate(200_000, [speaker, other]) == [0, PAUSED]  # then the others' video pauses
    assert allocate(100_000, [speaker, other]) == [PAUSED, PAUSED]  # and only then everyone's
    assert allocate(100_000, [video(rates=(500_000,), heights=(480,))]) == [PAUSED]  # one layer: on or off


def test_a_first_estimate_below_what_is_sent_is_not_congestion() -> None:
    ceiling = Ceiling()
    # A receiver's first estimates come from its first second, before the video ramped up.
    assert ceiling.update(0.0, 150_000, 1_000_000, 0.0) == UNLIMITED
    assert ceiling.update(1.0, 160_000, 1_000_000, 0.0) == UNLIMITED
    assert ceiling.update(2.0, 140_000, 1_000_000, 0.0) == 140_000  # a fall below what it is sent: congestion


def test_the_ceiling_follows_congestion_and_probes_back_up(clock: Clock) -> None:
    ceiling = Ceiling()
    assert ceiling.update(0.0, 2_000_000, 1_000_000, 0.0) == UNLIMITED
    assert ceiling.update(1.0, 300_000, 1_000_000, 0.0) == 300_000  # the estimate fell below what was sent
    assert ceiling.update(2.0, 300_000, 250_000, 0.2) == 300_000  # loss: congested, the ceiling holds
    calm = 2.0 + CALM_BEFORE_RAISE
    assert ceiling.update(calm - 1, 300_000, 250_000, 0.0) == 300_000  # calm, not long enough yet
    raised = ceiling.update(calm, 320_000, 250_000, 0.0)
    assert raised == pytest.approx(480_000)  # calm long enough: try more
    assert ceiling.update(calm + 1, 200_000, 400_000, 0.0) == 200_000  # too much: back down
    assert ceiling.wait == 2 * CALM_BEFORE_RAISE  # and wait longer before the next try
    value = 200_000.0
    for second in range(int(calm) + 2, 400):
        value = ceiling.update(float(second), 2_000_000, 600_000, 0.0)
    assert value == UNLIMITED  # a link that recovered is trusted again


# -- the contract with aiortc and Chromium --------------------------------------------------------------


async def test_aiortc_answers_chromiums_simulcast_offer_and_each_layer_is_learnt_from_its_packets() -> None:
    adapter.set_host_addresses(["127.0.0.1"])
    ids = itertools.count()
    drops = {reason: 0 for reason in DropReason}
    transport = PublishTransport("ana", TransportSettings((), "", False), drops, lambda p: f"{p}-{next(ids)}",
                                 lambda: None)
    try:
        answer, started, _ = await transport.negotiate(CHROMIUM_OFFER, {"0": "camera", "1": "microphone"})
        video = answer.split("m=audio")[0]
        assert "a=simulcast:recv l;h" in video and "a=rid:l recv" in video and "a=rid:h recv" in video
        assert f"a=extmap:10 {URI_RID}" in video and f"a=extmap:11 {URI_REPAIRED_RID}" in video
        camera = next(p for p in started if p.kind == "video")
        low, high = camera.layers
        assert (low.rid, high.rid) == ("l", "h") and low is camera and high.track is camera
        assert high.id == camera.id and (camera.payload_type, camera.rtx_payload_type) == (96, 97)

        def sent(ssrc: int, pt: int, elements: list[tuple[int, bytes]], body: bytes) -> bytes:
            return HEADER.pack(0x90, pt, 7, 1234, ssrc) + build_extension_block(elements) + body

        transport._on_rtp(sent(0xAAAA, 96, [(9, b"0"), (10, b"h")], descriptor(5, 1, key=True)))
        transport._on_rtp(sent(0xBBBB, 96, [(9, b"0"), (10, b"l")], descriptor(9, 3, key=True)))
        assert (high.ssrc, low.ssrc) == (0xAAAA, 0xBBBB) and high.packets_in == low.packets_in == 1
        # A retransmission names the layer it repairs; its payload starts with the original sequence number.
        transport._on_rtp(sent(0xCCCC, 97, [(9, b"0"), (11, b"h")], b"\x00\x08" + descriptor(6, 1, key=False)))
        assert transport.rtx_by_ssrc == {0xCCCC: high} and high.rtx_in == 1 and high.packets_in == 2
        # A RID the offer did not list binds nothing.
        transport._on_rtp(sent(0xDDDD, 96, [(9, b"0"), (10, b"x")], descriptor(1, 1, key=True)))
        assert drops[DropReason.UNKNOWN_SSRC] == 1
    finally:
        await transport.close()
