/**
 * Host continuity in the room (docs/protocol.md 9.10): a host's Leave asks whether to step out (a co-host
 * takes over, or the session pauses) or to end the session for everyone; members see a calm notice while no
 * host is present; a returning host is told how long the group was alone and when it would have closed.
 */

import { setText, syncList } from "./dom.js";
import { HOST_ROLES, admittedRoom, isHost } from "./people.js";
import { ROLES } from "./constants.js";

/**
 * @typedef {import("./people.js").SessionContext} SessionContext
 * @typedef {{since: number, reason: string, ends_at: number, media_paused: boolean}} HostAway
 */

/**
 * Words a time of day ("10:50 AM").
 * @param {number} ms since epoch
 */
export function clockTime(ms) {
  return new Date(ms).toLocaleTimeString([], { hour: "numeric", minute: "2-digit" });
}

/**
 * Words a duration in whole minutes, at least "less than a minute".
 * @param {number} ms
 */
export function minutesText(ms) {
  const minutes = Math.floor(ms / 60000);
  if (minutes < 1) return "less than a minute";
  return minutes === 1 ? "1 minute" : `${minutes} minutes`;
}

/**
 * What members are told while no host is present: calm, what happens now, and what happens next.
 * @param {HostAway} away
 * @returns {{title: string, text: string}}
 */
export function describeHostAway(away) {
  const title = away.reason === "disconnected"
    ? "Your therapist's connection dropped. They will probably be back in a moment."
    : "Your therapist has stepped out for a moment.";
  const now = away.media_paused
    ? "The session is paused: video and sound are off until a host is back. Please stay here."
    : "You can keep talking with each other until a host is back.";
  return { title, text: `${now} If no host is back by ${clockTime(away.ends_at)}, the session will close.` };
}

/**
 * What a returning host is told about the time the group spent without a host.
 * @param {{since: number, returned_at: number, ends_at: number, media_paused: boolean}} absence
 */
export function describeAbsence(absence) {
  const alone = minutesText(absence.returned_at - absence.since);
  const media = absence.media_paused
    ? "Members were told you stepped out, and their video and sound were paused until now."
    : "Members were told you stepped out and could keep talking with each other.";
  return `No host was here for ${alone} (since ${clockTime(absence.since)}). ${media} Had no host come back by ` +
    `${clockTime(absence.ends_at)}, the session would have closed for everyone.`;
}

/** The host's Leave dialog and the notices about hosts being away. */
export class HostContinuityView {
  /**
   * @param {SessionContext} ctx
   * @param {(id: string) => any} byId
   * @param {{leave: (options: {keepResume: boolean, steppedOut: boolean}) => Promise<void>}} app
   */
  constructor(ctx, byId, app) {
    this.ctx = ctx;
    this.app = app;
    this.el = {
      dialog: /** @type {HTMLDialogElement} */ (byId("leave-dialog")),
      text: byId("leave-dialog-text"),
      alone: byId("leave-alone"),
      handover: /** @type {HTMLSelectElement} */ (byId("leave-handover")),
      allowMedia: /** @type {HTMLInputElement} */ (byId("leave-allow-media")),
      confirm: /** @type {HTMLButtonElement} */ (byId("leave-confirm")),
      end: /** @type {HTMLButtonElement} */ (byId("leave-end")),
      cancel: /** @type {HTMLButtonElement} */ (byId("leave-cancel")),
      away: byId("host-away"),
      awayTitle: byId("host-away-title"),
      awayText: byId("host-away-text"),
    };
    this.el.cancel.addEventListener("click", () => this.el.dialog.close());
    this.el.confirm.addEventListener("click", () => this.stepOut());
    this.el.end.addEventListener("click", async () => {
      this.el.end.disabled = true;
      await this.ctx.send((r) => r.endSession());
      this.el.end.disabled = false;
      if (this.el.dialog.open) this.el.dialog.close();
    });
  }

  /**
   * Asks a host how to leave; returns false for anyone else (who just leaves).
   * @returns {boolean} whether the dialog took over
   */
  askHost() {
    const client = this.ctx.client();
    const room = admittedRoom(client);
    if (!client || !room || !isHost(client)) return false;
    const others = [...client.participants.values()];
    const hosts = others.filter((p) => HOST_ROLES.has(p.role));
    const members = others.filter((p) => !HOST_ROLES.has(p.role));
    const alone = hosts.length === 0;
    this.el.alone.hidden = !alone;
    if (alone) {
      setText(this.el.text, "No other host is here. If you step out, members are told at once and the session waits " +
        "for you. You can hand the session to a co-host first.");
      syncList(this.el.handover, [{ id: "", name: "No one: the session waits for me" }, ...members], (p) => p.id,
        (p) => /** @type {HTMLElement} */ (new Option(p.name, p.id)),
        (element, p) => setText(element, p.id ? `${p.name || "A participant"} becomes co-host` : p.name));
      this.el.handover.value = "";
      this.el.allowMedia.checked = !!room.members_media_without_host;
      setText(this.el.confirm, "Step out");
    } else {
      const names = hosts.map((p) => p.name || "A co-host").join(", ");
      setText(this.el.text, `${names} ${hosts.length === 1 ? "keeps" : "keep"} running the session while you are away.`);
      setText(this.el.confirm, "Leave");
    }
    this.el.dialog.showModal();
    this.el.cancel.focus();
    return true;
  }

  async stepOut() {
    const client = this.ctx.client();
    const room = admittedRoom(client);
    if (!client || !room) return;
    this.el.confirm.disabled = true;
    const alone = !this.el.alone.hidden;
    let handedOver = false;
    if (alone) {
      const cohost = this.el.handover.value;
      if (cohost) handedOver = await this.ctx.send((r) => r.setRole(cohost, ROLES.COHOST));
      const allow = this.el.allowMedia.checked;
      if (!handedOver && allow !== !!room.members_media_without_host) {
        await this.ctx.send((r) => r.setRoom({ members_media_without_host: allow }));
      }
    }
    this.el.confirm.disabled = false;
    if (this.el.dialog.open) this.el.dialog.close();
    // Stepping out alone keeps the resume credential: the host takes back their place with the same link.
    await this.app.leave({ keepResume: true, steppedOut: alone && !handedOver });
  }

  /** Shows or clears the members' notice from the room state. */
  render() {
    const room = admittedRoom(this.ctx.client());
    /** @type {HostAway|null} */
    const away = room && room.host_away && typeof room.host_away === "object" ? room.host_away : null;
    this.el.away.hidden = !away;
    if (!away) return;
    const { title, text } = describeHostAway(away);
    if (this.el.awayTitle.textContent !== title) this.ctx.announce(title);
    setText(this.el.awayTitle, title);
    setText(this.el.awayText, text);
    this.el.away.dataset.reason = away.reason;
  }

  /** @param {any} absence the join result's `host_absence` */
  onAbsence(absence) {
    if (typeof absence.since !== "number" || typeof absence.returned_at !== "number") return;
    this.ctx.notice(describeAbsence(absence));
  }

  reset() {
    this.el.away.hidden = true;
    if (this.el.dialog.open) this.el.dialog.close();
  }
}
