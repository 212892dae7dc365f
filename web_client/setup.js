// @ts-check
/** "Test my setup": camera preview, microphone level, a speaker tone, and a connection test that sends the
 * camera and microphone through the server and back (server/practice/setup_check.py, docs/openapi.yaml). */

import { getLocalMedia, stopStream } from "./devices.js";
import { peerConfiguration, waitForIceGathering } from "./negotiation.js";

const API = "/api/v1/setup-check";
// How long media may take to come back, and how long the page then measures it.
const FIRST_PACKET_TIMEOUT_MS = 10000;
const MEASURE_MS = 3000;
const TONE_HZ = 440;
const TONE_SECONDS = 1.2;

/** @param {string} id */
function byId(id) {
  const element = document.getElementById(id);
  if (!element) throw new Error(`setup.html has no #${id}`);
  return element;
}

/** @type {MediaStream|null} */
let stream = null;
/** @type {AudioContext|null} */
let audio = null;
/** @type {string|null} */
let running = null;

/**
 * Explains, in plain language, what the member can do about a camera or microphone that cannot be used.
 * @param {Error} error
 * @param {MediaStream|null} got what could be opened anyway
 */
export function deviceAdvice(error, got) {
  const hasVideo = !!got && got.getVideoTracks().length > 0;
  const hasAudio = !!got && got.getAudioTracks().length > 0;
  if (hasVideo && !hasAudio) return "Your microphone could not be used. Check that it is plugged in and not muted, then choose Try again.";
  if (hasAudio && !hasVideo) return "Your camera could not be used. Check that it is plugged in and not covered, then choose Try again.";
  switch (error.name) {
    case "NotAllowedError":
    case "SecurityError":
      return "Your browser is blocking the camera and microphone for this page. Click the camera icon in the " +
        "address bar (or open the site settings), choose Allow for camera and microphone, then choose Try again.";
    case "NotFoundError":
    case "OverconstrainedError":
      return "No camera or microphone was found. Plug one in (or use a device that has them), then choose Try again.";
    case "NotReadableError":
    case "AbortError":
      return "Your camera or microphone is being used by another app. Close that app (another video call, say), then choose Try again.";
    case "TimeoutError":
      return "Your camera and microphone did not respond. Restart your browser, then choose Try again.";
    default:
      return "Your camera and microphone could not be started. Restart your browser, then choose Try again.";
  }
}

async function startDevices() {
  const status = byId("camera-status");
  const advice = byId("device-advice");
  const retry = byId("retry-devices");
  stopStream(stream);
  const result = await getLocalMedia({ quality: "low" });
  stream = result.stream;
  const video = /** @type {HTMLVideoElement} */ (byId("preview"));
  video.srcObject = stream;
  const hasVideo = !!stream && stream.getVideoTracks().length > 0;
  status.textContent = hasVideo ? "Your camera works: you should see yourself." : "No camera picture.";
  status.dataset.state = hasVideo ? "working" : "failed";
  if (result.error) {
    advice.textContent = deviceAdvice(result.error, stream);
    advice.hidden = false;
    retry.hidden = false;
  } else {
    advice.hidden = true;
    retry.hidden = true;
  }
  if (stream && stream.getAudioTracks().length > 0) startMeter(stream);
}

/** @param {MediaStream} source */
function startMeter(source) {
  const meter = /** @type {HTMLMeterElement} */ (byId("mic-level"));
  audio = audio || new AudioContext();
  void audio.resume();
  const analyser = audio.createAnalyser();
  analyser.fftSize = 1024;
  audio.createMediaStreamSource(source).connect(analyser);
  const samples = new Float32Array(analyser.fftSize);
  const timer = setInterval(() => {
    if (!source.active) {
      clearInterval(timer);
      return;
    }
    analyser.getFloatTimeDomainData(samples);
    let sum = 0;
    for (const sample of samples) sum += sample * sample;
    // RMS of speech is around 0.01-0.1: scale it so a normal voice fills most of the bar.
    const level = Math.min(1, Math.sqrt(sum / samples.length) * 5);
    meter.value = level;
    meter.dataset.peak = String(Math.max(Number(meter.dataset.peak || 0), level));
  }, 100);
}

function playTone() {
  audio = audio || new AudioContext();
  void audio.resume();
  const oscillator = audio.createOscillator();
  const gain = audio.createGain();
  oscillator.frequency.value = TONE_HZ;
  gain.gain.setValueAtTime(0.2, audio.currentTime);
  gain.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + TONE_SECONDS);
  oscillator.connect(gain).connect(audio.destination);
  oscillator.start();
  oscillator.stop(audio.currentTime + TONE_SECONDS);
  const status = byId("speaker-status");
  status.textContent = "Playing a tone… If you did not hear it, turn up the volume or choose other speakers or headphones in your computer's sound settings.";
  oscillator.addEventListener("ended", () => {
    status.textContent = "Did you hear a tone? If not, turn up the volume or choose other speakers or headphones in your computer's sound settings.";
  });
}

/**
 * @param {string} path
 * @param {string} method
 * @param {any} [body]
 */
async function call(path, method, body) {
  const response = await fetch(API + path, {
    method,
    headers: body === undefined ? {} : { "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = response.status === 204 ? {} : await response.json();
  if (!response.ok) throw Object.assign(new Error(data.message || "the server refused the test"), { code: data.error, status: response.status });
  return data;
}

/** @param {RTCPeerConnection} pc */
async function stats(pc) {
  /** @type {any[]} */
  const reports = [];
  (await pc.getStats()).forEach((report) => reports.push(report));
  return reports;
}

/** Reads the path, round trip and loss from the two connections. */
async function measure(/** @type {RTCPeerConnection} */ send, /** @type {RTCPeerConnection} */ receive) {
  const sent = await stats(send);
  const got = await stats(receive);
  const byIdMap = new Map(sent.map((r) => [r.id, r]));
  const transport = sent.find((r) => r.type === "transport");
  const pair = transport && byIdMap.get(transport.selectedCandidatePairId);
  const local = pair && byIdMap.get(pair.localCandidateId);
  let path = "none";
  if (pair && pair.state === "succeeded" && local) path = local.candidateType === "relay" ? "relay" : local.protocol === "udp" ? "udp" : "none";
  let rtt = pair && typeof pair.currentRoundTripTime === "number" ? pair.currentRoundTripTime : null;
  if (rtt === null) {
    const remote = sent.find((r) => r.type === "remote-inbound-rtp" && typeof r.roundTripTime === "number");
    rtt = remote ? remote.roundTripTime : null;
  }
  let received = 0;
  let lost = 0;
  for (const report of got) {
    if (report.type !== "inbound-rtp") continue;
    received += report.packetsReceived || 0;
    lost += Math.max(0, report.packetsLost || 0);
  }
  return { path, rtt_ms: rtt === null ? null : rtt * 1000, loss: received + lost > 0 ? lost / (received + lost) : null, received };
}

/** @param {number} ms */
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function connectionTest() {
  const status = byId("connection-status");
  const button = /** @type {HTMLButtonElement} */ (byId("connection-test"));
  byId("connection-result").hidden = true;
  if (!stream || stream.getTracks().length === 0) {
    status.textContent = "The connection test sends your camera or microphone: allow one of them first.";
    status.dataset.state = "failed";
    return;
  }
  button.disabled = true;
  status.textContent = "Testing your connection… this takes about 15 seconds.";
  status.dataset.state = "running";
  /** @type {RTCPeerConnection|null} */
  let send = null;
  /** @type {RTCPeerConnection|null} */
  let receive = null;
  try {
    // The member's page links here as /setup#invite=<secret>, so the practice can show who has passed the
    // check; in the fragment, like join tokens, so the secret never reaches a server or proxy log.
    const invite = new URLSearchParams(location.hash.slice(1)).get("invite");
    const check = await call("", "POST", { invite });
    running = check.id;
    const config = peerConfiguration(check);
    send = new RTCPeerConnection(config);
    const tracks = [];
    for (const track of stream.getTracks()) {
      const transceiver = send.addTransceiver(track, { direction: "sendonly", streams: [stream] });
      tracks.push({ transceiver, label: track.kind === "video" ? "camera" : "microphone" });
    }
    await send.setLocalDescription(await send.createOffer());
    await waitForIceGathering(send);
    const described = tracks.map((t) => ({ mid: t.transceiver.mid, label: t.label }));
    const published = await call(`/${check.id}/publish`, "POST", { sdp: send.localDescription?.sdp, tracks: described });
    await send.setRemoteDescription({ type: "answer", sdp: published.sdp });

    receive = new RTCPeerConnection(config);
    const offer = await call(`/${check.id}/offer?after=0`, "GET");
    await receive.setRemoteDescription({ type: "offer", sdp: offer.sdp });
    await receive.setLocalDescription(await receive.createAnswer());
    await waitForIceGathering(receive);
    await call(`/${check.id}/answer`, "POST", { revision: offer.revision, sdp: receive.localDescription?.sdp });

    const until = Date.now() + FIRST_PACKET_TIMEOUT_MS;
    let figures = await measure(send, receive);
    while (figures.received === 0 && Date.now() < until) {
      await sleep(250);
      figures = await measure(send, receive);
    }
    if (figures.received > 0) {
      await sleep(MEASURE_MS);
      figures = await measure(send, receive);
    }
    const result = await call(`/${check.id}/result`, "POST", figures);
    running = null;
    show(result);
    status.textContent = "Test finished.";
    status.dataset.state = result.passed ? "passed" : "failed";
  } catch (err) {
    const error = /** @type {any} */ (err);
    status.textContent = error.code === "busy"
      ? "The server is running many tests just now: please try again in a minute."
      : error.code === "too-many"
        ? "Another connection test of yours is still running (in another tab?): close it, or try again in a minute."
        : "The connection test could not finish. Check that you are online, then try again.";
    status.dataset.state = "failed";
  } finally {
    send?.close();
    receive?.close();
    if (running) void call(`/${running}`, "DELETE").catch(() => {});
    running = null;
    button.disabled = false;
  }
}

/** @param {any} result */
function show(result) {
  byId("result-verdict").textContent = result.passed ? "Your connection is ready." : "Your connection needs attention.";
  byId("result-udp").textContent = result.udp ? "UDP works: video goes straight to the server." :
    result.path === "relay" ? "Your connection goes through a relay." : "UDP is blocked: video could not reach the server.";
  byId("result-udp").dataset.udp = String(result.udp);
  byId("result-rtt").textContent = result.rtt_ms === null ? "Round trip: not measured" : `Round trip: ${Math.round(result.rtt_ms)} ms`;
  byId("result-loss").textContent = result.loss === null ? "Packet loss: not measured" : `Packet loss: ${(result.loss * 100).toFixed(1)}%`;
  const list = byId("result-advice");
  list.replaceChildren(...result.advice.map((/** @type {string} */ text) => {
    const item = document.createElement("li");
    item.textContent = text;
    return item;
  }));
  byId("result-support").textContent = result.support || "";
  byId("connection-result").hidden = false;
}

if (typeof document !== "undefined" && document.getElementById("preview")) {
  byId("retry-devices").addEventListener("click", () => void startDevices());
  byId("speaker-test").addEventListener("click", playTone);
  byId("connection-test").addEventListener("click", () => void connectionTest());
  // Tell the server to close a test the member walks away from (it also ends by itself after its time limit).
  window.addEventListener("pagehide", () => {
    if (running) void fetch(`${API}/${running}`, { method: "DELETE", keepalive: true });
  });
  void startDevices();
}
