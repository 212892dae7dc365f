"""Tests for media.sdp: what the media core reads from a browser offer and the edits it makes to its SDP."""

from __future__ import annotations

import pytest

from media.errors import MediaError
from media.sdp import OfferedSection, add_opus_repair, announce_address, parse_offer

STREAM = "3d1f9b6e-6c4a-4f0e-9b1d-6d3c0b8a2f11"
FINGERPRINT = (
    "a=fingerprint:sha-256 "
    "6B:8B:5D:EA:59:04:20:23:29:C8:87:1C:CC:87:32:BE:DD:8C:66:A5:8E:50:55:EA:8C:D3:B6:5C:09:5E:D6:BC"
)

# A Chrome 120+ unified-plan offer: audio and video, sendrecv, RTX in an FID ssrc-group, msid.
CHROME_OFFER = "\r\n".join([
    "v=0",
    "o=- 4611731400430051336 2 IN IP4 127.0.0.1",
    "s=-",
    "t=0 0",
    "a=group:BUNDLE 0 1",
    "a=extmap-allow-mixed",
    "a=msid-semantic: WMS 3d1f9b6e-6c4a-4f0e-9b1d-6d3c0b8a2f11",
    "m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126",
    "c=IN IP4 0.0.0.0",
    "a=rtcp:9 IN IP4 0.0.0.0",
    "a=candidate:1467250027 1 udp 2122260223 192.168.1.20 54400 typ host generation 0 network-id 1",
    "a=candidate:2999745851 1 udp 1686052607 203.0.113.7 54400 typ srflx raddr 192.168.1.20 rport 54400 "
    "generation 0 network-id 1",
    "a=ice-ufrag:Hk3v",
    "a=ice-pwd:7sQ9b2VnYk3mZl0pR4tU8wXc",
    "a=ice-options:trickle",
    FINGERPRINT,
    "a=setup:actpass",
    "a=mid:0",
    "a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level",
    "a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
    "a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01",
    "a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid",
    "a=sendrecv",
    "a=msid:3d1f9b6e-6c4a-4f0e-9b1d-6d3c0b8a2f11 7c1e0f52-5a8e-4d6b-9c55-2b0e3a9f6d01",
    "a=rtcp-mux",
    "a=rtcp-rsize",
    "a=rtpmap:111 opus/48000/2",
    "a=rtcp-fb:111 transport-cc",
    "a=fmtp:111 minptime=10;useinbandfec=1",
    "a=rtpmap:63 red/48000/2",
    "a=fmtp:63 111/111",
    "a=rtpmap:9 G722/8000",
    "a=rtpmap:0 PCMU/8000",
    "a=rtpmap:8 PCMA/8000",
    "a=rtpmap:13 CN/8000",
    "a=rtpmap:110 telephone-event/48000",
    "a=rtpmap:126 telephone-event/8000",
    "a=ssrc:2964373418 cname:n0Jq3bkPzT0mYc2E",
    "a=ssrc:2964373418 msid:3d1f9b6e-6c4a-4f0e-9b1d-6d3c0b8a2f11 7c1e0f52-5a8e-4d6b-9c55-2b0e3a9f6d01",
    "m=video 9 UDP/TLS/RTP/SAVPF 96 97 102 103 45 46",
    "c=IN IP4 0.0.0.0",
    "a=rtcp:9 IN IP4 0.0.0.0",
    "a=ice-ufrag:Hk3v",
    "a=ice-pwd:7sQ9b2VnYk3mZl0pR4tU8wXc",
    "a=ice-options:trickle",
    FINGERPRINT,
    "a=setup:actpass",
    "a=mid:1",
    "a=extmap:14 urn:ietf:params:rtp-hdrext:toffset",
    "a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
    "a=extmap:13 urn:3gpp:video-orientation",
    "a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01",
    "a=extmap:5 http://www.webrtc.org/experiments/rtp-hdrext/playout-delay",
    "a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid",
    "a=extmap:10 urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id",
    "a=extmap:11 urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id",
    "a=sendrecv",
    "a=msid:3d1f9b6e-6c4a-4f0e-9b1d-6d3c0b8a2f11 0b9c4d2e-8f31-4a6c-b7e5-9d1a2c3b4e5f",
    "a=rtcp-mux",
    "a=rtcp-rsize",
    "a=rtpmap:96 VP8/90000",
    "a=rtcp-fb:96 goog-remb",
    "a=rtcp-fb:96 transport-cc",
    "a=rtcp-fb:96 ccm fir",
    "a=rtcp-fb:96 nack",
    "a=rtcp-fb:96 nack pli",
    "a=rtpmap:97 rtx/90000",
    "a=fmtp:97 apt=96",
    "a=rtpmap:102 H264/90000",
    "a=rtcp-fb:102 goog-remb",
    "a=rtcp-fb:102 transport-cc",
    "a=rtcp-fb:102 ccm fir",
    "a=rtcp-fb:102 nack",
    "a=rtcp-fb:102 nack pli",
    "a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
    "a=rtpmap:103 rtx/90000",
    "a=fmtp:103 apt=102",
    "a=rtpmap:45 AV1/90000",
    "a=fmtp:45 level-idx=5;profile=0;tier=0",
    "a=rtpmap:46 rtx/90000",
    "a=fmtp:46 apt=45",
    "a=ssrc-group:FID 1842257419 3316851520",
    "a=ssrc:1842257419 cname:n0Jq3bkPzT0mYc2E",
    "a=ssrc:1842257419 msid:3d1f9b6e-6c4a-4f0e-9b1d-6d3c0b8a2f11 0b9c4d2e-8f31-4a6c-b7e5-9d1a2c3b4e5f",
    "a=ssrc:3316851520 cname:n0Jq3bkPzT0mYc2E",
    "a=ssrc:3316851520 msid:3d1f9b6e-6c4a-4f0e-9b1d-6d3c0b8a2f11 0b9c4d2e-8f31-4a6c-b7e5-9d1a2c3b4e5f",
    "",
])


def offer_with(old: str, new: str) -> str:
    assert old in CHROME_OFFER, old
    return CHROME_OFFER.replace(old, new)


def test_parse_offer_reads_mids_kinds_directions_and_primary_ssrcs_of_a_chrome_offer() -> None:
    assert parse_offer(CHROME_OFFER) == [
        OfferedSection(mid="0", kind="audio", sending=True, ssrcs=(2964373418,), msid_stream=STREAM),
        # The video's FID group pairs its primary SSRC with its retransmission (RTX) SSRC.
        OfferedSection(mid="1", kind="video", sending=True, ssrcs=(1842257419,), msid_stream=STREAM,
                       rtx={1842257419: 3316851520}),
    ]


def test_parse_offer_excludes_the_rtx_ssrc_of_an_fid_group_whatever_the_line_order() -> None:
    reordered = offer_with(
        "a=ssrc:1842257419 cname:n0Jq3bkPzT0mYc2E\r\n",
        "",
    ) + "a=ssrc:1842257419 cname:n0Jq3bkPzT0mYc2E\r\n"
    assert parse_offer(reordered)[1].ssrcs == (1842257419,)


def test_parse_offer_excludes_fec_ssrcs() -> None:
    sdp = offer_with("a=ssrc-group:FID 1842257419 3316851520", "a=ssrc-group:FEC-FR 1842257419 3316851520")
    assert parse_offer(sdp)[1].ssrcs == (1842257419,)


def test_parse_offer_keeps_both_ssrcs_without_a_group() -> None:
    sdp = offer_with("a=ssrc-group:FID 1842257419 3316851520\r\n", "")
    assert parse_offer(sdp)[1].ssrcs == (1842257419, 3316851520)


@pytest.mark.parametrize(
    ("direction", "sending"),
    [("sendrecv", True), ("sendonly", True), ("recvonly", False), ("inactive", False)],
)
def test_parse_offer_marks_a_section_sending_only_when_its_direction_sends(direction: str, sending: bool) -> None:
    video_msid = f"a=msid:{STREAM} 0b9c"
    sdp = offer_with(f"a=sendrecv\r\n{video_msid}", f"a={direction}\r\n{video_msid}")
    audio, video = parse_offer(sdp)
    assert (audio.sending, video.sending) == (True, sending)


def test_parse_offer_marks_a_rejected_section_as_not_sending() -> None:
    sdp = offer_with("m=video 9 UDP", "m=video 0 UDP")
    assert parse_offer(sdp)[1].sending is False


def test_parse_offer_without_ssrc_lines_has_no_ssrcs() -> None:
    sdp = "\r\n".join(line for line in CHROME_OFFER.split("\r\n") if not line.startswith("a=ssrc"))
    assert [s.ssrcs for s in parse_offer(sdp)] == [(), ()]


def test_parse_offer_skips_a_data_channel_section() -> None:
    sdp = CHROME_OFFER + "\r\n".join([
        "m=application 9 UDP/DTLS/SCTP webrtc-datachannel",
        "c=IN IP4 0.0.0.0",
        "a=ice-ufrag:Hk3v",
        "a=ice-pwd:7sQ9b2VnYk3mZl0pR4tU8wXc",
        FINGERPRINT,
        "a=setup:actpass",
        "a=mid:2",
        "a=sctp-port:5000",
        "a=max-message-size:262144",
        "",
    ])
    assert [s.mid for s in parse_offer(sdp)] == ["0", "1"]


@pytest.mark.parametrize(
    ("sdp", "message"),
    [
        ("hello", "the offer is not an SDP session description"),
        ("", "the offer is not an SDP session description"),
        (None, "the offer is not an SDP session description"),
        (b"v=0\r\n", "the offer is not an SDP session description"),
        ({"sdp": "v=0"}, "the offer is not an SDP session description"),
        (" v=0\r\n", "the offer is not an SDP session description"),
        ("v=0\r\n", "the offer has no audio or video m-line with a mid"),
        ("v=0\r\nm=audio", "the offer could not be parsed (AssertionError)"),
        ("v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=rtpmap:111",
         "the offer could not be parsed (ValueError)"),
    ],
)
def test_parse_offer_refuses_garbage_with_invalid_sdp(sdp, message: str) -> None:
    with pytest.raises(MediaError) as info:
        parse_offer(sdp)
    assert (info.value.code, info.value.message, str(info.value)) == ("invalid-sdp", message, message)


def test_parse_offer_of_every_truncation_returns_sections_or_refuses_with_invalid_sdp() -> None:
    for cut in range(0, len(CHROME_OFFER), 7):
        try:
            parse_offer(CHROME_OFFER[:cut])
        except MediaError as exc:
            assert exc.code == "invalid-sdp"


def test_parse_offer_refuses_an_offer_whose_sections_have_no_mid() -> None:
    sdp = offer_with("a=mid:0\r\n", "").replace("a=mid:1\r\n", "")
    with pytest.raises(MediaError) as info:
        parse_offer(sdp)
    assert info.value.message == "the offer has no audio or video m-line with a mid"


# -- edits to our own SDP ------------------------------------------------------------------------------

# The audio part of an answer as aiortc 1.16 writes it: an Opus rtpmap and no fmtp for it.
AIORTC_ANSWER = "\r\n".join([
    "v=0",
    "o=- 3911234567 3911234567 IN IP4 0.0.0.0",
    "s=-",
    "t=0 0",
    "a=group:BUNDLE 0 1",
    "a=msid-semantic:WMS *",
    "m=audio 51234 UDP/TLS/RTP/SAVPF 111",
    "c=IN IP4 10.0.0.5",
    "a=sendrecv",
    "a=extmap:1 urn:ietf:params:rtp-hdrext:sdes:mid",
    "a=extmap:2 urn:ietf:params:rtp-hdrext:ssrc-audio-level",
    "a=mid:0",
    "a=rtcp:9 IN IP4 0.0.0.0",
    "a=rtcp-mux",
    "a=ssrc:1111 cname:aiortc-cname",
    "a=rtpmap:111 opus/48000/2",
    "a=candidate:0f1e2d3c 1 udp 2130706431 10.0.0.5 51234 typ host",
    "a=candidate:4b5c6d7e 1 udp 1694498815 198.51.100.9 51234 typ srflx raddr 10.0.0.5 rport 51234",
    "a=end-of-candidates",
    "a=ice-ufrag:abcd",
    "a=ice-pwd:0123456789abcdefghijkl",
    "a=fingerprint:sha-256 AA:BB",
    "a=setup:active",
    "m=video 51234 UDP/TLS/RTP/SAVPF 96 97",
    "c=IN IP4 10.0.0.5",
    "a=sendrecv",
    "a=mid:1",
    "a=rtpmap:96 VP8/90000",
    "a=rtpmap:97 rtx/90000",
    "a=fmtp:97 apt=96",
    "",
])


def test_add_opus_repair_asks_for_fec_and_retransmissions_right_after_the_opus_rtpmap() -> None:
    lines = add_opus_repair(AIORTC_ANSWER).split("\r\n")
    at = lines.index("a=rtpmap:111 opus/48000/2")
    assert lines[at + 1 : at + 3] == ["a=fmtp:111 minptime=10;useinbandfec=1", "a=rtcp-fb:111 nack"]
    assert len(lines) == len(AIORTC_ANSWER.split("\r\n")) + 2


def test_add_opus_repair_inserts_only_once() -> None:
    once = add_opus_repair(AIORTC_ANSWER)
    assert add_opus_repair(once) == once
    assert once.count("a=fmtp:111 ") == 1 and once.count("a=rtcp-fb:111 nack\r\n") == 1


def test_add_opus_repair_leaves_an_existing_opus_fmtp_alone() -> None:
    sdp = AIORTC_ANSWER.replace("a=rtpmap:111 opus/48000/2", "a=rtpmap:111 opus/48000/2\r\na=fmtp:111 stereo=1")
    assert add_opus_repair(sdp) == sdp.replace("a=fmtp:111 stereo=1", "a=rtcp-fb:111 nack\r\na=fmtp:111 stereo=1")
    # A "nack pli" line is other feedback: plain nack is still asked for.
    sdp = AIORTC_ANSWER.replace("a=rtpmap:111 opus/48000/2", "a=rtpmap:111 opus/48000/2\r\na=rtcp-fb:111 nack pli")
    assert "a=rtcp-fb:111 nack\r\n" in add_opus_repair(sdp)


def test_add_opus_repair_uses_the_negotiated_payload_type() -> None:
    sdp = AIORTC_ANSWER.replace("111", "109")
    assert ("a=rtpmap:109 opus/48000/2\r\na=fmtp:109 minptime=10;useinbandfec=1\r\na=rtcp-fb:109 nack\r\n"
            in add_opus_repair(sdp))


def test_add_opus_repair_leaves_sdp_without_opus_alone() -> None:
    sdp = AIORTC_ANSWER.replace("a=rtpmap:111 opus/48000/2", "a=rtpmap:111 G722/8000")
    assert add_opus_repair(sdp) == sdp


def test_announce_address_rewrites_host_candidates_and_connection_lines_only() -> None:
    out = announce_address(AIORTC_ANSWER, "203.0.113.50")
    changed = [(a, b) for a, b in zip(AIORTC_ANSWER.split("\r\n"), out.split("\r\n"), strict=False) if a != b]
    assert changed == [
        ("c=IN IP4 10.0.0.5", "c=IN IP4 203.0.113.50"),
        ("a=candidate:0f1e2d3c 1 udp 2130706431 10.0.0.5 51234 typ host",
         "a=candidate:0f1e2d3c 1 udp 2130706431 203.0.113.50 51234 typ host"),
        ("c=IN IP4 10.0.0.5", "c=IN IP4 203.0.113.50"),
    ]


def test_announce_address_writes_an_ip6_connection_line_for_an_ipv6_address() -> None:
    out = announce_address(AIORTC_ANSWER, "2001:db8::5")
    assert "c=IN IP6 2001:db8::5\r\n" in out
    assert "a=candidate:0f1e2d3c 1 udp 2130706431 2001:db8::5 51234 typ host\r\n" in out


def test_announce_address_without_an_address_changes_nothing() -> None:
    assert announce_address(AIORTC_ANSWER, "") is AIORTC_ANSWER


def test_an_offer_with_too_many_mlines_is_refused_before_parsing() -> None:
    from media.sdp import MAX_OFFER_MLINES

    section = CHROME_OFFER.split("m=audio", 1)[1]
    huge = CHROME_OFFER + "".join("m=audio" + section for _ in range(MAX_OFFER_MLINES))
    with pytest.raises(MediaError) as refused:
        parse_offer(huge)
    assert refused.value.code == "invalid-sdp" and "m-lines" in refused.value.message


def test_an_offer_longer_than_the_cap_is_refused() -> None:
    from media.sdp import MAX_OFFER_CHARS

    with pytest.raises(MediaError) as refused:
        parse_offer(CHROME_OFFER + "a=x-pad:" + "x" * MAX_OFFER_CHARS + "\r\n")
    assert refused.value.code == "invalid-sdp"


def test_check_size_passes_a_description_within_the_caps() -> None:
    from media.sdp import check_size

    assert check_size(CHROME_OFFER, 100_000, 2, "offer") == CHROME_OFFER
    with pytest.raises(MediaError):
        check_size(CHROME_OFFER, 100_000, 1, "answer")


@pytest.mark.parametrize(("old", "new", "message"), [
    (FINGERPRINT, "", "no DTLS fingerprint of sha-256 or stronger"),
    ("a=setup:actpass", "", "no DTLS role (a=setup) and fingerprint"),
    (FINGERPRINT, FINGERPRINT.replace("sha-256", "sha-1"), "no DTLS fingerprint of sha-256 or stronger"),
    (FINGERPRINT, FINGERPRINT.replace("sha-256", "md5"), "no DTLS fingerprint of sha-256 or stronger"),
    ("a=ice-ufrag:Hk3v", "a=ice-ufrag:Hk3", "ice-ufrag must have 4 to 256 characters"),
    ("a=ice-ufrag:Hk3v", "a=ice-ufrag:" + "u" * 257, "ice-ufrag must have 4 to 256 characters"),
    ("a=ice-pwd:7sQ9b2VnYk3mZl0pR4tU8wXc", "a=ice-pwd:short", "ice-pwd must have 22 to 256 characters"),
    ("a=ice-pwd:7sQ9b2VnYk3mZl0pR4tU8wXc", "a=ice-pwd:" + "p" * 257, "ice-pwd must have 22 to 256 characters"),
])
def test_parse_offer_refuses_weak_dtls_fingerprints_and_ice_credentials_outside_rfc_8839(old, new, message) -> None:
    with pytest.raises(MediaError) as refused:
        parse_offer(offer_with(old, new))
    assert refused.value.code == "invalid-sdp" and message in refused.value.message


def test_parse_offer_accepts_a_stronger_fingerprint_beside_a_weak_one() -> None:
    sections = parse_offer(offer_with(FINGERPRINT, FINGERPRINT.replace("sha-256", "sha-1") + "\r\n" + FINGERPRINT
                                      .replace("sha-256", "sha-384")))
    assert sections
