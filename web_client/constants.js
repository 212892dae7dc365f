// @ts-check
/**
 * The protocol's fixed names and numbers (docs/protocol.md), each defined here once: version, close codes,
 * leave reasons, roles and track labels. Limits and agenda templates are not here: the server sends them.
 */

export const PROTOCOL_VERSION = 1;

/** Section 10.1: the main room's name. */
export const MAIN_ROOM = "main";

/** Section 6.1: the labels a published track may carry. */
export const TRACK_LABELS = Object.freeze({
  CAMERA: "camera",
  MICROPHONE: "microphone",
  SCREEN: "screen",
  SCREEN_AUDIO: "screen-audio",
});

/** The labels of a camera stream's tracks, by kind. */
export const DEFAULT_LABELS = Object.freeze({ video: TRACK_LABELS.CAMERA, audio: TRACK_LABELS.MICROPHONE });

/** The labels of a screen share's tracks, by kind (section 10.2). */
export const SCREEN_LABELS = Object.freeze({ video: TRACK_LABELS.SCREEN, audio: TRACK_LABELS.SCREEN_AUDIO });

/** Section 9: the roles a participant may have. */
export const ROLES = Object.freeze({ HOST: "host", COHOST: "cohost", PARTICIPANT: "participant" });

/** Where a joined participant is: in the waiting room or in the room (sections 5.2, 9.2). */
export const ADMISSION = Object.freeze({ WAITING: "waiting", ADMITTED: "admitted" });

/** Section 4: the WebSocket close codes the server uses. */
export const CLOSE_CODES = Object.freeze({
  NORMAL: 1000,
  GOING_AWAY: 1001,
  MESSAGE_TOO_LARGE: 1009,
  TRY_AGAIN: 1013,
  SESSION_ENDED: 4000,
  PROTOCOL_ERROR: 4400,
  AUTH_FAILED: 4401,
  REMOVED: 4403,
  HEARTBEAT_TIMEOUT: 4408,
  REPLACED: 4409,
  MEDIA_FAILED: 4410,
  RATE_LIMITED: 4429,
});

/**
 * The error code a close code turns into when the socket closes without an error message first.
 * @type {ReadonlyMap<number, string>}
 */
export const CLOSE_CODE_NAMES = new Map([
  [CLOSE_CODES.NORMAL, "closed"],
  [CLOSE_CODES.GOING_AWAY, "server-restarting"],
  [CLOSE_CODES.MESSAGE_TOO_LARGE, "message-too-large"],
  [CLOSE_CODES.TRY_AGAIN, "try-again"],
  [CLOSE_CODES.SESSION_ENDED, "session-ended"],
  [CLOSE_CODES.PROTOCOL_ERROR, "protocol-error"],
  [CLOSE_CODES.AUTH_FAILED, "auth-failed"],
  [CLOSE_CODES.REMOVED, "removed"],
  [CLOSE_CODES.HEARTBEAT_TIMEOUT, "heartbeat-timeout"],
  [CLOSE_CODES.REPLACED, "replaced"],
  [CLOSE_CODES.MEDIA_FAILED, "media-failed"],
  [CLOSE_CODES.RATE_LIMITED, "rate-limited"],
]);

/** The reason older servers gave with a normal close at shutdown (section 4). */
export const SERVER_SHUTDOWN_REASON = "server-shutdown";

/** The reason the server gives with close 1001 when it stops or restarts (section 4). */
export const SERVER_RESTARTING_REASON = "server-restarting";

/** Section 8: why someone left a room (`participant-left.reason`); `removed` also says why we were. */
export const LEAVE_REASONS = Object.freeze({
  LEFT: "left",
  DISCONNECTED: "disconnected",
  TIMEOUT: "timeout",
  REPLACED: "replaced",
  MEDIA_FAILED: "media-failed",
  REMOVED: "removed",
  DENIED: "denied",
  WAITING: "waiting",
  MOVED: "moved",
  SESSION_ENDED: "session-ended",
});

/** Section 9.3 and 9.2: why the server ended the session (`session-ended.reason`). */
export const SESSION_END_REASONS = Object.freeze({ ENDED: "ended", NO_HOST: "no-host" });
