/** The Haven web app: reads the join link, runs the pre-join screen, the waiting room, the room and the end screen on top of protocol.js. */

import { HavenClient } from "./protocol.js";
import { readJoinLink, hideTokenFromUrl } from "./joinlink.js";
import { getLocalMedia, listDevices, stopStream, describeMediaError } from "./devices.js";
import { SCREEN_TILE, SELF_TILE, TileGrid, applyTileState, initialOf, showQuality } from "./tiles.js";
import { chooseFocus } from "./layout.js";
import { MicLevelMeter, testSpeakers } from "./prejoin.js";
import { BannerStack } from "./banners.js";
import { LinkNotice } from "./link_notice.js";
import { TileSizes, heightsByTrack } from "./tile_sizes.js";
import { renderStatus, describeFailure, canRetry } from "./status.js";
import { SessionUI } from "./session.js";
import { LEAVE_REASONS, SESSION_END_REASONS, TRACK_LABELS } from "./constants.js";
import { HOST_ROLES } from "./people.js";

/**
 * @param {string} id
 * @returns {any}
 */
const byId = (id) => document.getElementById(id);

const ui = {
  roomName: byId("room-name"),
  status: byId("connection-status"),
  main: byId("main"),
  screens: {
    loading: byId("screen-loading"),
    noToken: byId("screen-no-token"),
    prejoin: byId("screen-prejoin"),
    waiting: byId("screen-waiting"),
    room: byId("screen-room"),
    ended: byId("screen-ended"),
  },
  noTokenMessage: byId("no-token-message"),
  preview: byId("local-tile").parentElement,
  localTile: byId("local-tile"),
  localVideo: /** @type {HTMLVideoElement} */ (byId("local-video")),
  localInitial: byId("local-initial"),
  localName: byId("local-name"),
  prejoinForm: byId("prejoin-form"),
  prejoinRoom: byId("prejoin-room"),
  prejoinName: byId("prejoin-name"),
  mediaMessage: byId("media-message"),
  mediaMessageText: byId("media-message-text"),
  mediaRetry: byId("media-retry"),
  cameraSelect: /** @type {HTMLSelectElement} */ (byId("camera-select")),
  microphoneSelect: /** @type {HTMLSelectElement} */ (byId("microphone-select")),
  qualitySelect: /** @type {HTMLSelectElement} */ (byId("quality-select")),
  prejoinCamera: /** @type {HTMLInputElement} */ (byId("prejoin-camera")),
  prejoinMicrophone: /** @type {HTMLInputElement} */ (byId("prejoin-microphone")),
  joinButton: /** @type {HTMLButtonElement} */ (byId("join-button")),
  waitingPreview: byId("waiting-preview"),
  waitingTitle: byId("waiting-title"),
  waitingMessage: byId("waiting-message"),
  waitingStart: byId("waiting-start"),
  waitingSupport: byId("waiting-support"),
  waitingLeave: /** @type {HTMLButtonElement} */ (byId("waiting-leave-button")),
  roomNotice: byId("room-notice"),
  roomNoticeText: byId("room-notice-text"),
  roomNoticeDismiss: byId("room-notice-dismiss"),
  unmutePrompt: byId("unmute-prompt"),
  unmutePromptText: byId("unmute-prompt-text"),
  unmuteAccept: /** @type {HTMLButtonElement} */ (byId("unmute-accept")),
  unmuteDecline: /** @type {HTMLButtonElement} */ (byId("unmute-decline")),
  audioBlocked: byId("audio-blocked"),
  audioResume: byId("audio-resume"),
  tiles: byId("tiles"),
  screenStage: byId("screen-stage"),
  viewMode: /** @type {HTMLButtonElement} */ (byId("view-mode")),
  viewModeLabel: byId("view-mode-label"),
  hideSelf: /** @type {HTMLInputElement} */ (byId("hide-self-view")),
  toggleAudio: /** @type {HTMLButtonElement} */ (byId("toggle-audio")),
  toggleVideo: /** @type {HTMLButtonElement} */ (byId("toggle-video")),
  toggleAudioLabel: byId("toggle-audio-label"),
  toggleVideoLabel: byId("toggle-video-label"),
  leaveButton: /** @type {HTMLButtonElement} */ (byId("leave-button")),
  endedTitle: byId("ended-title"),
  endedMessage: byId("ended-message"),
  rejoinButton: /** @type {HTMLButtonElement} */ (byId("rejoin-button")),
  announcer: byId("announcer"),
  consentDialog: /** @type {HTMLDialogElement} */ (byId("consent-dialog")),
  consentText: byId("consent-text"),
  consentAccept: /** @type {HTMLButtonElement} */ (byId("consent-accept")),
  consentDecline: /** @type {HTMLButtonElement} */ (byId("consent-decline")),
  emergencyDialog: /** @type {HTMLDialogElement} */ (byId("emergency-dialog")),
  emergencyForm: byId("emergency-form"),
  emergencyLocation: /** @type {HTMLInputElement} */ (byId("emergency-location")),
  emergencyContact: /** @type {HTMLInputElement} */ (byId("emergency-contact")),
  emergencyError: byId("emergency-error"),
  emergencyCancel: /** @type {HTMLButtonElement} */ (byId("emergency-cancel")),
};

// The video quality chosen before joining is remembered for this browser tab's session only.
const QUALITY_KEY = "haven.video-quality";
// Comfort choices of the member, kept in this browser (never anything about the session): grid or speaker
// view, hiding one's own video, and joining with the camera or microphone off.
const VIEW_KEY = "haven.view-mode";
const HIDE_SELF_KEY = "haven.hide-self-view";
const JOIN_CAMERA_KEY = "haven.join-camera";
const JOIN_MICROPHONE_KEY = "haven.join-microphone";
/** How a reaction shows on a tile, and for how long (symbols every system font has: no emoji font needed). */
const REACTIONS = /** @type {Record<string, string>} */ ({
  agree: "✓ Agrees", heart: "♥ Heart", thanks: "☺ Thank you", pause: "‖ Needs a pause",
});
const REACTION_MS = 6000;

/**
 * @param {string} key
 * @returns {string|null}
 */
function readChoice(key) {
  try {
    return localStorage.getItem(key);
  } catch {
    return null;
  }
}

/**
 * @param {string} key
 * @param {string} value
 */
function saveChoice(key, value) {
  try {
    localStorage.setItem(key, value);
  } catch {
    // Storage is off: the choice lasts until the page closes.
  }
}

const link = readJoinLink(location);
// The token stays in memory only: out of the address bar, history, bookmarks and screen shares.
hideTokenFromUrl(location, history);

const state = {
  /** @type {HavenClient|null} */
  client: null,
  clientUsed: false,
  /** @type {MediaStream|null} */
  stream: null,
  /** @type {Promise<void>} */
  mediaReady: Promise.resolve(),
  mediaRequest: 0,
  cameraOn: readChoice(JOIN_CAMERA_KEY) !== "off",
  micOn: readChoice(JOIN_MICROPHONE_KEY) !== "off",
  hideSelf: readChoice(HIDE_SELF_KEY) === "on",
  cameraId: "",
  microphoneId: "",
  /** @type {"standard"|"low"} */
  quality: readQuality(),
  joining: false,
  /** @type {"none"|"waiting"|"room"} where a joined participant is */
  view: /** @type {"none"|"waiting"|"room"} */ ("none"),
  /** @type {Map<string, string>} names of the participants last shown, to announce who left */
  names: new Map(),
  /** @type {Set<string>} which of them were hosts, to say who runs the session when one leaves */
  hostIds: new Set(),
  /** @type {"microphone"|"camera"|null} what the open unmute prompt is about */
  unmuteLabel: /** @type {"microphone"|"camera"|null} */ (null),
  displayName: "",
  /** @type {((accepted: boolean) => void)|null} */
  consentAnswer: null,
  /** @type {((info: {location: string, contact: string}|null) => void)|null} */
  emergencyAnswer: null,
  /** @type {string|null} the participant this viewer shows large (a pin is the viewer's own choice) */
  pinned: /** @type {string|null} */ (null),
  /** @type {Map<string, object>} the latest connection quality (link-quality): a host's has everyone, a
   * member's only themselves */
  linkQuality: new Map(),
  /** @type {"grid"|"speaker"} */
  viewMode: readViewMode(),
  /** @type {string|null} why the server ended the session (`session-ended.reason`), for the end screen */
  endReason: /** @type {string|null} */ (null),
};

const micMeter = new MicLevelMeter(/** @type {HTMLMeterElement} */ (byId("mic-level")), byId("mic-level-hint"));

// Only the newest notice shows above the video, with a count of the others.
new BannerStack(byId("banners"), /** @type {HTMLButtonElement} */ (byId("banner-more")));

// One's own link: a calm notice with one suggestion when the server rates it weak or poor (protocol 9.12).
const linkNotice = new LinkNotice(byId, {
  cameraOn: () => !!state.stream && state.stream.getVideoTracks().length > 0 && state.cameraOn,
  turnCameraOff: () => { if (state.cameraOn) toggleLocal(TRACK_LABELS.CAMERA); },
});

// How large each received video is shown, so the server sends each the simulcast layer it needs (6.5).
const tileSizes = new TileSizes((heights) => (state.client ? state.client.requests.tileSizes(heights)
  : Promise.resolve()));
function reportTileSizes() {
  const client = state.client;
  if (state.view !== "room" || !client) return;
  tileSizes.report(heightsByTrack(grid.heights, client.participants.values(), client.screenSharer()));
}

const grid = new TileGrid(ui.tiles, {
  onSizes: () => reportTileSizes(),
  onAudioBlocked: () => { ui.audioBlocked.hidden = false; },
  onPin: (id) => {
    state.pinned = state.pinned === id ? null : id;
    renderRoom();
  },
});
const session = new SessionUI({
  client: () => state.client,
  send: sendRequest,
  announce,
  notice: showRoomNotice,
  clearNotice: clearRoomNotice,
}, byId, { leave: (options) => leave(options) });

// For automated tests and debugging: the current protocol client.
/** @type {any} */ (window).haven = {
  get client() {
    return state.client;
  },
};

start();

function start() {
  if (!link.token) {
    showScreen("noToken");
    return;
  }
  if (!link.claims) {
    ui.noTokenMessage.textContent =
      "This join link is incomplete or damaged. Please open the link from your invitation again, " +
      "making sure it is copied in full.";
    showScreen("noToken");
    return;
  }
  const roomName = link.title || link.room || (typeof link.claims.room === "string" ? link.claims.room : "");
  state.displayName = typeof link.claims.name === "string" && link.claims.name.trim() ? link.claims.name.trim() : "Guest";
  ui.roomName.textContent = roomName;
  ui.prejoinRoom.textContent = roomName || "—";
  ui.prejoinName.value = state.displayName;
  ui.localName.textContent = state.displayName;
  ui.localInitial.textContent = initialOf(state.displayName);
  if (roomName) document.title = `${roomName} · Haven`;

  state.client = createClient();
  bindControls();
  showScreen("prejoin");
  state.mediaReady = acquireMedia();
}

function bindControls() {
  ui.prejoinForm.addEventListener("submit", (/** @type {Event} */ event) => {
    event.preventDefault();
    join();
  });
  const speakerTest = /** @type {HTMLButtonElement} */ (byId("speaker-test"));
  speakerTest.addEventListener("click", async () => {
    speakerTest.disabled = true;
    try {
      await testSpeakers(byId("speaker-test-status"));
    } finally {
      speakerTest.disabled = false;
    }
  });
  ui.mediaRetry.addEventListener("click", () => {
    state.mediaReady = acquireMedia();
  });
  ui.cameraSelect.addEventListener("change", () => {
    state.cameraId = ui.cameraSelect.value;
    state.mediaReady = acquireMedia();
  });
  ui.microphoneSelect.addEventListener("change", () => {
    state.microphoneId = ui.microphoneSelect.value;
    state.mediaReady = acquireMedia();
  });
  ui.qualitySelect.value = state.quality;
  ui.qualitySelect.addEventListener("change", () => {
    state.quality = ui.qualitySelect.value === "low" ? "low" : "standard";
    saveQuality(state.quality);
    state.mediaReady = acquireMedia();
  });
  ui.prejoinCamera.addEventListener("change", () => {
    state.cameraOn = ui.prejoinCamera.checked;
    saveChoice(JOIN_CAMERA_KEY, state.cameraOn ? "on" : "off");
    applyLocalEnabled();
    renderLocalTile();
  });
  ui.prejoinMicrophone.addEventListener("change", () => {
    state.micOn = ui.prejoinMicrophone.checked;
    saveChoice(JOIN_MICROPHONE_KEY, state.micOn ? "on" : "off");
    applyLocalEnabled();
    renderLocalTile();
  });
  ui.viewMode.addEventListener("click", () => toggleViewMode());
  ui.hideSelf.checked = state.hideSelf;
  ui.hideSelf.addEventListener("change", () => {
    state.hideSelf = ui.hideSelf.checked;
    saveChoice(HIDE_SELF_KEY, state.hideSelf ? "on" : "off");
    applySelfView();
    announce(state.hideSelf ? "Your own video is hidden from you. The others still see you." : "Your own video is shown again");
  });
  for (const button of document.querySelectorAll("[data-reaction]")) {
    button.addEventListener("click", () => {
      const reaction = /** @type {HTMLElement} */ (button).dataset.reaction;
      if (reaction) sendRequest((r) => r.react(/** @type {any} */ (reaction)));
    });
  }
  ui.toggleAudio.addEventListener("click", () => toggleLocal(TRACK_LABELS.MICROPHONE));
  ui.toggleVideo.addEventListener("click", () => toggleLocal(TRACK_LABELS.CAMERA));
  // A host is asked first: step out (a co-host takes over, or the session waits) or end it for everyone.
  ui.leaveButton.addEventListener("click", () => {
    if (!session.continuity.askHost()) leave();
  });
  ui.waitingLeave.addEventListener("click", () => leave());
  ui.rejoinButton.addEventListener("click", () => rejoin());
  ui.roomNoticeDismiss.addEventListener("click", () => { ui.roomNotice.hidden = true; });
  ui.audioResume.addEventListener("click", () => {
    ui.audioBlocked.hidden = true;
    grid.resumeAudio();
  });
  ui.unmuteAccept.addEventListener("click", () => answerUnmute(true));
  ui.unmuteDecline.addEventListener("click", () => answerUnmute(false));
  ui.consentAccept.addEventListener("click", () => answerConsent(true));
  ui.emergencyForm.addEventListener("submit", (/** @type {Event} */ event) => {
    event.preventDefault();
    confirmEmergencyInfo();
  });
  ui.emergencyCancel.addEventListener("click", () => answerEmergencyInfo(null));
  ui.emergencyDialog.addEventListener("cancel", (/** @type {Event} */ event) => {
    event.preventDefault();
    answerEmergencyInfo(null);
  });
  ui.consentDecline.addEventListener("click", () => answerConsent(false));
  // Escape closes a modal dialog: that is a "no".
  ui.consentDialog.addEventListener("cancel", (/** @type {Event} */ event) => {
    event.preventDefault();
    answerConsent(false);
  });
  if (navigator.mediaDevices && "ondevicechange" in navigator.mediaDevices) {
    navigator.mediaDevices.addEventListener("devicechange", () => refreshDeviceLists());
  }
  // Tell the others at once instead of letting the server notice the closed socket.
  window.addEventListener("pagehide", () => {
    if (state.view !== "none" && state.client) state.client.leave();
  });
}

/** @returns {HavenClient} */
function createClient() {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const client = new HavenClient({
    url: `${scheme}//${location.host}/ws`,
    token: /** @type {string} */ (link.token),
    room: link.room,
    onConsent: askConsent,
    onEmergencyInfo: askEmergencyInfo,
  });
  const current = () => client === state.client;
  /**
   * @param {string} type
   * @param {(detail: any) => void} handler
   */
  const on = (type, handler) => client.addEventListener(type, (event) => {
    if (current()) handler(/** @type {CustomEvent} */ (event).detail);
  });
  client.addEventListener("status", (event) => {
    if (current()) onStatus(client, /** @type {CustomEvent} */ (event).detail, /** @type {any} */ (event).code);
  });
  on("admission", () => showAdmission(client));
  on("roster", (detail) => {
    announceRosterChange(client, detail);
    renderRoom();
    renderSession();
  });
  on("tracks", () => renderRoom());
  on("active-speaker", () => renderRoom());
  on("room-state", () => {
    renderWaiting(client);
    renderSession();
    renderRoom();
  });
  on("waiting-list", () => renderSession());
  on("reconnected", () => {
    announce("Reconnected to the session");
    tileSizes.reset(); // the server's new state of us knows no sizes yet
    reportTileSizes();
    // The new join result carries the chat history, including what arrived while we were away.
    if (state.view === "room") session.enter();
  });
  on("muted-by-host", (label) => onMutedByHost(label));
  on("chat-message", (message) => {
    if (state.view === "room") session.onChatMessage(message);
  });
  on("moved", (detail) => {
    if (state.view !== "room") return;
    session.onMoved(detail);
    renderRoom();
  });
  on("breakout-warning", (detail) => {
    if (state.view === "room") session.onBreakoutWarning(detail);
  });
  on("breakout-broadcast", (detail) => {
    if (state.view === "room") session.onBreakoutBroadcast(detail);
  });
  on("help-requested", (detail) => {
    if (state.view === "room") session.onHelpRequested(detail);
  });
  on("screen-share", (detail) => {
    if (state.view === "room") session.onLocalShare(detail);
  });
  on("server-event", (message) => {
    if (message.type === "session-ended") state.endReason = typeof message.reason === "string" ? message.reason : null;
    if (message.type === "reaction" && state.view === "room") showReaction(client, message);
    else if (message.type === "link-quality") onLinkQuality(message);
    else if (message.type === "unmute-requested") onUnmuteRequested(client, message);
    else if (message.type === "duplicate-join" && state.view === "room") onDuplicateJoin(client, message);
    else if (state.view === "room") session.onServerEvent(message);
  });
  on("error", (detail) => onClientError(detail));
  return client;
}

// --- screens -----------------------------------------------------------------------------------

/** @param {keyof typeof ui.screens} name */
function showScreen(name) {
  for (const [key, element] of Object.entries(ui.screens)) element.hidden = key !== name;
  // The room fills the window on wide screens (style.css); other screens scroll like a page.
  document.body.dataset.view = name;
}

/**
 * @param {HavenClient} client
 * @param {string} status
 */
/**
 * @param {string} status
 * @param {string | null} [reason] the code that came with the status (e.g. server-restarting while reconnecting)
 */
function onStatus(client, status, reason = null) {
  const code = client.failure ? client.failure.code : reason;
  renderStatus(ui.status, status, code);
  if (status === "reconnecting") announce("Connection lost. Reconnecting…");
  if (status === "failed" && state.view !== "none") {
    exitSession();
    showEnded(endedTitle(code), endedMessage(code), canRetry(code));
  }
}

/**
 * The end screen's words under its title: never the title again.
 * @param {string|null} code
 */
function endedMessage(code) {
  if (code !== "session-ended") return describeFailure(code);
  return state.endReason === SESSION_END_REASONS.NO_HOST
    ? "No host was able to return in time, so the session closed. Thank you for being part of today's group; your therapist will be in touch."
    : "Thank you for being part of today's group. You can close this window now.";
}

/** @param {string|null} code */
function endedTitle(code) {
  switch (code) {
    case "session-ended": return "The session has ended";
    case "removed": return "You were removed from the session";
    case "denied": return "You were not admitted";
    default: return "You have been disconnected";
  }
}

/**
 * @param {string} title
 * @param {string} message
 * @param {boolean} rejoinable
 */
function showEnded(title, message, rejoinable) {
  ui.rejoinButton.textContent = "Rejoin session";
  ui.endedTitle.textContent = title;
  ui.endedMessage.textContent = message;
  ui.rejoinButton.hidden = !rejoinable;
  ui.rejoinButton.disabled = false;
  // The end screen says what happened once; the connection pill would only repeat it.
  ui.status.hidden = true;
  showScreen("ended");
  ui.endedTitle.tabIndex = -1;
  ui.endedTitle.focus();
}

// --- consent -------------------------------------------------------------------------------------

/**
 * Shows the group's confidentiality agreement and resolves with the participant's answer.
 * @param {{text: string, version: string}} consent
 * @returns {Promise<boolean>}
 */
function askConsent(consent) {
  if (state.consentAnswer) state.consentAnswer(false);
  ui.consentText.textContent = consent.text;
  return new Promise((resolve) => {
    state.consentAnswer = resolve;
    if (!ui.consentDialog.open) ui.consentDialog.showModal();
    ui.consentText.scrollTop = 0;
    ui.consentAccept.focus();
  });
}

/** @param {boolean} accepted */
function answerConsent(accepted) {
  const answer = state.consentAnswer;
  state.consentAnswer = null;
  if (ui.consentDialog.open) ui.consentDialog.close();
  if (answer) answer(accepted);
}

// --- emergency information ---------------------------------------------------------------------------

// The member's last answer stays on their own device only, to confirm (or correct) at the next join.
const EMERGENCY_LOCATION_KEY = "haven.emergency.location";
const EMERGENCY_CONTACT_KEY = "haven.emergency.contact";

/**
 * Asks where the member is and for an emergency contact (prefilled from last time); resolves null on Cancel.
 * @returns {Promise<{location: string, contact: string}|null>}
 */
function askEmergencyInfo() {
  if (state.emergencyAnswer) state.emergencyAnswer(null);
  ui.emergencyLocation.value = readChoice(EMERGENCY_LOCATION_KEY) || "";
  ui.emergencyContact.value = readChoice(EMERGENCY_CONTACT_KEY) || "";
  ui.emergencyError.hidden = true;
  return new Promise((resolve) => {
    state.emergencyAnswer = resolve;
    if (!ui.emergencyDialog.open) ui.emergencyDialog.showModal();
    (ui.emergencyLocation.value ? ui.emergencyDialog.querySelector("#emergency-confirm") : ui.emergencyLocation).focus();
  });
}

/** @param {{location: string, contact: string}|null} info */
function answerEmergencyInfo(info) {
  const answer = state.emergencyAnswer;
  state.emergencyAnswer = null;
  if (ui.emergencyDialog.open) ui.emergencyDialog.close();
  if (answer) answer(info);
}

function confirmEmergencyInfo() {
  const location = ui.emergencyLocation.value.trim();
  const contact = ui.emergencyContact.value.trim();
  if (!location || !contact) {
    ui.emergencyError.hidden = false;
    (location ? ui.emergencyContact : ui.emergencyLocation).focus();
    return;
  }
  saveChoice(EMERGENCY_LOCATION_KEY, location);
  saveChoice(EMERGENCY_CONTACT_KEY, contact);
  answerEmergencyInfo({ location, contact });
}

// --- local media ----------------------------------------------------------------------------------

/** (Re)opens the camera and microphone with the chosen devices and shows the preview. */
async function acquireMedia() {
  const request = ++state.mediaRequest;
  ui.mediaMessage.hidden = true;
  // Release the old devices first: some cameras cannot be opened twice.
  stopStream(state.stream);
  state.stream = null;
  ui.localVideo.srcObject = null;
  renderLocalTile();
  const { stream, error } = await getLocalMedia({
    cameraId: state.cameraId, microphoneId: state.microphoneId, quality: state.quality,
  });
  if (request !== state.mediaRequest) {
    stopStream(stream);
    return;
  }
  state.stream = stream;
  applyLocalEnabled();
  ui.localVideo.srcObject = stream;
  if (state.view === "none") micMeter.attach(stream);
  if (error) {
    ui.mediaMessageText.textContent = describeMediaError(error, stream);
    ui.mediaMessage.hidden = false;
  }
  renderLocalTile();
  await refreshDeviceLists();
}

async function refreshDeviceLists() {
  const { cameras, microphones } = await listDevices();
  fillDeviceSelect(ui.cameraSelect, cameras, "Camera", "No camera found", currentDeviceId("video"));
  fillDeviceSelect(ui.microphoneSelect, microphones, "Microphone", "No microphone found", currentDeviceId("audio"));
}

/**
 * @param {HTMLSelectElement} select
 * @param {MediaDeviceInfo[]} devices
 * @param {string} noun
 * @param {string} emptyText
 * @param {string} selectedId
 */
function fillDeviceSelect(select, devices, noun, emptyText, selectedId) {
  select.replaceChildren();
  if (devices.length === 0) {
    select.append(new Option(emptyText, ""));
    select.disabled = true;
    return;
  }
  devices.forEach((device, index) => {
    const option = new Option(device.label || `${noun} ${index + 1}`, device.deviceId);
    option.selected = device.deviceId === selectedId;
    select.append(option);
  });
  select.disabled = false;
}

/** @returns {"standard"|"low"} the video quality chosen earlier in this tab, or the default */
function readQuality() {
  try {
    return sessionStorage.getItem(QUALITY_KEY) === "low" ? "low" : "standard";
  } catch {
    return "standard";
  }
}

/** @param {"standard"|"low"} quality */
function saveQuality(quality) {
  try {
    sessionStorage.setItem(QUALITY_KEY, quality);
  } catch {
    // Storage is off (private mode, policy): the choice lasts until the page closes.
  }
}

/** @param {"video"|"audio"} kind */
function currentDeviceId(kind) {
  const track = state.stream && (kind === "video" ? state.stream.getVideoTracks() : state.stream.getAudioTracks())[0];
  return (track && track.getSettings().deviceId) || "";
}

function applyLocalEnabled() {
  if (!state.stream) return;
  for (const track of state.stream.getVideoTracks()) track.enabled = state.cameraOn;
  for (const track of state.stream.getAudioTracks()) track.enabled = state.micOn;
}

function renderLocalTile() {
  const hasVideo = !!state.stream && state.stream.getVideoTracks().length > 0;
  const hasAudio = !!state.stream && state.stream.getAudioTracks().length > 0;
  const client = state.client;
  const speaking = state.view === "room" && !!client && !!client.self && client.activeSpeaker === client.self.id;
  applyTileState(ui.localTile, {
    cameraOn: hasVideo && state.cameraOn,
    mic: !hasAudio ? "none" : state.micOn ? "on" : "muted",
    speaking,
  });
  ui.prejoinCamera.checked = state.cameraOn;
  ui.prejoinMicrophone.checked = state.micOn;
  ui.prejoinCamera.disabled = !hasVideo;
  ui.prejoinMicrophone.disabled = !hasAudio;
  const micOff = !state.micOn || !hasAudio;
  const cameraOff = !state.cameraOn || !hasVideo;
  // Pressed means "muted" / "camera off"; the words say what a press does next.
  ui.toggleAudio.setAttribute("aria-pressed", String(micOff));
  ui.toggleVideo.setAttribute("aria-pressed", String(cameraOff));
  ui.toggleAudioLabel.textContent = micOff ? "Unmute" : "Mute";
  ui.toggleVideoLabel.textContent = cameraOff ? "Turn camera on" : "Turn camera off";
  ui.toggleAudio.disabled = !hasAudio;
  ui.toggleVideo.disabled = !hasVideo;
  ui.toggleAudio.title = hasAudio ? "" : "No microphone available";
  ui.toggleVideo.title = hasVideo ? "" : "No camera available";
  linkNotice.render(); // its suggestion depends on whether the camera is on
}

/** @param {"camera"|"microphone"} label */
async function toggleLocal(label) {
  if (label === TRACK_LABELS.CAMERA) state.cameraOn = !state.cameraOn;
  else state.micOn = !state.micOn;
  const muted = label === TRACK_LABELS.CAMERA ? !state.cameraOn : !state.micOn;
  applyLocalEnabled();
  renderLocalTile();
  const client = state.client;
  if (!client || !client.published.has(label)) return;
  try {
    await client.setMuted(label, muted);
  } catch (err) {
    if (client === state.client) showRoomNotice(`Could not ${muted ? "mute" : "unmute"} your ${label}: ${errorText(err)}`);
  }
}

/** @param {string} label */
function onMutedByHost(label) {
  if (label === TRACK_LABELS.MICROPHONE) state.micOn = false;
  else if (label === TRACK_LABELS.CAMERA) state.cameraOn = false;
  renderLocalTile();
  if (state.unmuteLabel === label) hideUnmutePrompt();
  const what = label === TRACK_LABELS.CAMERA ? "camera" : label === TRACK_LABELS.SCREEN ? "screen share" : "microphone";
  const button = label === TRACK_LABELS.CAMERA ? "Turn camera on" : "Unmute";
  showRoomNotice(`A host turned off your ${what}. You can turn it back on with the ${button} button when you are ready.`);
  announce(`A host turned off your ${what}`);
}

/**
 * Asks the participant whether to unmute; the answer is theirs alone (nothing is unmuted automatically).
 * @param {HavenClient} client
 * @param {any} message
 */
function onUnmuteRequested(client, message) {
  if (state.view !== "room") return;
  const label = message.label === TRACK_LABELS.CAMERA ? TRACK_LABELS.CAMERA : message.label === TRACK_LABELS.MICROPHONE ? TRACK_LABELS.MICROPHONE : null;
  if (!label) return;
  const alreadyOn = label === TRACK_LABELS.CAMERA ? state.cameraOn : state.micOn;
  if (alreadyOn || !client.published.has(label)) return;
  const host = client.participants.get(message.by);
  const who = host && host.name ? host.name : "The host";
  state.unmuteLabel = label;
  ui.unmutePromptText.textContent = label === TRACK_LABELS.CAMERA
    ? `${who} invites you to turn your camera on, when you are ready.`
    : `${who} invites you to unmute your microphone, when you are ready.`;
  ui.unmuteAccept.textContent = label === TRACK_LABELS.CAMERA ? "Turn camera on" : "Unmute";
  ui.unmuteDecline.textContent = label === TRACK_LABELS.CAMERA ? "Keep camera off" : "Stay muted";
  ui.unmutePrompt.hidden = false;
}

/** @param {boolean} accepted */
function answerUnmute(accepted) {
  const label = state.unmuteLabel;
  hideUnmutePrompt();
  if (!accepted || !label) return;
  const off = label === TRACK_LABELS.CAMERA ? !state.cameraOn : !state.micOn;
  if (off) toggleLocal(label);
  (label === TRACK_LABELS.CAMERA ? ui.toggleVideo : ui.toggleAudio).focus();
}

function hideUnmutePrompt() {
  state.unmuteLabel = null;
  ui.unmutePrompt.hidden = true;
}

// --- joining and leaving -----------------------------------------------------------------------

async function join() {
  if (state.joining || state.view !== "none") return;
  state.joining = true;
  ui.joinButton.disabled = true;
  ui.joinButton.textContent = "Joining…";
  micMeter.stop();
  await state.mediaReady;
  if (state.clientUsed || !state.client) state.client = createClient();
  const client = state.client;
  state.clientUsed = true;
  let joined = false;
  try {
    await client.connect();
    joined = true;
  } catch (err) {
    const code = /** @type {any} */ (err).code;
    ui.joinButton.disabled = !canRetry(code);
    // This link cannot work: turn the camera off rather than leave it running for nothing.
    if (!canRetry(code)) {
      releaseMedia();
      ui.cameraSelect.disabled = ui.microphoneSelect.disabled = true;
    }
  } finally {
    state.joining = false;
    ui.joinButton.textContent = "Join session";
  }
  if (!joined) return;
  ui.joinButton.disabled = false;
  if (client !== state.client || client.status !== "connected") return;
  showAdmission(client);
  // Publishing while waiting is allowed; the server forwards nothing until the host admits us.
  await publishLocal(client);
}

/**
 * Shows the waiting room or the room, whichever the participant is in now.
 * @param {HavenClient} client
 */
function showAdmission(client) {
  if (client.status === "failed" || client.status === "disconnected") return;
  if (client.admission === "waiting") enterWaiting(client);
  else if (client.admission === "admitted") enterRoom();
}

/** @param {HavenClient} client */
function enterWaiting(client) {
  if (state.view === "waiting") return;
  const first = state.view === "none";
  state.view = "waiting";
  grid.clear();
  state.names.clear();
  session.reset();
  linkNotice.reset();
  tileSizes.reset();
  hideUnmutePrompt();
  ui.localName.textContent = `${state.displayName} (you)`;
  ui.waitingPreview.append(ui.localTile);
  renderWaiting(client);
  renderLocalTile();
  showScreen("waiting");
  if (!first) announce("You are back in the waiting room");
  ui.waitingTitle.focus();
}

/** @param {HavenClient} client */
function renderWaiting(client) {
  if (state.view !== "waiting") return;
  const view = client.roomState || {};
  const server = client.server || {};
  const hostPresent = view.host_present === true;
  ui.waitingMessage.dataset.hostPresent = String(hostPresent);
  ui.waitingMessage.textContent = hostPresent
    ? "Your therapist is here and will let you in shortly."
    : "Your therapist hasn't arrived yet. You will be let in once the session starts.";
  const startsAt = typeof view.starts_at === "number" ? view.starts_at : server.starts_at;
  ui.waitingStart.hidden = typeof startsAt !== "number";
  if (typeof startsAt === "number") ui.waitingStart.textContent = `The session is scheduled to start ${describeStart(startsAt)}.`;
  const support = typeof view.support_text === "string" ? view.support_text : server.support_text;
  ui.waitingSupport.hidden = !support;
  ui.waitingSupport.textContent = support || "";
}

/**
 * Words a scheduled start: "at 3:00 PM" today, otherwise with the day.
 * @param {number} startsAt ms since epoch
 */
function describeStart(startsAt) {
  const date = new Date(startsAt);
  const time = date.toLocaleTimeString([], { hour: "numeric", minute: "2-digit" });
  if (date.toDateString() === new Date().toDateString()) return `at ${time}`;
  return `on ${date.toLocaleDateString([], { weekday: "long", month: "long", day: "numeric" })} at ${time}`;
}

function enterRoom() {
  if (state.view === "room") return;
  state.view = "room";
  ui.leaveButton.disabled = false;
  ui.roomNotice.hidden = true;
  ui.audioBlocked.hidden = true;
  hideUnmutePrompt();
  ui.localName.textContent = `${state.displayName} (you)`;
  grid.attachLocal(ui.localTile);
  applySelfView();
  showScreen("room");
  session.enter();
  renderRoom();
  ui.main.focus();
}

/** @param {HavenClient} client */
async function publishLocal(client) {
  const stream = state.stream;
  if (!stream || stream.getTracks().length === 0) return;
  applyLocalEnabled();
  try {
    await client.publish(stream);
  } catch (err) {
    if (client === state.client && state.view !== "none") {
      showRoomNotice(`Your camera and microphone could not be shared: ${errorText(err)}. You can still see and hear the group.`);
    }
  }
}

/**
 * Leaves the session on request and shows the end screen.
 * @param {{keepResume?: boolean, steppedOut?: boolean}} [options] `keepResume`: a host stepping out keeps their
 *   place; `steppedOut`: no host is left, so the end screen says how to return
 */
async function leave({ keepResume = false, steppedOut = false } = {}) {
  const client = state.client;
  if (!client || state.view === "none") return;
  ui.leaveButton.disabled = true;
  exitSession();
  await client.leave({ keepResume });
  if (steppedOut) {
    showEnded("You stepped out", "Members were told you stepped out. Press Return to the session to come back to the " +
      "group; if no host is back in time, the session closes for everyone.", true);
    ui.rejoinButton.textContent = "Return to the session";
  } else {
    showEnded("You left the session", "Thank you for joining. You can close this window now, or rejoin if you left by mistake.", true);
  }
}

/** Tears the waiting room or room down and releases the camera and microphone. */
function exitSession() {
  state.view = "none";
  grid.clear();
  state.names.clear();
  session.reset();
  linkNotice.reset();
  tileSizes.reset();
  hideUnmutePrompt();
  if (state.consentAnswer) answerConsent(false);
  if (state.emergencyAnswer) answerEmergencyInfo(null);
  ui.localTile.hidden = false;
  ui.preview.append(ui.localTile);
  ui.localName.textContent = state.displayName;
  releaseMedia();
}

/** Stops the camera and microphone (and any acquisition still under way). */
function releaseMedia() {
  state.mediaRequest++;
  micMeter.stop();
  stopStream(state.stream);
  state.stream = null;
  ui.localVideo.srcObject = null;
  renderLocalTile();
}

/** Joins again with the same link: back through the pre-join screen, which starts joining at once. */
async function rejoin() {
  ui.rejoinButton.disabled = true;
  state.client = createClient();
  state.clientUsed = false;
  ui.status.hidden = true;
  showScreen("prejoin");
  state.mediaReady = acquireMedia();
  await join();
}

// --- room ------------------------------------------------------------------------------------------

function renderRoom() {
  const client = state.client;
  if (state.view !== "room" || !client) return;
  const participants = [...client.participants.values()];
  if (state.pinned && !client.participants.has(state.pinned)) state.pinned = null;
  grid.pinned = state.pinned;
  grid.update(participants, client.remoteTracks(), client.activeSpeaker);
  reportTileSizes();
  state.names = new Map(participants.map((p) => [p.id, p.name]));
  state.hostIds = new Set(participants.filter((p) => HOST_ROLES.has(p.role)).map((p) => p.id));
  renderLocalTile();
  session.renderTiles(ui.localTile, grid.tileElements());
  for (const [id, tile] of grid.tileElements()) showQuality(tile, /** @type {any} */ (state.linkQuality.get(id)));
  const room = client.roomState || {};
  const selfId = client.self ? client.self.id : null;
  /** @param {string|null} id a participant id, as the layout names it */
  const tileOf = (id) => (id && id === selfId ? SELF_TILE : id);
  grid.setFocus(chooseFocus({
    screen: ui.screenStage.hidden ? null : SCREEN_TILE,
    spotlight: tileOf(typeof room.spotlight === "string" ? room.spotlight : null),
    pinned: state.pinned,
    speaker: tileOf(client.activeSpeaker),
    view: state.viewMode,
    present: (id) => id === SCREEN_TILE || id === SELF_TILE || client.participants.has(id),
  }));
  ui.viewMode.setAttribute("aria-pressed", String(state.viewMode === "speaker"));
  ui.viewModeLabel.textContent = state.viewMode === "speaker" ? "Grid view" : "Speaker view";
}

/**
 * Keeps hosts' per-tile connection quality as the server last measured it, and tells a member of their own
 * weak link (docs/protocol.md 9.12).
 * @param {{participants?: unknown}} message
 */
function onLinkQuality(message) {
  if (!Array.isArray(message.participants)) return;
  state.linkQuality = new Map();
  for (const entry of message.participants) {
    if (entry && typeof entry.participant_id === "string") state.linkQuality.set(entry.participant_id, entry);
  }
  if (state.view !== "room") return;
  for (const [id, tile] of grid.tileElements()) showQuality(tile, /** @type {any} */ (state.linkQuality.get(id)));
  const client = state.client;
  linkNotice.onLinkQuality(message, client ? client.self : null);
  // Audio first on the way up too: on a poor link the camera sends its small layer only.
  const own = client && client.self ? state.linkQuality.get(client.self.id) : null;
  if (client && own) client.uplinkRated(String(/** @type {any} */ (own).quality)).catch(() => {});
}

/** Hides or shows one's own tile in the room (the others still see the camera; the layout closes the gap). */
function applySelfView() {
  ui.localTile.hidden = state.view === "room" && state.hideSelf;
}

/**
 * Shows a reaction quietly on the reacting participant's tile for a few seconds (never a sound).
 * @param {HavenClient} client
 * @param {{participant_id?: unknown, reaction?: unknown}} message
 */
function showReaction(client, message) {
  const words = typeof message.reaction === "string" ? REACTIONS[message.reaction] : undefined;
  if (!words || typeof message.participant_id !== "string") return;
  const own = !!client.self && client.self.id === message.participant_id;
  const tile = own ? ui.localTile : grid.tileElements().get(message.participant_id);
  if (!tile) return;
  let badge = /** @type {HTMLElement|null} */ (tile.querySelector(":scope > .tile-reaction"));
  if (!badge) {
    badge = document.createElement("span");
    badge.className = "tile-reaction";
    badge.dataset.testid = "tile-reaction";
    tile.append(badge);
  }
  badge.textContent = words;
  badge.dataset.reaction = message.reaction;
  const shown = badge;
  clearTimeout(Number(shown.dataset.timer));
  shown.dataset.timer = String(setTimeout(() => shown.remove(), REACTION_MS));
}

/** @returns {"grid"|"speaker"} the view this member chose before, in this browser */
function readViewMode() {
  return readChoice(VIEW_KEY) === "speaker" ? "speaker" : "grid";
}

function toggleViewMode() {
  state.viewMode = state.viewMode === "speaker" ? "grid" : "speaker";
  saveChoice(VIEW_KEY, state.viewMode);
  renderRoom();
}

/** Renders the session panel (agenda, check-in, hands, chat, host tools) from the room state. */
function renderSession() {
  if (state.view === "room") session.render();
}

/**
 * Sends a session request with one of the typed methods; on failure shows why in the room and resolves false.
 * @param {(requests: import("./requests.js").Requests) => Promise<any>} call
 * @returns {Promise<boolean>}
 */
async function sendRequest(call) {
  const client = state.client;
  if (!client) return false;
  try {
    await call(client.requests);
    return true;
  } catch (err) {
    if (client === state.client && state.view !== "none") showRoomNotice(`That did not work: ${errorText(err)}`);
    return false;
  }
}

/**
 * @param {HavenClient} client
 * @param {{change: string, participant_id?: string}} detail
 */
function announceRosterChange(client, detail) {
  if (state.view !== "room" || !detail.participant_id) return;
  if (detail.change === "joined" && !state.names.has(detail.participant_id)) {
    const participant = client.participants.get(detail.participant_id);
    if (participant) announce(`${participant.name || "A participant"} joined`);
  } else if (detail.change === "left") {
    const name = state.names.get(detail.participant_id) || "A participant";
    const reason = /** @type {any} */ (detail).reason;
    announce(reason === LEAVE_REASONS.MOVED ? `${name} went to another room` : `${name} left`);
    if (reason === LEAVE_REASONS.LEFT && state.hostIds.has(detail.participant_id)) announceHandover(client, name);
  }
}

/**
 * A host left while another stays: say who runs the session now (with none left, the room state's
 * host_away notice speaks instead).
 * @param {HavenClient} client
 * @param {string} name who left
 */
function announceHandover(client, name) {
  const selfHost = !!client.self && HOST_ROLES.has(client.self.role);
  const others = [...client.participants.values()].filter((p) => HOST_ROLES.has(p.role)).map((p) => p.name);
  const running = [...(selfHost ? ["you"] : []), ...others];
  if (running.length === 0) return;
  const who = running.length === 1 ? running[0] : `${running.slice(0, -1).join(", ")} and ${running[running.length - 1]}`;
  const text = `${name} left the session. ${who[0].toUpperCase()}${who.slice(1)} ${running.length === 1 && who !== "you" ? "is" : "are"} running it now.`;
  showRoomNotice(text, "handover");
}

/** @param {{context: string, error: any}} detail */
function onClientError({ context, error }) {
  if (context === "publish" && state.view !== "none") {
    showRoomNotice(`Your camera and microphone could not be shared again after reconnecting: ${errorText(error)}.`);
  } else {
    console.warn(`Haven: ${context} failed:`, error);
  }
}

/** @param {string} text */
/**
 * Warns a host that someone presents an identity without its resume credential (docs/protocol.md 5.4).
 * @param {HavenClient} client
 * @param {{original_id?: unknown, original_present?: unknown}} message
 */
function onDuplicateJoin(client, message) {
  const known = typeof message.original_id === "string" ? client.directory.get(message.original_id) : undefined;
  const who = known ? known.name : "a member";
  showRoomNotice(message.original_present
    ? `Someone is waiting with the join link of ${who}, who is already here. Admit them only if you expect them.`
    : `Someone is waiting with a join link of ${who} that was used before. Admit them only if it is really ${who}.`);
}

/**
 * @param {string} text
 * @param {string} [key] names the notice's cause, so that it can be cleared when the cause ends
 */
function showRoomNotice(text, key = "") {
  ui.roomNoticeText.textContent = text;
  ui.roomNotice.dataset.key = key;
  ui.roomNotice.hidden = false;
}

/**
 * Clears the room notice if it is still about this cause.
 * @param {string} key
 */
function clearRoomNotice(key) {
  if (!ui.roomNotice.hidden && ui.roomNotice.dataset.key === key) ui.roomNotice.hidden = true;
}

/** @param {string} text */
function announce(text) {
  // Replacing the text makes screen readers read it even when it repeats.
  ui.announcer.textContent = "";
  setTimeout(() => { ui.announcer.textContent = text; }, 50);
}

/** @param {any} err */
function errorText(err) {
  const code = err && err.code;
  if (code === "unsupported-codec") return "your browser offered no video format the server can forward";
  if (code === "invalid-sdp") return "the server could not understand your browser's media offer";
  if (code === "disconnected" || code === "timeout") return "the connection was interrupted";
  if (code === "not-permitted") return "you are not allowed to do that";
  if (code === "chat-disabled") return "the host has turned chat off";
  if (code === "not-waiting") return "that person is no longer waiting";
  if (code === "unknown-participant") return "that person is no longer in the session";
  if (code === "no-agenda") return "the agenda has not been started";
  if (code === "no-checkin") return "no check-in round is running";
  if (code === "invalid-track") return "that camera or microphone is not shared";
  if (code === "unknown-breakout") return "that breakout room no longer exists";
  if (code === "no-breakouts") return "there are no breakout rooms (or they are not open)";
  if (code === "breakouts-open") return "close the open breakout rooms first";
  if (code === "screen-share-active") return "someone else is sharing their screen";
  return (err && err.message) || "unknown error";
}
