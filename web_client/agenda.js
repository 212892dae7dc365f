/** The session agenda: the current phase and its countdown for everyone, the phase list, and the host's editor. */

import { h, setLimit, setText, syncList } from "./dom.js";
import { isHost } from "./people.js";

/**
 * @typedef {import("./people.js").SessionContext} SessionContext
 * @typedef {import("./limits.js").Limits} Limits
 * @typedef {import("./limits.js").AgendaTemplate} AgendaTemplate
 * @typedef {{title: string, minutes: number}} Phase
 * @typedef {{phases: Phase[], current: number, phase_started_at: number}} Agenda
 */

/**
 * Returns the milliseconds left in the current phase (negative once it runs over).
 * @param {Agenda} agenda
 * @param {number} now ms since epoch
 */
export function remainingMs(agenda, now) {
  const phase = agenda.phases[agenda.current];
  if (!phase) return 0;
  // A client clock ahead of the server's would otherwise show more time than the phase has.
  return Math.min(phase.minutes * 60000, phase.minutes * 60000 - (now - agenda.phase_started_at));
}

/**
 * Formats a remaining time as "mm:ss" (or "h:mm:ss"), and an overrun as "+mm:ss over".
 * @param {number} ms
 */
export function formatRemaining(ms) {
  const over = ms < 0;
  // Count down in whole seconds still to go; count an overrun in whole seconds already passed.
  const total = over ? Math.floor(-ms / 1000) : Math.ceil(ms / 1000);
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const seconds = total % 60;
  const pad = (/** @type {number} */ n) => String(n).padStart(2, "0");
  const clock = hours > 0 ? `${hours}:${pad(minutes)}:${pad(seconds)}` : `${pad(minutes)}:${pad(seconds)}`;
  return over ? `+${clock} over` : clock;
}

/**
 * Reads an agenda from the room state, or null when there is none (or it is malformed).
 * @param {any} room
 * @returns {Agenda|null}
 */
function agendaOf(room) {
  const agenda = room && room.agenda;
  if (!agenda || !Array.isArray(agenda.phases) || agenda.phases.length === 0) return null;
  const current = Math.min(Math.max(0, Number(agenda.current) || 0), agenda.phases.length - 1);
  return {
    phases: agenda.phases.map((/** @type {any} */ p) => ({
      title: String(p.title || ""),
      minutes: Number(p.minutes) || 0,
    })),
    current,
    phase_started_at: Number(agenda.phase_started_at) || Date.now(),
  };
}

/** Shows the agenda to everyone and gives hosts its controls. */
export class AgendaView {
  /**
   * @param {SessionContext} ctx
   * @param {(id: string) => any} byId
   */
  constructor(ctx, byId) {
    this.ctx = ctx;
    this.el = {
      empty: byId("agenda-empty"),
      now: byId("agenda-now"),
      step: byId("agenda-step"),
      phase: byId("agenda-phase"),
      timer: byId("agenda-timer"),
      overrun: byId("agenda-overrun"),
      list: byId("agenda-list"),
      section: byId("agenda-section"),
      host: byId("agenda-host"),
      running: byId("agenda-running-controls"),
      next: byId("agenda-next"),
      edit: byId("agenda-edit"),
      editor: byId("agenda-editor"),
      template: /** @type {HTMLSelectElement} */ (byId("agenda-template")),
      rows: byId("phase-rows"),
      addPhase: byId("agenda-add-phase"),
      error: byId("agenda-error"),
      submit: byId("agenda-start"),
      cancel: byId("agenda-cancel"),
    };
    /** @type {Agenda|null} */
    this.agenda = null;
    /** @type {any} */
    this.timer = null;
    this.lastPhaseKey = "";
    this.editing = false;
    this.host = false;

    /** @type {Readonly<Limits>} the server's bounds on phases (from `hello`) */
    this.limits = {};
    /** @type {ReadonlyArray<AgendaTemplate>} the server's templates (from `hello`), in its order */
    this.templates = [];
    this.templatesKey = "";

    this.el.template.addEventListener("change", () => this.fillEditor(this.templatePhases(this.el.template.value)));
    this.el.addPhase.addEventListener("click", () => this.addRow({ title: "", minutes: 10 }, true));
    this.el.editor.addEventListener("submit", (/** @type {Event} */ event) => {
      event.preventDefault();
      this.submitEditor();
    });
    this.el.cancel.addEventListener("click", () => this.closeEditor(true));
    this.el.edit.addEventListener("click", () => (this.editing ? this.closeEditor(true) : this.openEditor()));
    this.el.next.addEventListener("click", () => this.ctx.send((r) => r.agendaNext()));
  }

  /**
   * Takes the server's limits and templates (section 5.1); the editor is refilled only when the templates
   * changed, so a reconnect keeps what a host was typing.
   * @param {Readonly<Limits>} limits
   * @param {ReadonlyArray<AgendaTemplate>} templates
   */
  configure(limits, templates) {
    this.limits = limits;
    this.updateRowControls();
    const key = JSON.stringify(templates);
    if (key === this.templatesKey) return;
    this.templatesKey = key;
    this.templates = templates;
    this.el.template.replaceChildren(...templates.map((t) => new Option(t.name, t.id)));
    // A server without templates leaves the host to write the phases: no empty picker.
    const field = this.el.template.closest(".field");
    if (field instanceof HTMLElement) field.hidden = templates.length === 0;
    this.fillEditor(this.templatePhases(this.el.template.value));
  }

  /**
   * @param {string} id
   * @returns {Phase[]} the phases of that template (none if the server offers no such template)
   */
  templatePhases(id) {
    const template = this.templates.find((t) => t.id === id);
    return template ? template.phases.map((p) => ({ title: p.title, minutes: p.minutes })) : [];
  }

  /** @param {any} room the admitted room state */
  render(room) {
    const agenda = agendaOf(room);
    const host = isHost(this.ctx.client());
    const wasHost = this.host;
    this.host = host;
    this.agenda = agenda;
    this.el.empty.hidden = !!agenda;
    this.el.now.hidden = !agenda;
    setText(this.el.empty, host
      ? "The agenda has not started yet. Start it in the Session tab."
      : "The agenda has not started yet.");
    if (agenda) {
      const phase = agenda.phases[agenda.current];
      setText(this.el.step, `Part ${agenda.current + 1} of ${agenda.phases.length}`);
      setText(this.el.phase, phase.title);
      const key = `${agenda.current}|${agenda.phase_started_at}|${phase.title}`;
      if (this.lastPhaseKey && key !== this.lastPhaseKey) this.ctx.announce(`Now: ${phase.title}, ${phase.minutes} minutes`);
      this.lastPhaseKey = key;
      this.startTimer();
    } else {
      this.lastPhaseKey = "";
      this.stopTimer();
    }
    this.tick();
    this.renderList(agenda, host);

    this.el.section.hidden = !agenda && !host;
    this.el.host.hidden = !host;
    this.el.running.hidden = !agenda;
    if (this.el.next instanceof HTMLButtonElement) {
      this.el.next.disabled = !agenda || agenda.current >= agenda.phases.length - 1;
    }
    if (!host) {
      this.editing = false;
    } else if (!agenda) {
      // Without an agenda the editor is how a host starts one.
      if (!this.editing || !wasHost) this.openEditor();
    } else if (this.editing && this.el.submit.dataset.mode === "start") {
      // Another host started the agenda meanwhile.
      this.closeEditor(false);
    }
  }

  /**
   * @param {Agenda|null} agenda
   * @param {boolean} host
   */
  renderList(agenda, host) {
    const items = agenda ? agenda.phases.map((phase, index) => ({ phase, index })) : [];
    syncList(this.el.list, items, (item) => String(item.index), () => {
      const item = h("li", { className: "agenda-item" },
        h("span", { className: "agenda-item-title" }),
        h("span", { className: "agenda-item-minutes" }),
        h("span", { className: "agenda-item-now" }));
      const go = h("button", { type: "button", className: "link-button", dataset: { testid: "agenda-go" } },
        "Go to this part");
      go.addEventListener("click", () => this.ctx.send((r) => r.agendaSetPhase(Number(item.dataset.index))));
      item.append(go);
      return item;
    }, (element, { phase, index }) => {
      const current = !!agenda && index === agenda.current;
      element.dataset.index = String(index);
      element.classList.toggle("is-current", current);
      element.classList.toggle("is-done", !!agenda && index < agenda.current);
      if (current) element.setAttribute("aria-current", "step");
      else element.removeAttribute("aria-current");
      setText(/** @type {Element} */ (element.querySelector(".agenda-item-title")), phase.title);
      setText(/** @type {Element} */ (element.querySelector(".agenda-item-minutes")), `${phase.minutes} min`);
      setText(/** @type {Element} */ (element.querySelector(".agenda-item-now")), current ? "Now" : "");
      const go = /** @type {HTMLButtonElement} */ (element.querySelector("button"));
      go.hidden = !host || current;
      go.setAttribute("aria-label", `Go to ${phase.title}`);
    });
  }

  /** Updates the countdown (every second while an agenda runs). */
  tick() {
    const agenda = this.agenda;
    if (!agenda) {
      this.el.overrun.hidden = true;
      return;
    }
    const client = this.ctx.client();
    const left = remainingMs(agenda, client ? client.serverNow() : Date.now());
    setText(this.el.timer, formatRemaining(left));
    this.el.timer.classList.toggle("is-over", left < 0);
    const overrun = left < 0 && this.host;
    this.el.overrun.hidden = !overrun;
    if (overrun) setText(this.el.overrun, "This part has gone past its planned time. Move on when it feels right.");
  }

  startTimer() {
    if (this.timer === null) this.timer = setInterval(() => this.tick(), 1000);
  }

  stopTimer() {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  /** Tells hosts once that the current phase ran over (the server's `agenda-overrun`). */
  onOverrun() {
    if (!this.host || !this.agenda) return;
    const phase = this.agenda.phases[this.agenda.current];
    this.ctx.announce(`${phase ? phase.title : "This part"} has gone past its planned time`);
    this.tick();
  }

  openEditor() {
    const running = !!this.agenda;
    this.editing = true;
    this.el.editor.hidden = false;
    this.el.error.hidden = true;
    this.el.edit.setAttribute("aria-expanded", "true");
    this.el.submit.dataset.mode = running ? "update" : "start";
    this.el.submit.textContent = running ? "Save changes" : "Start agenda";
    this.el.submit.dataset.testid = running ? "agenda-save" : "agenda-start";
    this.el.cancel.hidden = !running;
    if (running && this.agenda) this.fillEditor(this.agenda.phases);
  }

  /** @param {boolean} focusEdit */
  closeEditor(focusEdit) {
    this.editing = false;
    this.el.editor.hidden = true;
    this.el.edit.setAttribute("aria-expanded", "false");
    if (focusEdit && !this.el.running.hidden) this.el.edit.focus();
  }

  /** @param {Phase[]} phases */
  fillEditor(phases) {
    this.el.rows.replaceChildren();
    for (const phase of phases) this.addRow(phase, false);
    this.updateRowControls();
  }

  /**
   * @param {Phase} phase
   * @param {boolean} focus
   */
  addRow(phase, focus) {
    const { max_agenda_phases: maxPhases } = this.limits;
    if (maxPhases !== undefined && this.el.rows.children.length >= maxPhases) return;
    const number = this.el.rows.children.length + 1;
    const title = /** @type {HTMLInputElement} */ (h("input", {
      type: "text", className: "phase-title", required: true,
      "aria-label": `Title of part ${number}`, dataset: { testid: "phase-title" },
    }));
    title.value = phase.title;
    const minutes = /** @type {HTMLInputElement} */ (h("input", {
      type: "number", className: "phase-minutes", min: 1, step: 1, required: true,
      inputmode: "numeric", "aria-label": `Minutes for part ${number}`, dataset: { testid: "phase-minutes" },
    }));
    minutes.value = String(phase.minutes);
    const remove = h("button", { type: "button", className: "link-button", dataset: { testid: "phase-remove" } },
      "Remove");
    remove.addEventListener("click", () => {
      const row = remove.closest("li");
      const next = row && (row.nextElementSibling || row.previousElementSibling);
      if (row) row.remove();
      this.updateRowControls();
      const focusTarget = next && next.querySelector("input");
      if (focusTarget instanceof HTMLElement) focusTarget.focus();
      else this.el.addPhase.focus();
    });
    const row = h("li", { className: "phase-row" },
      title, minutes, h("span", { className: "phase-unit", "aria-hidden": "true" }, "min"), remove);
    this.el.rows.append(row);
    this.updateRowControls();
    if (focus) title.focus();
  }

  updateRowControls() {
    const { max_agenda_phases: maxPhases, max_phase_title_chars: maxTitle, max_phase_minutes: maxMinutes } = this.limits;
    const rows = [...this.el.rows.children];
    rows.forEach((row, index) => {
      const [title, minutes] = row.querySelectorAll("input");
      setLimit(title, "maxlength", maxTitle);
      setLimit(minutes, "max", maxMinutes);
      title.setAttribute("aria-label", `Title of part ${index + 1}`);
      minutes.setAttribute("aria-label", `Minutes for part ${index + 1}`);
      const remove = /** @type {HTMLButtonElement} */ (row.querySelector("button"));
      remove.hidden = rows.length <= 1;
      remove.setAttribute("aria-label", `Remove part ${index + 1}`);
    });
    if (this.el.addPhase instanceof HTMLButtonElement) this.el.addPhase.disabled = maxPhases !== undefined && rows.length >= maxPhases;
  }

  /** @returns {Phase[]|string} the phases, or what is wrong with them */
  readEditor() {
    const { max_phase_title_chars: maxTitle = Infinity, max_phase_minutes: maxMinutes = Infinity } = this.limits;
    /** @type {Phase[]} */
    const phases = [];
    for (const [index, row] of [...this.el.rows.children].entries()) {
      const [titleInput, minutesInput] = row.querySelectorAll("input");
      const title = titleInput.value.trim();
      const minutes = Number(minutesInput.value);
      if (!title || title.length > maxTitle) {
        titleInput.focus();
        return maxTitle === Infinity ? `Part ${index + 1} needs a title.`
          : `Part ${index + 1} needs a title of 1 to ${maxTitle} characters.`;
      }
      if (!Number.isInteger(minutes) || minutes < 1 || minutes > maxMinutes) {
        minutesInput.focus();
        return maxMinutes === Infinity ? `Part ${index + 1} needs a whole number of minutes.`
          : `Part ${index + 1} needs a whole number of minutes from 1 to ${maxMinutes}.`;
      }
      phases.push({ title, minutes });
    }
    if (phases.length === 0) return "Add at least one part.";
    return phases;
  }

  async submitEditor() {
    const phases = this.readEditor();
    if (typeof phases === "string") {
      this.el.error.textContent = phases;
      this.el.error.hidden = false;
      return;
    }
    this.el.error.hidden = true;
    const update = this.el.submit.dataset.mode === "update";
    const ok = update
      ? await this.ctx.send((r) => r.agendaUpdate(phases))
      : await this.ctx.send((r) => r.agendaStart({ template: this.el.template.value || undefined, phases }));
    if (ok) this.closeEditor(false);
  }

  reset() {
    this.stopTimer();
    this.agenda = null;
    this.lastPhaseKey = "";
    this.editing = false;
    this.el.editor.hidden = true;
    this.el.list.replaceChildren();
  }
}
