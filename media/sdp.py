"""SDP facts the media core needs from offers, and the small edits it makes to its own SDP."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import Any

from aiortc.sdp import SessionDescription

from .errors import MediaError

SENDING = ("sendonly", "sendrecv")

# aiortc's parser costs ~2.4 ms per m-line (a 500-m-line offer stalls every room for 1.2 s), so size
# and m-lines are counted before anything parses. A publisher has at most four tracks; a few ended
# m-lines stay in its offers (aiortc cannot recycle them).
MAX_OFFER_CHARS = 64 * 1024
MAX_OFFER_MLINES = 16
# A subscriber answers our offer: one m-line per slot, each well under this many characters.
ANSWER_BASE_CHARS = 4096
ANSWER_CHARS_PER_MLINE = 4096


def check_size(sdp: object, max_chars: int, max_mlines: int, what: str) -> str:
    """Refuse SDP that is not a session description or is too large, before it is parsed."""
    if not isinstance(sdp, str) or not sdp.startswith("v=0"):
        raise MediaError("invalid-sdp", f"the {what} is not an SDP session description")
    if len(sdp) > max_chars:
        raise MediaError("invalid-sdp", f"the {what} is longer than {max_chars} characters")
    if sdp.count("\nm=") > max_mlines:
        raise MediaError("invalid-sdp", f"the {what} has more than {max_mlines} m-lines")
    return sdp


# RFC 8827 section 6.5: the DTLS fingerprint must use a hash no weaker than SHA-256 (browsers offer
# sha-256); sha-1 and md5 certificates can be forged. RFC 8839 section 5.4: ice-ufrag has 4 to 256
# characters and ice-pwd 22 to 256, so a peer cannot make our STUN checks trivially guessable.
STRONG_FINGERPRINTS = frozenset({"sha-256", "sha-384", "sha-512"})
ICE_UFRAG_CHARS = (4, 256)
ICE_PWD_CHARS = (22, 256)


def check_credentials(media: Any) -> None:
    """Refuse an m-line without a strong DTLS fingerprint or with ICE credentials outside RFC 8839."""
    if media.dtls is None:  # aiortc drops the DTLS parameters of an m-line without a=setup
        raise MediaError("invalid-sdp", "the offer has no DTLS role (a=setup) and fingerprint")
    fingerprints = media.dtls.fingerprints
    if not any(f.algorithm.lower() in STRONG_FINGERPRINTS for f in fingerprints):
        raise MediaError("invalid-sdp", "the offer has no DTLS fingerprint of sha-256 or stronger")
    ufrag, pwd = media.ice.usernameFragment or "", media.ice.password or ""
    if not ICE_UFRAG_CHARS[0] <= len(ufrag) <= ICE_UFRAG_CHARS[1]:
        raise MediaError("invalid-sdp", "the offer's ice-ufrag must have 4 to 256 characters")
    if not ICE_PWD_CHARS[0] <= len(pwd) <= ICE_PWD_CHARS[1]:
        raise MediaError("invalid-sdp", "the offer's ice-pwd must have 22 to 256 characters")


# aiortc's parser does quadratic work in two places: every a=rtcp-fb and a=fmtp line is matched against
# the a=rtpmap codecs of its m-section, and every a=ssrc line searches the SSRCs the section has so far.
# A 100 KB offer (the protocol's limit) of such lines held the event loop, which signaling and media
# share, for 7.5 s (2,400 codecs x 2,400 feedback lines) or 0.2 s (4,800 SSRCs). Browser offers are far
# below both bounds: Chrome's video section has ~40 codecs x ~120 feedback and fmtp lines, 4 to 12 ssrc lines.
MAX_CODEC_FEEDBACK_PAIRS = 50_000  # sum over m-sections of (a=rtpmap lines x a=rtcp-fb and a=fmtp lines)
MAX_SSRC_LINES = 1024  # a=ssrc lines in the whole offer


def _too_costly(sdp: str) -> bool:
    """Tell whether an offer would make aiortc's parser do more than linear work; one linear pass."""
    pairs = ssrcs = codecs = feedback = 0
    for line in sdp.splitlines():  # aiortc splits lines the same way
        if line.startswith("m="):
            pairs, codecs, feedback = pairs + codecs * feedback, 0, 0
        elif line.startswith("a=rtpmap:"):
            codecs += 1
        elif line.startswith(("a=rtcp-fb:", "a=fmtp:")):
            feedback += 1
        elif line.startswith("a=ssrc:"):
            ssrcs += 1
    return pairs + codecs * feedback > MAX_CODEC_FEEDBACK_PAIRS or ssrcs > MAX_SSRC_LINES


@dataclass(frozen=True)
class OfferedSection:
    """One m-line of a publisher's offer."""

    mid: str
    kind: str
    sending: bool
    ssrcs: tuple[int, ...]  # primary SSRCs (RTX/FEC SSRCs of ssrc-groups excluded)
    msid_stream: str | None
    rtx: dict[int, int] = field(default_factory=dict)  # primary SSRC -> its RTX SSRC (a=ssrc-group:FID)
    # Simulcast (RFC 8853): the layers' RIDs in the offer's order, which the client lists lowest first,
    # and the ids of the RID header extensions that name each layer's packets and their retransmissions.
    rids: tuple[str, ...] = ()
    rid_ext_id: int | None = None
    repaired_rid_ext_id: int | None = None


def parse_offer(sdp: str) -> list[OfferedSection]:
    """Parse a publisher's offer into its m-lines; raise MediaError('invalid-sdp') if it is not SDP."""
    check_size(sdp, MAX_OFFER_CHARS, MAX_OFFER_MLINES, "offer")
    if _too_costly(sdp):
        raise MediaError("invalid-sdp", "the offer has more codecs, feedback or SSRC lines than Haven reads")
    try:
        description = SessionDescription.parse(sdp)
    except Exception as exc:  # aiortc's parser raises ValueError, KeyError, IndexError…
        raise MediaError("invalid-sdp", f"the offer could not be parsed ({type(exc).__name__})") from None
    sections = []
    raw = _raw_sections(sdp)
    for index, media in enumerate(description.media):
        if media.kind not in ("audio", "video") or not media.rtp.muxId:
            continue
        check_credentials(media)
        extensions = {e.uri: e.id for e in media.rtp.headerExtensions}
        rids = _simulcast_rids(raw[index] if index < len(raw) else [], media.kind)
        if rids and URI_RID not in extensions:
            raise MediaError("invalid-sdp", "a simulcast m-line must negotiate the rtp-stream-id extension")
        secondary = {int(item) for group in media.ssrc_group if group.semantic in ("FID", "FEC-FR")
                     for item in group.items[1:]}
        primary = tuple(s.ssrc for s in media.ssrc if s.ssrc not in secondary)
        rtx = {int(group.items[0]): int(group.items[1]) for group in media.ssrc_group
               if group.semantic == "FID" and len(group.items) == 2}
        msid = (media.msid or "").split()  # "a=msid: " gives a blank msid, not an IndexError
        stream = msid[0] if msid else None
        sections.append(
            OfferedSection(
                mid=media.rtp.muxId,
                kind=media.kind,
                sending=media.port != 0 and media.direction in SENDING,
                ssrcs=tuple(dict.fromkeys(primary)),
                rtx=rtx,
                msid_stream=stream,
                rids=rids,
                rid_ext_id=extensions.get(URI_RID) if rids else None,
                repaired_rid_ext_id=extensions.get(URI_REPAIRED_RID) if rids else None,
            )
        )
    if not sections:
        raise MediaError("invalid-sdp", "the offer has no audio or video m-line with a mid")
    return sections


URI_RID = "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id"
URI_REPAIRED_RID = "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id"
MAX_LAYERS = 3
_RID = re.compile(r"^[A-Za-z0-9_-]{1,16}$")


def _raw_sections(sdp: str) -> list[list[str]]:
    """Split SDP into the attribute lines of each m-section, in order (as aiortc lists them)."""
    sections: list[list[str]] = []
    for line in sdp.splitlines():
        if line.startswith("m="):
            sections.append([])
        elif sections:
            sections[-1].append(line)
    return sections


def _simulcast_rids(lines: list[str], kind: str) -> tuple[str, ...]:
    """Return the RIDs a section offers to send as simulcast (``a=simulcast:send``), lowest first.

    Of alternatives (``a,b``) the first is taken, a layer offered paused (``~a``) is left out, and every
    RID must have its ``a=rid:<id> send`` line. A section without simulcast gives ().
    """
    listing = next((line[len("a=simulcast:"):].split() for line in lines if line.startswith("a=simulcast:")), None)
    if not listing:
        return ()
    if kind != "video" or len(listing) < 2 or listing[0] != "send":
        raise MediaError("invalid-sdp", "Haven accepts simulcast only as a=simulcast:send on video")
    declared = {parts[0][len("a=rid:"):] for parts in (line.split() for line in lines if line.startswith("a=rid:"))
                if len(parts) >= 2 and parts[1] == "send"}
    rids = []
    for layer in listing[1].split(";"):
        rid = layer.split(",")[0]
        if rid.startswith("~"):
            continue
        if not _RID.match(rid) or rid not in declared or rid in rids:
            raise MediaError("invalid-sdp", "a simulcast layer has no a=rid line or an invalid RID")
        rids.append(rid)
    if len(rids) > MAX_LAYERS:
        raise MediaError("invalid-sdp", f"the offer has more than {MAX_LAYERS} simulcast layers")
    return tuple(rids) if len(rids) > 1 else ()


def accept_simulcast(answer: str, sections: list[OfferedSection]) -> str:
    """Add to aiortc's answer the simulcast lines it does not know: RIDs to receive and their extensions.

    Without ``a=simulcast:recv`` the browser sends one layer only; without the RID extensions (in the
    offer's ids) its packets would not say which layer they are.
    """
    layered = {s.mid: s for s in sections if s.rids}
    if not layered:
        return answer
    out: list[str] = []
    pending: list[str] = []

    def flush() -> None:
        out.extend(pending)
        pending.clear()

    for line in answer.split("\r\n"):
        if line.startswith("m="):
            flush()
        out.append(line)
        if line.startswith("a=mid:") and line[len("a=mid:"):] in layered:
            section = layered[line[len("a=mid:"):]]
            pending.append(f"a=extmap:{section.rid_ext_id} {URI_RID}")
            if section.repaired_rid_ext_id is not None:
                pending.append(f"a=extmap:{section.repaired_rid_ext_id} {URI_REPAIRED_RID}")
            pending.extend(f"a=rid:{rid} recv" for rid in section.rids)
            pending.append("a=simulcast:recv " + ";".join(section.rids))
    if out and out[-1] == "":
        out.pop()
        flush()
        out.append("")
    else:
        flush()
    return "\r\n".join(out)


_OPUS_RTPMAP = re.compile(r"^a=rtpmap:(\d+) opus/48000/2\r?$", re.IGNORECASE | re.MULTILINE)


def add_opus_repair(sdp: str) -> str:
    """Ask Opus publishers for in-band FEC and for retransmissions: aiortc's answer has neither.

    Without ``useinbandfec=1`` browsers send no FEC, and without ``nack`` feedback for Opus they keep no
    audio history to resend from: the server's NACKs for lost audio (media/repair.py) would go unanswered.
    Chromium offers no ``nack`` for Opus, but honours it in the answer (measured: at 10 % loss on a
    member's uplink, 0.1-0.2 % of the samples the others play are concealed with it, 6-10 % with FEC
    alone). The retransmissions come on the audio stream itself, as audio has no RTX stream.
    """
    out = []
    for line in sdp.split("\r\n"):
        out.append(line)
        match = _OPUS_RTPMAP.match(line)
        if match:
            pt = match.group(1)
            if f"a=fmtp:{pt} " not in sdp:
                out.append(f"a=fmtp:{pt} minptime=10;useinbandfec=1")
            if f"a=rtcp-fb:{pt} nack\r\n" not in sdp:
                out.append(f"a=rtcp-fb:{pt} nack")
    return "\r\n".join(out)


def announce_address(sdp: str, public_ip: str) -> str:
    """Replace the address of host candidates and ``c=`` lines with an announced public IP (1:1 NAT).

    The port is kept, which is what a 1:1 NAT preserves; aioice matches the peer's checks by USERNAME,
    so the remote side's view of our address does not need to match a local socket.
    """
    if not public_ip:
        return sdp
    family = "IP6" if ipaddress.ip_address(public_ip).version == 6 else "IP4"
    out = []
    for line in sdp.split("\r\n"):
        if line.startswith("a=candidate:") and " typ host" in line:
            parts = line.split(" ")
            if len(parts) > 5:
                parts[4] = public_ip
                line = " ".join(parts)
        elif line.startswith("c=IN "):
            line = f"c=IN {family} {public_ip}"
        out.append(line)
    return "\r\n".join(out)
