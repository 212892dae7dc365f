"""Fuzz target: ``media.sdp.parse_offer``, which reads every publisher's offer before aiortc applies it.

For any text it returns the offer's sections or raises MediaError('invalid-sdp'); never another
exception (that would reach the client as internal-error and the log as a traceback). Offers are drawn
as random text, as a real Chrome offer with lines dropped, repeated, reordered, cut, or given random
values after their ``a=name:``, and as offers written from SDP's grammar with mostly plausible values.
The largest offer the protocol accepts, made of any repeated lines, must parse in linear time.
"""

from __future__ import annotations

import timeit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from media.errors import MediaError
from media.sdp import OfferedSection, parse_offer
from signaling.limits import MAX_SDP_CHARS
from tests.fuzz.support import FUZZ, LONG_EXAMPLES
from tests.unit.test_sdp import CHROME_OFFER

LINES = CHROME_OFFER.split("\r\n")
VALUES = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["", " ", "\t", "  x", "0", "-1", "99999999999999999999", "FID", "FID 1 x", "a b c", ":", "*"]),
)


@st.composite
def mutated_offers(draw: st.DrawFn) -> str:
    lines = list(LINES)
    for _ in range(draw(st.integers(1, 6))):
        i = draw(st.integers(0, len(lines) - 1))
        how = draw(st.integers(0, 4))
        if how == 0:
            del lines[i]
        elif how == 1:
            lines.insert(draw(st.integers(0, len(lines))), lines[i])
        elif how == 2:  # keep the attribute's name, change its value
            name = lines[i].split(":", 1)[0] if ":" in lines[i] else lines[i][:2]
            lines[i] = f"{name}:{draw(VALUES)}" if ":" in lines[i] else f"{name}{draw(VALUES)}"
        elif how == 3:
            lines[i] = lines[i][: draw(st.integers(0, len(lines[i])))]
        else:
            lines.insert(i, draw(st.sampled_from(["a=", "m=", "c=", "a=ssrc-group:", "a=ssrc:", "a=msid:",
                                                  "a=mid:", "a=extmap:", "a=rtpmap:", "a=fmtp:"])) + draw(VALUES))
        if not lines:
            lines = ["v=0"]
    return draw(st.sampled_from(["\r\n", "\n"])).join(lines) + draw(st.sampled_from(["", "\r\n"]))


# True one time in eight (not at an end of the range: hypothesis draws those more often).
RARELY = st.integers(0, 7).map(lambda i: i == 5)


def mostly(*plausible: str) -> st.SearchStrategy[str]:
    """A plausible value seven times in eight, else an odd one (most offers then pass aiortc's parser)."""
    good = st.sampled_from(plausible)
    return RARELY.flatmap(lambda odd: VALUES if odd else good)


# Attributes parse_offer or aiortc's parser read.
ATTRIBUTES = {
    "mid": mostly("0", "1", "audio", "a b"),
    "msid": mostly("s t", "s", "- t", "s  t", " s t", " ", ""),  # RFC 8830: an id, then an optional appdata
    "ssrc": st.one_of(st.tuples(st.integers(0, 2**32 - 1), st.sampled_from(["cname:x", "msid:s t", "label:y"])).map(
        lambda t: f"{t[0]} {t[1]}"), VALUES),
    "ssrc-group": st.tuples(st.sampled_from(["FID", "FEC-FR", "SIM"]), st.lists(st.integers(0, 2**32 - 1), max_size=3)
                            ).map(lambda t: " ".join([t[0], *map(str, t[1])])),
    "rtpmap": mostly("96 VP8/90000", "111 opus/48000/2", "97 rtx/90000", "102 H264/90000"),
    "fmtp": mostly("97 apt=96", "111 minptime=10;useinbandfec=1", "102 profile-level-id=42e01f"),
    "extmap": mostly("1 urn:ietf:params:rtp-hdrext:sdes:mid", "2 urn:ietf:params:rtp-hdrext:ssrc-audio-level"),
    "rtcp-fb": mostly("96 nack", "96 nack pli", "96 goog-remb"),
    "setup": mostly("actpass", "active", "passive"),
    "ice-ufrag": mostly("abcd"),
    "ice-pwd": mostly("abcdefghijklmnopqrstuv"),
    "group": mostly("BUNDLE 0 1", "BUNDLE 0"),
    "msid-semantic": mostly(" WMS s", " WMS *", "WMS"),
}
FLAGS = ["sendonly", "sendrecv", "recvonly", "inactive", "rtcp-mux", "extmap-allow-mixed"]


@st.composite
def grammar_offers(draw: st.DrawFn) -> str:
    """An offer written from SDP's grammar: a session part, then m-sections of random attributes."""
    lines = ["v=0", "o=- 1 2 IN IP4 127.0.0.1", "s=-", "t=0 0"]

    def attribute() -> str:
        if draw(st.integers(0, 2)) == 0:
            return "a=" + draw(st.sampled_from(FLAGS))
        name = draw(st.sampled_from(sorted(ATTRIBUTES)))
        return f"a={name}:{draw(ATTRIBUTES[name])}"

    lines += [attribute() for _ in range(draw(st.integers(0, 2)))]
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["audio", "video", "audio", "video", "application", "text"]))
        if not draw(RARELY):
            port, formats = draw(st.sampled_from(["9", "0"])), draw(st.sampled_from(["96 97", "111", "96 97 102"]))
            lines.append(f"m={kind} {port} UDP/TLS/RTP/SAVPF {formats}")
        else:
            lines.append(f"m={kind} {draw(VALUES)}")
        if draw(st.booleans()):
            lines.append("c=" + draw(mostly("IN IP4 0.0.0.0", "IN IP6 ::")))
        if not draw(RARELY):  # parse_offer skips a section without a mid: most have one
            lines.append(f"a=mid:{draw(ATTRIBUTES['mid'])}")
        for name in ("msid", "ssrc", "ssrc-group", "ssrc"):  # what parse_offer reads after aiortc
            if draw(st.booleans()):
                lines.append(f"a={name}:{draw(ATTRIBUTES[name])}")
        if draw(st.booleans()):
            lines.append("a=" + draw(st.sampled_from(FLAGS[:4])))
        lines += [attribute() for _ in range(draw(st.integers(0, 4)))]
    return ("\n" if draw(RARELY) else "\r\n").join(lines) + "\r\n"


OFFERS = st.one_of(st.text(), st.text().map(lambda t: "v=0\r\n" + t), mutated_offers(), grammar_offers())


@FUZZ
@given(OFFERS)
def test_any_offer_parses_or_is_invalid_sdp(sdp: str) -> None:
    try:
        sections = parse_offer(sdp)
    except MediaError as exc:
        assert exc.code == "invalid-sdp"
        return
    assert sections and all(isinstance(section, OfferedSection) for section in sections)
    for section in sections:
        assert section.mid and section.kind in ("audio", "video")
        assert all(isinstance(ssrc, int) for ssrc in section.ssrcs)
        assert len(set(section.ssrcs)) == len(section.ssrcs)
        assert section.msid_stream is None or (section.msid_stream and not section.msid_stream.isspace())


def test_the_real_offer_parses() -> None:
    assert [section.mid for section in parse_offer(CHROME_OFFER)] == ["0", "1"]


# Lines aiortc's parser does per-line work for; repeated to fill the largest offer the protocol accepts.
REPEATED = [
    "a=ssrc:{n} cname:x", "a=ssrc:1 msid:s t", "a=rtpmap:96 VP8/90000", "a=rtpmap:{n} VP8/90000", "a=rtcp-fb:96 nack",
    "a=rtcp-fb:* nack", "a=rtcp-fb:{n} nack", "a=fmtp:96 x=1", "a=fmtp:{n} x=1", "a=extmap:{n} urn:x",
    "a=candidate:1 1 udp 1 192.0.2.1 {n} typ host", "a=msid:s t", "a=ssrc-group:FID {n} 1", "a=group:BUNDLE 0",
    "m=video 9 UDP/TLS/RTP/SAVPF 96", "a=mid:{n}", "a=x",
]


def largest_offer(templates: list[str], kind: str = "video") -> str:
    head = f"v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm={kind} 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:0\r\n"
    group = "\r\n".join(templates) + "\r\n"
    count = (MAX_SDP_CHARS - len(head)) // (len(group) + 5 * len(templates))
    sdp = head + "".join(group.format(n=n) for n in range(count))
    assert len(sdp) <= MAX_SDP_CHARS
    return sdp


def parse_time(sdp: str) -> float:
    """The fastest of three parses: a spike of a loaded machine does not count, quadratic work does."""
    def once() -> None:
        try:
            parse_offer(sdp)
        except MediaError as exc:
            assert exc.code == "invalid-sdp"

    return min(timeit.repeat(once, number=1, repeat=3))


BASELINE = parse_time(largest_offer(["a=x"]))  # 100 KB of lines aiortc skips: linear work


def assert_linear(sdp: str) -> None:
    # Signaling and media share one event loop: an offer (parsed again by aiortc if accepted) must cost
    # about what reading 100 KB costs. Relative to that, so the bound holds on fast and slow machines; a
    # quadratic parse was 7 to 300 times the baseline.
    elapsed = parse_time(sdp)
    assert elapsed < 4 * BASELINE + 0.005, f"{elapsed * 1000:.0f} ms, baseline {BASELINE * 1000:.0f} ms"


# Codecs and the lines aiortc looks a codec up for: every pair of them, besides the drawn combinations.
CODEC_LINES = [t for t in REPEATED if t.startswith(("a=rtpmap", "a=rtcp-fb", "a=fmtp"))]


@pytest.mark.parametrize("templates", [[t] for t in REPEATED] + [
    [codec, line] for codec in CODEC_LINES if codec.startswith("a=rtpmap") for line in CODEC_LINES if line != codec])
def test_the_largest_offer_of_one_or_two_repeated_lines_parses_in_linear_time(templates: list[str]) -> None:
    assert_linear(largest_offer(templates))


@settings(FUZZ, max_examples=LONG_EXAMPLES or 20)
@given(st.lists(st.sampled_from(REPEATED), min_size=2, max_size=4, unique=True), st.sampled_from(["audio", "video"]))
def test_the_largest_offer_of_repeated_lines_parses_in_linear_time(templates: list[str], kind: str) -> None:
    assert_linear(largest_offer(templates, kind))
