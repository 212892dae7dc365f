/** A minimal Haven client built only on protocol.js: join, publish camera and microphone, show everyone else. */

import { HavenClient } from "./protocol.js";

const token = new URLSearchParams(location.hash.slice(1)).get("token");
history.replaceState(null, "", location.pathname);
const statusEl = /** @type {HTMLElement} */ (document.getElementById("status"));
const videos = /** @type {HTMLElement} */ (document.getElementById("videos"));
const leaveButton = /** @type {HTMLButtonElement} */ (document.getElementById("leave"));
const localVideo = /** @type {HTMLVideoElement} */ (document.getElementById("local"));

/**
 * Reads the room claim from the token (display only: the server verifies the token).
 * @param {string} jwt
 */
function roomFromToken(jwt) {
  try {
    const part = jwt.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(new TextDecoder().decode(Uint8Array.from(atob(part), (c) => c.charCodeAt(0)))).room;
  } catch {
    return undefined;
  }
}

/**
 * Shows the group agreement and resolves once it is accepted (the protocol requires asking).
 * @param {{text: string}} consent
 * @returns {Promise<boolean>}
 */
function askConsent(consent) {
  const box = /** @type {HTMLElement} */ (document.getElementById("consent"));
  /** @type {HTMLElement} */ (document.getElementById("consent-text")).textContent = consent.text;
  box.hidden = false;
  return new Promise((resolve) => {
    /** @type {HTMLElement} */ (document.getElementById("consent-accept")).onclick = () => {
      box.hidden = true;
      resolve(true);
    };
  });
}

const scheme = location.protocol === "https:" ? "wss" : "ws";
const client = token
  ? new HavenClient({ url: `${scheme}://${location.host}/ws`, token, room: roomFromToken(token), onConsent: askConsent })
  : null;
/** @type {any} */ (window).haven = { client };
/** @type {MediaStream|null} */
let localStream = null;

if (client) {
  client.addEventListener("status", (event) => {
    const state = /** @type {CustomEvent} */ (event).detail;
    statusEl.dataset.state = state;
    statusEl.textContent = state === "failed" && client.failure ? `failed (${client.failure.code})` : state;
  });
  client.addEventListener("admission", (event) => {
    if (/** @type {CustomEvent} */ (event).detail === "waiting") statusEl.textContent = "waiting for the host to admit you";
    else statusEl.textContent = client.status;
  });
  client.addEventListener("tracks", render);
  client.addEventListener("roster", render);
  leaveButton.addEventListener("click", leave);
  join(client);
} else {
  statusEl.textContent = "No token: open /static/minimal.html#token=…";
}

/** @param {HavenClient} client */
async function join(client) {
  try {
    localStream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 }, audio: true });
    localVideo.srcObject = localStream;
  } catch (err) {
    console.warn("joining without camera and microphone:", err);
  }
  try {
    await client.connect();
  } catch {
    return; // the status event already shows why
  }
  leaveButton.disabled = false;
  if (localStream) await client.publish(localStream);
}

async function leave() {
  if (!client) return;
  leaveButton.disabled = true;
  await client.leave();
  for (const track of localStream ? localStream.getTracks() : []) track.stop();
  localVideo.srcObject = null;
  render();
}

/** Shows one video per remote participant, with their sound; removes those who left. */
function render() {
  if (!client) return;
  const tracks = client.status === "connected" || client.status === "reconnecting" ? client.remoteTracks() : new Map();
  for (const figure of videos.querySelectorAll("figure[data-participant-id]")) {
    if (!tracks.has(/** @type {HTMLElement} */ (figure).dataset.participantId || "")) figure.remove();
  }
  for (const [id, { camera, microphone }] of tracks) {
    let figure = /** @type {HTMLElement|null} */ (videos.querySelector(`figure[data-participant-id="${CSS.escape(id)}"]`));
    if (!figure) {
      figure = document.createElement("figure");
      figure.dataset.participantId = id;
      const video = document.createElement("video");
      video.dataset.testid = "remote-video";
      video.dataset.participantId = id;
      video.autoplay = true;
      video.playsInline = true;
      figure.append(video, document.createElement("figcaption"));
      videos.append(figure);
    }
    const name = client.participants.get(id)?.name || id;
    const video = /** @type {HTMLVideoElement} */ (figure.querySelector("video"));
    video.dataset.participantName = name;
    /** @type {HTMLElement} */ (figure.querySelector("figcaption")).textContent = name;
    const wanted = /** @type {MediaStreamTrack[]} */ ([camera, microphone].filter(Boolean));
    const current = video.srcObject instanceof MediaStream ? video.srcObject.getTracks() : [];
    if (wanted.length !== current.length || wanted.some((t) => !current.includes(t))) {
      video.srcObject = new MediaStream(wanted);
    }
  }
}
