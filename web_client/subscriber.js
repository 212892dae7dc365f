// @ts-check
/**
 * The subscribe connection (docs/protocol.md section 6.3): the server offers, we answer; the `consumers`
 * event says which participant's track each slot (mid) carries now.
 */

import { DEFAULT_LABELS } from "./constants.js";
import { asHavenError } from "./errors.js";
import { waitForIceGathering } from "./negotiation.js";

// The longest wait a receiver is asked for (the server asks for at most 400 ms; WebRTC allows 4,000).
const MAX_REPAIR_WAIT_MS = 1000;

/**
 * @typedef {{mid: string, track_id: string, participant_id: string, kind: string, label: string,
 *            paused?: string, repair_ms?: number}} Consumer `paused: "bandwidth"`: the server holds this video
 *   back; `repair_ms`: the server's repairs of it arrive this late (section 6.3)
 * @typedef {{camera?: MediaStreamTrack, microphone?: MediaStreamTrack, screen?: MediaStreamTrack,
 *            "screen-audio"?: MediaStreamTrack, pausedCamera?: boolean}} ParticipantTracks `pausedCamera`:
 *   the camera is held back to keep our audio clear
 * @typedef {object} SubscriberOptions
 * @property {() => RTCConfiguration} configuration
 * @property {(revision: number, sdp: string) => Promise<any>} answer sends `subscriber-answer`
 * @property {() => void} onChange the tracks may have changed
 * @property {(error: import("./errors.js").HavenError) => void} onError an offer could not be answered
 */

/**
 * Tells whether two SDPs belong to the same transport (same ICE credentials and DTLS fingerprint).
 * @param {string} previous
 * @param {string} next
 */
export function sameTransport(previous, next) {
  /** @param {string} sdp @param {string} prefix */
  const first = (sdp, prefix) => {
    const line = sdp.split(/\r?\n/).find((l) => l.startsWith(prefix));
    return line ? line.slice(prefix.length).trim() : null;
  };
  return first(previous, "a=ice-ufrag:") === first(next, "a=ice-ufrag:") &&
    first(previous, "a=fingerprint:") === first(next, "a=fingerprint:");
}

/** Receives everyone else's media on one RTCPeerConnection. */
export class Subscriber {
  /** @param {SubscriberOptions} options */
  constructor({ configuration, answer, onChange, onError }) {
    this.configuration = configuration;
    this.answer = answer;
    this.onChange = onChange;
    this.onError = onError;
    /** @type {RTCPeerConnection|null} */
    this.pc = null;
    /** @type {Map<string, Consumer>} mid → consumer, mirrors the latest `consumers` event */
    this.consumers = new Map();
    /** @type {Map<string, MediaStreamTrack>} mid → track from `ontrack` */
    this._trackByMid = new Map();
    this._offerChain = Promise.resolve();
    // Bumped whenever the connection is torn down, so work still running for it stops at its next step.
    this._generation = 0;
    /** @type {string|null} the server's last applied offer, as sent */
    this._offerSdp = null;
  }

  /**
   * Takes the `consumers` event: the complete list of what each slot carries.
   * @param {any} message
   */
  setConsumers(message) {
    this.consumers = new Map();
    for (const consumer of Array.isArray(message.consumers) ? message.consumers : []) {
      if (consumer && typeof consumer.mid === "string") this.consumers.set(consumer.mid, consumer);
    }
    this.applyRepairWaits();
    this.onChange();
  }

  /**
   * Lets each slot's jitter buffer wait as long as the server says its track's repairs take (section 6.3,
   * `repair_ms`), and not at all where it says nothing. The browser cannot tell this itself: it sees only
   * its own round trip to the server, not the publisher's to it.
   */
  applyRepairWaits() {
    if (!this.pc) return;
    for (const transceiver of this.pc.getTransceivers()) {
      const receiver = /** @type {any} */ (transceiver.receiver);
      if (transceiver.mid === null || !receiver || !("jitterBufferTarget" in receiver)) continue;
      const consumer = this.consumers.get(transceiver.mid);
      const asked = consumer && consumer.kind === "video" ? Number(consumer.repair_ms) : 0;
      const wait = asked > 0 ? Math.min(MAX_REPAIR_WAIT_MS, asked) : null;
      if (receiver.jitterBufferTarget === wait) continue;
      try {
        receiver.jitterBufferTarget = wait;
      } catch {
        // A browser that refuses the value keeps its own delay: the video still plays, only less smoothly.
      }
    }
  }

  /**
   * Forgets the slots of a participant or a track at once; the server's next `consumers` lists them idle.
   * @param {{participant_id?: string, track_id?: string}} which
   */
  forget({ participant_id, track_id }) {
    for (const [mid, consumer] of this.consumers) {
      if (consumer.participant_id === participant_id || consumer.track_id === track_id) this.consumers.delete(mid);
    }
  }

  /** Forgets every slot (the waiting room receives nothing). */
  clearConsumers() {
    this.consumers = new Map();
  }

  /**
   * Answers a `subscriber-offer`, one at a time in arrival order.
   * @param {{revision: number, sdp: string}} offer
   */
  onOffer(offer) {
    const generation = this._generation;
    this._offerChain = this._offerChain
      .then(() => this._answerOffer(offer, generation))
      .catch((err) => this.onError(asHavenError(err)));
  }

  /**
   * Returns each participant's current tracks by label, from the consumers and the transceivers (by mid).
   * @param {(participantId: string) => boolean} inRoster only participants we list are shown
   * @returns {Map<string, ParticipantTracks>}
   */
  remoteTracks(inRoster) {
    /** @type {Map<string, ParticipantTracks>} */
    const result = new Map();
    for (const consumer of this.consumers.values()) {
      if (!inRoster(consumer.participant_id)) continue;
      const track = this._trackForMid(consumer.mid);
      if (!track) continue;
      const label = consumer.label || DEFAULT_LABELS[/** @type {"video"|"audio"} */ (consumer.kind)];
      if (!label) continue;
      let tracks = result.get(consumer.participant_id);
      if (!tracks) result.set(consumer.participant_id, (tracks = {}));
      /** @type {any} */ (tracks)[label] = track;
      if (label === "camera" && consumer.paused) tracks.pausedCamera = true;
    }
    return result;
  }

  /** Closes the connection and forgets the slots; offers still being answered are dropped. */
  close() {
    this._generation++;
    this._closePc();
    this._offerChain = Promise.resolve();
    this.consumers = new Map();
  }

  /**
   * @param {{revision: number, sdp: string}} offer
   * @param {number} generation
   */
  async _answerOffer({ revision, sdp }, generation) {
    const stale = () => generation !== this._generation;
    if (stale()) return;
    let pc = this.pc;
    // A new server-side connection (after the 20 s answer timeout) has new ICE and DTLS identities.
    // Compare with the server's previous SDP as sent: the browser rewrites its copy (fewer fingerprints).
    if (pc && this._offerSdp && !sameTransport(this._offerSdp, sdp)) {
      this._closePc();
      pc = null;
    }
    if (!pc) pc = this._createPc();
    const fresh = !pc.remoteDescription;
    try {
      await pc.setRemoteDescription({ type: "offer", sdp });
    } catch (err) {
      if (fresh || stale()) throw err;
      this._closePc();
      pc = this._createPc();
      await pc.setRemoteDescription({ type: "offer", sdp });
    }
    if (stale()) return;
    this._offerSdp = sdp;
    await pc.setLocalDescription(await pc.createAnswer());
    await waitForIceGathering(pc);
    if (stale() || pc !== this.pc) return;
    const description = /** @type {RTCSessionDescription} */ (pc.localDescription);
    try {
      await this.answer(revision, description.sdp);
    } catch (err) {
      const code = asHavenError(err).code;
      // A newer offer is on its way (stale), or the socket went and the reconnect starts over.
      if (code === "stale-revision" || code === "disconnected") return;
      throw err;
    }
    this.applyRepairWaits();  // the offer may have added the slots the last `consumers` named
    this.onChange();
  }

  /** @returns {RTCPeerConnection} */
  _createPc() {
    const pc = new RTCPeerConnection(this.configuration());
    pc.addEventListener("track", (event) => {
      if (pc !== this.pc) return;
      const mid = event.transceiver && event.transceiver.mid;
      if (mid === null || mid === undefined) return;
      this._trackByMid.set(mid, event.track);
      this.applyRepairWaits();
      this.onChange();
    });
    this.pc = pc;
    return pc;
  }

  _closePc() {
    if (this.pc) this.pc.close();
    this.pc = null;
    this._offerSdp = null;
    this._trackByMid.clear();
  }

  /**
   * @param {string} mid
   * @returns {MediaStreamTrack|null}
   */
  _trackForMid(mid) {
    const track = this._trackByMid.get(mid);
    if (track) return track;
    if (!this.pc) return null;
    const transceiver = this.pc.getTransceivers().find((t) => t.mid === mid);
    return transceiver ? transceiver.receiver.track : null;
  }
}
