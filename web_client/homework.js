/** Homework: the note a host posts at closing, shown to everyone with a Copy button. */

import { setLimit, setText } from "./dom.js";
import { isHost } from "./people.js";

/** @typedef {import("./people.js").SessionContext} SessionContext */

/** Shows the homework card and the host's form. */
export class HomeworkView {
  /**
   * @param {SessionContext} ctx
   * @param {(id: string) => any} byId
   */
  constructor(ctx, byId) {
    this.ctx = ctx;
    this.el = {
      card: byId("homework-card"),
      text: byId("homework-text"),
      copy: /** @type {HTMLButtonElement} */ (byId("homework-copy")),
      copyStatus: byId("homework-copy-status"),
      empty: byId("homework-empty"),
      form: byId("homework-form"),
      input: /** @type {HTMLTextAreaElement} */ (byId("homework-input")),
      post: /** @type {HTMLButtonElement} */ (byId("homework-post")),
    };
    /** @type {number|null} */
    this.postedAt = null;
    // The first render after entering shows what is there; only later posts are announced.
    this.seen = false;
    this.el.copy.addEventListener("click", () => this.copy());
    this.el.form.addEventListener("submit", (/** @type {Event} */ event) => {
      event.preventDefault();
      this.post();
    });
  }

  /**
   * Takes the server's limits (section 5.1).
   * @param {Readonly<import("./limits.js").Limits>} limits
   */
  configure(limits) {
    setLimit(this.el.input, "maxlength", limits.max_homework_chars);
  }

  /** @param {any} room the admitted room state */
  render(room) {
    const host = isHost(this.ctx.client());
    const homework = room.homework && typeof room.homework.text === "string" ? room.homework : null;
    const postedAt = homework ? Number(homework.posted_at) || 0 : null;
    if (homework && postedAt !== this.postedAt && this.seen && !host) {
      this.ctx.announce("Homework was posted. You can find it in the Session tab.");
    }
    if (postedAt !== this.postedAt) setText(this.el.copyStatus, "");
    this.postedAt = postedAt;
    this.seen = true;
    this.el.card.hidden = !homework;
    this.el.empty.hidden = !!homework || host;
    setText(this.el.text, homework ? homework.text : "");
    this.el.form.hidden = !host;
    setText(this.el.post, homework ? "Update homework" : "Post homework");
    if (host && homework && !this.el.input.value && document.activeElement !== this.el.input) this.el.input.value = homework.text;
  }

  async post() {
    const text = this.el.input.value.trim();
    if (!text) {
      this.el.input.focus();
      return;
    }
    if (await this.ctx.send((r) => r.homework(text))) this.ctx.announce("Homework posted for the group");
  }

  async copy() {
    const text = this.el.text.textContent || "";
    try {
      if (!navigator.clipboard || !window.isSecureContext) throw new Error("no clipboard");
      await navigator.clipboard.writeText(text);
      setText(this.el.copyStatus, "Copied. You can paste it into your notes.");
    } catch {
      // No clipboard access (permission, insecure page): select the text so the participant can copy it.
      const selection = window.getSelection();
      if (selection) {
        const range = document.createRange();
        range.selectNodeContents(this.el.text);
        selection.removeAllRanges();
        selection.addRange(range);
      }
      this.el.text.focus();
      setText(this.el.copyStatus, "The text is selected: press Ctrl+C (or ⌘+C on a Mac) to copy it.");
    }
  }

  reset() {
    this.postedAt = null;
    this.seen = false;
    this.el.input.value = "";
    setText(this.el.copyStatus, "");
    this.el.card.hidden = true;
  }
}
