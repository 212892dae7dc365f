"""Offers a browser never makes: weak DTLS fingerprints and ICE credentials outside RFC 8839 are refused."""

from __future__ import annotations

import re

import pytest
from aiortc import RTCPeerConnection

from tests.adversarial.media_support import close_all, count_from, eventually, room_of
from tests.support.client import ServerError, connect
from tests.support.peers import client_configuration


def weaken(sdp: str, how: str) -> str:
    if how == "no fingerprint":
        return re.sub(r"a=fingerprint:[^\r\n]*\r\n", "", sdp)
    if how in ("sha-1", "md5"):
        return re.sub(r"a=fingerprint:\S+ ", f"a=fingerprint:{how} ", sdp)
    if how == "short ufrag":
        return re.sub(r"a=ice-ufrag:[^\r\n]*", "a=ice-ufrag:ab", sdp)
    if how == "long password":
        return re.sub(r"a=ice-pwd:[^\r\n]*", "a=ice-pwd:" + "p" * 300, sdp)
    raise AssertionError(how)


@pytest.mark.parametrize("how", ["no fingerprint", "sha-1", "md5", "short ufrag", "long password"])
async def test_an_offer_with_weak_dtls_or_ice_credentials_is_refused_and_the_room_goes_on(haven, how):
    clients = await room_of(haven, ["host", "other"])
    host = clients["host"]
    newcomer = await connect(haven, "newcomer")
    pc = RTCPeerConnection(client_configuration())
    try:
        pc.addTransceiver("audio", direction="sendonly")
        await pc.setLocalDescription(await pc.createOffer())
        with pytest.raises(ServerError) as refused:
            await newcomer.request("publish", sdp=weaken(pc.localDescription.sdp, how),
                                   tracks=[{"mid": "0", "label": "microphone"}])
        assert refused.value.code == "invalid-sdp"
        assert "fingerprint" in str(refused.value) or "ice-" in str(refused.value), str(refused.value)
        before = count_from(host, "other")
        await eventually(lambda: count_from(host, "other") > before + 10, 5, what="the room's media to go on")
        assert newcomer.close_code is None
    finally:
        await pc.close()
        await close_all([*clients.values(), newcomer])
