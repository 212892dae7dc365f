/** Breakout rooms: the banner that tells everyone where they are (with the countdown, help and choosing a room),
 * the hosts' messages to every room, and the hosts' tab to create, fill, open, visit and close the rooms. */

import { h, setLimit, setText, syncList } from "./dom.js";
import { formatRemaining } from "./agenda.js";
import { isHost } from "./people.js";
import { MAIN_ROOM, ROLES } from "./constants.js";

/**
 * @typedef {import("./people.js").SessionContext} SessionContext
 * @typedef {import("./protocol.js").HavenClient} HavenClient
 * @typedef {import("./limits.js").Limits} Limits
 * @typedef {{name: string, members: string[], planned: string[], help: boolean}} RoomView
 * @typedef {{open: boolean, endsAt: number|null, selfSelect: boolean, mine: string|null, rooms: RoomView[]}} Breakouts
 */

/**
 * Reads the breakouts from the client, or null when there are none.
 * @param {HavenClient|null} client
 * @returns {Breakouts|null}
 */
export function breakoutsOf(client) {
  const state = client && client.breakouts;
  if (!state || !Array.isArray(state.rooms) || state.rooms.length === 0) return null;
  const ids = (/** @type {any} */ list) => (Array.isArray(list) ? list.filter((id) => typeof id === "string") : []);
  return {
    open: !!state.open,
    endsAt: typeof state.ends_at === "number" ? state.ends_at : null,
    selfSelect: !!state.self_select,
    mine: typeof state.mine === "string" ? state.mine : null,
    rooms: state.rooms
      .filter((room) => room && typeof room.name === "string")
      .map((room) => ({ name: room.name, members: ids(room.members), planned: ids(room.planned), help: !!room.help_requested })),
  };
}

/**
 * Returns a participant's name from the roster, or from everyone seen in the session (other breakouts).
 * @param {HavenClient|null} client
 * @param {string} id
 */
function personName(client, id) {
  if (!client) return "A participant";
  const here = client.participants.get(id);
  if (here) return here.name || "A participant";
  if (client.self && client.self.id === id) return `${client.self.name || "You"} (you)`;
  const known = client.directory.get(id);
  return known && known.name ? known.name : "A participant";
}

/**
 * Parses the timer field: minutes (fractions allowed), or null when empty.
 * @param {string} value
 * @param {number} [maxMinutes] the server's `limits.max_breakout_minutes`
 * @returns {number|null|string} the minutes, null for no timer, or what is wrong
 */
export function parseMinutes(value, maxMinutes = Infinity) {
  const text = value.trim().replace(",", ".");
  if (!text) return null;
  const minutes = Number(text);
  if (!Number.isFinite(minutes) || minutes < 0 || minutes > maxMinutes) {
    return maxMinutes === Infinity ? "The timer needs a number of minutes, for example 10 or 2.5."
      : `The timer needs a number of minutes from 0 to ${maxMinutes}, for example 10 or 2.5.`;
  }
  return minutes === 0 ? null : minutes;
}

/**
 * Checks the hosts' plan for the breakouts against the server's limits.
 * @param {string[]} names the room names given (none: use `count`)
 * @param {number} count
 * @param {Readonly<Limits>} limits
 * @returns {{plan: {names: string[]}|{count: number}, problem: string}}
 */
export function checkPlan(names, count, limits) {
  const { max_breakouts: maxRooms = Infinity, max_breakout_name_chars: maxName = Infinity } = limits;
  if (names.length > 0) {
    let problem = "";
    if (names.length > maxRooms) problem = `Give at most ${maxRooms} room names.`;
    else if (new Set(names).size !== names.length) problem = "Give each room a different name.";
    else if (names.some((n) => n.length > maxName || n === MAIN_ROOM)) {
      problem = maxName === Infinity ? `A room cannot be called “${MAIN_ROOM}”.`
        : `Room names have at most ${maxName} characters (and cannot be “${MAIN_ROOM}”).`;
    }
    return { plan: { names }, problem };
  }
  const tooMany = count > maxRooms;
  const problem = !Number.isInteger(count) || count < 1 || tooMany
    ? (maxRooms === Infinity ? "Choose at least one room." : `Choose 1 to ${maxRooms} rooms.`) : "";
  return { plan: { count }, problem };
}

/** The breakout banner for everyone and the Breakouts tab for hosts. */
export class BreakoutView {
  /**
   * @param {SessionContext} ctx
   * @param {(id: string) => any} byId
   */
  constructor(ctx, byId) {
    this.ctx = ctx;
    this.el = {
      banner: byId("breakout-banner"),
      where: byId("breakout-where"),
      countdown: byId("breakout-countdown"),
      warning: byId("breakout-warning"),
      help: /** @type {HTMLButtonElement} */ (byId("ask-for-help")),
      helpState: byId("ask-for-help-state"),
      bannerReturn: /** @type {HTMLButtonElement} */ (byId("breakout-banner-return")),
      chooser: byId("breakout-chooser"),
      chooseSelect: /** @type {HTMLSelectElement} */ (byId("breakout-choose-select")),
      message: byId("breakout-message"),
      messageFrom: byId("breakout-message-from"),
      messageText: byId("breakout-message-text"),
      messageDismiss: byId("breakout-message-dismiss"),
      tab: byId("tab-breakouts"),
      tabBadge: byId("breakouts-help-badge"),
      status: byId("breakout-status"),
      createSection: byId("breakout-create-section"),
      createForm: byId("breakout-create-form"),
      count: /** @type {HTMLInputElement} */ (byId("breakout-count")),
      names: /** @type {HTMLTextAreaElement} */ (byId("breakout-names")),
      createError: byId("breakout-create-error"),
      create: /** @type {HTMLButtonElement} */ (byId("breakout-create")),
      assignSection: byId("breakout-assign-section"),
      random: /** @type {HTMLButtonElement} */ (byId("breakout-random")),
      selfSelect: /** @type {HTMLInputElement} */ (byId("breakout-self-select")),
      people: byId("breakout-people"),
      peopleEmpty: byId("breakout-people-empty"),
      roomsSection: byId("breakout-rooms-section"),
      controlsSection: byId("breakout-controls-section"),
      rooms: byId("breakout-rooms"),
      timeLeft: byId("breakout-time-left"),
      timer: /** @type {HTMLInputElement} */ (byId("breakout-timer")),
      timerHint: byId("breakout-timer-hint"),
      timerError: byId("breakout-timer-error"),
      timerSet: /** @type {HTMLButtonElement} */ (byId("breakout-timer-set")),
      open: /** @type {HTMLButtonElement} */ (byId("breakout-open")),
      closeAll: /** @type {HTMLButtonElement} */ (byId("breakout-close-all")),
      broadcast: byId("breakout-broadcast"),
      broadcastInput: /** @type {HTMLInputElement} */ (byId("breakout-broadcast-input")),
    };
    /** @type {Breakouts|null} */
    this.state = null;
    /** @type {Readonly<Limits>} the server's bounds on breakouts (from `hello`) */
    this.limits = {};
    this.host = false;
    /** @type {string} */
    this.location = MAIN_ROOM;
    /** @type {any} */
    this.timer = null;
    this.warned = false;
    this.helpAsked = false;
    /** @type {Set<string>} breakouts whose help request is on the room notice */
    this.helpNotices = new Set();
    /** @type {Map<string, string>} participant id → room chosen in a picker, until the server confirms */
    this.pendingAssign = new Map();

    this.el.createForm.addEventListener("submit", (/** @type {Event} */ event) => {
      event.preventDefault();
      this.create();
    });
    this.el.random.addEventListener("click", () => this.ctx.send((r) => r.breakoutAssignRandom()));
    this.el.selfSelect.addEventListener("change", async () => {
      const wanted = this.el.selfSelect.checked;
      this.el.selfSelect.disabled = true;
      const ok = await this.ctx.send((r) => r.breakoutSettings({ self_select: wanted }));
      this.el.selfSelect.disabled = false;
      if (!ok) this.el.selfSelect.checked = !wanted;
    });
    this.el.open.addEventListener("click", () => this.openRooms());
    this.el.timerSet.addEventListener("click", () => this.setTimer());
    this.el.closeAll.addEventListener("click", () => this.ctx.send((r) => r.breakoutCloseAll()));
    this.el.broadcast.addEventListener("submit", (/** @type {Event} */ event) => {
      event.preventDefault();
      this.sendBroadcast();
    });
    this.el.help.addEventListener("click", () => this.askForHelp());
    this.el.bannerReturn.addEventListener("click", () => this.ctx.send((r) => r.breakoutVisit(null)));
    this.el.chooser.addEventListener("submit", (/** @type {Event} */ event) => {
      event.preventDefault();
      const room = this.el.chooseSelect.value;
      if (room) this.ctx.send((r) => r.breakoutChoose(room));
    });
    this.el.messageDismiss.addEventListener("click", () => { this.el.message.hidden = true; });
  }

  /** Re-renders the banner and the hosts' tab from the client's breakout state. */
  render() {
    const client = this.ctx.client();
    const host = isHost(client);
    const state = breakoutsOf(client);
    const location = client ? client.location : MAIN_ROOM;
    // A new end time (the host changed the timer) gets its own warning from the server when it is due.
    const endsAt = state && state.open ? state.endsAt : null;
    if (endsAt !== (this.state && this.state.open ? this.state.endsAt : null)) this.warned = false;
    this.state = state;
    this.host = host;
    this.location = location;
    this.renderBanner(client, state, host);
    this.renderHostTab(client, state, host);
    this.clearEndedCauses(state);
    if (state && state.open && state.endsAt !== null) this.startTimer();
    else this.stopTimer();
    this.tick();
  }

  /**
   * Clears notices whose cause has ended: a help request once a host visited (or the rooms closed), a message to
   * every room once the rooms closed.
   * @param {Breakouts|null} state
   */
  clearEndedCauses(state) {
    const open = !!state && state.open;
    for (const room of [...this.helpNotices]) {
      const info = open && state ? state.rooms.find((r) => r.name === room) : undefined;
      if (!info || !info.help) {
        this.ctx.clearNotice(`help:${room}`);
        this.helpNotices.delete(room);
      }
    }
    if (!open) this.el.message.hidden = true;
  }

  // --- everyone: the banner -------------------------------------------------------------------

  /**
   * @param {HavenClient|null} client
   * @param {Breakouts|null} state
   * @param {boolean} host
   */
  renderBanner(client, state, host) {
    const inBreakout = this.location !== MAIN_ROOM;
    const open = !!state && state.open;
    this.el.banner.hidden = !inBreakout && !open;
    this.el.banner.dataset.location = this.location;
    if (inBreakout) {
      setText(this.el.where, host ? `You are visiting the breakout room “${this.location}”.`
        : `You are in the breakout room “${this.location}”.`);
    } else {
      setText(this.el.where, "Breakout rooms are open. You are in the main room.");
    }
    this.el.bannerReturn.hidden = !(host && inBreakout);

    // A host in the room can simply be asked; otherwise the button calls one.
    const hostHere = !!client && [...client.participants.values()].some((p) => p.role === ROLES.HOST || p.role === ROLES.COHOST);
    if (hostHere || !inBreakout) this.helpAsked = false;
    this.el.help.hidden = host || !inBreakout;
    this.el.help.disabled = this.helpAsked;
    setText(this.el.help, this.helpAsked ? "Help requested" : "Ask for help");
    this.el.helpState.hidden = !this.helpAsked || this.el.help.hidden;

    this.el.warning.hidden = !this.warned || !open;

    const choosable = open && !!state && state.selfSelect && !host;
    this.el.chooser.hidden = !choosable;
    if (choosable && state) {
      const rooms = state.rooms.filter((r) => r.name !== this.location);
      const previous = this.el.chooseSelect.value;
      syncList(this.el.chooseSelect, rooms, (r) => r.name, (r) => /** @type {HTMLElement} */ (new Option(r.name, r.name)),
        (element, r) => setText(element, r.name));
      if (rooms.some((r) => r.name === previous)) this.el.chooseSelect.value = previous;
      this.el.chooser.hidden = rooms.length === 0;
    }
  }

  /** Updates the countdowns (every second while a breakout timer runs). */
  tick() {
    const state = this.state;
    const running = !!state && state.open && state.endsAt !== null;
    this.el.countdown.hidden = !running;
    this.el.timeLeft.hidden = !running || !this.host;
    if (!running || !state || state.endsAt === null) return;
    const client = this.ctx.client();
    const left = Math.max(0, state.endsAt - (client ? client.serverNow() : Date.now()));
    const clock = formatRemaining(left);
    setText(this.el.countdown, this.location === MAIN_ROOM
      ? `Breakout rooms close in ${clock}` : `Back to the main room in ${clock}`);
    setText(this.el.timeLeft, `Time left: ${clock}`);
  }

  startTimer() {
    if (this.timer === null) this.timer = setInterval(() => this.tick(), 1000);
  }

  stopTimer() {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  async askForHelp() {
    this.el.help.disabled = true;
    const ok = await this.ctx.send((r) => r.askForHelp());
    this.helpAsked = ok;
    if (ok) this.ctx.announce("A host has been asked to come to your room");
    this.renderBanner(this.ctx.client(), this.state, this.host);
  }

  // --- events ---------------------------------------------------------------------------------

  /**
   * We moved between the main room and a breakout.
   * @param {{location: string, from: string}} detail
   */
  onMoved({ location, from }) {
    this.helpAsked = false;
    if (location === MAIN_ROOM) {
      this.ctx.announce(from !== MAIN_ROOM ? "You are back in the main room" : "You are in the main room");
    } else {
      this.ctx.announce(`You are now in the breakout room ${location}`);
    }
  }

  /** @param {{seconds_left: number}} detail */
  onWarning({ seconds_left: secondsLeft }) {
    this.warned = true;
    const text = secondsLeft > 90
      ? "The breakout rooms close soon. Everyone will return to the main room."
      : "About one minute left. Everyone will return to the main room soon.";
    setText(this.el.warning, text);
    this.el.warning.hidden = false;
    this.ctx.announce(text);
  }

  /** @param {{text: string, from: {id: string, name: string}|null}} detail */
  onBroadcast({ text, from }) {
    const name = from && from.name ? from.name : "The host";
    setText(this.el.messageFrom, `Message from ${name} to all rooms:`);
    setText(this.el.messageText, text);
    this.el.message.hidden = false;
    this.ctx.announce(`Message from ${name}: ${text}`);
  }

  /** @param {{room: string, participant_id: string}} detail */
  onHelpRequested({ room, participant_id: participantId }) {
    if (!this.host) return;
    const who = personName(this.ctx.client(), participantId);
    this.ctx.notice(`${who} asked for help in the breakout room “${room}”. Open the Breakouts tab to visit.`, `help:${room}`);
    this.helpNotices.add(room);
    this.ctx.announce(`${who} asked for help in ${room}`);
  }

  // --- hosts: the Breakouts tab ---------------------------------------------------------------

  /**
   * @param {HavenClient|null} client
   * @param {Breakouts|null} state
   * @param {boolean} host
   */
  renderHostTab(client, state, host) {
    this.el.tab.hidden = !host;
    if (!host) return;
    const open = !!state && state.open;
    const helpCount = state ? state.rooms.filter((r) => r.help).length : 0;
    this.el.tabBadge.hidden = helpCount === 0;
    setText(this.el.tabBadge, helpCount ? "!" : "");
    this.el.tab.setAttribute("aria-label", helpCount ? `Breakouts, help requested in ${helpCount} room${helpCount > 1 ? "s" : ""}` : "Breakouts");

    setText(this.el.status, !state ? "Create rooms, put people in them, then open them."
      : open ? `${state.rooms.length} room${state.rooms.length > 1 ? "s are" : " is"} open.`
        : `${state.rooms.length} room${state.rooms.length > 1 ? "s are" : " is"} ready. Choose who goes where, then open them.`);
    this.el.createSection.hidden = open;
    setText(this.el.create, state ? "Create new rooms" : "Create rooms");
    this.el.assignSection.hidden = !state;
    this.el.roomsSection.hidden = !state;
    this.el.controlsSection.hidden = !state;
    if (!state) {
      this.el.people.replaceChildren();
      this.el.rooms.replaceChildren();
      return;
    }
    this.el.selfSelect.checked = state.selfSelect;
    this.renderPeople(client, state);
    this.renderRooms(client, state);
    this.el.open.hidden = open;
    this.el.timerSet.hidden = !open;
    setText(this.el.timerHint, open
      ? "Change the time left: everyone returns to the main room when it runs out (0 or empty: no timer)."
      : "Optional: everyone returns to the main room when it runs out. Leave empty for no timer.");
    this.el.broadcast.hidden = !open;
    setText(this.el.closeAll, open ? "Close all rooms" : "Discard these rooms");
  }

  /**
   * One room picker per participant (hosts are never assigned: they visit).
   * @param {HavenClient|null} client
   * @param {Breakouts} state
   */
  renderPeople(client, state) {
    /** @type {Map<string, string>} id → where the picker should say they are */
    const where = new Map();
    const selfId = client && client.self ? client.self.id : null;
    for (const participant of client ? client.participants.values() : []) {
      if (participant.role === "participant") where.set(participant.id, "");
    }
    for (const room of state.rooms) {
      for (const id of room.planned) if (client && client.directory.has(id)) where.set(id, room.name);
    }
    if (state.open) {
      for (const room of state.rooms) for (const id of room.members) where.set(id, room.name);
    }
    for (const id of [...where.keys()]) {
      const known = client ? client.directory.get(id) : null;
      if (id === selfId || (known && known.role !== "participant")) where.delete(id);
    }
    const people = [...where.entries()]
      .map(([id, room]) => ({ id, room, name: personName(client, id) }))
      .sort((a, b) => a.name.localeCompare(b.name));
    this.el.peopleEmpty.hidden = people.length > 0;
    const options = [...state.rooms.map((r) => r.name), ""];
    syncList(this.el.people, people, (p) => p.id, (p) => {
      const select = /** @type {HTMLSelectElement} */ (h("select", { dataset: { testid: "breakout-assign" } }));
      select.addEventListener("change", () => this.assign(p.id, select));
      const label = h("label", { className: "person-name" });
      return h("li", { className: "breakout-person", dataset: { testid: "breakout-person" } }, label, select);
    }, (element, p) => {
      const select = /** @type {HTMLSelectElement} */ (element.querySelector("select"));
      const label = /** @type {HTMLElement} */ (element.querySelector("label"));
      const selectId = `breakout-assign-${p.id}`;
      select.id = selectId;
      label.setAttribute("for", selectId);
      setText(label, p.name);
      element.dataset.participantName = p.name;
      select.dataset.participantName = p.name;
      select.dataset.participantId = p.id;
      syncList(select, options, (name) => `room:${name}`,
        (name) => /** @type {HTMLElement} */ (new Option(name || "Main room", name)),
        (option, name) => setText(option, name || "Main room"));
      const pending = this.pendingAssign.get(p.id);
      select.value = pending !== undefined ? pending : p.room;
    });
  }

  /**
   * @param {string} participantId
   * @param {HTMLSelectElement} select
   */
  async assign(participantId, select) {
    const room = select.value;
    this.pendingAssign.set(participantId, room);
    const ok = await this.ctx.send((r) => r.breakoutAssign(participantId, room || null));
    if (this.pendingAssign.get(participantId) === room) this.pendingAssign.delete(participantId);
    if (!ok) this.render();
  }

  /**
   * @param {HavenClient|null} client
   * @param {Breakouts} state
   */
  renderRooms(client, state) {
    syncList(this.el.rooms, state.rooms, (r) => r.name, (r) => {
      const visit = h("button", { type: "button", className: "secondary small", dataset: { testid: "breakout-visit" } }, "Visit");
      visit.addEventListener("click", () => this.ctx.send((requests) => requests.breakoutVisit(r.name)));
      const back = h("button", { type: "button", className: "secondary small", dataset: { testid: "breakout-return" } },
        "Return to main room");
      back.addEventListener("click", () => this.ctx.send((r) => r.breakoutVisit(null)));
      const close = h("button", { type: "button", className: "secondary small", dataset: { testid: "breakout-close" } },
        "Close room");
      close.addEventListener("click", () => this.ctx.send((requests) => requests.breakoutClose(r.name)));
      return h("li", { className: "breakout-room", dataset: { testid: "breakout-room", roomName: r.name } },
        h("p", { className: "breakout-room-head" },
          h("span", { className: "breakout-room-name" }),
          h("span", { className: "breakout-help", dataset: { testid: "breakout-help" }, hidden: true }, "Help requested"),
          h("span", { className: "breakout-here", hidden: true }, "You are here")),
        h("p", { className: "breakout-members", dataset: { testid: "breakout-room-members" } }),
        h("div", { className: "button-row" }, visit, back, close));
    }, (element, r) => {
      const here = this.location === r.name;
      setText(/** @type {Element} */ (element.querySelector(".breakout-room-name")), r.name);
      /** @type {HTMLElement} */ (element.querySelector(".breakout-help")).hidden = !r.help;
      /** @type {HTMLElement} */ (element.querySelector(".breakout-here")).hidden = !here;
      element.classList.toggle("needs-help", r.help);
      element.dataset.help = String(r.help);
      const ids = state.open ? r.members.filter((id) => !client || !client.self || id !== client.self.id) : r.planned;
      const names = ids.map((id) => personName(client, id)).sort((a, b) => a.localeCompare(b));
      setText(/** @type {Element} */ (element.querySelector(".breakout-members")), names.length
        ? `${state.open ? "In the room" : "Planned"}: ${names.join(", ")}`
        : state.open ? "Nobody is in this room." : "Nobody assigned yet.");
      const [visit, back, close] = /** @type {HTMLButtonElement[]} */ ([...element.querySelectorAll("button")]);
      visit.hidden = !state.open || here;
      back.hidden = !state.open || !here;
      close.hidden = !state.open;
      for (const button of [visit, close]) button.setAttribute("aria-label", `${button.textContent} ${r.name}`);
    });
  }

  /**
   * Takes the server's limits (section 5.1) for the forms.
   * @param {Readonly<Limits>} limits
   */
  configure(limits) {
    this.limits = limits;
    setLimit(this.el.count, "max", limits.max_breakouts);
    setLimit(this.el.timer, "max", limits.max_breakout_minutes);
    setLimit(this.el.broadcastInput, "maxlength", limits.max_broadcast_chars);
  }

  async create() {
    const names = this.el.names.value.split(/[\n,]/).map((n) => n.trim()).filter(Boolean);
    const { plan, problem } = checkPlan(names, Number(this.el.count.value), this.limits);
    this.el.createError.hidden = !problem;
    setText(this.el.createError, problem);
    if (problem) return;
    this.el.create.disabled = true;
    const ok = await this.ctx.send((r) => r.breakoutCreate(plan));
    this.el.create.disabled = false;
    if (ok) this.ctx.announce("Breakout rooms created. Choose who goes where.");
  }

  /** @returns {number|null|undefined} the timer's minutes (null: none), or undefined when invalid */
  readTimer() {
    const minutes = parseMinutes(this.el.timer.value, this.limits.max_breakout_minutes);
    const problem = typeof minutes === "string" ? minutes : "";
    this.el.timerError.hidden = !problem;
    setText(this.el.timerError, problem);
    if (problem) {
      this.el.timer.focus();
      return undefined;
    }
    return /** @type {number|null} */ (minutes);
  }

  async openRooms() {
    const minutes = this.readTimer();
    if (minutes === undefined) return;
    this.el.open.disabled = true;
    const ok = await this.ctx.send((r) => r.breakoutOpen(minutes));
    this.el.open.disabled = false;
    if (ok) this.ctx.announce("Breakout rooms are open");
  }

  async setTimer() {
    const minutes = this.readTimer();
    if (minutes === undefined) return;
    if (await this.ctx.send((r) => r.breakoutTimer(minutes === null ? 0 : minutes))) {
      this.ctx.announce(minutes === null ? "The breakout timer was cleared" : "The breakout timer was changed");
    }
  }

  async sendBroadcast() {
    const text = this.el.broadcastInput.value.trim();
    if (!text) {
      this.el.broadcastInput.focus();
      return;
    }
    if (await this.ctx.send((r) => r.breakoutBroadcast(text))) {
      this.el.broadcastInput.value = "";
      this.ctx.announce("Message sent to every room");
    }
  }

  reset() {
    this.stopTimer();
    this.state = null;
    this.warned = false;
    this.helpAsked = false;
    this.pendingAssign.clear();
    this.location = MAIN_ROOM;
    this.el.banner.hidden = true;
    this.el.message.hidden = true;
    this.el.people.replaceChildren();
    this.el.rooms.replaceChildren();
  }
}
