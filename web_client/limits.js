// @ts-check
/**
 * The bounds and agenda templates the server announces in its `hello` result (docs/protocol.md 5.1 and 9.4),
 * read defensively. The client restates none of them: a value the server did not send is simply not checked
 * here (the server still enforces it).
 */

/**
 * @typedef {object} Limits every field is a positive integer, or absent when the server sent none
 * @property {number} [max_message_bytes]
 * @property {number} [max_chat_chars]
 * @property {number} [max_participants]
 * @property {number} [max_agenda_phases]
 * @property {number} [max_phase_title_chars]
 * @property {number} [max_phase_minutes]
 * @property {number} [max_breakouts]
 * @property {number} [max_breakout_name_chars]
 * @property {number} [max_breakout_minutes]
 * @property {number} [max_homework_chars]
 * @property {number} [max_broadcast_chars]
 * @typedef {{title: string, minutes: number}} Phase
 * @typedef {{id: string, name: string, phases: Phase[]}} AgendaTemplate
 */

/**
 * Returns the limits of a `hello` result, keeping only positive integers.
 * @param {any} hello
 * @returns {Readonly<Limits>}
 */
export function readLimits(hello) {
  const raw = hello && hello.limits && typeof hello.limits === "object" ? hello.limits : {};
  /** @type {Record<string, number>} */
  const limits = {};
  for (const [key, value] of Object.entries(raw)) {
    if (Number.isInteger(value) && value > 0) limits[key] = value;
  }
  return Object.freeze(limits);
}

/** The id the group's own agenda has among the templates (agenda-start sends its phases, which win). */
export const GROUP_AGENDA = "group";

/**
 * Returns the agenda templates of a `hello` result in the server's order, skipping malformed entries;
 * a practice group's own agenda, when `hello` offers one, comes first.
 * @param {any} hello
 * @returns {ReadonlyArray<AgendaTemplate>}
 */
export function readAgendaTemplates(hello) {
  const raw = hello && Array.isArray(hello.agenda_templates) ? [...hello.agenda_templates] : [];
  // A practice group's own agenda (hello's `default_agenda`, hosts only) comes first: it is what the
  // group's facilitators set as the way their sessions run, so the agenda editor starts from it.
  if (hello && Array.isArray(hello.default_agenda) && hello.default_agenda.length) {
    raw.unshift({ id: GROUP_AGENDA, name: "This group's agenda", phases: hello.default_agenda });
  }
  /** @type {AgendaTemplate[]} */
  const templates = [];
  for (const template of raw) {
    if (!template || typeof template.id !== "string" || !Array.isArray(template.phases)) continue;
    const phases = template.phases
      .filter((/** @type {any} */ p) => p && typeof p.title === "string" && Number.isFinite(p.minutes))
      .map((/** @type {any} */ p) => ({ title: p.title, minutes: Number(p.minutes) }));
    const name = typeof template.name === "string" && template.name ? template.name : template.id;
    templates.push({ id: template.id, name, phases });
  }
  return Object.freeze(templates);
}
