/** The connection-status indicator and the plain-language wording of connection states and failure codes. */

const STATE_TEXT = {
  connecting: "Connecting…",
  connected: "Connected",
  reconnecting: "Reconnecting…",
  disconnected: "Disconnected",
  failed: "The connection failed",
};

const INVALID_LINK = "This join link is not valid — ask your therapist for a new one";

/** @type {Record<string, string>} */
const FAILURE_TEXT = {
  "token-expired": "This join link has expired — ask your therapist for a new one",
  "token-not-yet-valid": "This join link is not active yet — please try again closer to the session time",
  "token-wrong-room": "This join link is for a different session — open the link exactly as you received it",
  "token-missing": INVALID_LINK,
  "auth-failed": INVALID_LINK,
  replaced: "You joined this session from another window or device, so this one was disconnected",
  "room-full": "This session is full — please contact your therapist",
  "server-full": "The service is busy right now — please try again in a few minutes",
  "unsupported-version": "This page is out of date — please reload it from your join link",
  "not-permitted": "You are not allowed to join this session — please contact your therapist",
  "network-error": "Could not reach the server — check your internet connection and try again",
  timeout: "The server did not answer in time — check your internet connection and try again",
  "server-shutdown": "The service is restarting — please try again in a minute",
  "server-restarting": "The service is restarting — please try again in a minute",
  "session-ended": "The session has ended",
  removed: "A host removed you from this session",
  denied: "The host did not let you into this session",
  banned: "You can't rejoin this session — please contact your therapist",
  "room-locked": "This session is locked — please contact your therapist",
  "consent-declined": "You need to accept the group agreement to join",
  "consent-required": "You need to accept the group agreement to join",
  "emergency-info-declined": "This group asks where you are and for an emergency contact before you join",
  "emergency-info-required": "This group asks where you are and for an emergency contact before you join",
  "token-used": "This join link was used already — open your invite link again to join",
};

/** What the status shows while reconnecting, when the server said why it closed the socket. */
const RESTARTING = "The service is restarting — reconnecting…";
/** @type {Record<string, string>} */
const RECONNECTING_TEXT = { "server-restarting": RESTARTING, "server-shutdown": RESTARTING };

/** Failures after which the same join link cannot get the participant in. */
const FINAL = new Set(["auth-failed", "not-permitted", "unsupported-version", "session-ended", "removed", "denied", "banned"]);

/**
 * Returns the plain-language reason for a failure code.
 * @param {string|null|undefined} code
 * @returns {string}
 */
export function describeFailure(code) {
  if (!code) return STATE_TEXT.failed;
  if (FAILURE_TEXT[code]) return FAILURE_TEXT[code];
  if (code.startsWith("token-")) return INVALID_LINK;
  return "The connection to the session failed — please try again";
}

/**
 * Tells whether trying again with the same join link can help after this failure.
 * @param {string|null|undefined} code
 */
export function canRetry(code) {
  return !(code && (code.startsWith("token-") || FINAL.has(code)));
}

/**
 * Returns the words for a connection state: when failed, why; when reconnecting after the server said it is
 * restarting (close 1001 `server-restarting`), the restart notice.
 * @param {string} state connecting|connected|reconnecting|disconnected|failed
 * @param {string|null} [code] the failure code, or the code the socket closed with
 * @returns {string}
 */
export function describeState(state, code = null) {
  if (state === "failed") return describeFailure(code);
  if (state === "reconnecting" && code && RECONNECTING_TEXT[code]) return RECONNECTING_TEXT[code];
  return STATE_TEXT[/** @type {keyof STATE_TEXT} */ (state)] || state;
}

/**
 * Shows a connection state (and, when failed, why; when reconnecting for a restart, that) on the status element.
 * @param {HTMLElement} element
 * @param {string} state connecting|connected|reconnecting|disconnected|failed
 * @param {string|null} [code] see {@link describeState}
 */
export function renderStatus(element, state, code = null) {
  element.hidden = false;
  element.dataset.state = state;
  element.textContent = describeState(state, code);
}
