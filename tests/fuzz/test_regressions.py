"""Plain example tests of the inputs the fuzz targets found, so each bug stays fixed without hypothesis."""

from __future__ import annotations

import struct
import time

import pytest

from media.errors import MediaError
from media.rtcp import MAX_RTCP_BYTES, Feedback, build_sender_report, parse_feedback, parse_sender_reports
from media.rtp import URI_AUDIO_LEVEL, ExtensionTranslator
from media.sdp import OfferedSection, parse_offer
from signaling.limits import MAX_SDP_CHARS
from signaling.protocol import ProtocolError, Request, encode, parse_message
from tests.unit.test_sdp import CHROME_OFFER


@pytest.mark.parametrize("text", [
    '{"type":"admit-all","id":"\\ud800"}',  # the input found: a request id with a lone surrogate
    '{"type":"chat","id":1,"to":"everyone","text":"hi \\udfff"}',
    '{"type":"agenda-update","id":1,"phases":[{"title":"\\ud83d"}]}',
    '{"type":"agenda-update","id":1,"phases":{"\\udc00":1}}',
])
def test_a_lone_surrogate_escape_is_a_bad_request(text: str) -> None:
    # Accepted, it would be echoed to the sender (the id) or to everyone (chat, agenda) and make
    # aiohttp's strict UTF-8 encoding raise in each recipient's writer.
    with pytest.raises(ProtocolError) as refused:
        parse_message(text)
    assert refused.value.code == "bad-request"
    encode({"type": "error", "id": refused.value.request_id, "message": refused.value.message}).encode("utf-8")


def test_an_escaped_surrogate_pair_is_still_accepted() -> None:
    request = parse_message('{"type":"chat","id":"\\ud83d\\ude00","to":"everyone","text":"\\ud83d\\ude00 ok"}')
    assert request == Request("chat", "\U0001f600", {"to": "everyone", "text": "\U0001f600 ok"})


@pytest.mark.parametrize("packet", [b"", b"\x00", b"\x80\x60", bytes(11)])
def test_translate_refuses_a_packet_shorter_than_the_rtp_header(packet: bytes) -> None:
    # Found by tests/fuzz/test_rtp.py: b"" raised IndexError, b"\x00" came back as a forwardable packet.
    assert ExtensionTranslator({URI_AUDIO_LEVEL: 1}).translate(packet) == (-1, b"", -1)


def nack_datagram(size: int) -> bytes:
    """One NACK filling a datagram of about ``size`` bytes, every entry reporting 17 losses."""
    payload = struct.pack("!II", 1, 2) + struct.pack("!HH", 100, 0xFFFF) * ((size - 12) // 4)
    return struct.pack("!BBH", 0x81, 205, len(payload) // 4) + payload


def test_an_oversized_rtcp_datagram_is_ignored_unparsed() -> None:
    # Found by tests/fuzz/test_rtcp.py: a 64 KB NACK (276,000 losses) took ~64 ms to parse on the event loop.
    started = time.perf_counter()
    assert parse_feedback(nack_datagram(65_000)) == Feedback()
    assert parse_sender_reports(nack_datagram(65_000) + build_sender_report(1, 2, 3, 4, 5, "c")) == []
    assert time.perf_counter() - started < 0.1


def test_rtcp_up_to_one_mtu_is_still_parsed() -> None:
    data = nack_datagram(MAX_RTCP_BYTES)
    assert len(data) <= MAX_RTCP_BYTES
    assert len(parse_feedback(data).nacks[2]) == 17 * ((len(data) - 12) // 4)


@pytest.mark.parametrize("msid", ["a=msid: ", "a=msid:\t", "a=msid:  "])
def test_a_blank_msid_is_an_offer_without_a_stream(msid: str) -> None:
    # Found by tests/fuzz/test_sdp.py: a whitespace-only msid raised IndexError out of parse_offer.
    credentials = ["a=ice-ufrag:abcd", "a=ice-pwd:" + "p" * 22, "a=fingerprint:sha-256 AA:BB", "a=setup:actpass"]
    offer = "\r".join(["v=0", "m=audio 0 A 0", "a=mid:0", *credentials, msid]) + "\r\n"
    assert parse_offer(offer) == [OfferedSection(mid="0", kind="audio", sending=False, ssrcs=(), msid_stream=None)]


@pytest.mark.parametrize("lines", [
    "a=rtpmap:96 VP8/90000\r\na=rtcp-fb:96 nack\r\n" * 2378,  # was 7.5 s: every feedback line x every codec
    "".join(f"a=ssrc:{n} cname:x\r\n" for n in range(4809)),  # was 0.2 s: every SSRC searched the others
    "".join(f"a=rtpmap:{n} VP8/90000\r\na=fmtp:{n} x=1\r\n" for n in range(2300)),  # every fmtp searched the codecs
])
def test_an_offer_that_would_make_aiortc_parse_quadratically_is_invalid_sdp(lines: str) -> None:
    # Found by tests/fuzz/test_sdp.py: 100 KB offers (the protocol's limit) of these lines held the event loop.
    offer = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:0\r\n" + lines
    assert len(offer) <= MAX_SDP_CHARS
    started = time.perf_counter()
    with pytest.raises(MediaError) as refused:
        parse_offer(offer)
    assert refused.value.code == "invalid-sdp"
    assert time.perf_counter() - started < 0.5


def test_a_chrome_offer_is_far_from_the_parse_cost_bounds() -> None:
    offer = CHROME_OFFER.replace("a=mid:1", "a=mid:1\r\n" + "a=ssrc:1 cname:x\r\n" * 100)
    assert [section.mid for section in parse_offer(offer)] == ["0", "1"]
