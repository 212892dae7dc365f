// @ts-check
/**
 * Tells the server how large each received video is shown (docs/protocol.md 6.5, `tile-sizes`), so that it
 * sends a small tile a small simulcast layer and a large tile the full picture. Sizes are device pixels
 * high; a video whose tile is not shown is 0. Reports are debounced and only sent when they change.
 */

import { SCREEN_TILE } from "./tiles.js";

export const TILE_SIZES_DELAY_MS = 300;

/**
 * @typedef {import("./roster.js").Participant} Participant
 */

/**
 * Maps tile heights by layout id (a participant id, or the shared screen) to heights by video track id.
 * @param {Map<string, number>} heights by layout id, as the tile grid laid them out
 * @param {Iterable<Participant>} participants everyone else in the room
 * @param {string|null} sharer who shares the screen shown on the screen tile
 * @returns {Record<string, number>}
 */
export function heightsByTrack(heights, participants, sharer) {
  /** @type {Record<string, number>} */
  const result = {};
  for (const participant of participants) {
    for (const track of participant.tracks || []) {
      if (track.kind !== "video") continue;
      const layoutId = track.label === "screen" ? (participant.id === sharer ? SCREEN_TILE : null) : participant.id;
      result[track.track_id] = (layoutId !== null && heights.get(layoutId)) || 0;
    }
  }
  return result;
}

/** Sends `tile-sizes` after the layout settles, and only when what it would say changed. */
export class TileSizes {
  /**
   * @param {(heights: Record<string, number>) => Promise<unknown>} send sends the request
   * @param {number} [delayMs]
   */
  constructor(send, delayMs = TILE_SIZES_DELAY_MS) {
    this.send = send;
    this.delayMs = delayMs;
    /** @type {string} what the server was last told */
    this.last = "";
    /** @type {Record<string, number>|null} */
    this.pending = null;
    /** @type {ReturnType<typeof setTimeout>|null} */
    this.timer = null;
  }

  /** @param {Record<string, number>} heights */
  report(heights) {
    this.pending = heights;
    if (this.timer !== null) return;
    this.timer = setTimeout(() => this.flush(), this.delayMs);
  }

  flush() {
    this.timer = null;
    const heights = this.pending;
    this.pending = null;
    if (!heights) return;
    const text = JSON.stringify(Object.entries(heights).sort());
    if (text === this.last) return;
    this.last = text;
    // A refusal changes nothing the member sees: the server keeps sending what it sent.
    this.send(heights).catch(() => { this.last = ""; });
  }

  /** Forgets what the server was told (a new connection has its own state). */
  reset() {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.pending = null;
    this.last = "";
  }
}
