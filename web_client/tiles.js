/**
 * The room's video area: one tile per participant with name, camera-off avatar, muted-mic icon, speaker and
 * turn highlights, and the shared screen; layout.js places them all (grid, speaker view or presentation).
 */

import { TRACK_LABELS } from "./constants.js";
import { ROLE_NAMES } from "./people.js";
import { computeLayout } from "./layout.js";

/**
 * @typedef {import("./protocol.js").Participant} Participant
 * @typedef {import("./protocol.js").ParticipantTracks} ParticipantTracks
 * @typedef {{cameraOn: boolean, mic: "on"|"muted"|"none", speaking: boolean}} TileState
 */

/** The layout id of the viewer's own tile and of the shared screen (participant ids never look like these). */
export const SELF_TILE = "~self";
export const SCREEN_TILE = "~screen";

/**
 * Returns the first letter of a name, for the camera-off avatar.
 * @param {string} name
 */
export function initialOf(name) {
  const first = [...(name || "").trim()][0];
  return first ? first.toLocaleUpperCase() : "?";
}

/**
 * Shows a tile's camera, microphone and speaking state (local and remote tiles share this).
 * @param {HTMLElement} tile
 * @param {TileState} state
 */
export function applyTileState(tile, { cameraOn, mic, speaking }) {
  tile.dataset.camera = cameraOn ? "on" : "off";
  tile.dataset.mic = mic;
  tile.classList.toggle("is-speaking", speaking);
  if (speaking) tile.dataset.activeSpeaker = "true";
  else delete tile.dataset.activeSpeaker;
  const icon = tile.querySelector(".mic-off");
  if (icon instanceof HTMLElement) {
    icon.hidden = mic === "on";
    icon.setAttribute("aria-label", mic === "none" ? "No microphone" : "Microphone muted");
  }
}

/**
 * Marks a tile (local or remote) with the session's turn-taking: the check-in speaker, who has the floor and
 * a raised hand. Each mark is shown as words in the tile's label, not by colour alone.
 * @param {HTMLElement} tile
 * @param {{turn: boolean, floor: boolean, hand: boolean}} marks
 */
export function markTile(tile, { turn, floor, hand }) {
  tile.classList.toggle("has-turn", turn);
  tile.classList.toggle("has-floor", floor);
  for (const [name, on] of /** @type {Array<[string, boolean]>} */ ([["turn", turn], ["floor", floor], ["hand", hand]])) {
    if (on) tile.dataset[name] = "true";
    else delete tile.dataset[name];
  }
  const label = tile.querySelector(".tile-label");
  if (!label) return;
  let badges = label.querySelector(".tile-badges");
  if (!badges) {
    badges = document.createElement("span");
    badges.className = "tile-badges";
    label.append(badges);
  }
  // "Sharing" would be mistaken for screen sharing: the check-in badge says whose turn it is.
  const words = [turn ? "Check-in turn" : "", floor ? "Has the floor" : "", hand ? "Hand raised" : ""].filter(Boolean);
  const text = words.join(" · ");
  if (badges.textContent !== text) badges.textContent = text;
  /** @type {HTMLElement} */ (badges).hidden = !text;
}

/** What a host reads on a tile for each connection quality (docs/protocol.md 9.12); good says nothing. */
export const QUALITY_WORDS = { weak: "Weak connection", poor: "Poor connection" };

/** A round trip from which it is what makes a link weak (signaling/quality.py), and so worth showing. */
const SLOW_RTT_MS = 250;

/**
 * Words a bitrate in bits per second: "180 kbit/s", "1.2 Mbit/s".
 * @param {number} bps
 */
export function bitrateText(bps) {
  const kbit = Math.round(bps / 1000);
  return kbit >= 1000 ? `${(bps / 1_000_000).toFixed(1)} Mbit/s` : `${kbit} kbit/s`;
}

/**
 * What a host reads on a tile of a weak or poor link, in words and figures (null: nothing to show): the loss
 * (the larger of the two directions), the round trip when it is slow, and what the participant publishes.
 * `detail` is the same, direction by direction, for the tooltip.
 * @param {{quality?: unknown, loss_in?: unknown, loss_out?: unknown, rtt_ms?: unknown, bitrate_in?: unknown}|undefined} entry
 * @returns {{quality: string, words: string, figures: string[], detail: string}|null}
 */
export function describeQuality(entry) {
  const quality = entry && typeof entry.quality === "string" ? entry.quality : "unknown";
  const words = /** @type {Record<string, string>} */ (QUALITY_WORDS)[quality];
  if (!entry || !words) return null;
  /** @param {unknown} v */
  const number = (v) => (typeof v === "number" && Number.isFinite(v) && v >= 0 ? v : null);
  const lossIn = number(entry.loss_in);
  const lossOut = number(entry.loss_out);
  const rtt = number(entry.rtt_ms);
  const bitrate = number(entry.bitrate_in);
  /** @param {number} v */
  const percent = (v) => `${Math.round(v * 100)}%`;
  const figures = [];
  if (lossIn !== null || lossOut !== null) figures.push(`${percent(Math.max(lossIn || 0, lossOut || 0))} lost`);
  if (rtt !== null && rtt >= SLOW_RTT_MS) figures.push(`${Math.round(rtt)} ms round trip`);
  if (bitrate !== null) figures.push(bitrateText(bitrate));
  /** @param {number|null} v */
  const measured = (v) => (v === null ? "not measured" : percent(v));
  const detail = `Lost on the way in: ${measured(lossIn)}; on the way to them: ${measured(lossOut)}; ` +
    `round trip: ${rtt === null ? "not measured" : `${Math.round(rtt)} ms`}; ` +
    `they send: ${bitrate === null ? "not measured" : bitrateText(bitrate)}`;
  return { quality, words, figures, detail };
}

/**
 * Shows a participant's connection quality, as the server measures it, on their tile (hosts only): for a weak
 * or poor link the words and the figures as visible text in the name row ("Weak connection · 4% lost ·
 * 180 kbit/s"; readable on a touch screen, where a tooltip is not), the figures by direction in the
 * tooltip; nothing on a good or not yet measured one.
 * @param {HTMLElement} tile
 * @param {{quality?: unknown, loss_in?: unknown, loss_out?: unknown, rtt_ms?: unknown, bitrate_in?: unknown}|undefined} entry
 */
export function showQuality(tile, entry) {
  const label = tile.querySelector(".tile-label");
  if (!label) return;
  let badge = /** @type {HTMLElement|null} */ (label.querySelector(".tile-quality"));
  const shown = describeQuality(entry);
  if (!shown) {
    if (badge) badge.remove();
    delete tile.dataset.quality;
    return;
  }
  if (!badge) {
    badge = document.createElement("span");
    badge.className = "tile-quality";
    badge.dataset.testid = "tile-quality";
    label.append(badge);
  }
  tile.dataset.quality = shown.quality;
  badge.dataset.quality = shown.quality;
  // Each part stays whole; a narrow tile wraps between them, never inside a figure.
  const parts = [shown.words, ...shown.figures];
  const text = parts.join(" · ");
  if (badge.textContent !== text) {
    badge.replaceChildren(...parts.flatMap((part, i) => {
      const span = document.createElement("span");
      span.className = i === 0 ? "quality-words" : "quality-figure";
      span.textContent = part;
      return i === 0 ? [span] : [" · ", span];
    }));
  }
  badge.title = shown.detail;
}

/** The grid of remote tiles, kept in step with the roster and the received tracks. */
export class TileGrid {
  /**
   * @param {HTMLElement} container
   * @param {{onAudioBlocked: () => void, onPin: (id: string) => void,
   *          onSizes?: (heights: Map<string, number>) => void}} callbacks `onPin`: a tile's Pin was pressed;
   *   `onSizes`: after each layout, every shown tile's height in device pixels, by layout id
   */
  constructor(container, { onAudioBlocked, onPin, onSizes }) {
    this.container = container;
    this.onAudioBlocked = onAudioBlocked;
    this.onPin = onPin;
    this.onSizes = onSizes || (() => {});
    /** @type {Map<string, RemoteTile>} */
    this.tiles = new Map();
    /** @type {string|null} the layout id shown large */
    this.focus = null;
    /** @type {string|null} the participant the viewer pinned */
    this.pinned = null;
    /** @type {Map<string, number>} each shown tile's height in device pixels, by layout id (last layout) */
    this.heights = new Map();
    if (typeof ResizeObserver === "function") new ResizeObserver(() => this.layout()).observe(container);
    // A tile shown or hidden (the shared screen, a hidden self-view) changes the layout.
    if (typeof MutationObserver === "function") {
      new MutationObserver(() => this.layout()).observe(container, { attributes: true, attributeFilter: ["hidden"],
        subtree: true, childList: true });
    }
  }

  /**
   * Shows one tile large (a layout id: a participant, {@link SELF_TILE} or {@link SCREEN_TILE}), or with null
   * all of them alike.
   * @param {string|null} id
   */
  setFocus(id) {
    if (this.focus === id) return;
    this.focus = id;
    this.layout();
  }

  /** Places every shown tile (and the shared screen) with the one layout engine. */
  layout() {
    const items = /** @type {HTMLElement[]} */ ([...this.container.children])
      .filter((el) => el instanceof HTMLElement && !el.hidden && el.dataset.layoutId);
    const width = this.container.clientWidth;
    const height = this.container.clientHeight;
    if (!items.length || !width || !height) return;
    const gap = parseFloat(getComputedStyle(this.container).columnGap) || 0;
    const { boxes, mode } = computeLayout({ width, height, gap, ids: items.map((el) => el.dataset.layoutId || ""),
      focus: this.focus });
    this.container.dataset.layout = mode;
    /** @type {Map<string, number>} */
    const heights = new Map();
    const scale = (typeof window !== "undefined" && window.devicePixelRatio) || 1;
    for (const el of items) {
      const box = boxes.get(el.dataset.layoutId || "");
      if (!box) continue;
      heights.set(el.dataset.layoutId || "", Math.round(box.height * scale));
      el.style.left = `${box.x}px`;
      el.style.top = `${box.y}px`;
      el.style.width = `${box.width}px`;
      el.style.height = `${box.height}px`;
      el.dataset.focused = String(mode === "focus" && el.dataset.layoutId === this.focus);
    }
    this.heights = heights;
    this.onSizes(heights);
  }

  /**
   * Puts the local tile first in the grid.
   * @param {HTMLElement} tile
   */
  attachLocal(tile) {
    tile.dataset.layoutId = SELF_TILE;
    this.container.prepend(tile);
    this._updateCount();
  }

  /**
   * Brings the tiles in line with the room: adds, updates and removes as needed.
   * @param {Iterable<Participant>} participants everyone else, in join order
   * @param {Map<string, ParticipantTracks>} tracks received tracks by participant id
   * @param {string|null} activeSpeaker
   */
  update(participants, tracks, activeSpeaker) {
    const seen = new Set();
    for (const participant of participants) {
      seen.add(participant.id);
      let tile = this.tiles.get(participant.id);
      if (!tile) {
        tile = new RemoteTile(participant.id, this.onAudioBlocked, this.onPin);
        this.tiles.set(participant.id, tile);
        this.container.append(tile.element);
      }
      tile.update(participant, tracks.get(participant.id) || {}, participant.id === activeSpeaker,
        this.pinned === participant.id);
    }
    for (const [id, tile] of this.tiles) {
      if (!seen.has(id)) {
        tile.remove();
        this.tiles.delete(id);
      }
    }
    this._updateCount();
  }

  /**
   * Returns each remote participant's tile element by participant id.
   * @returns {Map<string, HTMLElement>}
   */
  tileElements() {
    return new Map([...this.tiles].map(([id, tile]) => [id, tile.element]));
  }

  /** Retries playing every participant's audio (after the browser blocked autoplay). */
  resumeAudio() {
    for (const tile of this.tiles.values()) tile.playAudio();
  }

  /** Removes every remote tile. */
  clear() {
    for (const tile of this.tiles.values()) tile.remove();
    this.tiles.clear();
    this._updateCount();
  }

  _updateCount() {
    const count = String(this.container.children.length);
    if (this.container.dataset.count === count) return;
    this.container.dataset.count = count;
    this.layout();
  }
}

/** One remote participant's tile. */
class RemoteTile {
  /**
   * @param {string} id
   * @param {() => void} onAudioBlocked
   * @param {(id: string) => void} onPin
   */
  constructor(id, onAudioBlocked, onPin) {
    this.onAudioBlocked = onAudioBlocked;
    /** @type {MediaStreamTrack|null} */
    this.videoTrack = null;
    /** @type {MediaStreamTrack|null} */
    this.audioTrack = null;

    this.element = document.createElement("div");
    this.element.className = "tile";
    this.element.setAttribute("role", "group");
    this.element.dataset.participantId = id;
    this.element.dataset.layoutId = id;

    this.video = document.createElement("video");
    this.video.dataset.testid = "remote-video";
    this.video.dataset.participantId = id;
    this.video.autoplay = true;
    this.video.playsInline = true;
    // The video element carries only video; sound goes through the audio element.
    this.video.muted = true;
    this.video.setAttribute("autoplay", "");
    this.video.setAttribute("playsinline", "");

    this.avatar = document.createElement("div");
    this.avatar.className = "avatar";
    this.avatar.setAttribute("aria-hidden", "true");
    this.initial = document.createElement("span");
    this.avatar.append(this.initial);

    const label = document.createElement("div");
    label.className = "tile-label";
    const micOff = document.createElement("span");
    micOff.className = "mic-off";
    micOff.setAttribute("role", "img");
    this.name = document.createElement("span");
    this.name.className = "tile-name";
    this.role = document.createElement("span");
    this.role.className = "tile-role";
    label.append(micOff, this.name, this.role);

    this.audio = document.createElement("audio");
    this.audio.autoplay = true;

    this.pin = document.createElement("button");
    this.pin.type = "button";
    this.pin.className = "tile-pin";
    this.pin.dataset.testid = "pin-tile";
    this.pin.setAttribute("aria-pressed", "false");
    this.pin.textContent = "Pin";
    this.pin.addEventListener("click", () => onPin(id));

    // Section 6.3: the server paused this video so that the viewer's audio stays clear on a weak link.
    this.paused = document.createElement("div");
    this.paused.className = "tile-paused";
    this.paused.dataset.testid = "video-paused";
    this.paused.textContent = "Video paused to keep audio clear";
    this.paused.hidden = true;

    this.element.append(this.video, this.avatar, label, this.paused, this.audio, this.pin);
  }

  /**
   * @param {Participant} participant
   * @param {ParticipantTracks} tracks
   * @param {boolean} speaking
   * @param {boolean} pinned
   */
  update(participant, tracks, speaking, pinned) {
    const name = participant.name || "Participant";
    if (this.name.textContent !== name) {
      this.name.textContent = name;
      this.initial.textContent = initialOf(name);
      this.video.dataset.participantName = name;
      this.element.setAttribute("aria-label", name);
      this.element.dataset.participantName = name;
      this.pin.dataset.participantName = name;
    }
    this.pin.setAttribute("aria-pressed", String(pinned));
    this.pin.textContent = pinned ? "Unpin" : "Pin";
    this.pin.setAttribute("aria-label", pinned ? `Unpin ${name}` : `Pin ${name} (show large for you)`);
    const role = ROLE_NAMES[participant.role] || "";
    this.role.hidden = !role;
    if (this.role.textContent !== role) this.role.textContent = role;

    const camera = participant.tracks.find((t) => t.label === TRACK_LABELS.CAMERA);
    const microphone = participant.tracks.find((t) => t.label === TRACK_LABELS.MICROPHONE);
    const paused = !!tracks.pausedCamera && !!camera && !camera.muted;
    this.paused.hidden = !paused;
    this._setVideo(tracks.camera || null);
    this._setAudio(tracks.microphone || null);
    applyTileState(this.element, {
      cameraOn: !!camera && !camera.muted && !!tracks.camera && !paused,
      mic: !microphone ? "none" : microphone.muted ? "muted" : "on",
      speaking,
    });
  }

  /** @param {MediaStreamTrack|null} track */
  _setVideo(track) {
    if (track === this.videoTrack) return;
    this.videoTrack = track;
    this.video.srcObject = track ? new MediaStream([track]) : null;
  }

  /** @param {MediaStreamTrack|null} track */
  _setAudio(track) {
    if (track === this.audioTrack) return;
    this.audioTrack = track;
    this.audio.srcObject = track ? new MediaStream([track]) : null;
    if (track) this.playAudio();
  }

  playAudio() {
    if (!this.audio.srcObject) return;
    this.audio.play().catch((err) => {
      if (err && err.name === "NotAllowedError") this.onAudioBlocked();
    });
  }

  remove() {
    this.video.srcObject = null;
    this.audio.srcObject = null;
    this.element.remove();
  }
}
