/** Session chat: the message list (text only, never HTML), the recipient picker and the composer. */

import { h, setLimit, setText, syncList } from "./dom.js";
import { isHost, nameOf } from "./people.js";
import { ROLES } from "./constants.js";

/**
 * @typedef {import("./people.js").SessionContext} SessionContext
 * @typedef {{id: string, from: {id: string, name: string}, to: string, text: string, ts: number}} ChatMessage
 */

const MAX_SHOWN = 200;
const COUNTER_FROM = 100;

/** The chat panel. */
export class ChatView {
  /**
   * @param {SessionContext} ctx
   * @param {(id: string) => any} byId
   * @param {{isVisible: () => boolean, onUnread: (count: number) => void}} panel
   */
  constructor(ctx, byId, panel) {
    this.ctx = ctx;
    this.panel = panel;
    this.el = {
      disabled: byId("chat-disabled"),
      messages: byId("chat-messages"),
      empty: byId("chat-empty"),
      form: byId("chat-form"),
      recipient: /** @type {HTMLSelectElement} */ (byId("chat-recipient")),
      input: /** @type {HTMLTextAreaElement} */ (byId("chat-input")),
      hint: byId("chat-hint"),
      error: byId("chat-error"),
      send: /** @type {HTMLButtonElement} */ (byId("chat-send")),
    };
    this.unread = 0;
    /** @type {number|undefined} the server's `limits.max_chat_chars` */
    this.maxChars = undefined;
    this.sending = false;
    /** @type {Set<string>} */
    this.shown = new Set();

    this.el.form.addEventListener("submit", (/** @type {Event} */ event) => {
      event.preventDefault();
      this.send();
    });
    this.el.input.addEventListener("keydown", (/** @type {KeyboardEvent} */ event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        this.send();
      }
    });
    this.el.input.addEventListener("input", () => this.updateCounter());
  }

  /** Shows the history a participant gets on admission (the join or `admitted` result). */
  load() {
    const client = this.ctx.client();
    this.el.messages.replaceChildren();
    this.shown.clear();
    this.maxChars = client ? client.limits.max_chat_chars : undefined;
    setLimit(this.el.input, "maxlength", this.maxChars);
    for (const message of client ? client.chat : []) this.append(message);
    this.el.empty.hidden = this.shown.size > 0;
    this.scrollToEnd();
    this.updateCounter();
  }

  /**
   * Adds a message that arrived during the session.
   * @param {ChatMessage} message
   */
  add(message) {
    if (!this.append(message)) return;
    this.el.empty.hidden = true;
    const client = this.ctx.client();
    const own = !!client && !!client.self && message.from && message.from.id === client.self.id;
    if (!own && !this.panel.isVisible()) {
      this.unread++;
      this.panel.onUnread(this.unread);
      this.ctx.announce(`New message from ${message.from && message.from.name ? message.from.name : "someone"}`);
    }
    this.scrollToEnd();
  }

  /**
   * @param {ChatMessage} message
   * @returns {boolean} whether it was new
   */
  append(message) {
    if (!message || typeof message.text !== "string" || this.shown.has(String(message.id))) return false;
    this.shown.add(String(message.id));
    this.el.messages.append(this.renderMessage(message));
    while (this.el.messages.children.length > MAX_SHOWN) {
      const first = /** @type {HTMLElement} */ (this.el.messages.firstElementChild);
      this.shown.delete(first.dataset.messageId || "");
      first.remove();
    }
    return true;
  }

  /**
   * @param {ChatMessage} message
   * @returns {HTMLElement}
   */
  renderMessage(message) {
    const client = this.ctx.client();
    const selfId = client && client.self ? client.self.id : null;
    const from = message.from || { id: "", name: "" };
    const own = from.id === selfId;
    const sender = own ? "You" : from.name || "A participant";
    let privateTo = "";
    if (message.to === "hosts") privateTo = "private to the hosts";
    else if (message.to && message.to !== "room") {
      privateTo = message.to === selfId ? "private to you" : `private to ${nameOf(client, message.to)}`;
    }
    const date = new Date(Number(message.ts) || Date.now());
    return h("li", {
      className: `chat-message${own ? " is-own" : ""}${privateTo ? " is-private" : ""}`,
      dataset: { testid: "chat-message", messageId: String(message.id), sender: from.name || "" },
    },
    h("p", { className: "chat-meta" },
      h("span", { className: "chat-sender" }, sender),
      " ",
      h("time", { datetime: date.toISOString() },
        date.toLocaleTimeString([], { hour: "numeric", minute: "2-digit" })),
      privateTo ? h("span", { className: "chat-private", dataset: { testid: "chat-private" } }, privateTo) : null),
    h("p", { className: "chat-text", dataset: { testid: "chat-text" } }, message.text));
  }

  /** @param {any} room the admitted room state */
  render(room) {
    const client = this.ctx.client();
    const host = isHost(client);
    const enabled = !!room.chat_enabled || host;
    this.el.disabled.hidden = !!room.chat_enabled;
    setText(this.el.disabled, host
      ? "Chat is turned off for participants. Hosts can still write."
      : "The host has turned chat off. You can still read earlier messages.");
    this.el.disabled.dataset.state = room.chat_enabled ? "on" : "off";
    this.el.input.disabled = !enabled;
    this.el.send.disabled = !enabled || this.sending;
    this.el.recipient.disabled = !enabled;
    this.renderRecipients(host, !!room.private_chat);
  }

  /**
   * @param {boolean} host
   * @param {boolean} privateChat
   */
  renderRecipients(host, privateChat) {
    const client = this.ctx.client();
    const people = client ? [...client.participants.values()] : [];
    const allowed = people.filter((p) => host || privateChat || p.role === ROLES.HOST || p.role === ROLES.COHOST);
    const options = [
      { value: "room", label: "Everyone" },
      { value: "hosts", label: host ? "Hosts only (private)" : "Hosts privately" },
      ...allowed.map((p) => ({ value: p.id, label: `${p.name || "A participant"} (private)` })),
    ];
    const previous = this.el.recipient.value || "room";
    syncList(this.el.recipient, options, (o) => o.value,
      (o) => /** @type {HTMLElement} */ (new Option(o.label, o.value)),
      (element, o) => setText(element, o.label));
    if (options.some((o) => o.value === previous)) {
      this.el.recipient.value = previous;
    } else {
      this.el.recipient.value = "room";
      if (previous !== "room") this.showError("The person you were writing to is no longer available; messages now go to everyone.");
    }
  }

  updateCounter() {
    const left = this.maxChars === undefined ? Infinity : this.maxChars - this.el.input.value.length;
    setText(this.el.hint, left <= COUNTER_FROM
      ? `${left} characters left.`
      : "Enter sends, Shift+Enter starts a new line. Chat is deleted when the session ends.");
  }

  async send() {
    const client = this.ctx.client();
    const text = this.el.input.value.trim();
    if (!client || !text || this.sending || this.el.input.disabled) return;
    this.sending = true;
    this.el.send.disabled = true;
    this.el.error.hidden = true;
    try {
      await client.requests.chat(this.el.recipient.value || "room", text);
      if (client === this.ctx.client()) {
        this.el.input.value = "";
        this.updateCounter();
      }
    } catch (err) {
      this.showError(chatErrorText(err));
    } finally {
      this.sending = false;
      this.el.send.disabled = this.el.input.disabled;
    }
  }

  /** @param {string} text */
  showError(text) {
    this.el.error.textContent = text;
    this.el.error.hidden = false;
  }

  /** Marks everything as read (the chat tab was opened). */
  markRead() {
    this.unread = 0;
    this.panel.onUnread(0);
  }

  scrollToEnd() {
    const list = this.el.messages;
    list.scrollTop = list.scrollHeight;
  }

  reset() {
    this.el.messages.replaceChildren();
    this.shown.clear();
    this.el.error.hidden = true;
    this.el.empty.hidden = false;
    this.markRead();
  }
}

/** @param {any} err */
function chatErrorText(err) {
  switch (err && err.code) {
    case "chat-disabled": return "The host has turned chat off.";
    case "not-permitted": return "You can't send a private message to that person. Try writing to everyone or to the hosts.";
    case "unknown-participant": return "That person is no longer in the session.";
    case "bad-request": return "The message is empty or too long.";
    case "disconnected":
    case "timeout": return "The message was not sent: the connection was interrupted. Please try again.";
    default: return "The message could not be sent. Please try again.";
  }
}
