// @ts-check
/**
 * Pure helpers of the dashboard's records views (no DOM, no fetch; tested in node): calendar ranges in the
 * clinician's own days, attendance and weekly hours said in words (never colour alone), the audit chain's
 * state in words, and query strings that carry only ids, codes and dates.
 */

const DAY_MS = 86400000;
export const MAX_RANGE_DAYS = 366; // the attendance API's limit

/** @param {string} day YYYY-MM-DD @returns {number} its UTC midnight, for day arithmetic only */
function utc(day) {
  const [y, m, d] = day.split("-").map(Number);
  return Date.UTC(y, m - 1, d);
}

/** @param {number} ms @returns {string} */
function dayOf(ms) {
  return new Date(ms).toISOString().slice(0, 10);
}

/** Whether a string is a real calendar date written YYYY-MM-DD. @param {string} day */
export function isDay(day) {
  return /^\d{4}-\d{2}-\d{2}$/.test(day) && dayOf(utc(day)) === day;
}

/** @param {string} day YYYY-MM-DD @param {number} days @returns {string} */
export function addDays(day, days) {
  return dayOf(utc(day) + days * DAY_MS);
}

/** The Monday starting the week of a day (weeks start on Monday, as the server's weekly totals do). @param {string} day */
export function mondayOf(day) {
  const weekday = (new Date(utc(day)).getUTCDay() + 6) % 7; // Monday 0 … Sunday 6
  return addDays(day, -weekday);
}

/** The quick ranges the History view offers. */
export const QUICK_RANGES = /** @type {const} */ ([["this-week", "This week"], ["last-week", "Last week"],
  ["last-4-weeks", "Last 4 weeks"]]);

/**
 * A named range around `today` (the clinician's local date), both ends included.
 * @param {"this-week"|"last-week"|"last-4-weeks"} kind
 * @param {string} today YYYY-MM-DD
 * @returns {{from: string, to: string}}
 */
export function quickRange(kind, today) {
  const monday = mondayOf(today);
  if (kind === "last-week") return { from: addDays(monday, -7), to: addDays(monday, -1) };
  if (kind === "last-4-weeks") return { from: addDays(monday, -21), to: addDays(monday, 6) };
  return { from: monday, to: addDays(monday, 6) };
}

/**
 * Why a chosen range cannot be asked for, or "" when it can.
 * @param {string} from @param {string} to
 */
export function rangeProblem(from, to) {
  if (!isDay(from) || !isDay(to)) return "Choose both days of the range.";
  if (from > to) return "The first day must not be after the last day.";
  if ((utc(to) - utc(from)) / DAY_MS + 1 > MAX_RANGE_DAYS) return `Choose at most ${MAX_RANGE_DAYS} days.`;
  return "";
}

/** Writes a calendar date for people: "Mon 30 Nov 2026". @param {string} day YYYY-MM-DD */
export function formatDay(day) {
  const parts = new Intl.DateTimeFormat("en-GB", { timeZone: "UTC", weekday: "short", day: "numeric", month: "short", year: "numeric" })
    .formatToParts(new Date(utc(day)));
  /** @param {string} type */
  const part = (type) => parts.find((p) => p.type === type)?.value || "";
  return `${part("weekday")} ${part("day")} ${part("month")} ${part("year")}`;
}

/** Hours for reading: at most one decimal, no trailing zero ("2.5", "3"). @param {number} hours */
export function hoursText(hours) {
  return String(Math.round(hours * 10) / 10);
}

/** @param {number} n @param {string} one @param {string} [many] */
export function plural(n, one, many = `${one}s`) {
  return `${n} ${n === 1 ? one : many}`;
}

/**
 * A member's week against the requirement, in words: "Week of Mon 30 Nov 2026: 2.5 of 3 hours, requirement
 * met" / "…: 1 of 3 hours, not met (2 short)".
 * @param {{week_start: string, hours: number, required: number, met: boolean}} week
 */
export function weeklyHoursText(week) {
  const head = `Week of ${formatDay(week.week_start)}: `;
  if (!(week.required > 0)) return `${head}${hoursText(week.hours)} hours (no weekly requirement)`;
  const of = `${hoursText(week.hours)} of ${hoursText(week.required)} hours`;
  if (week.met) return `${head}${of}, requirement met`;
  return `${head}${of}, not met (${hoursText(Math.max(0, week.required - week.hours))} short)`;
}

/**
 * @typedef {{occurrence: string, status: string, minutes_present: number, minutes_waiting: number,
 *   late_minutes: number, left_early_minutes: number, reconnects: number, removed: boolean,
 *   excuse_reason: string|null}} Attendance
 */

/**
 * One member's attendance at one occurrence, in words, for the History table's cell.
 * @param {Attendance} a
 * @returns {string}
 */
export function attendanceText(a) {
  if (a.status === "absent") return "Absent";
  if (a.status === "excused") return a.excuse_reason ? `Excused: ${a.excuse_reason}` : "Excused";
  if (a.status === "upcoming") return "Upcoming";
  if (a.status === "not-held") return "No session";
  if (a.status === "not-enrolled") return "Not yet a member";
  if (a.status !== "present") return a.status;
  const parts = [`Present ${plural(a.minutes_present || 0, "min", "min")}`];
  if (a.late_minutes > 0) parts.push(`late ${a.late_minutes} min`);
  if (a.left_early_minutes > 0) parts.push(`left ${a.left_early_minutes} min early`);
  if (a.reconnects > 0) parts.push(plural(a.reconnects, "reconnect"));
  if (a.minutes_waiting > 0) parts.push(`waited ${a.minutes_waiting} min`);
  if (a.removed) parts.push("removed by a host");
  return parts.join(", ");
}

/** What an occurrence's status means for people. @param {string} status */
export function occurrenceStatusText(status) {
  return { held: "Held", "not-held": "Not held", upcoming: "Upcoming", cancelled: "Cancelled" }[status] || status;
}

/**
 * Breakout rooms in words: how many, with their sizes when the record lists who was in each.
 * @param {any} rooms a count, or a list of rooms (each a list of participant ids, or {participants: [...]})
 */
export function breakoutRoomsText(rooms) {
  if (Array.isArray(rooms)) {
    const sizes = rooms.map((r) => (Array.isArray(r) ? r.length : Array.isArray(r?.participants) ? r.participants.length : null));
    const count = plural(rooms.length, "room");
    if (!rooms.length || sizes.some((n) => n === null)) return count;
    return `${count}: ${sizes.map((n) => plural(/** @type {number} */ (n), "person", "people")).join(", ")}`;
  }
  return typeof rooms === "number" ? plural(rooms, "room") : "—";
}

/** An audit entry's detail for the table: text as it is, anything else as compact JSON. @param {unknown} detail */
export function detailText(detail) {
  if (detail === null || detail === undefined) return "";
  return typeof detail === "string" ? detail : JSON.stringify(detail);
}

/**
 * @typedef {{ok: boolean, complete: boolean, entries: number, first_bad_seq: number|null, problem: string|null,
 *   gaps?: any, lost?: number}} ChainState
 * @typedef {{seq: number, hash: string, at: string, matches: boolean}} AnchorState
 */

/**
 * The audit log's hash chain and external anchor in words.
 * @param {ChainState} chain
 * @param {AnchorState|null} [anchor]
 * @returns {{text: string, ok: boolean}}
 */
export function chainText(chain, anchor = null) {
  const count = Number(chain.entries || 0).toLocaleString("en-US");
  const lost = Number(chain.lost || 0);
  let text;
  let ok = Boolean(chain.ok);
  if (!chain.ok) {
    text = `TAMPERED at entry ${chain.first_bad_seq ?? "?"}: ${chain.problem || "the chain does not verify"}`;
  } else if (lost > 0 || chain.complete === false) {
    ok = false;
    const gaps = Array.isArray(chain.gaps) ? chain.gaps.length : Number(chain.gaps || 0);
    text = `Hash chain intact for ${count} ${chain.entries === 1 ? "entry" : "entries"}, but records are missing: `
      + `${plural(lost, "entry", "entries")} lost${gaps ? ` in ${plural(gaps, "gap")}` : ""}`;
  } else {
    text = `Hash chain intact: ${count} ${chain.entries === 1 ? "entry" : "entries"}, no records lost`;
  }
  if (anchor) {
    if (anchor.matches) text += `; anchor matches (entry ${anchor.seq})`;
    else {
      ok = false;
      text += `; anchor DOES NOT match (entry ${anchor.seq}): the log was changed or cut after it was anchored`;
    }
  } else {
    text += "; no anchor written yet";
  }
  return { text, ok };
}

/**
 * A query string from the values that are set: "?from=2026-11-30&to=2026-12-06". Callers pass ids, codes
 * and dates only — never names, notes or moods (query strings end up in proxies' logs).
 * @param {Record<string, string|number|null|undefined>} params
 */
export function query(params) {
  const pairs = Object.entries(params).filter(([, v]) => v !== undefined && v !== null && v !== "");
  return pairs.length ? `?${new URLSearchParams(pairs.map(([k, v]) => [k, String(v)]))}` : "";
}
