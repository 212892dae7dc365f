// @ts-check
/** The client's one error type, carrying a protocol error code (section 3) or a close-code name (section 4). */

/** An error with a stable `code`: a protocol code, a close-code name, or one of the client's own. */
export class HavenError extends Error {
  /**
   * @param {string} code
   * @param {string} [message]
   */
  constructor(code, message) {
    super(message || code);
    this.name = "HavenError";
    this.code = code;
  }
}

// Reconnecting cannot help after these: the token, the room or this client itself is the problem.
const FATAL_CODES = new Set([
  "auth-failed",
  "replaced",
  "session-ended",
  "removed",
  "denied",
  "banned",
  "room-locked",
  "consent-required",
  "consent-declined",
  "emergency-info-declined",
  "emergency-info-required",
  "unsupported-version",
  "room-full",
  "server-full",
  "not-permitted",
  "protocol-error",
  "rate-limited",
  "message-too-large",
]);

/**
 * Returns true when reconnecting after this error code cannot succeed.
 * @param {string|undefined|null} code
 * @returns {boolean}
 */
export function isFatalCode(code) {
  return typeof code === "string" && (code.startsWith("token-") || FATAL_CODES.has(code));
}

/**
 * Returns the error as a {@link HavenError}; a local failure (WebRTC, WebSocket constructor) gets `client-error`.
 * @param {unknown} err
 * @returns {HavenError}
 */
export function asHavenError(err) {
  if (err instanceof HavenError) return err;
  const error = new HavenError("client-error", err instanceof Error ? `${err.name}: ${err.message}` : String(err));
  /** @type {any} */ (error).cause = err;
  return error;
}
