// @ts-check
/**
 * Haven signaling protocol client, version 1 (docs/protocol.md): one participant's session, composed of the
 * connection (connection.js), the typed requests (requests.js), the roster (roster.js) and the publish and
 * subscribe connections (publisher.js, subscriber.js). It touches no DOM, so any UI can use it.
 */

import { PROTOCOL_VERSION, MAIN_ROOM } from "./constants.js";
import { HavenError, asHavenError, isFatalCode } from "./errors.js";
import { Connection, retryWithBackoff, shouldReconnect } from "./connection.js";
import { Requests } from "./requests.js";
import { initialRoster, reduceRoster } from "./roster.js";
import { Publisher } from "./publisher.js";
import { Subscriber } from "./subscriber.js";
import { peerConfiguration } from "./negotiation.js";
import { readLimits, readAgendaTemplates } from "./limits.js";

export { PROTOCOL_VERSION, MAIN_ROOM, HavenError, isFatalCode };

const LEAVE_TIMEOUT_MS = 3000;

/**
 * @typedef {"connecting"|"connected"|"reconnecting"|"disconnected"|"failed"} ConnectionStatus
 * @typedef {import("./roster.js").Participant} Participant
 * @typedef {import("./roster.js").TrackInfo} TrackInfo
 * @typedef {import("./roster.js").BreakoutState} BreakoutState
 * @typedef {import("./subscriber.js").Consumer} Consumer
 * @typedef {import("./subscriber.js").ParticipantTracks} ParticipantTracks
 * @typedef {import("./publisher.js").PublishedTrack} PublishedTrack
 * @typedef {import("./publisher.js").ReplaceScreenHandler} ReplaceScreenHandler
 * @typedef {import("./limits.js").Limits} Limits
 * @typedef {import("./limits.js").AgendaTemplate} AgendaTemplate
 * @typedef {{state?: "admitted"|"waiting", session_id?: string, self: Participant, participants: Participant[],
 *            room?: any, chat?: any[]}} JoinResult
 * @typedef {{text: string, version: string}} Consent
 * @typedef {(consent: Consent) => boolean|Promise<boolean>} ConsentHandler
 */

/**
 * One participant's connection to a Haven room.
 *
 * Requests of section 9 and 10 are the typed methods of {@link HavenClient#requests}
 * (e.g. `client.requests.admit(id)`); the server's limits and agenda templates are
 * {@link HavenClient#limits} and {@link HavenClient#agendaTemplates}.
 *
 * Events (all `CustomEvent`s):
 * - `status`: `detail` is the new {@link ConnectionStatus}; on `failed`, `client.failure` (and the event's
 *   `code`) tell why.
 * - `reconnected`: the session was restored after a loss (hello, join and publish done again).
 * - `roster`: `participants` or `self` changed; `detail` is `{change, participant_id?, reason?}` with
 *   `change` one of `reset`, `joined`, `left`, `tracks`, `role`, `self`.
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
/**
 * @typedef {{getItem(key: string): string|null, setItem(key: string, value: string): void,
 *            removeItem(key: string): void}} ResumeStorage
 */

/** @returns {ResumeStorage|null} this tab's sessionStorage, if the page may use it */
function defaultResumeStorage() {
  try {
    return typeof sessionStorage === "undefined" ? null : sessionStorage;
  } catch {
    return null;
  }
}

export class HavenClient extends EventTarget {
  /**
   * @param {{url: string, token: string, room?: string|null, onConsent?: ConsentHandler,
   *          onEmergencyInfo?: () => Promise<{location: string, contact: string}|null>,
   *          createSocket?: import("./connection.js").ConnectionOptions["createSocket"],
   *          resumeStorage?: ResumeStorage|null}} options
   *   `onConsent` shows the group's confidentiality agreement and resolves true once the participant
   *   accepts it (section 5.1); it is asked again only if the agreement changes. `onEmergencyInfo` asks the
   *   participant where they are and for an emergency contact when `hello` requires it (section 5.2); the
   *   answer is resent on reconnects, never asked twice by one client. `resumeStorage` keeps the resume
   *   credential across a page reload (default: this tab's `sessionStorage`; `null`: memory only).
   */
  constructor({ url, token, room = null, onConsent, onEmergencyInfo, createSocket, resumeStorage }) {
    super();
    if (!url) throw new TypeError("HavenClient needs the WebSocket url");
    if (!token) throw new TypeError("HavenClient needs a join token");
    this.url = url;
    this.token = token;
    this.room = room || null;
    this.onConsent = onConsent || null;
    this.onEmergencyInfo = onEmergencyInfo || null;
    /** @type {{location: string, contact: string}|null} confirmed for this client's joins (memory only) */
    this._emergencyInfo = null;
    this.createSocket = createSocket;
    /** @type {ResumeStorage|null} never localStorage: the credential must not outlive the tab */
    this.resumeStorage = resumeStorage === undefined ? defaultResumeStorage() : resumeStorage;
    /** @type {string|null} the resume credential (section 5.4): kept in memory, never logged or emitted */
    this._resume = null;

    /** @type {Connection|null} the current socket */
    this.connection = null;
    /** @type {ConnectionStatus} */
    this.status = "disconnected";
    /** @type {{code: string, message: string}|null} why the status is `failed` */
    this.failure = null;
    /** @type {{since: number, returned_at: number, ends_at: number, media_paused: boolean}|null} from the join result */
    this.hostAbsence = null;
    /** @type {any} the `hello` result */
    this.server = null;
    /** @type {import("./roster.js").RosterState} */
    this.roster = initialRoster();
    /** The typed requests of docs/protocol.md, sent on the current connection. */
    this.requests = new Requests((type, fields) => this.request(type, fields));
    this.publisher = new Publisher({
      requests: this.requests,
      configuration: () => peerConfiguration(this.server),
      phase: () => (this._phase === "online" || this._phase === "reconnecting" ? this._phase : "other"),
      sharer: () => {
        const id = this.screenSharer();
        return id ? this.participants.get(id) || null : null;
      },
      onTracks: (tracks) => this._reduce({ type: "self-tracks", tracks }),
      onMuted: (trackId, muted) => this._reduce({ type: "self-muted", track_id: trackId, muted }),
      onScreenShare: (detail) => this._emit("screen-share", detail),
      onError: (detail) => this._emit("error", detail),
      onFailed: () => {
        if (this._phase === "online") this._reconnect();
      },
    });
    this.subscriber = new Subscriber({
      configuration: () => peerConfiguration(this.server),
      answer: (revision, sdp) => this.requests.subscriberAnswer(revision, sdp),
      onChange: () => this._emitTracksIfChanged(),
      onError: (error) => this._emit("error", { context: "subscribe", error }),
    });

    /** @type {"idle"|"opening"|"online"|"reconnecting"|"closed"} */
    this._phase = "idle";
    this._closed = false;
    this._tracksSignature = "";
    /** @type {string|null} the agreement version the participant accepted */
    this._acceptedConsent = null;
    // Kept across sockets: a new socket starts from the last estimate until its first ping.
    this._clockOffset = 0;
  }

  // --- state, as the roster, the publisher and the subscriber hold it ---------------------------------

  /** @returns {Participant|null} */
  get self() { return this.roster.self; }
  /** @returns {ReadonlyMap<string, Participant>} everyone else in the room (or in the breakout we are in) */
  get participants() { return this.roster.participants; }
  /** @returns {ReadonlyMap<string, {id: string, name: string, role: string}>} everyone seen admitted in this session */
  get directory() { return this.roster.directory; }
  /** @returns {string} where we are: `main` or the name of a breakout */
  get location() { return this.roster.location; }
  /** @returns {BreakoutState|null} the breakouts as the latest room state describes them */
  get breakouts() { return this.roster.breakouts; }
  /** @returns {string|null} */
  get activeSpeaker() { return this.roster.activeSpeaker; }
  /** @returns {"waiting"|"admitted"|null} */
  get admission() { return this.roster.admission; }
  /** @returns {string|null} */
  get sessionId() { return this.roster.sessionId; }
  /** @returns {any} the latest `room-state` (admitted) or waiting view (waiting) */
  get roomState() { return this.roster.roomState; }
  /** @returns {Array<{id: string, name: string, since: number}>} (hosts) the waiting room */
  get waiting() { return this.roster.waiting; }
  /** @returns {any[]} recent chat messages, oldest first */
  get chat() { return this.roster.chat; }
  /** @returns {RTCPeerConnection|null} */
  get publishPc() { return this.publisher.pc; }
  /** @returns {RTCPeerConnection|null} */
  get subscribePc() { return this.subscriber.pc; }
  /** @returns {Map<string, PublishedTrack>} label → published track */
  get published() { return this.publisher.published; }
  /** @returns {Map<string, Consumer>} mid → consumer, mirrors the latest `consumers` event */
  get consumers() { return this.subscriber.consumers; }
  /** @returns {boolean} whether we are sharing a screen */
  get sharingScreen() { return this.publisher.sharingScreen; }
  /** @returns {number} server clock minus this device's clock in ms, from the heartbeat pings (section 7) */
  get clockOffset() { return this.connection ? this.connection.clockOffset : this._clockOffset; }
  /** @returns {Readonly<Limits>} the bounds the server enforces (from `hello`; empty before it) */
  get limits() { return readLimits(this.server); }
  /** @returns {ReadonlyArray<AgendaTemplate>} the agenda templates the server offers (from `hello`) */
  get agendaTemplates() { return readAgendaTemplates(this.server); }

  /**
   * Returns the server's current time (ms since epoch) as estimated from its pings, so that countdowns
   * based on server timestamps agree across devices whose clocks differ.
   * @returns {number}
   */
  serverNow() {
    return Date.now() + this.clockOffset;
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
   * Returns each remote participant's current tracks by label, from the consumers and the subscribe
   * connection's transceivers (matched by mid).
   * @returns {Map<string, ParticipantTracks>}
   */
  remoteTracks() {
    return this.subscriber.remoteTracks((id) => this.roster.participants.has(id));
  }

  // --- session ------------------------------------------------------------------------------------------

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
   * Sends a request on the current connection; prefer the typed methods of {@link HavenClient#requests}.
   * @param {string} type
   * @param {Record<string, any>} [fields]
   * @returns {Promise<any>}
   */
  request(type, fields = {}) {
    if (!this.connection) return Promise.reject(new HavenError("disconnected", `cannot send ${type}: not connected`));
    return this.connection.request(type, fields);
  }

  /**
   * Leaves the room: sends `leave`, closes both connections and the socket, and stops reconnecting.
   * Local tracks are left to the caller.
   * @returns {Promise<void>}
   */
  /**
   * Leaves the session (section 5.3).
   * @param {{keepResume?: boolean}} [options] `keepResume`: keep the resume credential in this tab, so that a
   *   host who steps out can take back their place (section 5.4) instead of waiting with a used link
   */
  async leave({ keepResume = false } = {}) {
    if (this._closed) return;
    this._closed = true;
    const wasOnline = this._phase === "online";
    this._phase = "closed";
    if (wasOnline) {
      try {
        await withTimeout(this.requests.leave(), LEAVE_TIMEOUT_MS);
      } catch {
        // The server drops us when the socket closes anyway.
      }
    }
    if (!keepResume) this._forgetResume();
    this._dropSocket();
    this._teardownMedia();
    this.publisher.dropScreenShare("stopped");
    this._setStatus("disconnected");
  }

  // --- the resume credential (section 5.4) ---------------------------------------------------------

  /** @returns {string} where this room's credential is kept in {@link HavenClient#resumeStorage} */
  get _resumeKey() {
    return `haven.resume.${this.room || ""}`;
  }

  /** @returns {string|null} the latest resume credential, from memory or this tab's storage */
  _resumeCredential() {
    if (this._resume) return this._resume;
    try {
      return this.resumeStorage ? this.resumeStorage.getItem(this._resumeKey) : null;
    } catch {
      return null;
    }
  }

  /** @param {string|null} credential the server's latest credential (`null`: none for this place) */
  _keepResume(credential) {
    if (!credential) {
      this._forgetResume();
      return;
    }
    this._resume = credential;
    try {
      if (this.resumeStorage) this.resumeStorage.setItem(this._resumeKey, credential);
    } catch {
      // Storage may be full or disabled: memory is enough within this page.
    }
  }

  _forgetResume() {
    this._resume = null;
    try {
      if (this.resumeStorage) this.resumeStorage.removeItem(this._resumeKey);
    } catch {
      // Nothing to forget.
    }
  }

  // --- media --------------------------------------------------------------------------------------------

  /**
   * Publishes the tracks of a stream, one sendonly transceiver each. A track whose `enabled` is false is
   * published muted. Labels default to `camera` (video) and `microphone` (audio).
   * If the connection drops meanwhile, the tracks are published again once it is restored.
   * @param {MediaStream} stream
   * @param {{labels?: {video?: string, audio?: string}}} [options]
   * @returns {Promise<PublishedTrack[]>}
   */
  publish(stream, { labels = {} } = {}) {
    return this.publisher.publish(stream, labels);
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
  async startScreenShare(options = {}) {
    if (this._phase !== "online") throw new HavenError("not-joined", "join the room before sharing a screen");
    return this.publisher.startScreenShare(options);
  }

  /**
   * Ends our screen share (`unpublish`) and stops the capture.
   * @returns {Promise<void>}
   */
  stopScreenShare() {
    return this.publisher.endScreenShare("stopped", true);
  }

  /**
   * Ends a published track (`unpublish`); the caller keeps ownership of the MediaStreamTrack.
   * @param {string} label
   * @returns {Promise<void>}
   */
  unpublish(label) {
    return this.publisher.unpublish(label);
  }

  /**
   * Mutes or unmutes a published track: stops sending its media and tells the server (`mute`).
   * @param {string} label
   * @param {boolean} muted
   * @returns {Promise<void>}
   */
  setMuted(label, muted) {
    return this.publisher.setMuted(label, muted);
  }

  /**
   * Tells the publisher how the server rates our own link (section 9.12): on a poor one the camera sends its
   * low simulcast layer only (section 6.5).
   * @param {string} quality
   * @returns {Promise<void>}
   */
  uplinkRated(quality) {
    return this.publisher.uplinkRated(quality);
  }

  // --- the socket's life ------------------------------------------------------------------------------

  /** Opens a socket and runs hello + join on it. */
  async _open() {
    const connection = new Connection({
      url: this.url,
      createSocket: this.createSocket,
      onEvent: (message) => {
        if (connection === this.connection) this._onEvent(message);
      },
      onClose: (error) => this._onClose(connection, error),
      onServerError: (error) => this._emit("error", { context: "server", error }),
      onSilent: () => {
        if (connection === this.connection && this._phase === "online") this._reconnect();
      },
    });
    connection.clockOffset = this._clockOffset;
    this.connection = connection;
    await connection.open();
    if (connection !== this.connection) throw new HavenError("disconnected", "connection abandoned");

    /** @type {{version: number, token: string, room?: string, resume?: string}} */
    const hello = { version: PROTOCOL_VERSION, token: this.token };
    if (this.room) hello.room = this.room;
    const resume = this._resumeCredential();
    if (resume) hello.resume = resume;
    const server = await this.requests.hello(hello);
    this.server = server;
    connection.startHeartbeat(server && server.heartbeat_interval_ms);
    const consent = server && server.consent;
    /** @type {string|undefined} */
    let consentVersion;
    if (consent && consent.version) {
      if (this._acceptedConsent !== consent.version) await this._askConsent(consent);
      consentVersion = consent.version;
    }
    if (server && server.emergency_info_required && !this._emergencyInfo) {
      const info = this.onEmergencyInfo ? await this.onEmergencyInfo() : null;
      if (!info) throw new HavenError("emergency-info-declined", "the emergency information was not confirmed");
      this._emergencyInfo = info;
    }
    const joined = await this.requests.join(consentVersion,
      server && server.emergency_info_required ? this._emergencyInfo || undefined : undefined);
    this._keepResume(joined && joined.resume ? joined.resume.credential : null);
    // The credential goes no further than this client: not into the roster, not to the caller.
    const { resume: _credential, ...join } = joined || {};
    // A host back after no host was present learns how long the group was alone (section 9.10).
    this.hostAbsence = join.host_absence && typeof join.host_absence === "object" ? join.host_absence : null;
    this._reduce({ type: "joined", result: join, participant: server && server.participant });
    this._emitTracksIfChanged();
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
   * Routes one server event to the subscriber, the publisher and the roster.
   * @param {any} message
   */
  _onEvent(message) {
    if (message.type === "resume-credential") {
      // Not passed on: the credential stays inside the client (no event, no log).
      if (typeof message.credential === "string") this._keepResume(message.credential);
      return;
    }
    this._emit("server-event", message);
    switch (message.type) {
      case "consumers":
        this.subscriber.setConsumers(message);
        return;
      case "subscriber-offer":
        this.subscriber.onOffer(message);
        return;
      case "participant-left":
        // The server's next `consumers` lists these slots as idle; forget them now so tiles go at once.
        if (this.roster.participants.has(message.participant_id)) {
          this.subscriber.forget({ participant_id: message.participant_id });
        }
        break;
      case "track-unpublished":
        this.subscriber.forget({ track_id: message.track_id });
        break;
      case "sent-to-waiting":
        this.subscriber.clearConsumers();
        break;
      case "muted-by-host":
        this.publisher.mutedByHost(message.label);
        this._reduce(message);
        this._emit("muted-by-host", message.label);
        return;
      case "screen-share-stopped":
        this.publisher.endScreenShare(typeof message.reason === "string" ? message.reason : "stopped", false)
          .catch((err) => this._emit("error", { context: "screen-share", error: asHavenError(err) }));
        return;
      case "breakout-warning":
        this._emit("breakout-warning", { seconds_left: Number(message.seconds_left) || 0 });
        return;
      case "breakout-broadcast":
        if (typeof message.text === "string") {
          this._emit("breakout-broadcast", { text: message.text, from: message.from || null });
        }
        return;
      case "help-requested":
        this._emit("help-requested", { room: message.room, participant_id: message.participant_id });
        return;
      default:
        break;
    }
    // Section 2: the reducer ignores event types it does not know.
    if (this._reduce(message)) this._emitTracksIfChanged();
  }

  /**
   * @param {Connection} connection
   * @param {HavenError} error
   */
  _onClose(connection, error) {
    if (connection !== this.connection) return;
    this._clockOffset = connection.clockOffset;
    this.connection = null;
    // While opening or reconnecting, the pending hello/join/publish rejections drive what happens next.
    if (this._closed || this._phase !== "online") return;
    if (!shouldReconnect(error)) {
      this._phase = "closed";
      this._closed = true;
      this._forgetResume();
      this._teardownMedia();
      this._fail(error);
      return;
    }
    this._reconnect(error);
  }

  /** Forgets the current socket (its late events are ignored), fails its requests and closes it. */
  _dropSocket() {
    const connection = this.connection;
    if (!connection) return;
    this._clockOffset = connection.clockOffset;
    this.connection = null;
    connection.close();
  }

  /** Restores the session after an unexpected loss: new socket, hello, join, fresh publish connection. */
  /** @param {{code?: string} | undefined} [error] why the socket was lost (e.g. server-restarting), for the status */
  async _reconnect(error) {
    if (this._phase !== "online" || this._closed) return;
    this._phase = "reconnecting";
    this._dropSocket();
    this._teardownMedia();
    this._setStatus("reconnecting", error && error.code);
    const result = await retryWithBackoff(async () => {
      await this._open();
      await this.publisher.republish();
      // A close during the last step leaves no socket: try again rather than report "connected".
      return !this._closed && !!this.connection && this.connection.isOpen;
    }, {
      stopped: () => this._closed,
      cleanup: () => {
        this._dropSocket();
        this._teardownMedia();
      },
    });
    if (result.outcome === "done") {
      this._phase = "online";
      this._setStatus("connected");
      this._emit("reconnected", null);
    } else if (result.outcome === "failed") {
      this._phase = "closed";
      this._closed = true;
      this._dropSocket();
      this._teardownMedia();
      this._fail(result.error);
    }
  }

  /** Closes both peer connections; published entries keep their tracks for a later republish. */
  _teardownMedia() {
    this.subscriber.close();
    this.publisher.close();
    this._emitTracksIfChanged();
  }

  /** @param {HavenError} error */
  _fail(error) {
    // The screen capture is ours (the camera belongs to the caller): nothing will share it any more.
    this.publisher.dropScreenShare("stopped");
    this.failure = { code: error.code, message: error.message };
    this._setStatus("failed", error.code);
  }

  // --- events -------------------------------------------------------------------------------------------

  /**
   * Runs the roster reducer and dispatches the changes it reports.
   * @param {any} message
   * @returns {boolean} whether anything changed
   */
  _reduce(message) {
    const { state, changes } = reduceRoster(this.roster, message);
    this.roster = state;
    for (const { type, detail } of changes) this._emit(type, detail);
    return changes.length > 0;
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
