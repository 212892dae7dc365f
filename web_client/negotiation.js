// @ts-check
/** What the publish and subscribe connections share (docs/protocol.md section 6): their configuration and
 * the wait for ICE gathering, since the server takes no trickled candidates. */

// Section 6: SDP is sent once gathering completes, or after at most 3 s with what there is.
export const ICE_GATHERING_TIMEOUT_MS = 3000;

/**
 * Returns the `RTCPeerConnection` configuration from the `hello` result's `ice_servers` (section 5.1).
 * @param {any} hello
 * @returns {RTCConfiguration}
 */
export function peerConfiguration(hello) {
  const servers = (hello && Array.isArray(hello.ice_servers) && hello.ice_servers) || [];
  const iceServers = servers
    .filter((/** @type {any} */ s) => s && s.urls)
    .map((/** @type {any} */ s) => {
      /** @type {RTCIceServer} */
      const server = { urls: s.urls };
      if (s.username !== undefined) server.username = s.username;
      if (s.credential !== undefined) server.credential = s.credential;
      return server;
    });
  return { bundlePolicy: "max-bundle", iceServers };
}

/**
 * Resolves when ICE gathering completes, or after `timeoutMs` with whatever was gathered.
 * @param {RTCPeerConnection} pc
 * @param {number} [timeoutMs]
 * @returns {Promise<void>}
 */
export function waitForIceGathering(pc, timeoutMs = ICE_GATHERING_TIMEOUT_MS) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      pc.removeEventListener("icegatheringstatechange", onStateChange);
      pc.removeEventListener("icecandidate", onCandidate);
      resolve();
    };
    const onStateChange = () => {
      if (pc.iceGatheringState === "complete") done();
    };
    /** @param {RTCPeerConnectionIceEvent} event */
    const onCandidate = (event) => {
      if (!event.candidate) done();
    };
    const timer = setTimeout(done, timeoutMs);
    pc.addEventListener("icegatheringstatechange", onStateChange);
    pc.addEventListener("icecandidate", onCandidate);
  });
}
