// @ts-check
/**
 * The publish connection (docs/protocol.md sections 6.1, 6.2 and 10.2): our camera, microphone and screen
 * share, one sendonly transceiver per labelled track; we offer, the server answers. Offers never overlap.
 */

import { DEFAULT_LABELS, SCREEN_LABELS } from "./constants.js";
import { HavenError, asHavenError } from "./errors.js";
import { waitForIceGathering } from "./negotiation.js";

// Section 10.2: getDisplayMedia never answers in some setups (no picker shown): give up after this.
export const DISPLAY_MEDIA_TIMEOUT_MS = 10000;

// Section 6.5: the camera goes out as two simulcast layers, lowest first, so that the server can give
// each viewer what its link and its tile need. Half size is enough for a grid tile on a phone or a weak
// link; the full picture is for speaker view and large screens. Below this capture height a second layer
// would be too small to help, and the camera is sent once.
export const SIMULCAST_LAYERS = [
  { rid: "l", scaleResolutionDownBy: 2, maxBitrate: 150000 },
  { rid: "h", scaleResolutionDownBy: 1, maxBitrate: 900000 },
];
export const SIMULCAST_MIN_HEIGHT = 360;
// Ratings (one every few seconds) of a good link before the camera sends every layer again.
export const GOOD_BEFORE_FULL_UPLINK = 3;

/**
 * How a track is added to the publish connection: the camera as simulcast layers when it is large enough.
 * @param {{label: string, track: MediaStreamTrack}} entry
 * @param {MediaStream} stream
 * @param {boolean} [lowOnly] our link is poor: the low layer only (see Publisher#uplinkRated)
 * @returns {RTCRtpTransceiverInit}
 */
export function sendInit(entry, stream, lowOnly = false) {
  /** @type {RTCRtpTransceiverInit} */
  const init = { direction: "sendonly", streams: [stream] };
  const settings = typeof entry.track.getSettings === "function" ? entry.track.getSettings() : {};
  if (entry.label === "camera" && (settings.height || 0) >= SIMULCAST_MIN_HEIGHT) {
    init.sendEncodings = SIMULCAST_LAYERS.map((layer, index) => ({ ...layer, active: index === 0 || !lowOnly }));
  }
  return init;
}

/**
 * @typedef {import("./roster.js").Participant} Participant
 * @typedef {import("./roster.js").LocalTrack} LocalTrack
 * @typedef {{label: string, kind: string, track: MediaStreamTrack, stream: MediaStream,
 *            transceiver: RTCRtpTransceiver|null, track_id: string|null}} PublishedTrack
 * @typedef {(sharer: Participant|null) => boolean|Promise<boolean>} ReplaceScreenHandler asked when someone
 *   else shares a screen in this room: resolve true to replace their share with ours
 * @typedef {"online"|"reconnecting"|"other"} Phase whether the session is up, being restored, or neither
 * @typedef {object} PublisherOptions
 * @property {import("./requests.js").Requests} requests
 * @property {() => RTCConfiguration} configuration
 * @property {() => Phase} phase
 * @property {() => Participant|null} sharer who else shares a screen in our room, if anyone
 * @property {(tracks: LocalTrack[]) => void} onTracks what we publish changed
 * @property {(trackId: string, muted: boolean) => void} onMuted one of our tracks was muted or unmuted
 * @property {(detail: {active: boolean, reason: string}) => void} onScreenShare
 * @property {(detail: {context: string, error: HavenError}) => void} onError
 * @property {() => void} onFailed the publish connection's media failed
 */

/** Publishes our tracks on one RTCPeerConnection, and republishes them on a fresh one after a reconnect. */
export class Publisher {
  /** @param {PublisherOptions} options */
  constructor(options) {
    this.options = options;
    /** @type {RTCPeerConnection|null} */
    this.pc = null;
    /** @type {Map<string, PublishedTrack>} label → published track */
    this.published = new Map();
    this._chain = Promise.resolve();
    // Bumped whenever the connection is torn down, so work still running for it stops at its next step.
    this._generation = 0;
    /** whether the camera sends its low layer only, and how many good ratings came since (uplinkRated) */
    this._uplinkPoor = false;
    this._goodRatings = 0;
  }

  /** @returns {boolean} whether we are sharing a screen */
  get sharingScreen() {
    return this.published.has(SCREEN_LABELS.video);
  }

  /**
   * Publishes the tracks of a stream (see HavenClient#publish).
   * @param {MediaStream} stream
   * @param {{video?: string, audio?: string}} labels
   * @returns {Promise<PublishedTrack[]>}
   */
  publish(stream, labels) {
    return this._serialize(() => this._publish(stream, labels, null));
  }

  /**
   * Shares a screen (see HavenClient#startScreenShare).
   * @param {{audio?: boolean, onReplace?: ReplaceScreenHandler}} options
   * @returns {Promise<void>}
   */
  async startScreenShare({ audio = false, onReplace }) {
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
      await this._serialize(() => this._publish(shared, SCREEN_LABELS, ask));
    } catch (err) {
      stopTracks(shared);
      throw err;
    }
    // Stopped meanwhile (e.g. the browser's bar), before the publish finished: end it now.
    if (video.readyState === "ended") {
      await this.endScreenShare("ended", true);
      return;
    }
    video.addEventListener("ended", () => {
      const entry = this.published.get(SCREEN_LABELS.video);
      if (entry && entry.track === video) this.endScreenShare("ended", true).catch(() => {});
    }, { once: true });
    // The server may have ended it already (replaced at once): then `onScreenShare` said so.
    const entry = this.published.get(SCREEN_LABELS.video);
    if (entry && entry.track === video) this.options.onScreenShare({ active: true, reason: "started" });
  }

  /**
   * Ends a published track (`unpublish`); the caller keeps ownership of the MediaStreamTrack.
   * @param {string} label
   * @returns {Promise<void>}
   */
  unpublish(label) {
    return this._serialize(() => this._unpublish(label));
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
    if (entry.track_id) this.options.onMuted(entry.track_id, !!muted);
    // Without a track id or a socket, the state is applied when the publish or reconnect completes.
    if (!entry.track_id || this.options.phase() !== "online") return;
    try {
      await this.options.requests.mute(entry.track_id, !!muted);
    } catch (err) {
      if (asHavenError(err).code !== "disconnected") throw err;
    }
  }

  /**
   * A host muted one of our tracks (section 9.3): the server already stopped forwarding; stop sending too,
   * so unmuting is the participant's choice.
   * @param {string} label
   */
  mutedByHost(label) {
    const entry = this.published.get(label);
    if (entry) entry.track.enabled = false;
  }

  /**
   * Ends our screen share and stops its capture; `tellServer` sends `unpublish` (not needed when the server
   * ended it: `screen-share-stopped`).
   * @param {string} reason for `onScreenShare`
   * @param {boolean} tellServer
   * @returns {Promise<void>}
   */
  endScreenShare(reason, tellServer) {
    return this._serialize(async () => {
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
        this.options.onScreenShare({ active: false, reason });
      }
    });
  }

  /**
   * Drops the screen share entries at once, without the publish connection (it is gone or going).
   * @param {string} reason
   * @returns {boolean} whether there was a share
   */
  dropScreenShare(reason) {
    let dropped = false;
    for (const label of [SCREEN_LABELS.video, SCREEN_LABELS.audio]) {
      const entry = this.published.get(label);
      if (!entry) continue;
      this.published.delete(label);
      entry.track.stop();
      dropped = true;
    }
    if (dropped) {
      this._reportTracks();
      this.options.onScreenShare({ active: false, reason });
    }
    return dropped;
  }

  /**
   * Publishes every listed track again on a fresh connection (after a reconnect), after work already queued.
   * @returns {Promise<void>}
   */
  republish() {
    return this._serialize(() => this._republish());
  }

  /**
   * Section 6.5, audio first on the way up: once the server rates our own link poor, the camera sends its
   * low simulcast layer only, which leaves the voice room; every layer again only after the link was rated
   * good GOOD_BEFORE_FULL_UPLINK times in a row. A link near the threshold is rated poor and weak by turns:
   * switching the top layer on and off with it would restart the encoder every few seconds.
   * @param {string} quality our own rating (`link-quality`, section 9.12)
   * @returns {Promise<void>}
   */
  uplinkRated(quality) {
    this._goodRatings = quality === "good" ? this._goodRatings + 1 : 0;
    const poor = quality === "poor" ? true : this._goodRatings >= GOOD_BEFORE_FULL_UPLINK ? false : this._uplinkPoor;
    if (this._uplinkPoor === poor) return Promise.resolve();
    this._uplinkPoor = poor;
    return this._serialize(() => this._applyUplink());
  }

  async _applyUplink() {
    const entry = this.published.get("camera");
    const sender = entry && entry.transceiver ? entry.transceiver.sender : null;
    if (!sender) return;
    const parameters = sender.getParameters();
    if (!parameters.encodings || parameters.encodings.length < 2) return;
    parameters.encodings.forEach((encoding, index) => {
      encoding.active = index === 0 || !this._uplinkPoor;
    });
    await sender.setParameters(parameters).catch(() => {});
  }

  /** Closes the connection; published entries keep their tracks for a later {@link Publisher#republish}. */
  close() {
    this._generation++;
    if (this.pc) this.pc.close();
    this.pc = null;
    for (const entry of this.published.values()) {
      entry.transceiver = null;
      entry.track_id = null;
    }
  }

  /**
   * Runs publish-connection work one step at a time, so offers never overlap.
   * @template T
   * @param {() => Promise<T>} work
   * @returns {Promise<T>}
   */
  _serialize(work) {
    const run = this._chain.then(work, work);
    this._chain = run.then(() => undefined, () => undefined);
    return run;
  }

  _reportTracks() {
    this.options.onTracks([...this.published.values()]
      .filter((entry) => entry.track_id)
      .map((entry) => ({
        track_id: /** @type {string} */ (entry.track_id),
        kind: entry.kind,
        label: entry.label,
        enabled: entry.track.enabled,
      })));
  }

  /**
   * @param {MediaStream} stream
   * @param {{video?: string, audio?: string}} labels
   * @param {ReplaceScreenHandler|null} onReplace for a screen share: asked on `screen-share-active`
   * @returns {Promise<PublishedTrack[]>}
   */
  async _publish(stream, labels, onReplace) {
    const phase = this.options.phase();
    if (phase === "other") throw new HavenError("not-joined", "join the room before publishing");
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
    if (phase !== "online") return entries;

    const generation = this._generation;
    const isFirst = !this.pc;
    const pc = this.pc || (this.pc = this._createPc());
    for (const entry of entries) {
      entry.transceiver = pc.addTransceiver(entry.track, sendInit(entry, stream, this._uplinkPoor));
    }
    try {
      try {
        await this._negotiate(pc, generation);
      } catch (err) {
        // Section 10.2: someone else shares. Undo the offer, ask, and offer again with `replace_screen`.
        if (!onReplace || asHavenError(err).code !== "screen-share-active" || generation !== this._generation) {
          throw err;
        }
        if (pc.signalingState === "have-local-offer") await pc.setLocalDescription({ type: "rollback" });
        const replace = await onReplace(this.options.sharer());
        if (generation !== this._generation) throw new HavenError("disconnected", "the connection was lost");
        if (!replace) throw err;
        await this._negotiate(pc, generation, { replace_screen: true });
      }
    } catch (err) {
      // Torn down by a reconnect: the entries are still listed and will be republished.
      if (generation !== this._generation) return entries;
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
        if (this.pc === pc) this.pc = null;
      } else if (pc.signalingState === "have-local-offer") {
        await pc.setLocalDescription({ type: "rollback" }).catch(() => {});
      }
      throw err;
    }
    return entries;
  }

  /** @returns {Promise<void>} */
  async _republish() {
    const entries = [...this.published.values()];
    if (entries.length === 0) return;
    const generation = this._generation;
    const pc = (this.pc = this._createPc());
    for (const entry of entries) {
      entry.track_id = null;
      entry.transceiver = pc.addTransceiver(entry.track, sendInit(entry, entry.stream, this._uplinkPoor));
    }
    try {
      await this._negotiate(pc, generation);
    } catch (err) {
      const error = asHavenError(err);
      if (generation !== this._generation || error.code === "disconnected" || error.code === "timeout") {
        throw error;
      }
      // The session itself is fine; only our media was refused. Stay connected and say so.
      pc.close();
      if (this.pc === pc) this.pc = null;
      // A screen share may be refused now (someone else shares, permission revoked): keep the camera.
      if (this.dropScreenShare("reconnected")) return this._republish();
      this.published.clear();
      this._reportTracks();
      this.options.onError({ context: "publish", error });
    }
  }

  /** @param {string} label */
  async _unpublish(label) {
    const entry = this.published.get(label);
    if (!entry) return;
    const trackId = await this._release(entry);
    if (!trackId || this.options.phase() !== "online") return;
    try {
      await this.options.requests.unpublish(trackId);
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
    this._reportTracks();
    return trackId;
  }

  /**
   * Offers the connection's current m-lines to the server and applies the answer.
   * @param {RTCPeerConnection} pc
   * @param {number} generation
   * @param {{replace_screen?: boolean}} [extra]
   */
  async _negotiate(pc, generation, extra = {}) {
    const stale = () => {
      if (generation !== this._generation || pc !== this.pc) {
        throw new HavenError("disconnected", "the publish connection was replaced");
      }
    };
    await pc.setLocalDescription(await pc.createOffer());
    await waitForIceGathering(pc);
    stale();
    // The mids exist only once the offer is set as the local description.
    const sending = [...this.published.values()].filter((e) => e.transceiver && e.transceiver.mid !== null);
    const tracks = sending.map((e) => ({ mid: /** @type {string} */ (e.transceiver?.mid), label: e.label }));
    const description = /** @type {RTCSessionDescription} */ (pc.localDescription);
    const data = await this.options.requests.publish({ ...extra, sdp: description.sdp, tracks });
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
    this._reportTracks();
    // The tracks are published by now; a failed mute must not undo that, only be reported.
    for (const [entry, muted] of mutes) {
      const trackId = /** @type {string} */ (entry.track_id);
      try {
        await this.options.requests.mute(trackId, muted);
        this.options.onMuted(trackId, muted);
      } catch (err) {
        const error = asHavenError(err);
        if (error.code !== "disconnected") this.options.onError({ context: "mute", error });
      }
    }
  }

  /** @returns {RTCPeerConnection} */
  _createPc() {
    const pc = new RTCPeerConnection(this.options.configuration());
    pc.addEventListener("connectionstatechange", () => {
      if (pc === this.pc && pc.connectionState === "failed") this.options.onFailed();
    });
    return pc;
  }
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
