// @ts-check
/**
 * One WebSocket to the server (docs/protocol.md sections 1, 2, 4 and 7): request ids matched to results and
 * errors with a timeout, the ping → pong heartbeat, close codes turned into errors, and the reconnect
 * backoff schedule. It knows no request type beyond `pong` and touches no DOM.
 */

import {
  CLOSE_CODES, CLOSE_CODE_NAMES, SERVER_RESTARTING_REASON, SERVER_SHUTDOWN_REASON, LEAVE_REASONS, SESSION_END_REASONS,
} from "./constants.js";
import { HavenError, asHavenError, isFatalCode } from "./errors.js";

export const REQUEST_TIMEOUT_MS = 15000;
export const SOCKET_OPEN_TIMEOUT_MS = 15000;
export const RECONNECT_FIRST_DELAY_MS = 500;
export const RECONNECT_MAX_DELAY_MS = 10000;
// Each wait is drawn from the upper half of its backoff step, so that the clients a restart closed at the same
// instant do not all come back in the same instant either.
export const RECONNECT_JITTER = 0.5;
// The server pings every heartbeat interval (section 7): this many silent intervals mean the link is gone.
export const HEARTBEAT_MISSES = 3;
export const DEFAULT_HEARTBEAT_INTERVAL_MS = 10000;

// WebSocket.readyState values; Node has no WebSocket global to read them from.
const OPEN = 1;
const CLOSING = 2;
const CLOSED = 3;

/**
 * @typedef {{readyState: number, send(data: string): void, close(code?: number, reason?: string): void,
 *            addEventListener(type: string, listener: (event: any) => void, options?: any): void}} SocketLike
 *   what the connection needs of a WebSocket (tests pass a fake)
 * @typedef {{now(): number, setTimeout(fn: () => void, ms: number): any, clearTimeout(id: any): void,
 *            setInterval(fn: () => void, ms: number): any, clearInterval(id: any): void}} Clock
 * @typedef {object} ConnectionOptions
 * @property {string} url
 * @property {(url: string) => SocketLike} [createSocket] default: `new WebSocket(url)`
 * @property {Clock} [clock] default: the real timers
 * @property {number} [requestTimeoutMs]
 * @property {(message: any) => void} [onEvent] every server message that is not a result, error or ping
 * @property {(error: HavenError) => void} [onClose] the socket closed by the server or the network (not by {@link Connection#close})
 * @property {(error: HavenError) => void} [onServerError] an error with `"id": null` (section 2)
 * @property {() => void} [onSilent] nothing arrived for {@link HEARTBEAT_MISSES} heartbeat intervals
 */

/** @type {Clock} */
const REAL_CLOCK = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (id) => clearTimeout(id),
  setInterval: (fn, ms) => setInterval(fn, ms),
  clearInterval: (id) => clearInterval(id),
};

/**
 * Turns a close event into the error it means (section 4).
 * @param {{code: number, reason?: string}} event
 * @returns {HavenError}
 */
export function closeError(event) {
  if (event.code === CLOSE_CODES.NORMAL && event.reason === SERVER_SHUTDOWN_REASON) {
    return new HavenError(SERVER_SHUTDOWN_REASON, "the server is restarting");
  }
  if (event.code === CLOSE_CODES.GOING_AWAY) {
    return new HavenError(SERVER_RESTARTING_REASON, "the server is restarting");
  }
  const code = CLOSE_CODE_NAMES.get(event.code) || "disconnected";
  return new HavenError(code, event.reason || `connection closed (${event.code})`);
}

/**
 * Tells whether to reconnect after the connection ended with this error.
 * @param {HavenError} error
 * @returns {boolean}
 */
export function shouldReconnect(error) {
  return !isFatalCode(error.code);
}

/**
 * Returns the wait before reconnect attempt `attempt` (0 for the first): doubling from 0.5 s, at most 10 s.
 * @param {number} attempt
 * @returns {number} ms
 */
export function backoffDelay(attempt) {
  return Math.min(RECONNECT_FIRST_DELAY_MS * 2 ** attempt, RECONNECT_MAX_DELAY_MS);
}

/**
 * Returns the jittered wait before reconnect attempt `attempt`: uniformly between half of
 * {@link backoffDelay} and all of it ({@link RECONNECT_JITTER}), so 250–500 ms first and 5–10 s at most.
 * @param {number} attempt
 * @param {() => number} [random] a number in [0, 1]; default `Math.random`
 * @returns {number} ms
 */
export function jitteredDelay(attempt, random = Math.random) {
  const step = backoffDelay(attempt);
  const r = Math.min(1, Math.max(0, random()));
  return Math.round(step * (1 - RECONNECT_JITTER + RECONNECT_JITTER * r));
}

/**
 * Runs `attempt` after each jittered backoff delay until it resolves true, `stopped()` turns true, or it fails
 * with a code after which reconnecting cannot help; `cleanup` runs after each failed attempt.
 * @param {() => Promise<boolean>} attempt
 * @param {{stopped: () => boolean, cleanup?: () => void, sleep?: (ms: number) => Promise<void>,
 *          random?: () => number}} options
 * @returns {Promise<{outcome: "done"|"stopped"} | {outcome: "failed", error: HavenError}>}
 */
export async function retryWithBackoff(attempt, { stopped, cleanup = () => {}, sleep = defaultSleep, random = Math.random }) {
  for (let n = 0; ; n++) {
    await sleep(jitteredDelay(n, random));
    if (stopped()) return { outcome: "stopped" };
    try {
      if (await attempt()) return { outcome: "done" };
    } catch (err) {
      if (stopped()) return { outcome: "stopped" };
      const error = asHavenError(err);
      if (!shouldReconnect(error)) return { outcome: "failed", error };
    }
    cleanup();
  }
}

/** @param {number} ms */
function defaultSleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** One WebSocket: open it, send requests on it, answer its pings, and close it. */
export class Connection {
  /** @param {ConnectionOptions} options */
  constructor({ url, createSocket, clock, requestTimeoutMs, onEvent, onClose, onServerError, onSilent }) {
    this.url = url;
    this.createSocket = createSocket || ((/** @type {string} */ u) => /** @type {SocketLike} */ (new WebSocket(u)));
    this.clock = clock || REAL_CLOCK;
    this.requestTimeoutMs = requestTimeoutMs || REQUEST_TIMEOUT_MS;
    this.onEvent = onEvent || (() => {});
    this.onClose = onClose || (() => {});
    this.onServerError = onServerError || (() => {});
    this.onSilent = onSilent || (() => {});
    /** @type {SocketLike|null} */
    this.socket = null;
    /** @type {number} server clock minus this device's clock in ms, from the pings (section 7) */
    this.clockOffset = 0;
    this.closed = false;
    this._nextId = 1;
    /** @type {Map<number, {resolve: (data: any) => void, reject: (error: HavenError) => void, timer: any}>} */
    this._pending = new Map();
    this._lastSeen = 0;
    /** @type {any} */
    this._heartbeatTimer = null;
    /** @type {HavenError|null} why the server is about to close the socket (`removed`, `session-ended`) */
    this._closeReason = null;
  }

  /** @returns {boolean} whether requests can be sent now */
  get isOpen() {
    return !this.closed && !!this.socket && this.socket.readyState === OPEN;
  }

  /**
   * Opens the socket; rejects with `network-error` when the server cannot be reached in time.
   * @returns {Promise<void>}
   */
  open() {
    const socket = this.createSocket(this.url);
    this.socket = socket;
    return new Promise((resolve, reject) => {
      const timer = this.clock.setTimeout(() => {
        this.close();
        reject(new HavenError("network-error", "the server did not answer"));
      }, SOCKET_OPEN_TIMEOUT_MS);
      let opened = false;
      socket.addEventListener("open", () => {
        this.clock.clearTimeout(timer);
        if (this.closed) {
          reject(new HavenError("disconnected", "connection abandoned"));
          return;
        }
        opened = true;
        this._lastSeen = this.clock.now();
        resolve();
      });
      socket.addEventListener("message", (/** @type {{data: any}} */ event) => this._onMessage(event.data));
      socket.addEventListener("close", (/** @type {{code: number, reason?: string}} */ event) => {
        this.clock.clearTimeout(timer);
        if (!opened) {
          const error = closeError(event);
          this.closed = true;
          this.socket = null;
          reject(error.code === "disconnected" ? new HavenError("network-error", "could not reach the server") : error);
          return;
        }
        this._onClose(event);
      });
    });
  }

  /**
   * Sends a request and resolves with its result `data`, or rejects with a {@link HavenError}
   * (the server's error, `timeout`, or the reason the socket closed).
   * @param {string} type
   * @param {Record<string, any>} [fields]
   * @returns {Promise<any>}
   */
  request(type, fields = {}) {
    const socket = this.socket;
    if (!this.isOpen || !socket) {
      return Promise.reject(new HavenError("disconnected", `cannot send ${type}: not connected`));
    }
    const id = this._nextId++;
    return new Promise((resolve, reject) => {
      const timer = this.clock.setTimeout(() => {
        this._pending.delete(id);
        reject(new HavenError("timeout", `no answer to ${type} within ${this.requestTimeoutMs / 1000} s`));
      }, this.requestTimeoutMs);
      this._pending.set(id, { resolve, reject, timer });
      socket.send(JSON.stringify({ ...fields, type, id }));
    });
  }

  /**
   * Watches for silence: calls `onSilent` once nothing arrived for {@link HEARTBEAT_MISSES} intervals.
   * @param {number|undefined|null} intervalMs the `hello` result's `heartbeat_interval_ms`
   */
  startHeartbeat(intervalMs) {
    this._stopHeartbeat();
    const interval = intervalMs && intervalMs > 0 ? intervalMs : DEFAULT_HEARTBEAT_INTERVAL_MS;
    this._lastSeen = this.clock.now();
    this._heartbeatTimer = this.clock.setInterval(() => {
      if (this.clock.now() - this._lastSeen <= HEARTBEAT_MISSES * interval) return;
      this._stopHeartbeat();
      if (!this.closed) this.onSilent();
    }, Math.max(250, Math.min(interval / 2, 5000)));
  }

  /** Forgets the socket (its late events are ignored), fails its requests and closes it. Idempotent. */
  close() {
    if (this.closed) return;
    this.closed = true;
    const socket = this.socket;
    this.socket = null;
    this._stopHeartbeat();
    this._rejectPending(new HavenError("disconnected", "the connection to the server was closed"));
    if (socket && socket.readyState !== CLOSED && socket.readyState !== CLOSING) {
      try {
        socket.close(CLOSE_CODES.NORMAL);
      } catch {
        // Already closing.
      }
    }
  }

  /** @param {any} data */
  _onMessage(data) {
    if (this.closed) return;
    this._lastSeen = this.clock.now();
    let message;
    try {
      message = JSON.parse(data);
    } catch {
      return;
    }
    if (!message || typeof message !== "object") return;
    switch (message.type) {
      case "result":
      case "error":
        this._settle(message);
        return;
      case "ping":
        this._send({ type: "pong", ts: message.ts });
        if (typeof message.ts === "number" && Number.isFinite(message.ts)) this.clockOffset = message.ts - this.clock.now();
        return;
      case "removed":
        this._closeReason = message.reason === LEAVE_REASONS.DENIED
          ? new HavenError("denied", "the host did not admit you")
          : new HavenError("removed", "a host removed you from the session");
        break;
      case "session-ended":
        this._closeReason = new HavenError("session-ended", message.reason === SESSION_END_REASONS.NO_HOST
          ? "the session ended because no host was present" : "the host ended the session");
        break;
      default:
        break;
    }
    this.onEvent(message);
  }

  /** @param {{code: number, reason?: string}} event */
  _onClose(event) {
    if (this.closed) return;
    this.closed = true;
    this.socket = null;
    this._stopHeartbeat();
    // `removed` and `session-ended` say more than their close codes do.
    const announced = event.code === CLOSE_CODES.SESSION_ENDED || event.code === CLOSE_CODES.REMOVED;
    const error = this._closeReason && announced ? this._closeReason : closeError(event);
    this._rejectPending(error);
    this.onClose(error);
  }

  /** @param {any} message */
  _settle(message) {
    if (message.id === null || message.id === undefined) {
      this.onServerError(new HavenError(message.code || "internal-error", message.message));
      return;
    }
    const pending = this._pending.get(message.id);
    if (!pending) return;
    this._pending.delete(message.id);
    this.clock.clearTimeout(pending.timer);
    if (message.type === "result") pending.resolve(message.data || {});
    else pending.reject(new HavenError(message.code || "internal-error", message.message || message.code));
  }

  /** @param {HavenError} error */
  _rejectPending(error) {
    const pending = [...this._pending.values()];
    this._pending.clear();
    for (const { reject, timer } of pending) {
      this.clock.clearTimeout(timer);
      reject(error);
    }
  }

  /** @param {object} message */
  _send(message) {
    if (this.isOpen && this.socket) this.socket.send(JSON.stringify(message));
  }

  _stopHeartbeat() {
    if (this._heartbeatTimer !== null) this.clock.clearInterval(this._heartbeatTimer);
    this._heartbeatTimer = null;
  }
}
