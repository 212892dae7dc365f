// @ts-check
/**
 * The dashboard's records views (issue 10): a group's attendance history with excusals and weekly hours, a
 * held session's record with the facilitator's note, a member's progress (mood chart, homework, attendance),
 * and the administrators' audit log. Each view is built from the API's answer (docs/openapi.yaml); the words
 * come from records.js and mood_chart.js, which are pure. URLs carry ids, codes and dates only: names,
 * moods, notes and reasons travel in request bodies, never in a query string.
 */

import { h } from "./dom.js";
import { moodChart, renderMoodChart } from "./mood_chart.js";
import { api, formatLocal, localDate } from "./practice_api.js";
import {
  QUICK_RANGES, attendanceText, breakoutRoomsText, chainText, detailText, formatDay, hoursText, occurrenceStatusText, query, quickRange,
  rangeProblem, weeklyHoursText,
} from "./records.js";

/**
 * What the views need from the dashboard around them.
 * @typedef {{account: any, notify: (text: string, kind?: "ok"|"error"|"") => void, failed: (err: unknown) => void,
 *   show: (view: string, groupId?: string|null, params?: Record<string, any>) => Promise<void>}} Context
 */

/** The range a view opens with: the one asked for, else this week in the clinician's own zone. @param {Context} ctx @param {any} params */
function rangeOf(ctx, params) {
  if (params?.from && params?.to) return { from: String(params.from), to: String(params.to) };
  return quickRange("this-week", localDate(new Date(), ctx.account.tz));
}

/**
 * The date range chooser: two days and the quick ranges; `go` shows the same view for the chosen range.
 * @param {Context} ctx @param {{from: string, to: string}} range @param {(range: {from: string, to: string}) => void} go
 */
function rangeForm(ctx, range, go) {
  const from = /** @type {HTMLInputElement} */ (h("input", { type: "date", value: range.from, required: true, "data-testid": "range-from" }));
  const to = /** @type {HTMLInputElement} */ (h("input", { type: "date", value: range.to, required: true, "data-testid": "range-to" }));
  const problem = h("p", { className: "error", role: "alert", "data-testid": "range-problem" });
  const today = localDate(new Date(), ctx.account.tz);
  const form = h("form", { className: "range-form", "data-testid": "range-form", "aria-label": "Date range" },
    h("div", { className: "button-row" },
      h("div", {}, h("label", { for: "range-from", text: "From" }), Object.assign(from, { id: "range-from" })),
      h("div", {}, h("label", { for: "range-to", text: "To (included)" }), Object.assign(to, { id: "range-to" })),
      h("button", { type: "submit", text: "Show", "data-testid": "range-show" })),
    h("div", { className: "button-row", role: "group", "aria-label": "Quick ranges" },
      ...QUICK_RANGES.map(([kind, label]) => h("button", {
        type: "button", text: label, "data-testid": `range-${kind}`, onclick: () => go(quickRange(kind, today)),
      }))),
    problem);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const why = rangeProblem(from.value, to.value);
    problem.textContent = why;
    if (!why) go({ from: from.value, to: to.value });
  });
  return form;
}

/** A back button to another view. @param {string} text @param {() => void} onclick */
function back(text, onclick) {
  return h("p", {}, h("button", { type: "button", className: "link-button", text, "data-testid": "records-back", onclick }));
}

// -- History -----------------------------------------------------------------------------------------

/**
 * A group's attendance: members × occurrences in a date range, weekly hours against the requirement,
 * excusals, CSV and printable exports.
 * @param {Context} ctx @param {string} groupId @param {any} params {from, to}
 */
export async function historyView(ctx, groupId, params) {
  const range = rangeOf(ctx, params);
  const data = await api("GET", `/groups/${groupId}/attendance${query(range)}`);
  const tz = data.tz || ctx.account.tz;
  const go = (/** @type {{from: string, to: string}} */ r) => ctx.show("history", groupId, r);
  const occurrences = /** @type {any[]} */ (data.occurrences);
  const byKey = new Map(occurrences.map((o) => [o.key, o]));
  const exportPath = (/** @type {string} */ format) => `/api/v1/groups/${groupId}/attendance${query({ ...range, format })}`;

  const head = h("tr", {}, h("th", { scope: "col", text: "Member" }), ...occurrences.map((o) => h("th", {
    scope: "col", "data-testid": "occurrence-head", dataset: { key: o.key, status: o.status },
  }, o.status === "held" && o.sessions.length
    ? h("button", {
      type: "button", className: "link-button", "data-testid": "open-session",
      text: formatLocal(o.scheduled_start, tz), "aria-label": `Session record of ${formatLocal(o.scheduled_start, tz)}`,
      onclick: () => ctx.show("session", groupId, { occurrence: o.key, sessions: o.sessions.map((/** @type {any} */ s) => s.id),
        start: o.scheduled_start, back: range }),
    })
    : formatLocal(o.scheduled_start, tz),
  h("span", { className: "hint occurrence-status", text: ` ${occurrenceStatusText(o.status)}` }))));

  const cell = (/** @type {any} */ member, /** @type {any} */ a) => {
    const td = h("td", { "data-testid": "attendance-cell", dataset: { occurrence: a.occurrence, status: a.status } });
    const render = () => {
      td.replaceChildren(h("span", { text: attendanceText(a), "data-testid": "attendance-text" }));
      if (a.status === "absent") {
        td.append(" ", h("button", {
          type: "button", text: "Mark excused", "data-testid": "excuse",
          "aria-label": `Mark ${member.display_name} excused for ${formatLocal(byKey.get(a.occurrence)?.scheduled_start || "", tz)}`,
          onclick: () => askReason(),
        }));
      } else if (a.status === "excused") {
        td.append(" ", h("button", {
          type: "button", text: "Undo excusal", "data-testid": "unexcuse", "aria-label": `Undo ${member.display_name}'s excusal`,
          onclick: () => change("DELETE", { member_id: member.member_id, occurrence: a.occurrence }),
        }));
      }
    };
    const askReason = () => {
      const id = `reason-${member.member_id}-${a.occurrence}`;
      const input = /** @type {HTMLInputElement} */ (h("input", { id, required: true, minlength: 1, maxlength: 200, "data-testid": "excuse-reason" }));
      const form = h("form", { className: "excuse-form", "data-testid": "excuse-form" },
        h("label", { for: id, text: `Why ${member.display_name} is excused` }), input,
        h("div", { className: "button-row" }, h("button", { type: "submit", text: "Save excusal", "data-testid": "excuse-save" }),
          h("button", { type: "button", text: "Cancel", onclick: render })));
      form.addEventListener("submit", (event) => {
        event.preventDefault();
        const reason = input.value.trim();
        if (reason) change("PUT", { member_id: member.member_id, occurrence: a.occurrence, reason });
      });
      td.replaceChildren(form);
      input.focus();
    };
    const change = async (/** @type {string} */ method, /** @type {any} */ body) => {
      try {
        await api(method, `/groups/${groupId}/excusals`, body);
        await go(range);
        ctx.notify(method === "PUT" ? `${member.display_name} is excused.` : `${member.display_name}'s excusal was undone.`, "ok");
      } catch (err) {
        ctx.failed(err);
      }
    };
    render();
    return td;
  };

  const rows = data.members.map((/** @type {any} */ m) => h("tr", { "data-testid": "history-row", dataset: { member: m.member_id } },
    h("th", { scope: "row" }, h("button", {
      type: "button", className: "link-button", text: m.display_name, "data-testid": "open-progress",
      "aria-label": `Progress of ${m.display_name}`,
      onclick: () => ctx.show("progress", groupId, { member: m.member_id, ...range, occurrences: occurrences, back: range }),
    }), m.status === "discharged" ? h("span", { className: "hint", text: " (discharged)" }) : ""),
    ...occurrences.map((o) => {
      const a = m.attendance.find((/** @type {any} */ x) => x.occurrence === o.key);
      return a ? cell(m, a) : h("td", { text: "—" });
    })));

  const caption = `Attendance from ${formatDay(range.from)} to ${formatDay(range.to)}; times in your time zone, ${tz}`;
  return h("div", { "data-testid": "history-view", dataset: { group: groupId } },
    back("Back to the group", () => ctx.show("group", groupId)),
    h("h1", { text: `History: ${data.group.name}`, "data-testid": "history-title" }),
    rangeForm(ctx, range, go),
    h("div", { className: "button-row" },
      h("a", { href: exportPath("csv"), download: "", className: "button-link", text: "Download CSV", "data-testid": "history-csv" }),
      h("a", { href: exportPath("html"), target: "_blank", rel: "noopener", className: "button-link",
        text: "Printable page", "data-testid": "history-html" })),
    occurrences.length
      ? h("div", { className: "table-scroll" }, h("table", { "data-testid": "history-table" },
        h("caption", { text: caption }), h("thead", {}, head), h("tbody", {}, ...rows)))
      : h("p", { text: "No sessions were scheduled in this range.", "data-testid": "history-empty" }),
    weeksTable(data.members, data.weekly_hours_required));
}

/**
 * Weekly hours per member against the requirement, met or not said in words.
 * @param {any[]} members @param {number} required
 */
function weeksTable(members, required) {
  const rows = members.flatMap((m) => m.weeks.map((/** @type {any} */ w) => h("tr", {
    "data-testid": "week-row", dataset: { member: m.member_id, week: w.week_start, met: String(w.met) },
  }, h("th", { scope: "row", text: m.display_name }), h("td", { text: formatDay(w.week_start) }),
  h("td", { text: hoursText(w.hours) }), h("td", { text: hoursText(w.required) }),
  h("td", { text: w.required > 0 ? (w.met ? "Met" : `Not met (${hoursText(Math.max(0, w.required - w.hours))} hours short)`) : "No requirement",
    className: w.required > 0 && !w.met ? "error" : "", "data-testid": "week-met", title: weeklyHoursText(w) }))));
  return h("section", { "data-testid": "weekly-hours" }, h("h2", { text: "Weekly hours" }),
    rows.length ? h("table", {}, h("caption", { text: `Hours present per week (weeks start on Monday) against the requirement of ${hoursText(required)} hours a week` }),
      h("thead", {}, h("tr", {}, ...["Member", "Week of", "Hours", "Required", "Requirement"].map((t) => h("th", { scope: "col", text: t })))),
      h("tbody", {}, ...rows))
      : h("p", { text: "No weeks in this range." }));
}

// -- session record --------------------------------------------------------------------------------

/**
 * The record of a held occurrence: each of its sessions (a restart makes two), with phases, check-in,
 * homework, breakouts and the facilitator's note.
 * @param {Context} ctx @param {string} groupId @param {any} params {occurrence, sessions, start, back}
 */
export async function sessionView(ctx, groupId, params) {
  const tz = ctx.account.tz;
  const records = await Promise.all((params.sessions || []).map((/** @type {string} */ id) => api("GET", `/groups/${groupId}/sessions/${id}`)));
  const at = (/** @type {string|null} */ iso) => (iso ? formatLocal(iso, tz) : "—");
  const table = (/** @type {string} */ caption, /** @type {string[]} */ heads, /** @type {any[][]} */ rows, /** @type {string} */ testid) =>
    rows.length ? h("table", { "data-testid": testid }, h("caption", { text: caption }),
      h("thead", {}, h("tr", {}, ...heads.map((t) => h("th", { scope: "col", text: t })))),
      h("tbody", {}, ...rows.map((r) => h("tr", {}, ...r.map((c, i) => (i === 0 ? h("th", { scope: "row", text: String(c) }) : h("td", { text: String(c) })))))))
      : h("p", { text: `${caption}: none.`, "data-testid": `${testid}-none` });
  const one = (/** @type {any} */ s) => h("section", { className: "card", "data-testid": "session-record", dataset: { session: s.id } },
    h("h2", { text: `Session ${at(s.started_at)} to ${at(s.ended_at)}` }),
    h("p", { text: s.end_reason ? `Ended: ${s.end_reason}` : "Not ended yet" }),
    table("Phases run", ["#", "Phase", "Started", "Ended"], s.phases.map((/** @type {any} */ p) => [p.index + 1, p.title, at(p.started_at), at(p.ended_at)]), "session-phases"),
    table("Check-in", ["Member", "Outcome"], s.checkin.map((/** @type {any} */ c) => [c.display_name, c.outcome === "passed" ? "Passed" : "Took part"]), "session-checkin"),
    table("Homework", ["Posted", "Homework"], s.homework.map((/** @type {any} */ w) => [at(w.at), w.text]), "session-homework"),
    table("Breakouts", ["Opened", "Closed", "Rooms"], s.breakouts.map((/** @type {any} */ b) => [at(b.opened_at), at(b.closed_at), breakoutRoomsText(b.rooms)]), "session-breakouts"),
    noteForm(ctx, groupId, s));
  return h("div", { "data-testid": "session-view" },
    back("Back to the history", () => ctx.show("history", groupId, params.back)),
    h("h1", { text: `Session record: ${params.start ? formatLocal(params.start, tz) : params.occurrence}` }),
    ...records.map(one));
}

/** The facilitator's note on a session: kept sealed by the server; empty deletes it. @param {Context} ctx @param {string} groupId @param {any} s */
function noteForm(ctx, groupId, s) {
  const id = `note-${s.id}`;
  const text = /** @type {HTMLTextAreaElement} */ (h("textarea", { id, rows: 6, maxlength: 2000, "data-testid": "session-note" }, s.note?.text || ""));
  const saved = h("p", { className: "hint", role: "status", "data-testid": "session-note-saved",
    text: s.note ? `Last saved ${formatLocal(s.note.at, ctx.account.tz)}` : "No note yet." });
  const form = h("form", { "data-testid": "session-note-form" }, h("label", { for: id, text: "Facilitator's note (only this group's facilitators read it)" }), text,
    h("div", { className: "button-row" }, h("button", { type: "submit", text: "Save note", "data-testid": "session-note-save" })), saved);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const { note } = await api("PUT", `/groups/${groupId}/sessions/${s.id}/note`, { text: text.value });
      saved.textContent = note?.text ? `Saved ${formatLocal(note.at, ctx.account.tz)}` : "Note deleted.";
    } catch (err) {
      ctx.failed(err);
    }
  });
  return form;
}

// -- member progress -------------------------------------------------------------------------------

/**
 * One member's progress in a range: mood ratings (when the group keeps them), homework, attendance, weeks.
 * @param {Context} ctx @param {string} groupId @param {any} params {member, from, to, occurrences, back}
 */
export async function progressView(ctx, groupId, params) {
  const range = rangeOf(ctx, params);
  const tz = ctx.account.tz;
  const data = await api("GET", `/groups/${groupId}/members/${params.member}/progress${query(range)}`);
  const starts = new Map((params.occurrences || []).map((/** @type {any} */ o) => [o.key, o.scheduled_start]));
  const when = (/** @type {string} */ key) => (starts.has(key) ? formatLocal(starts.get(key), tz) : key);
  const chart = moodChart(data.moods);
  const attendance = data.attendance.map((/** @type {any} */ a) => h("tr", { "data-testid": "progress-attendance-row", dataset: { occurrence: a.occurrence, status: a.status } },
    h("th", { scope: "row", text: when(a.occurrence) }), h("td", { text: attendanceText(a) })));
  const homework = data.homework.map((/** @type {any} */ w) => h("li", { "data-testid": "progress-homework" },
    h("span", { className: "hint", text: `${formatLocal(w.at, tz)}: ` }), w.text));
  return h("div", { "data-testid": "progress-view", dataset: { member: data.member_id } },
    back("Back to the history", () => ctx.show("history", groupId, params.back || range)),
    h("h1", { text: `Progress: ${data.display_name}`, "data-testid": "progress-title" }),
    rangeForm(ctx, range, (r) => ctx.show("progress", groupId, { ...params, ...r })),
    h("section", { "data-testid": "progress-moods" }, h("h2", { text: "Check-in mood ratings" }),
      chart.points.length ? renderMoodChart(chart, `mood-${data.member_id}`, (iso) => formatLocal(iso, tz)) : "",
      h("p", { text: chart.summary, "data-testid": "mood-summary" }),
      chart.points.length ? h("ul", { className: "visually-hidden", "aria-label": "Each rating" },
        ...chart.points.map((p) => h("li", { text: `${formatLocal(p.at, tz)}: ${p.rating} of 10` }))) : ""),
    h("section", {}, h("h2", { text: "Homework" }),
      homework.length ? h("ul", {}, ...homework) : h("p", { text: "No homework in this range." })),
    h("section", {}, h("h2", { text: "Attendance" }),
      attendance.length ? h("table", { "data-testid": "progress-attendance" }, h("caption", { text: `Sessions from ${formatDay(range.from)} to ${formatDay(range.to)}` }),
        h("thead", {}, h("tr", {}, h("th", { scope: "col", text: "Session" }), h("th", { scope: "col", text: "Attendance" }))),
        h("tbody", {}, ...attendance)) : h("p", { text: "No sessions in this range." }),
      h("ul", {}, ...data.weeks.map((/** @type {any} */ w) => h("li", { text: weeklyHoursText(w), "data-testid": "progress-week" })))));
}

/**
 * The group's setting for mood ratings: kept (sealed, for its facilitators) or only shown live.
 * @param {Context} ctx @param {any} group
 */
export function keepMoodsForm(ctx, group) {
  const box = /** @type {HTMLInputElement} */ (h("input", { type: "checkbox", id: "keep-moods", checked: Boolean(group.keep_moods), "data-testid": "keep-moods" }));
  box.addEventListener("change", async () => {
    try {
      await api("PATCH", `/groups/${group.id}`, { keep_moods: box.checked });
      ctx.notify(box.checked ? "Members' check-in mood ratings are now kept." : "Mood ratings are no longer kept.", "ok");
    } catch (err) {
      box.checked = !box.checked;
      ctx.failed(err);
    }
  });
  return h("section", { className: "card", "data-testid": "keep-moods-form" }, h("h2", { text: "Check-in mood ratings" }),
    h("label", { for: "keep-moods" }, box, " Keep members' check-in mood ratings"),
    h("p", { className: "hint", text: "When on, each rating a member sends at check-in is kept, encrypted, for this group's facilitators, and shows in the member's progress. When off, ratings are only shown live to the hosts." }));
}

// -- audit log (administrators) ----------------------------------------------------------------------

/**
 * The audit log: filters, the entries with paging, the chain's state in words, CSV export.
 * @param {Context} ctx @param {any} params {actor, group, action, from, to, before, newer: number[]}
 */
export async function auditView(ctx, params = {}) {
  const filters = { actor: params.actor || "", group: params.group || "", action: params.action || "", from: params.from || "", to: params.to || "" };
  const [data, { groups }] = await Promise.all([
    api("GET", `/audit${query({ ...filters, before: params.before, limit: 100 })}`), api("GET", "/groups")]);
  const newer = /** @type {number[]} */ (params.newer || []);
  const chain = chainText(data.chain, data.anchor);
  const input = (/** @type {string} */ name, /** @type {string} */ label, /** @type {Record<string, any>} */ props = {}) => h("div", {},
    h("label", { for: `audit-${name}`, text: label }),
    h("input", { id: `audit-${name}`, name, value: filters[/** @type {keyof typeof filters} */ (name)], "data-testid": `audit-${name}`, ...props }));
  const form = /** @type {HTMLFormElement} */ (h("form", { className: "card audit-filters", "data-testid": "audit-filters", "aria-label": "Filter the audit log" },
    h("div", { className: "filter-grid" },
      input("actor", "Person (account or member id)"),
      h("div", {}, h("label", { for: "audit-group", text: "Group" }),
        h("select", { id: "audit-group", name: "group", "data-testid": "audit-group" }, h("option", { value: "", text: "All groups" }),
          ...groups.map((/** @type {any} */ g) => h("option", { value: g.id, selected: g.id === filters.group, text: g.name })))),
      input("action", "Action (e.g. records-read)"),
      input("from", "From", { type: "date" }), input("to", "To (included)", { type: "date" })),
    h("div", { className: "button-row" }, h("button", { type: "submit", text: "Filter", "data-testid": "audit-filter" }))));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    /** @type {Record<string, string>} */
    const chosen = {};
    for (const element of Array.from(form.elements)) {
      const control = /** @type {HTMLInputElement} */ (element);
      if (control.name) chosen[control.name] = control.value.trim();
    }
    ctx.show("audit", null, chosen);
  });
  const rows = data.entries.map((/** @type {any} */ e) => h("tr", { "data-testid": "audit-row", dataset: { seq: String(e.seq), action: e.action } },
    h("th", { scope: "row", text: String(e.seq) }), h("td", { text: formatLocal(e.at, ctx.account.tz) }), h("td", { text: e.action }),
    h("td", { text: e.actor || "" }), h("td", { text: e.role || "" }), h("td", { text: e.room || "" }), h("td", { text: e.session_id || "" }),
    h("td", { text: e.subject || "" }), h("td", { text: detailText(e.detail), className: "audit-detail" })));
  const page = (/** @type {number|undefined} */ before, /** @type {number[]} */ stack) => ctx.show("audit", null, { ...filters, before, newer: stack });
  return h("div", { "data-testid": "audit-view" },
    h("h1", { text: "Audit log" }),
    h("p", { className: chain.ok ? "ok chain-state" : "error chain-state", role: "status", text: chain.text, "data-testid": "chain-state", dataset: { ok: String(chain.ok) } }),
    form,
    h("div", { className: "button-row" },
      h("a", { href: `/api/v1/audit${query({ ...filters, format: "csv" })}`, download: "", className: "button-link", text: "Download CSV", "data-testid": "audit-csv" })),
    rows.length ? h("div", { className: "table-scroll" }, h("table", { "data-testid": "audit-table" },
      h("caption", { text: `Audit entries, newest first; times in your time zone, ${ctx.account.tz}` }),
      h("thead", {}, h("tr", {}, ...["#", "Time", "Action", "Actor", "Role", "Room", "Session", "Subject", "Detail"].map((t) => h("th", { scope: "col", text: t })))),
      h("tbody", {}, ...rows))) : h("p", { text: "No entries match.", "data-testid": "audit-empty" }),
    h("div", { className: "button-row" },
      newer.length ? h("button", { type: "button", text: "Newer entries", "data-testid": "audit-newer",
        onclick: () => page(newer[newer.length - 1] || undefined, newer.slice(0, -1)) }) : "",
      data.next_before !== null && data.next_before !== undefined ? h("button", { type: "button", text: "Older entries", "data-testid": "audit-older",
        onclick: () => page(data.next_before, [...newer, params.before || 0]) }) : ""));
}
