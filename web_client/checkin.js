/** The check-in round: the talking order for everyone, "Pass" for the speaker, private mood ratings, host controls. */

import { h, setText, syncList } from "./dom.js";
import { isHost, nameOf } from "./people.js";

/**
 * @typedef {import("./people.js").SessionContext} SessionContext
 * @typedef {{order: string[], current: string|null, done: string[], passed: string[]}} Checkin
 */

const MOOD_WORDS = /** @type {Record<number, string>} */ ({ 1: "very low", 5: "okay", 10: "very good" });

/**
 * Reads the check-in round from the room state, or null when none runs.
 * @param {any} room
 * @returns {Checkin|null}
 */
export function checkinOf(room) {
  const checkin = room && room.checkin;
  if (!checkin || !Array.isArray(checkin.order)) return null;
  return {
    order: checkin.order.filter((/** @type {any} */ id) => typeof id === "string"),
    current: typeof checkin.current === "string" ? checkin.current : null,
    done: Array.isArray(checkin.done) ? checkin.done : [],
    passed: Array.isArray(checkin.passed) ? checkin.passed : [],
  };
}

/** Shows the round and its controls; keeps the mood ratings hosts received. */
export class CheckinView {
  /**
   * @param {SessionContext} ctx
   * @param {(id: string) => any} byId
   */
  constructor(ctx, byId) {
    this.ctx = ctx;
    this.el = {
      section: byId("checkin-section"),
      status: byId("checkin-status"),
      order: byId("checkin-order"),
      pass: /** @type {HTMLButtonElement} */ (byId("checkin-pass")),
      moodForm: byId("mood-form"),
      moodSelect: /** @type {HTMLSelectElement} */ (byId("mood-select")),
      moodHint: byId("mood-hint"),
      host: byId("checkin-host"),
      running: byId("checkin-running-controls"),
      startControls: byId("checkin-start-controls"),
      random: /** @type {HTMLInputElement} */ (byId("checkin-random")),
      start: /** @type {HTMLButtonElement} */ (byId("checkin-start")),
      next: /** @type {HTMLButtonElement} */ (byId("checkin-next")),
      end: /** @type {HTMLButtonElement} */ (byId("checkin-end")),
      results: byId("mood-results"),
      resultsList: byId("mood-results-list"),
      textForm: byId("checkin-text-form"),
      textInput: /** @type {HTMLTextAreaElement} */ (byId("checkin-text-input")),
      textHint: byId("checkin-text-hint"),
    };
    /** @type {Map<string, string>} check-ins typed into this round, as far as we may read them (never stored) */
    this.texts = new Map();
    /** @type {Map<string, number>} ratings received this round (hosts only; never stored) */
    this.moods = new Map();
    /** @type {Checkin|null} */
    this.checkin = null;
    /** @type {any} */
    this.room = null;
    this.myTurnAnnounced = false;
    /** @type {number|null} */
    this.sentRating = null;

    this.el.moodSelect.append(new Option("Choose a number…", ""));
    for (let rating = 1; rating <= 10; rating++) {
      const word = MOOD_WORDS[rating];
      this.el.moodSelect.append(new Option(word ? `${rating} — ${word}` : String(rating), String(rating)));
    }
    this.el.pass.addEventListener("click", () => this.ctx.send((r) => r.checkinPass()));
    this.el.moodForm.addEventListener("submit", (/** @type {Event} */ event) => {
      event.preventDefault();
      this.sendMood();
    });
    this.el.textForm.addEventListener("submit", async (/** @type {Event} */ event) => {
      event.preventDefault();
      const text = this.el.textInput.value.trim();
      if (!text) return;
      if (await this.ctx.send((r) => r.checkinText(text))) this.el.textInput.value = "";
    });
    this.el.start.addEventListener("click", () => this.ctx.send((r) => r.checkinStart({ random: this.el.random.checked })));
    this.el.next.addEventListener("click", () => this.ctx.send((r) => r.checkinNext()));
    this.el.end.addEventListener("click", () => this.ctx.send((r) => r.checkinEnd()));
  }

  /** @param {any} room the admitted room state */
  render(room) {
    this.room = room;
    const client = this.ctx.client();
    const host = isHost(client);
    const checkin = checkinOf(room);
    const selfId = client && client.self ? client.self.id : null;
    if (checkin && !this.checkin) {
      // A new round: ratings and typed check-ins of an earlier one no longer apply.
      this.moods.clear();
      this.texts.clear();
      this.sentRating = null;
      this.el.moodSelect.value = "";
      this.resetMoodHint();
    }
    this.checkin = checkin;
    this.el.section.hidden = !checkin && !host;

    if (checkin) {
      const current = checkin.current;
      setText(this.el.status, current === null
        ? "Everyone has had a turn."
        : current === selfId ? "It's your turn to check in. You can also pass." : `It's ${nameOf(client, current)}'s turn to check in.`);
    } else {
      setText(this.el.status, "Start a round to give each participant a turn to check in.");
    }
    this.renderOrder(checkin, host, selfId);

    const myTurn = !!checkin && checkin.current !== null && checkin.current === selfId;
    this.el.pass.hidden = !myTurn;
    if (myTurn && !this.myTurnAnnounced) this.ctx.announce("It's your turn to check in. You can also pass.");
    this.myTurnAnnounced = myTurn;
    this.el.moodForm.hidden = !checkin || host;
    this.el.textForm.hidden = !myTurn;
    setText(this.el.textHint, room.checkin_text_visible
      ? "Everyone in the group reads it, as if you had said it. It is not saved."
      : "Only the hosts read it. It is not saved.");

    this.el.host.hidden = !host;
    this.el.running.hidden = !checkin;
    this.el.startControls.hidden = !!checkin;
    this.el.next.disabled = !checkin || checkin.current === null;
    const lastSpeaker = !!checkin && checkin.current !== null && checkin.order.indexOf(checkin.current) === checkin.order.length - 1;
    this.el.next.textContent = lastSpeaker ? "Finish the round" : "Next speaker";
    this.renderResults(host && !checkin);
  }

  /**
   * @param {Checkin|null} checkin
   * @param {boolean} host
   * @param {string|null} selfId
   */
  renderOrder(checkin, host, selfId) {
    const client = this.ctx.client();
    const order = checkin ? checkin.order : [];
    syncList(this.el.order, order, (id) => id, () => h("li", { dataset: { testid: "checkin-person" } },
      h("span", { className: "person-name" }),
      h("span", { className: "person-state" }),
      h("span", { className: "mood-rating", dataset: { testid: "checkin-mood-rating" }, hidden: true }),
      h("p", { className: "checkin-typed", dataset: { testid: "checkin-typed" }, hidden: true })), (element, id) => {
      const current = !!checkin && checkin.current === id;
      const state = !checkin ? "" : current ? "Their turn"
        : checkin.passed.includes(id) ? "Passed" : checkin.done.includes(id) ? "Done" : "";
      element.classList.toggle("is-current", current);
      element.classList.toggle("is-finished", state === "Passed" || state === "Done");
      if (current) element.setAttribute("aria-current", "true");
      else element.removeAttribute("aria-current");
      element.dataset.participantId = id;
      const name = nameOf(client, id);
      element.dataset.participantName = id === selfId && client && client.self ? client.self.name : name;
      setText(/** @type {Element} */ (element.querySelector(".person-name")), name);
      setText(/** @type {Element} */ (element.querySelector(".person-state")), state);
      const mood = /** @type {HTMLElement} */ (element.querySelector(".mood-rating"));
      const rating = host ? this.moods.get(id) : undefined;
      mood.hidden = rating === undefined;
      setText(mood, rating === undefined ? "" : `Mood ${rating}/10`);
      const typed = /** @type {HTMLElement} */ (element.querySelector(".checkin-typed"));
      const text = this.texts.get(id);
      typed.hidden = text === undefined;
      setText(typed, text || "");
    });
  }

  /** @param {boolean} show */
  renderResults(show) {
    const client = this.ctx.client();
    const entries = show ? [...this.moods.entries()] : [];
    this.el.results.hidden = entries.length === 0;
    syncList(this.el.resultsList, entries, ([id]) => id, () => h("li", {},
      h("span", { className: "person-name" }), h("span", { className: "mood-rating" })), (element, [id, rating]) => {
      setText(/** @type {Element} */ (element.querySelector(".person-name")), nameOf(client, id));
      setText(/** @type {Element} */ (element.querySelector(".mood-rating")), `Mood ${rating}/10`);
    });
  }

  /**
   * Records a rating a participant sent (hosts receive `checkin-mood`).
   * @param {any} message
   */
  onMood(message) {
    if (!isHost(this.ctx.client()) || typeof message.participant_id !== "string") return;
    const rating = Number(message.rating);
    if (!Number.isInteger(rating) || rating < 1 || rating > 10) return;
    this.moods.set(message.participant_id, rating);
    if (this.room) this.render(this.room);
  }

  /**
   * Shows a check-in typed into the round (the speaker's own, and for hosts or when allowed everyone's).
   * @param {any} message the `checkin-text` event
   */
  onText(message) {
    if (typeof message.participant_id !== "string" || typeof message.text !== "string") return;
    this.texts.set(message.participant_id, message.text);
    if (this.room) this.render(this.room);
  }

  async sendMood() {
    const rating = Number(this.el.moodSelect.value);
    if (!rating) {
      setText(this.el.moodHint, "Choose a number from 1 to 10 first. Only your therapist sees it.");
      this.el.moodSelect.focus();
      return;
    }
    if (await this.ctx.send((r) => r.checkinMood(rating))) {
      this.sentRating = rating;
      setText(this.el.moodHint, `Sent privately: ${rating} out of 10. Only your therapist sees it; you can change it.`);
    }
  }

  resetMoodHint() {
    setText(this.el.moodHint, "Only your therapist sees this rating. It is not shown to the group and is not saved.");
  }

  reset() {
    this.checkin = null;
    this.room = null;
    this.moods.clear();
    this.texts.clear();
    this.myTurnAnnounced = false;
    this.el.order.replaceChildren();
    this.el.resultsList.replaceChildren();
    this.el.section.hidden = true;
  }
}
