/**
 * Haven signaling protocol client, version 1 (docs/protocol.md): the WebSocket session, the publish and
 * subscribe RTCPeerConnections, the room roster and reconnection. It touches no DOM, so any UI can use it.
 */

export const PROTOCOL_VERSION = 1;

const REQUEST_TIMEOUT_MS = 15000;
const SOCKET_OPEN_TIMEOUT_MS = 15000;
const LEAVE_TIMEOUT_MS = 3000;
// Section 6: SDP is sent once gathering completes, or after at most 3 s with what there is.
const ICE_GATHERING_TIMEOUT_MS = 3000;
const RECONNECT_FIRST_DELAY_MS = 500;
const RECONNECT_MAX_DELAY_MS = 10000;
const HEARTBEAT_MISSES = 3;
const DEFAULT_HEARTBEAT_INTERVAL_MS = 10000;
const DEFAULT_LABELS = Object.freeze({ video: "camera", audio: "microphone" });
const SCREEN_LABELS = Object.freeze({ video: "screen", audio: "screen-audio" });
// Section 10.2: getDisplayMedia never answers in some setups (no picker shown): give up after this.
const DISPLAY_MEDIA_TIMEOUT_MS = 10000;
// Section 10.1: the main room's name.
export const MAIN_ROOM = "main";

// Section 4. The names are what `.code` carries when a socket closes without an error message.
const CLOSE_CODES = new Map([
  [1000, "closed"],
  [4000, "session-ended"],
  [1009, "message-too-large"],
  [4400, "protocol-error"],
  [4401, "auth-failed"],
  [4403, "removed"],
  [4408, "heartbeat-timeout"],
  [4409, "replaced"],
  [4410, "media-failed"],
  [4429, "rate-limited"],
]);

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
  "unsupported-version",
  "room-full",
  "server-full",
  "not-permitted",
  "protocol-error",
  "rate-limited",
  "message-too-large",
]);

/**
 * @typedef {"connecting"|"connected"|"reconnecting"|"disconnected"|"failed"} ConnectionStatus
 * @typedef {{track_id: string, kind: string, label: string, muted: boolean}} TrackInfo
 * @typedef {{id: string, name: string, role: string, tracks: TrackInfo[]}} Participant
 * @typedef {{mid: string, track_id: string, participant_id: string, kind: string, label: string}} Consumer
 * @typedef {{camera?: MediaStreamTrack, microphone?: MediaStreamTrack, screen?: MediaStreamTrack,
 *            "screen-audio"?: MediaStreamTrack}} ParticipantTracks
 * @typedef {{label: string, kind: string, track: MediaStreamTrack, stream: MediaStream,
 *            transceiver: RTCRtpTransceiver|null, track_id: string|null}} PublishedTrack
 * @typedef {{state?: "admitted"|"waiting", session_id?: string, self: Participant, participants: Participant[],
 *            room?: any, chat?: any[]}} JoinResult
 * @typedef {{text: string, version: string}} Consent
 * @typedef {(consent: Consent) => boolean|Promise<boolean>} ConsentHandler
 * @typedef {{name: string}} BreakoutRoomInfo
 * @typedef {{open: boolean, ends_at: number|null, self_select: boolean, mine: string|null,
 *            rooms: Array<BreakoutRoomInfo & {members?: string[], planned?: string[], help_requested?: boolean}>}}
 *   BreakoutState
 * @typedef {(sharer: Participant|null) => boolean|Promise<boolean>} ReplaceScreenHandler asked when someone
 *   else shares a screen in this room: resolve true to replace their share with ours
 */

const MAX_CHAT_HISTORY = 200;

/** An error with the stable protocol `code` (section 3), or a close-code name (section 4). */
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

/**
 * Returns true when reconnecting after this error code cannot succeed.
 * @param {string|undefined} code
 * @returns {boolean}
 */
export function isFatalCode(code) {
  return typeof code === "string" && (code.startsWith("token-") || FATAL_CODES.has(code));
}

/**
 * One participant's connection to a Haven room.
 *
 * Events (all `CustomEvent`s):
 * - `status`: `detail` is the new {@link ConnectionStatus}; on `failed`, `client.failure` (and the event's
 *   `code`) tell why.
 * - `reconnected`: the session was restored after a loss (hello, join and publish done again).
 * - `roster`: `participants` or `self` changed; `detail` is `{change, participant_id?, reason?}` with
 *   `change` one of `reset`, `joined`, `left`, `tracks`, `self`.
 * - `tracks`: the participant → tracks mapping of {@link HavenClient#remoteTracks} changed; `detail` is it.
 * - `active-speaker`: `detail` is the participant id of the loudest speaker, or null.
 * - `admission`: `detail` is `"waiting"` (in the waiting room) or `"admitted"` (in the room), after each
 *   join, `admitted` and `sent-to-waiting`.
 * - `room-state`: `detail` is {@link HavenClient#roomState} (the room state, or the waiting view).
 * - `waiting-list`: (hosts) `detail` is the list of waiting participants.
 * - `muted-by-host`: `detail` is the label of the track a host muted (already disabled locally).
 * - `chat-message`: `detail` is the message (render its text as text, never as HTML).
 * - `moved`: the participant is now in another place (section 10.1): `detail` is `{location, from}`. The
 *   roster and the chat history (`client.chat`) were replaced; the media connections stay up.
 * - `breakout-warning`: `detail` is `{seconds_left}`: the breakouts close soon.
 * - `breakout-broadcast`: `detail` is `{text, from: {id, name}}`, a host's message to every room.
 * - `help-requested`: (hosts) `detail` is `{room, participant_id}`.
 * - `screen-share`: our own screen share started or ended; `detail` is `{active, reason}` with `reason` one
 *   of `started`, `stopped` (by us), `ended` (the browser's "Stop sharing"), `replaced`, `revoked`,
 *   `stopped-by-host`, `moved` (section 10.2), or `reconnected` (it could not be restored after a reconnect).
 * - `server-event`: every event from the server, `detail` being the raw message (for the parts of
 *   section 9 that have no dedicated event here: agenda, check-in, hands, moderation requests…).
 * - `error`: a background operation failed; `detail` is `{context, error}`.
 */
export class HavenClient extends EventTarget {
  /**
   * @param {{url: string, token: string, room?: string|null, onConsent?: ConsentHandler}} options
   *   `onConsent` shows the group's confidentiality agreement and resolves true once the participant
   *   accepts it (section 5.1); it is asked again only if the agreement changes.
   */
  constructor({ url, token, room = null, onConsent }) {
    super();
    if (!url) throw new TypeError("HavenClient needs the WebSocket url");
    if (!token) throw new TypeError("HavenClient needs a join token");
    this.url = url;
    this.token = token;
    this.room = room || null;
    this.onConsent = onConsent || null;

    /** @type {WebSocket|null} */
    this.ws = null;
    /** @type {ConnectionStatus} */
    this.status = "disconnected";
    /** @type {{code: string, message: string}|null} why the status is `failed` */
    this.failure = null;
    /** @type {any} the `hello` result */
    this.server = null;
    /** @type {Participant|null} */
    this.self = null;
    /** @type {Map<string, Participant>} everyone else in the room (or in the breakout we are in) */
    this.participants = new Map();
    /**
     * @type {Map<string, {id: string, name: string, role: string}>} everyone seen admitted in this session,
     * wherever they are now (hosts name the members of other breakouts with it)
     */
    this.directory = new Map();
    /** @type {string} where we are: `main` or the name of a breakout */
    this.location = MAIN_ROOM;
    /** @type {BreakoutState|null} the breakouts as the latest room state describes them */
    this.breakouts = null;
    /** @type {string|null} */
    this.activeSpeaker = null;
    /** @type {"waiting"|"admitted"|null} */
    this.admission = null;
    /** @type {string|null} */
    this.sessionId = null;
    /** @type {any} the latest `room-state` (admitted) or waiting view (waiting) */
    this.roomState = null;
    /** @type {Array<{id: string, name: string, since: number}>} (hosts) the waiting room */
    this.waiting = [];
    /** @type {any[]} recent chat messages, oldest first */
    this.chat = [];
    /** @type {RTCPeerConnection|null} */
    this.publishPc = null;
    /** @type {RTCPeerConnection|null} */
    this.subscribePc = null;
    /** @type {Map<string, PublishedTrack>} label → published track */
    this.published = new Map();
    /** @type {Map<string, Consumer>} mid → consumer, mirrors the latest `consumers` event */
    this.consumers = new Map();

    /** @type {Map<string, MediaStreamTrack>} mid → track from `ontrack` */
    this._trackByMid = new Map();
    this._nextId = 1;
    /** @type {Map<number, {resolve: Function, reject: Function, timer: any}>} */
    this._pending = new Map();
    /** @type {"idle"|"opening"|"online"|"reconnecting"|"closed"} */
    this._phase = "idle";
    this._closed = false;
    this._heartbeatTimer = null;
    this._lastSeen = 0;
    this._offerChain = Promise.resolve();
    this._publishChain = Promise.resolve();
    // Bumped whenever a connection is torn down, so work still running for it stops at its next step.
    this._subscribeGeneration = 0;
    this._publishGeneration = 0;
    this._tracksSignature = "";
    /** @type {string|null} the server's last applied subscriber offer, as sent */
    this._subscribeOfferSdp = null;
    /** @type {string|null} the agreement version the participant accepted */
    this._acceptedConsent = null;
    /** @type {HavenError|null} why the server is about to close the socket (`removed`, `session-ended`) */
    this._closeReason = null;
    /** @type {number} server clock minus this device's clock in ms, from the heartbeat pings (section 7) */
    this.clockOffset = 0;
  }

  /**
   * Returns the server's current time (ms since epoch) as estimated from its pings, so that countdowns
   * based on server timestamps agree across devices whose clocks differ.
   * @returns {number}
   */
  serverNow() {
    return Date.now() + this.clockOffset;
  }

  /**
   * Opens the WebSocket, sends `hello` then `join`, and resolves with the join result.
   * @returns {Promise<JoinResult>}
   */
  async connect() {
    if (this._phase !== "idle") throw new HavenError("bad-state", "connect() can be called once per client");
    this._phase = "opening";
    this._setStatus("connecting");
    try {
      const join = await this._open();
      this._phase = "online";
      this._setStatus("connected");
      return join;
    } catch (err) {
      const error = asHavenError(err);
      this._dropSocket();
      this._teardownMedia();
      if (!this._closed) {
        this._phase = "closed";
        this._closed = true;
        this._fail(error);
      }
      throw error;
    }
  }

  /**
   * Sends a request and resolves with its result `data`, or rejects with a {@link HavenError}.
   * @param {string} type
   * @param {Record<string, any>} [fields]
   * @returns {Promise<any>}
   */
  request(type, fields = {}) {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) {
      return Promise.reject(new HavenError("disconnected", `cannot send ${type}: not connected`));
    }
    const id = this._nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this._pending.delete(id);
        reject(new HavenError("timeout", `no answer to ${type} within ${REQUEST_TIMEOUT_MS / 1000} s`));
      }, REQUEST_TIMEOUT_MS);
      this._pending.set(id, { resolve, reject, timer });
      ws.send(JSON.stringify({ ...fields, type, id }));
    });
  }

  /**
   * Publishes the tracks of a stream, one sendonly transceiver each. A track whose `enabled` is false is
   * published muted. Labels default to `camera` (video) and `microphone` (audio).
   * If the connection drops meanwhile, the tracks are published again once it is restored.
   * @param {MediaStream} stream
   * @param {{labels?: {video?: string, audio?: string}}} [options]
   * @returns {Promise<PublishedTrack[]>}
   */
  publish(stream, { labels = {} } = {}) {
    return this._serializePublish(() => this._publish(stream, labels, null));
  }

  /** @returns {boolean} whether we are sharing a screen */
  get sharingScreen() {
    return this.published.has(SCREEN_LABELS.video);
  }

  /**
   * Returns who shares a screen in our room or breakout (from the room state), or null.
   * @returns {string|null}
   */
  screenSharer() {
    const share = this.roomState && this.roomState.screen_share;
    return share && typeof share.participant_id === "string" ? share.participant_id : null;
  }

  /**
   * Shares a screen (section 10.2): asks the browser for one (giving up after 10 s), publishes it as `screen`
   * (and its sound, if the participant chose to share it, as `screen-audio`) by renegotiating the publish
   * connection. If someone else shares already, `onReplace` decides whether ours replaces theirs; declining
   * rejects with `screen-share-active`. The share ends by {@link HavenClient#stopScreenShare}, by the
   * browser's own "Stop sharing", or by the server (the `screen-share` event tells which).
   * @param {{audio?: boolean, onReplace?: ReplaceScreenHandler}} [options]
   * @returns {Promise<void>}
   */
  async startScreenShare({ audio = false, onReplace } = {}) {
    if (this._phase !== "online") throw new HavenError("not-joined", "join the room before sharing a screen");
    if (this.sharingScreen) throw new HavenError("invalid-track", "a screen is already shared");
    if (!navigator.mediaDevices || typeof navigator.mediaDevices.getDisplayMedia !== "function") {
      throw new HavenError("not-supported", "this browser cannot share a screen");
    }
    const stream = await getDisplayMediaWithTimeout({ video: true, audio: !!audio }, DISPLAY_MEDIA_TIMEOUT_MS);
    const video = stream.getVideoTracks()[0];
    if (!video) {
      stopTracks(stream);
      throw new HavenError("not-supported", "no screen was chosen");
    }
    // Share at most one video and one audio track, whatever the browser handed over.
    const tracks = [video, ...stream.getAudioTracks().slice(0, 1)];
    for (const track of stream.getTracks()) if (!tracks.includes(track)) track.stop();
    const shared = new MediaStream(tracks);
    /** @type {ReplaceScreenHandler} */
    const ask = onReplace || (() => false);
    try {
      await this._serializePublish(() => this._publish(shared, SCREEN_LABELS, ask));
    } catch (err) {
      stopTracks(shared);
      throw err;
    }
    // Stopped meanwhile (e.g. the browser's bar), before the publish finished: end it now.
    if (video.readyState === "ended") {
      await this._endScreenShare("ended", true);
      return;
    }
    video.addEventListener("ended", () => {
      const entry = this.published.get(SCREEN_LABELS.video);
      if (entry && entry.track === video) this._endScreenShare("ended", true).catch(() => {});
    }, { once: true });
    // The server may have ended it already (replaced at once): then `screen-share` said so.
    const entry = this.published.get(SCREEN_LABELS.video);
    if (entry && entry.track === video) this._emit("screen-share", { active: true, reason: "started" });
  }

  /**
   * Ends our screen share (`unpublish`) and stops the capture.
   * @returns {Promise<void>}
   */
  stopScreenShare() {
    return this._endScreenShare("stopped", true);
  }

  /**
   * Ends a published track (`unpublish`); the caller keeps ownership of the MediaStreamTrack.
   * @param {string} label
   * @returns {Promise<void>}
   */
  unpublish(label) {
    return this._serializePublish(() => this._unpublish(label));
  }

  /**
   * Mutes or unmutes a published track: stops sending its media and tells the server (`mute`).
   * @param {string} label
   * @param {boolean} muted
   * @returns {Promise<void>}
   */
  async setMuted(label, muted) {
    const entry = this.published.get(label);
    if (!entry) throw new HavenError("invalid-track", `no ${label} track is published`);
    entry.track.enabled = !muted;
    this._setSelfTrackMuted(entry.track_id, !!muted);
    // Without a track id or a socket, the state is applied when the publish or reconnect completes.
    if (!entry.track_id || this._phase !== "online") return;
    try {
      await this.request("mute", { track_id: entry.track_id, muted: !!muted });
    } catch (err) {
      if (asHavenError(err).code !== "disconnected") throw err;
    }
  }

  /**
   * Returns each remote participant's current tracks by label, from the consumers and the subscribe
   * connection's transceivers (matched by mid).
   * @returns {Map<string, ParticipantTracks>}
   */
  remoteTracks() {
    /** @type {Map<string, ParticipantTracks>} */
    const result = new Map();
    for (const consumer of this.consumers.values()) {
      if (!this.participants.has(consumer.participant_id)) continue;
      const track = this._trackForMid(consumer.mid);
      if (!track) continue;
      const label = consumer.label || DEFAULT_LABELS[/** @type {"video"|"audio"} */ (consumer.kind)];
      if (!label) continue;
      let tracks = result.get(consumer.participant_id);
      if (!tracks) result.set(consumer.participant_id, (tracks = {}));
      /** @type {any} */ (tracks)[label] = track;
    }
    return result;
  }

  /**
   * Leaves the room: sends `leave`, closes both connections and the socket, and stops reconnecting.
   * Local tracks are left to the caller.
   * @returns {Promise<void>}
   */
  async leave() {
    if (this._closed) return;
    this._closed = true;
    const wasOnline = this._phase === "online";
    this._phase = "closed";
    if (wasOnline) {
      try {
        await withTimeout(this.request("leave"), LEAVE_TIMEOUT_MS);
      } catch {
        // The server drops us when the socket closes anyway.
      }
    }
    this._dropSocket();
    this._teardownMedia();
    this._dropScreenShare("stopped");
    this._setStatus("disconnected");
  }

  // --- socket -------------------------------------------------------------------------------------

  /** Opens a socket and runs hello + join on it. */
  async _open() {
    const ws = new WebSocket(this.url);
    this.ws = ws;
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        ws.close();
        reject(new HavenError("network-error", "the server did not answer"));
      }, SOCKET_OPEN_TIMEOUT_MS);
      ws.addEventListener("open", () => {
        clearTimeout(timer);
        resolve(undefined);
      }, { once: true });
      ws.addEventListener("close", (event) => {
        clearTimeout(timer);
        const error = closeError(event);
        reject(error.code === "disconnected" ? new HavenError("network-error", "could not reach the server") : error);
      }, { once: true });
    });
    if (ws !== this.ws) throw new HavenError("disconnected", "connection abandoned");
    ws.addEventListener("message", (event) => this._onMessage(ws, event));
    ws.addEventListener("close", (event) => this._onClose(ws, event));

    /** @type {Record<string, any>} */
    const hello = { version: PROTOCOL_VERSION, token: this.token };
    if (this.room) hello.room = this.room;
    const server = await this.request("hello", hello);
    this.server = server;
    this._startHeartbeat(server && server.heartbeat_interval_ms);
    /** @type {Record<string, any>} */
    const fields = {};
    const consent = server && server.consent;
    if (consent && consent.version) {
      if (this._acceptedConsent !== consent.version) await this._askConsent(consent);
      fields.consent_version = consent.version;
    }
    const join = await this.request("join", fields);
    this._applyJoin(join, server);
    return join;
  }

  /**
   * Asks the participant to accept the agreement; throws unless they do.
   * @param {Consent} consent
   */
  async _askConsent(consent) {
    if (!this.onConsent) {
      throw new HavenError("consent-required", "the group agreement must be accepted, but nobody was asked");
    }
    const accepted = await this.onConsent({ text: String(consent.text || ""), version: String(consent.version) });
    if (!accepted) throw new HavenError("consent-declined", "the group agreement was not accepted");
    this._acceptedConsent = consent.version;
  }

  /**
   * @param {WebSocket} ws
   * @param {MessageEvent} event
   */
  _onMessage(ws, event) {
    if (ws !== this.ws) return;
    this._lastSeen = Date.now();
    let message;
    try {
      message = JSON.parse(event.data);
    } catch {
      return;
    }
    if (!message || typeof message !== "object") return;
    if (message.type !== "result" && message.type !== "error" && message.type !== "ping") {
      this._emit("server-event", message);
    }
    switch (message.type) {
      case "result":
      case "error":
        this._settle(message);
        break;
      case "ping":
        this._send({ type: "pong", ts: message.ts });
        if (typeof message.ts === "number" && Number.isFinite(message.ts)) this.clockOffset = message.ts - Date.now();
        break;
      case "consumers":
        this._onConsumers(message);
        break;
      case "subscriber-offer":
        this._onSubscriberOffer(message);
        break;
      case "participant-joined":
        this._onParticipantJoined(message);
        break;
      case "participant-left":
        this._onParticipantLeft(message);
        break;
      case "track-published":
        this._onTrackPublished(message);
        break;
      case "track-unpublished":
        this._onTrackUnpublished(message);
        break;
      case "track-muted":
        this._onTrackMuted(message);
        break;
      case "active-speaker":
        this.activeSpeaker = typeof message.participant_id === "string" ? message.participant_id : null;
        this._emit("active-speaker", this.activeSpeaker);
        break;
      case "admitted":
        this._applyJoin(message, this.server);
        break;
      case "sent-to-waiting":
        this._onSentToWaiting(message);
        break;
      case "room-state":
        this._setRoomState(message.room || null);
        this._emit("room-state", this.roomState);
        break;
      case "waiting-state":
        this.roomState = message.room || null;
        this._emit("room-state", this.roomState);
        break;
      case "moved":
        this._onMoved(message);
        break;
      case "breakout-warning":
        this._emit("breakout-warning", { seconds_left: Number(message.seconds_left) || 0 });
        break;
      case "breakout-broadcast":
        if (typeof message.text === "string") {
          this._emit("breakout-broadcast", { text: message.text, from: message.from || null });
        }
        break;
      case "help-requested":
        this._emit("help-requested", { room: message.room, participant_id: message.participant_id });
        break;
      case "screen-share-stopped":
        this._endScreenShare(typeof message.reason === "string" ? message.reason : "stopped", false)
          .catch((err) => this._emit("error", { context: "screen-share", error: asHavenError(err) }));
        break;
      case "waiting-list":
        this.waiting = Array.isArray(message.waiting) ? message.waiting : [];
        this._emit("waiting-list", this.waiting);
        break;
      case "role-changed":
        this._onRoleChanged(message);
        break;
      case "muted-by-host":
        this._onMutedByHost(message);
        break;
      case "chat-message":
        if (message.message) {
          this.chat.push(message.message);
          if (this.chat.length > MAX_CHAT_HISTORY) this.chat.splice(0, this.chat.length - MAX_CHAT_HISTORY);
          this._emit("chat-message", message.message);
        }
        break;
      case "removed":
        this._closeReason = message.reason === "denied"
          ? new HavenError("denied", "the host did not admit you")
          : new HavenError("removed", "a host removed you from the session");
        break;
      case "session-ended":
        this._closeReason = new HavenError("session-ended", message.reason === "no-host"
          ? "the session ended because no host was present" : "the host ended the session");
        break;
      default:
        // Section 2: unknown event types are ignored.
        break;
    }
  }

  /**
   * @param {WebSocket} ws
   * @param {CloseEvent} event
   */
  _onClose(ws, event) {
    if (ws !== this.ws) return;
    this.ws = null;
    this._stopHeartbeat();
    const error = this._closeReason && (event.code === 4000 || event.code === 4403)
      ? this._closeReason
      : closeError(event);
    this._closeReason = null;
    this._rejectPending(error);
    // While opening or reconnecting, the pending hello/join/publish rejections drive what happens next.
    if (this._closed || this._phase !== "online") return;
    if (isFatalCode(error.code)) {
      this._phase = "closed";
      this._closed = true;
      this._teardownMedia();
      this._fail(error);
      return;
    }
    this._reconnect();
  }

  /** @param {any} message */
  _settle(message) {
    if (message.id === null || message.id === undefined) {
      this._emit("error", { context: "server", error: new HavenError(message.code || "internal-error", message.message) });
      return;
    }
    const pending = this._pending.get(message.id);
    if (!pending) return;
    this._pending.delete(message.id);
    clearTimeout(pending.timer);
    if (message.type === "result") pending.resolve(message.data || {});
    else pending.reject(new HavenError(message.code || "internal-error", message.message || message.code));
  }

  /** @param {HavenError} error */
  _rejectPending(error) {
    const pending = [...this._pending.values()];
    this._pending.clear();
    for (const { reject, timer } of pending) {
      clearTimeout(timer);
      reject(error);
    }
  }

  /** @param {object} message */
  _send(message) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(message));
  }

  /** Forgets the current socket (its late events are ignored), fails its requests and closes it. */
  _dropSocket() {
    const ws = this.ws;
    this.ws = null;
    this._stopHeartbeat();
    this._rejectPending(new HavenError("disconnected", "the connection to the server was closed"));
    if (ws && ws.readyState !== WebSocket.CLOSED && ws.readyState !== WebSocket.CLOSING) {
      try {
        ws.close(1000);
      } catch {
        // Already closing.
      }
    }
  }

  /** @param {number|undefined} intervalMs */
  _startHeartbeat(intervalMs) {
    this._stopHeartbeat();
    const interval = intervalMs && intervalMs > 0 ? intervalMs : DEFAULT_HEARTBEAT_INTERVAL_MS;
    this._lastSeen = Date.now();
    this._heartbeatTimer = setInterval(() => {
      if (Date.now() - this._lastSeen <= HEARTBEAT_MISSES * interval) return;
      this._stopHeartbeat();
      if (this._phase === "online") this._reconnect();
    }, Math.max(250, Math.min(interval / 2, 5000)));
  }

  _stopHeartbeat() {
    if (this._heartbeatTimer !== null) clearInterval(this._heartbeatTimer);
    this._heartbeatTimer = null;
  }

  /** Restores the session after an unexpected loss: new socket, hello, join, fresh publish connection. */
  async _reconnect() {
    if (this._phase !== "online" || this._closed) return;
    this._phase = "reconnecting";
    this._dropSocket();
    this._teardownMedia();
    this._setStatus("reconnecting");
    let delay = RECONNECT_FIRST_DELAY_MS;
    while (!this._closed) {
      await sleep(delay);
      if (this._closed) return;
      try {
        await this._open();
        await this._serializePublish(() => this._republish());
        // A close during the last step leaves no socket: try again rather than report "connected".
        if (!this._closed && this.ws && this.ws.readyState === WebSocket.OPEN) {
          this._phase = "online";
          this._setStatus("connected");
          this._emit("reconnected", null);
          return;
        }
      } catch (err) {
        if (this._closed) return;
        const error = asHavenError(err);
        if (isFatalCode(error.code)) {
          this._phase = "closed";
          this._closed = true;
          this._dropSocket();
          this._teardownMedia();
          this._fail(error);
          return;
        }
      }
      this._dropSocket();
      this._teardownMedia();
      delay = Math.min(delay * 2, RECONNECT_MAX_DELAY_MS);
    }
  }

  /** @param {HavenError} error */
  _fail(error) {
    // The screen capture is ours (the camera belongs to the caller): nothing will share it any more.
    this._dropScreenShare("stopped");
    this.failure = { code: error.code, message: error.message };
    this._setStatus("failed", error.code);
  }

  /**
   * @param {ConnectionStatus} status
   * @param {string} [code]
   */
  _setStatus(status, code) {
    if (this.status === status && !code) return;
    this.status = status;
    const event = new CustomEvent("status", { detail: status });
    /** @type {any} */ (event).code = code || null;
    this.dispatchEvent(event);
  }

  /**
   * @param {string} type
   * @param {any} detail
   */
  _emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  // --- roster -------------------------------------------------------------------------------------

  /**
   * @param {JoinResult} join
   * @param {any} server
   */
  _applyJoin(join, server) {
    const self = (join && join.self) || (server && server.participant) || {};
    const selfTracks = this.self ? this.self.tracks : [];
    this.self = normalizeParticipant(self);
    // Our own tracks survive an admission; after a fresh join, the republish refills them.
    this.self.tracks = selfTracks;
    this.admission = join && join.state === "waiting" ? "waiting" : "admitted";
    if (join && typeof join.session_id === "string") this.sessionId = join.session_id;
    if (this.admission === "admitted") this._setRoomState((join && join.room) || null);
    else this._setWaitingView((join && join.room) || null);
    this.chat = Array.isArray(join && join.chat) ? join.chat.slice(-MAX_CHAT_HISTORY) : [];
    this.participants.clear();
    if (this.admission === "admitted") this._remember(this.self);
    for (const participant of (join && join.participants) || []) {
      if (participant && participant.id !== this.self.id) {
        const entry = normalizeParticipant(participant);
        this.participants.set(entry.id, entry);
        this._remember(entry);
      }
    }
    this._emit("roster", { change: "reset" });
    this._emit("admission", this.admission);
    this._emit("room-state", this.roomState);
    this._emitTracksIfChanged();
  }

  /**
   * Takes an admitted participant's room state, with where we are and the breakouts (section 10.1).
   * @param {any} room
   */
  _setRoomState(room) {
    this.roomState = room;
    this.location = room && typeof room.location === "string" ? room.location : MAIN_ROOM;
    const breakouts = room && room.breakouts;
    this.breakouts = breakouts && typeof breakouts === "object" && Array.isArray(breakouts.rooms) ? breakouts : null;
  }

  /** @param {any} view the waiting room's reduced view */
  _setWaitingView(view) {
    this.roomState = view;
    this.location = MAIN_ROOM;
    this.breakouts = null;
  }

  /** @param {Participant} participant */
  _remember(participant) {
    this.directory.set(participant.id, { id: participant.id, name: participant.name, role: participant.role });
  }

  /**
   * We are somewhere else now (section 10.1): a new roster and chat; the media connections stay, and the
   * server's `consumers` (which may come before or after this event) say what the slots carry now.
   * @param {any} message
   */
  _onMoved(message) {
    const from = this.location;
    this.location = typeof message.location === "string" ? message.location : MAIN_ROOM;
    this.participants.clear();
    for (const participant of Array.isArray(message.participants) ? message.participants : []) {
      if (!participant || typeof participant.id !== "string" || (this.self && participant.id === this.self.id)) continue;
      const entry = normalizeParticipant(participant);
      this.participants.set(entry.id, entry);
      this._remember(entry);
    }
    this.chat = Array.isArray(message.chat) ? message.chat.slice(-MAX_CHAT_HISTORY) : [];
    this.activeSpeaker = null;
    this._emit("roster", { change: "reset", reason: "moved" });
    this._emit("moved", { location: this.location, from });
    this._emit("active-speaker", null);
    this._emitTracksIfChanged();
  }

  /** @param {any} message */
  _onSentToWaiting(message) {
    this.admission = "waiting";
    this._setWaitingView(message.room || null);
    this.participants.clear();
    this.consumers = new Map();
    this.activeSpeaker = null;
    this._emit("roster", { change: "reset" });
    this._emit("admission", this.admission);
    this._emit("room-state", this.roomState);
    this._emitTracksIfChanged();
  }

  /** @param {any} message */
  _onRoleChanged(message) {
    if (typeof message.role !== "string") return;
    const participant = this.self && message.participant_id === this.self.id
      ? this.self
      : this.participants.get(message.participant_id);
    if (!participant) {
      const known = this.directory.get(message.participant_id);
      if (known) known.role = message.role;
      return;
    }
    participant.role = message.role;
    this._remember(participant);
    this._emit("roster", { change: participant === this.self ? "self" : "role", participant_id: message.participant_id });
  }

  /** @param {any} message */
  _onMutedByHost(message) {
    const entry = this.published.get(message.label);
    // The server already stopped forwarding; stop sending too, so unmuting is the participant's choice.
    if (entry) entry.track.enabled = false;
    this._setSelfTrackMuted(entry ? entry.track_id : null, true);
    this._emit("muted-by-host", message.label);
  }

  /** @param {any} message */
  _onParticipantJoined(message) {
    const participant = message.participant;
    if (!participant || typeof participant.id !== "string" || (this.self && participant.id === this.self.id)) return;
    // Section 8: a known id is a reconnect and replaces the entry.
    const entry = normalizeParticipant(participant);
    this.participants.set(entry.id, entry);
    this._remember(entry);
    this._emit("roster", { change: "joined", participant_id: participant.id });
    this._emitTracksIfChanged();
  }

  /** @param {any} message */
  _onParticipantLeft(message) {
    const id = message.participant_id;
    // Someone who moved to another breakout is still in the session.
    if (message.reason !== "moved") this.directory.delete(id);
    if (!this.participants.delete(id)) return;
    // The server's next `consumers` will list these slots as idle; forget them now so tiles go at once.
    for (const [mid, consumer] of this.consumers) {
      if (consumer.participant_id === id) this.consumers.delete(mid);
    }
    if (this.activeSpeaker === id) this.activeSpeaker = null;
    this._emit("roster", { change: "left", participant_id: id, reason: message.reason || null });
    this._emitTracksIfChanged();
  }

  /** @param {any} message */
  _onTrackPublished(message) {
    const participant = this.participants.get(message.participant_id);
    const track = message.track;
    if (!participant || !track || typeof track.track_id !== "string") return;
    participant.tracks = participant.tracks.filter((t) => t.track_id !== track.track_id && t.label !== track.label);
    participant.tracks.push(normalizeTrack(track));
    this._emit("roster", { change: "tracks", participant_id: participant.id });
    this._emitTracksIfChanged();
  }

  /** @param {any} message */
  _onTrackUnpublished(message) {
    const participant = this.participants.get(message.participant_id);
    if (participant) {
      participant.tracks = participant.tracks.filter((t) => t.track_id !== message.track_id);
      this._emit("roster", { change: "tracks", participant_id: participant.id });
    }
    for (const [mid, consumer] of this.consumers) {
      if (consumer.track_id === message.track_id) this.consumers.delete(mid);
    }
    this._emitTracksIfChanged();
  }

  /** @param {any} message */
  _onTrackMuted(message) {
    const muted = !!message.muted;
    if (this.self && message.participant_id === this.self.id) {
      this._setSelfTrackMuted(message.track_id, muted);
      return;
    }
    const participant = this.participants.get(message.participant_id);
    if (!participant) return;
    for (const track of participant.tracks) {
      if (track.track_id === message.track_id) track.muted = muted;
    }
    this._emit("roster", { change: "tracks", participant_id: participant.id });
  }

  /**
   * @param {string|null} trackId
   * @param {boolean} muted
   */
  _setSelfTrackMuted(trackId, muted) {
    if (!this.self || !trackId) return;
    const track = this.self.tracks.find((t) => t.track_id === trackId);
    if (!track || track.muted === muted) return;
    track.muted = muted;
    this._emit("roster", { change: "self" });
  }

  _updateSelfTracks() {
    if (!this.self) return;
    const previous = new Map(this.self.tracks.map((t) => [t.track_id, t]));
    this.self.tracks = [...this.published.values()]
      .filter((entry) => entry.track_id)
      .map((entry) => ({
        track_id: /** @type {string} */ (entry.track_id),
        kind: entry.kind,
        label: entry.label,
        muted: previous.has(entry.track_id) ? previous.get(entry.track_id).muted : !entry.track.enabled,
      }));
    this._emit("roster", { change: "self" });
  }

  // --- publish connection ---------------------------------------------------------------------------

  /**
   * Runs publish-connection work one step at a time, so offers never overlap.
   * @template T
   * @param {() => Promise<T>} work
   * @returns {Promise<T>}
   */
  _serializePublish(work) {
    const run = this._publishChain.then(work, work);
    this._publishChain = run.then(() => undefined, () => undefined);
    return run;
  }

  /**
   * @param {MediaStream} stream
   * @param {{video?: string, audio?: string}} labels
   * @param {ReplaceScreenHandler|null} onReplace for a screen share: asked on `screen-share-active`
   * @returns {Promise<PublishedTrack[]>}
   */
  async _publish(stream, labels, onReplace) {
    if (this._phase !== "online" && this._phase !== "reconnecting") {
      throw new HavenError("not-joined", "join the room before publishing");
    }
    /** @type {PublishedTrack[]} */
    const entries = [];
    for (const track of stream.getTracks()) {
      const kind = /** @type {"video"|"audio"} */ (track.kind);
      const label = labels[kind] || DEFAULT_LABELS[kind];
      if (!label) continue;
      if (this.published.has(label) || entries.some((e) => e.label === label)) {
        throw new HavenError("invalid-track", `a ${label} track is already published`);
      }
      entries.push({ label, kind, track, stream, transceiver: null, track_id: null });
    }
    if (entries.length === 0) return [];
    for (const entry of entries) this.published.set(entry.label, entry);
    // While reconnecting, the new tracks go out with the fresh publish connection.
    if (this._phase !== "online") return entries;

    const generation = this._publishGeneration;
    const isFirst = !this.publishPc;
    const pc = this.publishPc || (this.publishPc = this._createPublishPc());
    for (const entry of entries) {
      entry.transceiver = pc.addTransceiver(entry.track, { direction: "sendonly", streams: [stream] });
    }
    try {
      try {
        await this._negotiatePublish(pc, generation);
      } catch (err) {
        // Section 10.2: someone else shares. Undo the offer, ask, and offer again with `replace_screen`.
        if (!onReplace || asHavenError(err).code !== "screen-share-active" || generation !== this._publishGeneration) {
          throw err;
        }
        if (pc.signalingState === "have-local-offer") await pc.setLocalDescription({ type: "rollback" });
        const sharer = this.screenSharer();
        const replace = await onReplace(sharer ? this.participants.get(sharer) || null : null);
        if (generation !== this._publishGeneration) throw new HavenError("disconnected", "the connection was lost");
        if (!replace) throw err;
        await this._negotiatePublish(pc, generation, { replace_screen: true });
      }
    } catch (err) {
      // Torn down by a reconnect: the entries are still listed and will be republished.
      if (generation !== this._publishGeneration) return entries;
      for (const entry of entries) {
        this.published.delete(entry.label);
        if (entry.transceiver) {
          // Left inactive: the next offer ends the m-line instead of removing it (m-lines never go away).
          entry.transceiver.direction = "inactive";
          entry.transceiver.sender.replaceTrack(null).catch(() => {});
        }
      }
      if (isFirst) {
        pc.close();
        if (this.publishPc === pc) this.publishPc = null;
      } else if (pc.signalingState === "have-local-offer") {
        await pc.setLocalDescription({ type: "rollback" }).catch(() => {});
      }
      throw err;
    }
    return entries;
  }

  /** Publishes every listed track again on a fresh publish connection (after a reconnect). */
  async _republish() {
    const entries = [...this.published.values()];
    if (entries.length === 0) return;
    const generation = this._publishGeneration;
    const pc = (this.publishPc = this._createPublishPc());
    for (const entry of entries) {
      entry.track_id = null;
      entry.transceiver = pc.addTransceiver(entry.track, { direction: "sendonly", streams: [entry.stream] });
    }
    try {
      await this._negotiatePublish(pc, generation);
    } catch (err) {
      const error = asHavenError(err);
      if (generation !== this._publishGeneration || error.code === "disconnected" || error.code === "timeout") {
        throw error;
      }
      // The session itself is fine; only our media was refused. Stay connected and say so.
      pc.close();
      if (this.publishPc === pc) this.publishPc = null;
      // A screen share may be refused now (someone else shares, permission revoked): keep the camera.
      if (this._dropScreenShare("reconnected")) return this._republish();
      this.published.clear();
      this._updateSelfTracks();
      this._emit("error", { context: "publish", error });
    }
  }

  /**
   * @param {string} label
   */
  async _unpublish(label) {
    const entry = this.published.get(label);
    if (!entry) return;
    const trackId = await this._release(entry);
    if (!trackId || this._phase !== "online") return;
    try {
      await this.request("unpublish", { track_id: trackId });
    } catch (err) {
      const code = asHavenError(err).code;
      if (code !== "disconnected" && code !== "invalid-track") throw err;
    }
  }

  /**
   * Forgets a published track locally: its m-line stops sending (the next offer ends it).
   * @param {PublishedTrack} entry
   * @returns {Promise<string|null>} the track id it had
   */
  async _release(entry) {
    if (this.published.get(entry.label) === entry) this.published.delete(entry.label);
    if (entry.transceiver) {
      entry.transceiver.direction = "inactive";
      await entry.transceiver.sender.replaceTrack(null).catch(() => {});
    }
    const trackId = entry.track_id;
    entry.track_id = null;
    this._updateSelfTracks();
    return trackId;
  }

  /**
   * Ends our screen share and stops its capture; `tellServer` sends `unpublish` (not needed when the server
   * ended it: `screen-share-stopped`).
   * @param {string} reason for the `screen-share` event
   * @param {boolean} tellServer
   * @returns {Promise<void>}
   */
  _endScreenShare(reason, tellServer) {
    return this._serializePublish(async () => {
      const entries = [SCREEN_LABELS.video, SCREEN_LABELS.audio]
        .map((label) => this.published.get(label))
        .filter((entry) => !!entry);
      if (entries.length === 0) return;
      try {
        for (const entry of /** @type {PublishedTrack[]} */ (entries)) {
          if (tellServer) await this._unpublish(entry.label);
          else await this._release(entry);
        }
      } finally {
        for (const entry of /** @type {PublishedTrack[]} */ (entries)) entry.track.stop();
        this._emit("screen-share", { active: false, reason });
      }
    });
  }

  /**
   * Drops the screen share entries at once, without the publish connection (it is gone or going).
   * @param {string} reason
   * @returns {boolean} whether there was a share
   */
  _dropScreenShare(reason) {
    let dropped = false;
    for (const label of [SCREEN_LABELS.video, SCREEN_LABELS.audio]) {
      const entry = this.published.get(label);
      if (!entry) continue;
      this.published.delete(label);
      entry.track.stop();
      dropped = true;
    }
    if (dropped) {
      this._updateSelfTracks();
      this._emit("screen-share", { active: false, reason });
    }
    return dropped;
  }

  /**
   * Offers the publish connection's current m-lines to the server and applies the answer.
   * @param {RTCPeerConnection} pc
   * @param {number} generation
   * @param {Record<string, any>} [extra] more fields of the `publish` request (`replace_screen`)
   */
  async _negotiatePublish(pc, generation, extra = {}) {
    const stale = () => {
      if (generation !== this._publishGeneration || pc !== this.publishPc) {
        throw new HavenError("disconnected", "the publish connection was replaced");
      }
    };
    await pc.setLocalDescription(await pc.createOffer());
    await waitForIceGathering(pc, ICE_GATHERING_TIMEOUT_MS);
    stale();
    // The mids exist only once the offer is set as the local description.
    const sending = [...this.published.values()].filter((e) => e.transceiver && e.transceiver.mid !== null);
    const tracks = sending.map((e) => ({ mid: /** @type {string} */ (e.transceiver?.mid), label: e.label }));
    const description = /** @type {RTCSessionDescription} */ (pc.localDescription);
    const data = await this.request("publish", { ...extra, sdp: description.sdp, tracks });
    stale();
    await pc.setRemoteDescription({ type: "answer", sdp: data.sdp });
    stale();
    /** @type {Map<string, any>} */
    const byMid = new Map();
    for (const track of data.tracks || []) byMid.set(track.mid, track);
    /** @type {Array<[PublishedTrack, boolean]>} */
    const mutes = [];
    for (const entry of sending) {
      const info = byMid.get(/** @type {string} */ (entry.transceiver?.mid));
      if (!info) continue;
      entry.track_id = info.track_id;
      const wanted = !entry.track.enabled;
      if (wanted !== !!info.muted) mutes.push([entry, wanted]);
    }
    this._updateSelfTracks();
    // The tracks are published by now; a failed mute must not undo that, only be reported.
    for (const [entry, muted] of mutes) {
      try {
        await this.request("mute", { track_id: entry.track_id, muted });
        this._setSelfTrackMuted(entry.track_id, muted);
      } catch (err) {
        const error = asHavenError(err);
        if (error.code !== "disconnected") this._emit("error", { context: "mute", error });
      }
    }
  }

  /** @returns {RTCPeerConnection} */
  _createPublishPc() {
    const pc = new RTCPeerConnection({ bundlePolicy: "max-bundle", iceServers: this._iceServers() });
    pc.addEventListener("connectionstatechange", () => {
      if (pc === this.publishPc && pc.connectionState === "failed" && this._phase === "online") {
        this._reconnect();
      }
    });
    return pc;
  }

  /** @returns {RTCIceServer[]} */
  _iceServers() {
    const servers = (this.server && Array.isArray(this.server.ice_servers) && this.server.ice_servers) || [];
    return servers
      .filter((s) => s && s.urls)
      .map((s) => {
        /** @type {RTCIceServer} */
        const server = { urls: s.urls };
        if (s.username !== undefined) server.username = s.username;
        if (s.credential !== undefined) server.credential = s.credential;
        return server;
      });
  }

  // --- subscribe connection -------------------------------------------------------------------------

  /** @param {any} message */
  _onConsumers(message) {
    this.consumers = new Map();
    for (const consumer of Array.isArray(message.consumers) ? message.consumers : []) {
      if (consumer && typeof consumer.mid === "string") this.consumers.set(consumer.mid, consumer);
    }
    this._emitTracksIfChanged();
  }

  /** @param {any} message */
  _onSubscriberOffer(message) {
    const generation = this._subscribeGeneration;
    this._offerChain = this._offerChain
      .then(() => this._answerOffer(message, generation))
      .catch((err) => this._emit("error", { context: "subscribe", error: asHavenError(err) }));
  }

  /**
   * @param {{revision: number, sdp: string}} offer
   * @param {number} generation
   */
  async _answerOffer({ revision, sdp }, generation) {
    const stale = () => generation !== this._subscribeGeneration;
    if (stale()) return;
    let pc = this.subscribePc;
    // A new server-side connection (after the 20 s answer timeout) has new ICE and DTLS identities.
    // Compare with the server's previous SDP as sent: the browser rewrites its copy (fewer fingerprints).
    if (pc && this._subscribeOfferSdp && !sameTransport(this._subscribeOfferSdp, sdp)) {
      this._closeSubscribePc();
      pc = null;
    }
    if (!pc) pc = this._createSubscribePc();
    const fresh = !pc.remoteDescription;
    try {
      await pc.setRemoteDescription({ type: "offer", sdp });
    } catch (err) {
      if (fresh || stale()) throw err;
      this._closeSubscribePc();
      pc = this._createSubscribePc();
      await pc.setRemoteDescription({ type: "offer", sdp });
    }
    if (stale()) return;
    this._subscribeOfferSdp = sdp;
    await pc.setLocalDescription(await pc.createAnswer());
    await waitForIceGathering(pc, ICE_GATHERING_TIMEOUT_MS);
    if (stale() || pc !== this.subscribePc) return;
    const description = /** @type {RTCSessionDescription} */ (pc.localDescription);
    try {
      await this.request("subscriber-answer", { revision, sdp: description.sdp });
    } catch (err) {
      const code = asHavenError(err).code;
      // A newer offer is on its way (stale), or the socket went and the reconnect starts over.
      if (code === "stale-revision" || code === "disconnected") return;
      throw err;
    }
    this._emitTracksIfChanged();
  }

  /** @returns {RTCPeerConnection} */
  _createSubscribePc() {
    const pc = new RTCPeerConnection({ bundlePolicy: "max-bundle", iceServers: this._iceServers() });
    pc.addEventListener("track", (event) => {
      if (pc !== this.subscribePc) return;
      const mid = event.transceiver && event.transceiver.mid;
      if (mid === null || mid === undefined) return;
      this._trackByMid.set(mid, event.track);
      this._emitTracksIfChanged();
    });
    this.subscribePc = pc;
    return pc;
  }

  _closeSubscribePc() {
    if (this.subscribePc) this.subscribePc.close();
    this.subscribePc = null;
    this._subscribeOfferSdp = null;
    this._trackByMid.clear();
  }

  /**
   * @param {string} mid
   * @returns {MediaStreamTrack|null}
   */
  _trackForMid(mid) {
    const track = this._trackByMid.get(mid);
    if (track) return track;
    if (!this.subscribePc) return null;
    const transceiver = this.subscribePc.getTransceivers().find((t) => t.mid === mid);
    return transceiver ? transceiver.receiver.track : null;
  }

  _emitTracksIfChanged() {
    const tracks = this.remoteTracks();
    const parts = [];
    for (const [participantId, byLabel] of tracks) {
      for (const [label, track] of Object.entries(byLabel)) parts.push(`${participantId}\u0000${label}\u0000${track.id}`);
    }
    const signature = parts.sort().join("\u0001");
    if (signature === this._tracksSignature) return;
    this._tracksSignature = signature;
    this._emit("tracks", tracks);
  }

  /** Closes both peer connections; published entries keep their tracks for a later republish. */
  _teardownMedia() {
    this._subscribeGeneration++;
    this._publishGeneration++;
    this._closeSubscribePc();
    this._offerChain = Promise.resolve();
    this.consumers = new Map();
    if (this.publishPc) this.publishPc.close();
    this.publishPc = null;
    for (const entry of this.published.values()) {
      entry.transceiver = null;
      entry.track_id = null;
    }
    this._emitTracksIfChanged();
  }
}

/**
 * Resolves when ICE gathering completes, or after `timeoutMs` with whatever was gathered.
 * @param {RTCPeerConnection} pc
 * @param {number} timeoutMs
 * @returns {Promise<void>}
 */
function waitForIceGathering(pc, timeoutMs) {
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

/**
 * Tells whether two SDPs belong to the same transport (same ICE credentials and DTLS fingerprint).
 * @param {string} previous
 * @param {string} next
 */
function sameTransport(previous, next) {
  /** @param {string} sdp @param {string} prefix */
  const first = (sdp, prefix) => {
    const line = sdp.split(/\r?\n/).find((l) => l.startsWith(prefix));
    return line ? line.slice(prefix.length).trim() : null;
  };
  return first(previous, "a=ice-ufrag:") === first(next, "a=ice-ufrag:") &&
    first(previous, "a=fingerprint:") === first(next, "a=fingerprint:");
}

/**
 * @param {CloseEvent} event
 * @returns {HavenError}
 */
function closeError(event) {
  if (event.code === 1000 && event.reason === "server-shutdown") {
    return new HavenError("server-shutdown", "the server is restarting");
  }
  const code = CLOSE_CODES.get(event.code) || "disconnected";
  return new HavenError(code, event.reason || `connection closed (${event.code})`);
}

/**
 * @param {any} normalized
 * @returns {Participant}
 */
function normalizeParticipant(normalized) {
  return {
    id: String(normalized.id),
    name: typeof normalized.name === "string" ? normalized.name : "",
    role: typeof normalized.role === "string" ? normalized.role : "participant",
    tracks: Array.isArray(normalized.tracks) ? normalized.tracks.filter(Boolean).map(normalizeTrack) : [],
  };
}

/**
 * @param {any} track
 * @returns {TrackInfo}
 */
function normalizeTrack(track) {
  return { track_id: track.track_id, kind: track.kind, label: track.label, muted: !!track.muted };
}

/**
 * @param {unknown} err
 * @returns {HavenError}
 */
function asHavenError(err) {
  if (err instanceof HavenError) return err;
  // A local failure (WebRTC, WebSocket constructor): not a protocol code, so give it one of our own.
  const error = new HavenError("client-error", err instanceof Error ? `${err.name}: ${err.message}` : String(err));
  /** @type {any} */ (error).cause = err;
  return error;
}

/**
 * @template T
 * @param {Promise<T>} promise
 * @param {number} ms
 * @returns {Promise<T>}
 */
function withTimeout(promise, ms) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new HavenError("timeout", "timed out")), ms);
    promise.then(
      (value) => { clearTimeout(timer); resolve(value); },
      (err) => { clearTimeout(timer); reject(err); },
    );
  });
}

/** @param {number} ms */
function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Asks the browser for a screen, giving up after `ms` (without the right browser setup the request never
 * settles); a screen granted after that is stopped at once.
 * @param {DisplayMediaStreamOptions} constraints
 * @param {number} ms
 * @returns {Promise<MediaStream>}
 */
function getDisplayMediaWithTimeout(constraints, ms) {
  return new Promise((resolve, reject) => {
    let settled = false;
    const timer = setTimeout(() => {
      settled = true;
      reject(new HavenError("timeout", "the browser did not offer a screen to share in time"));
    }, ms);
    navigator.mediaDevices.getDisplayMedia(constraints).then(
      (stream) => {
        clearTimeout(timer);
        if (settled) stopTracks(stream);
        else resolve(stream);
      },
      (err) => {
        clearTimeout(timer);
        if (settled) return;
        // The participant closed the picker: not an error worth a message of its own.
        const name = err && err.name;
        reject(name === "NotAllowedError" || name === "AbortError"
          ? new HavenError("cancelled", "no screen was chosen")
          : asHavenError(err));
      },
    );
  });
}

/** @param {MediaStream} stream */
function stopTracks(stream) {
  for (const track of stream.getTracks()) track.stop();
}
