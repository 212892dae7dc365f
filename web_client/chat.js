/**
 * Session chat: the message list (text only, never HTML), private conversations, the hosts' notice of a
 * private message, the recipient picker and the composer. After reading a private message the reply goes back
 * into that private conversation; nothing ever switches the picker to "Everyone" by itself.
 */

import { h, setLimit, setText, syncList } from "./dom.js";
import { HOST_ROLES, isHost, nameOf } from "./people.js";
import { ROLES } from "./constants.js";
import { HOSTS, ROOM, conversationOf, needsHostNotice } from "./conversations.js";

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
   * @param {{isVisible: () => boolean, onUnread: (count: number) => void, open: () => void}} panel
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
      conversation: byId("chat-conversation"),
      conversationTitle: byId("chat-conversation-title"),
      conversationBack: /** @type {HTMLButtonElement} */ (byId("chat-conversation-back")),
      toLine: byId("chat-to-line"),
      notice: byId("private-notice"),
      noticeText: byId("private-notice-text"),
      noticeOpen: /** @type {HTMLButtonElement} */ (byId("private-notice-open")),
      noticeDismiss: /** @type {HTMLButtonElement} */ (byId("private-notice-dismiss")),
    };
    this.unread = 0;
    /** @type {number|undefined} the server's `limits.max_chat_chars` */
    this.maxChars = undefined;
    this.sending = false;
    /** @type {Map<string, ChatMessage>} the messages in the list, by id */
    this.shown = new Map();
    /** @type {string|null} the private conversation on view (null: every message) */
    this.conversation = null;
    /** @type {string|null} the private conversation of the latest unread private message */
    this.unreadPrivate = null;
    /** @type {string[]} members whose private messages a host has not opened yet, oldest first */
    this.pendingNotice = [];

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
    this.el.recipient.addEventListener("change", () => this.renderToLine());
    this.el.conversationBack.addEventListener("click", () => this.showConversation(null));
    this.el.noticeOpen.addEventListener("click", () => {
      const latest = this.pendingNotice[this.pendingNotice.length - 1];
      if (latest) this.openConversation(latest);
    });
    this.el.noticeDismiss.addEventListener("click", () => this.clearNotice());
  }

  /** @returns {import("./conversations.js").Viewer} */
  viewer() {
    const client = this.ctx.client();
    const selfId = client && client.self ? client.self.id : "";
    return {
      selfId,
      selfIsHost: isHost(client),
      isHostId: (id) => {
        if (!client || !id) return false;
        if (client.self && client.self.id === id) return isHost(client);
        const participant = client.participants.get(id);
        return !!participant && HOST_ROLES.has(participant.role);
      },
    };
  }

  /** Shows the history a participant gets on admission (the join or `admitted` result). */
  load() {
    const client = this.ctx.client();
    this.el.messages.replaceChildren();
    this.shown.clear();
    this.conversation = null;
    this.renderConversation();
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
    const viewer = this.viewer();
    const own = !!message.from && message.from.id === viewer.selfId;
    const conversation = conversationOf(message, viewer);
    if (!own && !this.panel.isVisible()) {
      this.unread++;
      this.panel.onUnread(this.unread);
      if (conversation) this.unreadPrivate = conversation;
      const from = message.from && message.from.name ? message.from.name : "someone";
      this.ctx.announce(conversation ? `New private message from ${from}` : `New message from ${from}`);
      if (needsHostNotice(message, viewer)) this.raiseNotice(message.from.id);
    } else if (!own && conversation) {
      // Read as it arrives: answering goes back into the same private conversation.
      this.setRecipient(conversation);
    }
    this.scrollToEnd();
  }

  /**
   * Tells a host, outside the chat tab, that a member wrote to them privately (the text stays in the chat).
   * @param {string} memberId
   */
  raiseNotice(memberId) {
    this.pendingNotice = [...this.pendingNotice.filter((id) => id !== memberId), memberId];
    const client = this.ctx.client();
    const names = this.pendingNotice.map((id) => nameOf(client, id));
    const text = names.length === 1
      ? `${names[0]} sent you a private message.`
      : `Private messages from ${names.slice(0, -1).join(", ")} and ${names[names.length - 1]}.`;
    setText(this.el.noticeText, text);
    setText(this.el.noticeOpen, names.length === 1 ? "Read and reply" : `Read ${names[names.length - 1]}'s message`);
    this.el.notice.hidden = false;
  }

  clearNotice() {
    this.pendingNotice = [];
    this.el.notice.hidden = true;
  }

  /**
   * Opens the chat on one private conversation, with the reply going to it.
   * @param {string} conversation
   */
  openConversation(conversation) {
    this.pendingNotice = this.pendingNotice.filter((id) => id !== conversation);
    if (this.pendingNotice.length === 0) this.clearNotice();
    else this.raiseNotice(this.pendingNotice[this.pendingNotice.length - 1]);
    this.panel.open();
    this.showConversation(conversation);
    this.el.input.focus();
  }

  /**
   * Shows one private conversation (or, with null, every message); the reply picker follows it.
   * @param {string|null} conversation
   */
  showConversation(conversation) {
    this.conversation = conversation;
    if (conversation) this.setRecipient(conversation);
    this.renderConversation();
    this.scrollToEnd();
  }

  renderConversation() {
    const conversation = this.conversation;
    const viewer = this.viewer();
    for (const item of this.el.messages.children) {
      const message = this.shown.get(/** @type {HTMLElement} */ (item).dataset.messageId || "");
      /** @type {HTMLElement} */ (item).hidden = !!conversation && !!message && conversationOf(message, viewer) !== conversation;
    }
    this.el.conversation.hidden = !conversation;
    this.el.messages.dataset.conversation = String(!!conversation);
    if (conversation) setText(this.el.conversationTitle, `Private with ${this.partnerName(conversation)}`);
  }

  /** @param {string} conversation */
  partnerName(conversation) {
    if (conversation === HOSTS) return "the hosts";
    return nameOf(this.ctx.client(), conversation);
  }

  /**
   * Points the reply at a private conversation, if the picker offers it.
   * @param {string} to
   */
  setRecipient(to) {
    if ([...this.el.recipient.options].some((o) => o.value === to)) this.el.recipient.value = to;
    this.renderToLine();
  }

  /** Says in words where the next message goes, so that a private answer never goes to the group unnoticed. */
  renderToLine() {
    const to = this.el.recipient.value || ROOM;
    this.el.form.dataset.private = String(to !== ROOM);
    const viewer = this.viewer();
    let text = "Everyone in this room sees it.";
    if (to === HOSTS) text = "Private: only the hosts see it.";
    else if (to !== ROOM) text = `Private: only ${this.partnerName(to)}${viewer.selfIsHost ? " and the hosts" : ""} see it.`;
    setText(this.el.toLine, text);
  }

  /**
   * @param {ChatMessage} message
   * @returns {boolean} whether it was new
   */
  append(message) {
    if (!message || typeof message.text !== "string" || this.shown.has(String(message.id))) return false;
    this.shown.set(String(message.id), message);
    const item = this.renderMessage(message);
    if (this.conversation) item.hidden = conversationOf(message, this.viewer()) !== this.conversation;
    this.el.messages.append(item);
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
    h("p", { className: "chat-text", dataset: { testid: "chat-text" } }, message.text),
    this.replyButton(message, own));
  }

  /**
   * A "Reply privately" button under someone else's private message, which opens that conversation.
   * @param {ChatMessage} message
   * @param {boolean} own
   */
  replyButton(message, own) {
    const conversation = own ? null : conversationOf(message, this.viewer());
    if (!conversation) return null;
    return h("button", {
      type: "button", className: "link-button chat-reply", dataset: { testid: "chat-reply-private" },
      onclick: () => this.openConversation(conversation),
    }, "Reply privately");
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
    const previous = this.el.recipient.value || ROOM;
    syncList(this.el.recipient, options, (o) => o.value,
      (o) => /** @type {HTMLElement} */ (new Option(o.label, o.value)),
      (element, o) => setText(element, o.label));
    if (options.some((o) => o.value === previous)) {
      this.el.recipient.value = previous;
    } else {
      // A private conversation whose partner left falls back to the hosts, never to the whole group.
      this.el.recipient.value = HOSTS;
      this.showError("The person you were writing to is no longer in the session; messages now go to the hosts privately.");
    }
    if (this.conversation) this.renderConversation();
    this.renderToLine();
  }

  updateCounter() {
    const left = this.maxChars === undefined ? Infinity : this.maxChars - this.el.input.value.length;
    this.el.hint.dataset.counting = String(left <= COUNTER_FROM);
    setText(this.el.hint, left <= COUNTER_FROM
      ? `${left} characters left.`
      : "Enter sends, Shift+Enter starts a new line.");
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
    // Reading a private message: the reply goes back to the same private conversation.
    if (this.unreadPrivate) this.setRecipient(this.unreadPrivate);
    this.unreadPrivate = null;
  }

  scrollToEnd() {
    const list = this.el.messages;
    list.scrollTop = list.scrollHeight;
  }

  reset() {
    this.el.messages.replaceChildren();
    this.shown.clear();
    this.conversation = null;
    this.renderConversation();
    this.clearNotice();
    this.unreadPrivate = null;
    this.el.recipient.value = ROOM;
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
