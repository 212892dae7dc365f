/**
 * One's own connection, told calmly (docs/protocol.md 9.12): when the server rates this participant's link
 * weak or poor, one notice says so with one thing that helps — turning the camera off while it is on (video
 * is most of what they send, and the voice is what the group needs), or else moving closer to the Wi-Fi
 * router. It is a notice, not an alarm: the same words for weak and poor, no figures, no sound. Dismissed
 * (or acted on), it stays away while the link stays weak; it is hidden as soon as the link is good again,
 * and a weak spell long after that is told afresh.
 *
 * Only members are told. A host reads everyone's connection on the tiles, and the suggestion is a member's
 * to take: a therapist's picture is what the group keeps its attention on.
 */

import { HOST_ROLES } from "./people.js";

/**
 * @typedef {{participant_id: string, quality: string}} QualityEntry one entry of `link-quality`
 * @typedef {{text: string, action: "camera-off"|null}} LinkNoticeView what the notice shows
 */

const WEAK = new Set(["weak", "poor"]);
// A link must have been good this long before a dismissed notice may come back: a link wavering between good
// and weak every report would otherwise bring back the notice the member just closed.
export const FORGET_DISMISSAL_MS = 60000;

/**
 * What the notice says for one's own link, or null when there is nothing to tell.
 * @param {QualityEntry|undefined} entry
 * @param {boolean} cameraOn whether this participant's camera is on (only then is turning it off a suggestion)
 * @returns {LinkNoticeView|null}
 */
export function describeOwnLink(entry, cameraOn) {
  if (!entry || !WEAK.has(entry.quality)) return null;
  return cameraOn
    ? { text: "Your connection is weak. Turning your camera off keeps your voice clear.", action: "camera-off" }
    : { text: "Your connection is weak. Moving closer to your Wi-Fi router may help.", action: null };
}

/**
 * Finds a member's own entry in a `link-quality` event (theirs is the only one they get); none for a host.
 * @param {unknown} participants the event's `participants`
 * @param {{id: string, role: string}|null} self who this client is
 * @returns {QualityEntry|undefined}
 */
export function ownEntry(participants, self) {
  if (!Array.isArray(participants) || !self || HOST_ROLES.has(self.role)) return undefined;
  return participants.find((e) => e && e.participant_id === self.id && typeof e.quality === "string");
}

/** When the notice shows: the reports as they come, and the member's dismissal. Pure; time is passed in. */
export class OwnLinkState {
  constructor() {
    this.dismissed = false;
    /** @type {number|null} when the link was first reported good since it was last weak */
    this.goodSince = null;
    /** @type {QualityEntry|undefined} */
    this.entry = undefined;
  }

  /**
   * Takes one's own latest entry (undefined: none in this report).
   * @param {QualityEntry|undefined} entry
   * @param {number} now ms
   */
  report(entry, now) {
    this.entry = entry;
    const quality = entry ? entry.quality : "unknown";
    if (quality === "good") {
      if (this.goodSince === null) this.goodSince = now;
    } else if (WEAK.has(quality)) {
      if (this.goodSince !== null && now - this.goodSince >= FORGET_DISMISSAL_MS) this.dismissed = false;
      this.goodSince = null;
    }
  }

  /**
   * What to show now, or null.
   * @param {boolean} cameraOn
   * @returns {LinkNoticeView|null}
   */
  view(cameraOn) {
    return this.dismissed ? null : describeOwnLink(this.entry, cameraOn);
  }

  dismiss() {
    this.dismissed = true;
  }

  reset() {
    this.dismissed = false;
    this.goodSince = null;
    this.entry = undefined;
  }
}

/**
 * The notice in the page: #link-notice with its text, its one action and Dismiss.
 */
export class LinkNotice {
  /**
   * @param {(id: string) => HTMLElement} byId
   * @param {{cameraOn: () => boolean, turnCameraOff: () => void, now?: () => number}} hooks
   */
  constructor(byId, hooks) {
    this.hooks = hooks;
    this.state = new OwnLinkState();
    this.element = byId("link-notice");
    this.text = byId("link-notice-text");
    this.action = /** @type {HTMLButtonElement} */ (byId("link-notice-action"));
    byId("link-notice-dismiss").addEventListener("click", () => this.dismiss());
    this.action.addEventListener("click", () => {
      this.hooks.turnCameraOff();
      this.dismiss(); // acted on: the suggestion is not made again for this weak spell
    });
  }

  /**
   * Takes a `link-quality` event.
   * @param {{participants?: unknown}} message
   * @param {{id: string, role: string}|null} self who this client is (a member made co-host is told no more)
   */
  onLinkQuality(message, self) {
    const now = this.hooks.now ? this.hooks.now() : Date.now();
    this.state.report(ownEntry(message.participants, self), now);
    this.render();
  }

  dismiss() {
    this.state.dismiss();
    this.render();
  }

  /** Leaving the room: nothing of this link is kept for the next one. */
  reset() {
    this.state.reset();
    this.render();
  }

  render() {
    const view = this.state.view(this.hooks.cameraOn());
    this.element.hidden = !view;
    if (!view) return;
    if (this.text.textContent !== view.text) this.text.textContent = view.text;
    this.action.hidden = view.action !== "camera-off";
  }
}
