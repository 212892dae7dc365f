"""TURN fallback, proven with a real coturn (deploy/coturn.conf) on loopback.

Two Chromium participants that may only use relay candidates complete a call through coturn, over UDP
and over TLS, with credentials Haven minted in their hello. Then a raw TURN client shows that the same
credentials cannot turn coturn against the inside of the network, and that bad or expired ones fail.
Run inside a network namespace with only lo (scripts/test does).
"""

from __future__ import annotations

import base64
import hashlib
import re

import pytest
from cryptography.hazmat.primitives import serialization
from playwright.async_api import async_playwright

from server.turn import TurnCredentials
from tests.browser.conftest import CHROMIUM, WEBRTC_ARGS
from tests.support.client import ProtocolClient
from tests.support.coturn import Coturn
from tests.support.pages import join_in
from tests.support.server_process import ServerProcess
from tests.support.turn_client import FORBIDDEN, UNAUTHORIZED, TurnClient
from tests.support.waiting import eventually_async

# What a deployment that must relay everything would do (and the only way to know TURN carried the call):
# every RTCPeerConnection the client makes is forced to relay candidates only.
RELAY_ONLY = """(() => {
  const Native = window.RTCPeerConnection;
  const relayOnly = (config) => Object.assign({}, config || {}, {iceTransportPolicy: 'relay'});
  class RelayOnlyPeerConnection extends Native {
    constructor(config, ...rest) { super(relayOnly(config), ...rest); }
    setConfiguration(config) { return super.setConfiguration(relayOnly(config)); }
  }
  window.RTCPeerConnection = RelayOnlyPeerConnection;
})();"""

# The selected candidate pair of both peer connections, as getStats reports it.
SELECTED_PAIRS = """async () => {
  const client = window.haven && window.haven.client;
  const out = {};
  for (const [name, pc] of [['publish', client && client.publishPc], ['subscribe', client && client.subscribePc]]) {
    out[name] = null;
    if (!pc) continue;
    const stats = await pc.getStats();
    stats.forEach(r => {
      if (r.type !== 'transport' || !r.selectedCandidatePairId) return;
      const pair = stats.get(r.selectedCandidatePairId);
      const local = pair && stats.get(pair.localCandidateId);
      const remote = pair && stats.get(pair.remoteCandidateId);
      if (!local || !remote) return;
      out[name] = {state: pair.state, local: local.candidateType, protocol: local.relayProtocol || null,
                   url: local.url || null, remote: remote.candidateType, remoteAddress: remote.address};
    });
  }
  return out;
}"""

INBOUND = """async () => {
  const pc = window.haven && window.haven.client && window.haven.client.subscribePc;
  const out = {video: 0, width: 0, audio: 0};
  if (!pc) return out;
  (await pc.getStats()).forEach(r => {
    if (r.type !== 'inbound-rtp') return;
    if (r.kind === 'video') { out.video += r.framesDecoded || 0; out.width = Math.max(out.width, r.frameWidth || 0); }
    if (r.kind === 'audio') out.audio += r.packetsReceived || 0;
  });
  return out;
}"""


def spki_hash(coturn: Coturn) -> str:
    """Return the base64 SHA-256 of the test certificate's public key, as Chromium's SPKI flag wants it."""
    spki = coturn.certificate.public_key().public_bytes(serialization.Encoding.DER,
                                                       serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()


@pytest.fixture
def coturn(tmp_path):
    directory = tmp_path / "coturn"
    directory.mkdir()
    with Coturn(directory).running() as server:
        yield server


def haven_with_turn(tmp_path, coturn: Coturn, url: str) -> ServerProcess:
    directory = tmp_path / "haven"
    directory.mkdir()
    return ServerProcess(directory, extra=f'[turn]\nurls = ["{url}"]\nsecret = "{coturn.secret}"\n')


async def join(context, url: str):
    return await join_in(context, url)


@pytest.mark.browser
@pytest.mark.parametrize("transport", ["udp", "tls"])
async def test_two_relay_only_browsers_talk_through_coturn(tmp_path, coturn, transport):
    if CHROMIUM is None:
        pytest.fail("Debian's chromium is not installed: run scripts/test, which installs it")
    url = coturn.udp_url if transport == "udp" else coturn.tls_url
    # Chromium checks a turns: server's certificate like any HTTPS server's: with the self-signed test
    # certificate untrusted it aborts the TLS handshake, never allocates, and gathers no relay candidate
    # (seen with Chromium 156; no timeout-free way to assert an absence, so it is not a test). The flag
    # ignores certificate errors only for a certificate carrying the test key, in this browser only.
    args = [*WEBRTC_ARGS, f"--ignore-certificate-errors-spki-list={spki_hash(coturn)}"]
    with haven_with_turn(tmp_path, coturn, url).running() as haven:
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)
            try:
                contexts = [await browser.new_context() for _ in range(2)]
                for context in contexts:
                    await context.add_init_script(RELAY_ONLY)
                ana = await join(contexts[0], haven.join_url("relay", "Ana", "host", sub="ana"))
                ben = await join(contexts[1], haven.join_url("relay", "Ben", sub="ben"))
                for page, name in ((ana, "Ana"), (ben, "Ben")):
                    pairs = await eventually_async(lambda page=page: _both_selected(page),
                                                   f"{name}'s two peer connections to select a pair", 40)
                    for which, pair in pairs.items():
                        assert pair["local"] == "relay", f"{name} {which}: {pair}"
                        assert pair["protocol"] == transport, f"{name} {which}: {pair}"
                        assert pair["remoteAddress"] == "127.0.0.1", f"{name} {which}: {pair}"
                for page, name in ((ana, "Ana"), (ben, "Ben")):
                    first = await eventually_async(lambda page=page: _receiving(page),
                                                   f"{name} to decode video and receive audio through TURN", 40)
                    await eventually_async(lambda page=page, first=first: _grew(page, first),
                                           f"{name}'s media to keep arriving")
                    assert not page.errors, page.errors
            finally:
                await browser.close()
    log = coturn.log_text()
    usernames = set(re.findall(r"(?:user |username=)<([^>]+)>", log))
    assert usernames, "coturn logged no authenticated user: the call did not go through it"
    assert all(re.fullmatch(r"\d+:[0-9a-f]{16}", u) for u in usernames), usernames
    for secret_word in ("Ana", "Ben", "ana", "ben", "relay"):
        assert f"<{secret_word}" not in log and f"{secret_word}>" not in log


async def _both_selected(page):
    pairs = await page.evaluate(SELECTED_PAIRS)
    return pairs if all(p and p["state"] == "succeeded" for p in pairs.values()) else None


async def _receiving(page):
    stats = await page.evaluate(INBOUND)
    return stats if stats["video"] > 10 and stats["width"] > 0 and stats["audio"] > 10 else None


async def _grew(page, first) -> bool:
    now = await page.evaluate(INBOUND)
    return now["video"] > first["video"] and now["audio"] > first["audio"]


# -- the relay cannot be turned against the network it stands in --------------------------------------


async def hello_turn_entry(tmp_path, coturn: Coturn) -> dict:
    """Return the TURN entry of a real hello result from a Haven configured with coturn's UDP URL."""
    with haven_with_turn(tmp_path, coturn, coturn.udp_url).running() as haven:
        client = ProtocolClient(haven.base_url, haven.issuer.issue("ssrf", "Cy", "participant", 600, sub="cy"))
        try:
            await client.open()
            hello = await client.request("hello", version=1, token=client.token)
        finally:
            await client.close()
    [entry] = [s for s in hello["ice_servers"] if coturn.udp_url in s["urls"]]
    return entry


async def test_haven_credentials_relay_only_to_havens_address(tmp_path, coturn):
    entry = await hello_turn_entry(tmp_path, coturn)
    with TurnClient((coturn.host, coturn.port), entry["username"], entry["credential"]) as turn:
        assert turn.allocate().ok
        # Haven's own media address is the one private address the test config allows.
        assert turn.create_permission("127.0.0.1").ok
        for inside in ("127.0.0.2", "10.0.0.1", "192.168.1.1", "172.16.0.1", "100.64.0.1", "169.254.169.254"):
            answer = turn.create_permission(inside)
            assert answer.code == FORBIDDEN, f"{inside}: {answer}"


def test_wrong_or_expired_credentials_are_refused(tmp_path, coturn):
    good = TurnCredentials((coturn.udp_url,), coturn.secret.encode(), 600).mint()
    wrong_secret = TurnCredentials((coturn.udp_url,), b"not-the-secret-" * 3, 600).mint()
    expired = TurnCredentials((coturn.udp_url,), coturn.secret.encode(), 600, clock=lambda: 0.0).mint()
    tampered = {**good, "username": good["username"].replace(":", "0:", 1)}  # later expiry, same password
    for name, creds in (("wrong secret", wrong_secret), ("expired", expired), ("tampered", tampered)):
        with TurnClient((coturn.host, coturn.port), creds["username"], creds["credential"]) as turn:
            assert turn.allocate().code == UNAUTHORIZED, name
    with TurnClient((coturn.host, coturn.port), good["username"], good["credential"]) as turn:
        assert turn.allocate().ok

