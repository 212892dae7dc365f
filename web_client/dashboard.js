// @ts-check
/**
 * The clinician dashboard: log in (with two-factor), today's and upcoming sessions across the clinician's
 * groups in their own time zone, starting a session, groups and members, invites, accounts (administrators),
 * API keys and the clinician's own account (changing their password). Everything goes through /api/v1 (practice_api.js); nothing here decides a rule the server
 * does not check again.
 */

import { h } from "./dom.js";
import { api, ApiError, formatLocal, localDate, setCsrfToken } from "./practice_api.js";
import { auditView, historyView, keepMoodsForm, progressView, sessionView } from "./records_view.js";

const KINDS = [["process", "Process"], ["psychoeducational", "Psychoeducational"], ["specialized", "Specialized"],
  ["family-couples", "Family & couples"]];
const ZONES = Intl.supportedValuesOf ? Intl.supportedValuesOf("timeZone") : [];

/** @type {{account: any, view: string, groupId: string|null}} */
const state = { account: null, view: "sessions", groupId: null };
// The views a group's records open from: the Groups button stays the current one while they show.
const GROUP_VIEWS = ["group", "history", "session", "progress"];

/** @param {string} id */
const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));

/**
 * @param {string} text
 * @param {"ok"|"error"|""} [kind]
 */
function notify(text, kind = "") {
  const notice = $("notice");
  notice.textContent = text;
  notice.className = kind;
}

/** Handles an API refusal: back to the login when the session is gone, else says why. @param {unknown} err */
function failed(err) {
  if (err instanceof ApiError && (err.code === "not-logged-in" || err.code === "session-expired")) {
    showLogin(err.code === "session-expired" ? "You were logged off after a time without activity. Log in again." : "");
    return;
  }
  notify(err instanceof Error ? err.message : String(err), "error");
}

// -- login -----------------------------------------------------------------------------------------

/** @param {string} message */
function showLogin(message) {
  state.account = null;
  setCsrfToken("");
  $("app").hidden = true;
  $("logout").hidden = true;
  $("who").textContent = "";
  $("login").hidden = false;
  $("login-error").textContent = message;
  notify("");
}

/** @param {{account: any, csrf_token: string}} session */
function signedIn(session) {
  state.account = session.account;
  setCsrfToken(session.csrf_token);
  $("login").hidden = true;
  $("login-code-row").hidden = true;
  $("enrollment").hidden = true;
  /** @type {HTMLInputElement} */ ($("login-password")).value = "";
  /** @type {HTMLInputElement} */ ($("login-code")).value = "";
  $("app").hidden = false;
  $("logout").hidden = false;
  $("who").textContent = `${session.account.display_name} (${session.account.email}) · ${session.account.tz}`;
  $("who").dataset.role = session.account.role;
  for (const adminOnly of ["accounts", "audit"]) {
    /** @type {HTMLElement} */ (document.querySelector(`[data-view="${adminOnly}"]`)).hidden = session.account.role !== "admin";
  }
  show("sessions");
}

async function submitLogin(/** @type {Event} */ event) {
  event.preventDefault();
  const email = /** @type {HTMLInputElement} */ ($("login-email")).value;
  const password = /** @type {HTMLInputElement} */ ($("login-password")).value;
  const code = /** @type {HTMLInputElement} */ ($("login-code")).value.trim();
  $("login-error").textContent = "";
  try {
    signedIn(await api("POST", "/login", code ? { email, password, code } : { email, password }));
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
    if (["totp-required", "totp-invalid", "totp-enrollment-required"].includes(err.code)) {
      $("login-code-row").hidden = false;
      /** @type {HTMLInputElement} */ ($("login-code")).value = "";
      /** @type {HTMLInputElement} */ ($("login-code")).focus();
    }
    if (err.code === "totp-enrollment-required") {
      $("enrollment").hidden = false;
      $("totp-secret").textContent = err.body.totp_secret;
      $("totp-uri").setAttribute("href", err.body.otpauth_uri);
    }
    $("login-error").textContent = err.code === "totp-required" ? "" : err.message;
  }
}

// -- views -----------------------------------------------------------------------------------------

/** @param {string} view @param {string|null} [groupId] @param {Record<string, any>} [params] a records view's range, member, session */
async function show(view, groupId = null, params = {}) {
  state.view = view;
  state.groupId = groupId;
  for (const button of document.querySelectorAll("nav button")) {
    const current = /** @type {HTMLElement} */ (button).dataset.view === view || (GROUP_VIEWS.includes(view) &&
      /** @type {HTMLElement} */ (button).dataset.view === "groups");
    if (current) button.setAttribute("aria-current", "page"); else button.removeAttribute("aria-current");
  }
  const container = $("view");
  try {
    const content = view === "sessions" ? await sessionsView() : view === "groups" ? await groupsView()
      : view === "group" && groupId ? await groupView(groupId) : view === "accounts" ? await accountsView()
        : view === "history" && groupId ? await historyView(records, groupId, params)
          : view === "session" && groupId ? await sessionView(records, groupId, params)
            : view === "progress" && groupId ? await progressView(records, groupId, params)
              : view === "audit" ? await auditView(records, params)
                : view === "account" ? accountView() : await keysView();
    container.replaceChildren(content);
  } catch (err) {
    failed(err);
  }
}

/** What the records views (records_view.js) use of the dashboard. @type {import("./records_view.js").Context} */
const records = {
  get account() { return state.account; },
  notify, failed, show,
};

/** @param {Record<string, any>} props @param {Array<[string, string]>} options @param {string} [selected] */
function select(props, options, selected) {
  return h("select", props, ...options.map(([value, label]) => h("option", { value, selected: value === selected, text: label })));
}

/** @param {string} id @param {string} label @param {HTMLElement} control */
function field(id, label, control) {
  control.id = id;
  return h("div", {}, h("label", { for: id, text: label }), control);
}

/**
 * A time zone field: any IANA name (the server checks it), with the browser's list as suggestions. Not a
 * select, since browsers list ICU's spellings (Asia/Calcutta) where people and tz data say Asia/Kolkata.
 * @param {string} [selected] @param {string} [testid]
 */
function zoneSelect(selected, testid) {
  return h("input", { value: selected || "UTC", list: "zones", required: true, autocomplete: "off", "data-testid": testid });
}

/** The suggestions every time zone field shares. */
function zoneList() {
  if (document.getElementById("zones")) return;
  document.body.append(h("datalist", { id: "zones" }, ...ZONES.map((zone) => h("option", { value: zone }))));
}

/** Reads a form's named controls into an object. @param {HTMLFormElement} form */
function values(form) {
  /** @type {Record<string, any>} */
  const out = {};
  for (const element of Array.from(form.elements)) {
    const control = /** @type {HTMLInputElement} */ (element);
    if (!control.name) continue;
    out[control.name] = control.type === "checkbox" ? control.checked : control.type === "number"
      ? Number(control.value) : control.value;
  }
  return out;
}

/**
 * A secret link or key to copy (invites, API keys): kept only hashed by the server.
 * @param {string} url @param {string} testid @param {string} [hint]
 */
function oneTimeValue(url, testid, hint = "Only a fingerprint of it is stored. Anyone with it can open this page: \"New link\" replaces it.") {
  const input = h("input", { readonly: true, value: url, "data-testid": testid, "aria-label": "Link to copy" });
  const copy = h("button", {
    type: "button", text: "Copy", "data-testid": `${testid}-copy`,
    onclick: () => navigator.clipboard?.writeText(url).then(() => notify("Copied.", "ok"), () => notify("Select the text and copy it.")),
  });
  return h("div", { className: "button-row" }, input, copy,
    h("p", { className: "hint", text: hint }));
}

// -- sessions ----------------------------------------------------------------------------------------

async function sessionsView() {
  const { groups } = await api("GET", "/groups");
  const tz = state.account.tz;
  const today = localDate(new Date(), tz);
  const rows = groups.flatMap((/** @type {any} */ g) => g.upcoming.map((/** @type {any} */ o) => ({ group: g, occurrence: o })))
    .sort((/** @type {any} */ a, /** @type {any} */ b) => a.occurrence.start.localeCompare(b.occurrence.start));
  const todays = rows.filter((r) => localDate(r.occurrence.start, tz) === today);
  const later = rows.filter((r) => localDate(r.occurrence.start, tz) !== today);
  const result = h("div", { "data-testid": "start-result" });
  /** @param {{group: any, occurrence: any}} row */
  const item = ({ group, occurrence }) => h("tr", {
    "data-testid": "session-row", dataset: { group: group.id, occurrence: occurrence.key },
    className: occurrence.cancelled ? "cancelled" : "",
  },
  h("td", { text: formatLocal(occurrence.start, tz), "data-testid": "session-time" }),
  h("td", { text: group.name }),
  h("td", {}, occurrence.cancelled ? "Cancelled" : h("button", {
    type: "button", text: "Start session", "data-testid": "start-session",
    onclick: () => startSession(group.id, occurrence.key, result),
  })));
  /** @param {string} title @param {any[]} list @param {string} testid */
  const table = (title, list, testid) => h("section", { "data-testid": testid }, h("h2", { text: title }),
    list.length ? h("table", {}, h("tbody", {}, ...list.map(item)))
      : h("p", { text: title === "Today" ? "No session today." : "Nothing scheduled in the next four weeks." }));
  return h("div", {}, h("h1", { text: "Sessions" }),
    h("p", { className: "hint", text: `Times in your time zone, ${tz}.` }), result,
    table("Today", todays, "sessions-today"), table("Upcoming", later, "sessions-upcoming"));
}

/** @param {string} groupId @param {string} key @param {HTMLElement} where */
async function startSession(groupId, key, where) {
  try {
    const { join_url: url } = await api("POST", `/groups/${groupId}/start`, { occurrence: key });
    where.replaceChildren(h("p", { className: "ok" }, "Your host link is ready: ",
      h("a", { href: url, target: "_blank", rel: "noopener", "data-testid": "session-link", text: "open the session" }),
      ". It works once; start again for a new one."));
  } catch (err) {
    failed(err);
  }
}

// -- groups ------------------------------------------------------------------------------------------

async function groupsView() {
  const { groups } = await api("GET", "/groups");
  const form = /** @type {HTMLFormElement} */ (h("form", { className: "card", "data-testid": "group-form" },
    h("h2", { text: "New group" }),
    field("group-name", "Name", h("input", { name: "name", required: true, maxlength: 100, "data-testid": "group-name" })),
    field("group-kind", "Type", select({ name: "kind", "data-testid": "group-kind" }, KINDS, "process")),
    field("group-focus", "Focus (specialized groups: e.g. trauma, anxiety)", h("input", { name: "focus", maxlength: 100, "data-testid": "group-focus" })),
    field("group-capacity", "Capacity", h("input", { name: "capacity", type: "number", min: 2, max: 100, value: 15, "data-testid": "group-capacity" })),
    field("group-tz", "Home time zone", Object.assign(zoneSelect(state.account.tz, "group-tz"), { name: "tz" })),
    h("div", { className: "button-row" }, h("button", { type: "submit", text: "Create group", "data-testid": "group-create" }))));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const group = await api("POST", "/groups", values(form));
      notify(`Group "${group.name}" created.`, "ok");
      show("group", group.id);
    } catch (err) {
      failed(err);
    }
  });
  const list = groups.length ? h("table", {}, h("tbody", {}, ...groups.map((/** @type {any} */ g) => h("tr", { "data-testid": "group-row", dataset: { group: g.id } },
    h("td", {}, h("button", { type: "button", className: "link-button", text: g.name, "data-testid": "group-open", onclick: () => show("group", g.id) })),
    h("td", { text: KINDS.find(([k]) => k === g.kind)?.[1] || g.kind }), h("td", { text: g.tz }))))) : h("p", { text: "No groups yet." });
  return h("div", {}, h("h1", { text: "Groups" }), list, form);
}

/** @param {string} groupId */
async function groupView(groupId) {
  const [group, { clinicians }] = await Promise.all([api("GET", `/groups/${groupId}`), api("GET", "/clinicians")]);
  const tz = state.account.tz;
  const linkBox = h("div", { "data-testid": "invite-box" });
  const members = group.members.filter((/** @type {any} */ m) => !m.guest_of);
  const memberRow = (/** @type {any} */ m) => h("tr", { "data-testid": "member-row", dataset: { member: m.id, status: m.status } },
    h("td", { text: m.guest_of ? `${m.display_name} (guest of ${group.members.find((/** @type {any} */ x) => x.id === m.guest_of)?.display_name || "?"})` : m.display_name, "data-testid": "member-name" }),
    h("td", { text: m.tz }),
    h("td", { text: m.status === "active" ? "Active" : "Discharged" }),
    h("td", { text: m.setup_passed ? "Setup passed" : "Setup not checked yet", "data-testid": "setup-status", dataset: { passed: String(m.setup_passed) } }),
    h("td", { text: m.has_invite ? "Link sent" : "No live link", "data-testid": "invite-status" }),
    h("td", {}, m.status !== "active" ? "" : h("div", { className: "button-row" },
      m.has_invite ? h("button", { type: "button", text: "Copy link", "data-testid": "invite-show", onclick: () => memberAction(group.id, m, "show", linkBox) }) : "",
      m.has_invite && m.email ? h("button", { type: "button", text: "Send link", "data-testid": "invite-send", onclick: () => memberAction(group.id, m, "send", linkBox) }) : "",
      h("button", { type: "button", text: m.has_invite ? "New link" : "Make link", "data-testid": "invite-new", onclick: () => memberAction(group.id, m, "new", linkBox) }),
      m.has_invite ? h("button", { type: "button", text: "Revoke link", "data-testid": "invite-revoke", onclick: () => memberAction(group.id, m, "revoke", linkBox) }) : "",
      h("button", { type: "button", className: "danger-button", text: "Discharge", "data-testid": "discharge", onclick: () => memberAction(group.id, m, "discharge", linkBox) }))));
  const form = /** @type {HTMLFormElement} */ (h("form", { className: "card", "data-testid": "member-form" },
    h("h2", { text: "Add a member" }),
    field("member-name", "Name shown in the group (a first name or an alias)", h("input", { name: "display_name", required: true, maxlength: 40, "data-testid": "member-name-input" })),
    field("member-email", "Email (optional, for reminders)", h("input", { name: "email", type: "email", "data-testid": "member-email" })),
    field("member-tz", "Their time zone", Object.assign(zoneSelect(group.tz, "member-tz"), { name: "tz" })),
    group.kind === "family-couples" ? field("member-guest-of", "Guest of (leave empty for a member)",
      select({ name: "guest_of", "data-testid": "member-guest-of" }, [["", "—"], ...members.map((/** @type {any} */ m) => [m.id, m.display_name])], "")) : "",
    h("div", { className: "button-row" }, h("button", { type: "submit", text: "Add member", "data-testid": "member-add" }))));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = values(form);
    if (!body.guest_of) delete body.guest_of;
    if (!body.email) delete body.email;
    try {
      const added = await api("POST", `/groups/${group.id}/members`, body);
      await show("group", group.id);
      $("view").querySelector('[data-testid="invite-box"]')?.replaceChildren(
        h("p", { text: `Invite link for ${added.member.display_name}:` }), oneTimeValue(added.invite_url, "invite-url"));
    } catch (err) {
      failed(err);
    }
  });
  const upcoming = group.upcoming.length ? h("table", { "data-testid": "group-upcoming" }, h("tbody", {},
    ...group.upcoming.map((/** @type {any} */ o) => occurrenceRow(group, o))))
    : h("p", { text: "No session scheduled in the next four weeks." });
  return h("div", { "data-testid": "group-view", dataset: { group: group.id } },
    h("h1", { text: group.name, "data-testid": "group-title" }),
    h("p", { text: `${KINDS.find(([k]) => k === group.kind)?.[1] || group.kind}${group.focus ? ` · ${group.focus}` : ""} · capacity ${group.capacity} · home time zone ${group.tz}` }),
    h("div", { className: "button-row" }, h("button", { type: "button", text: "History and attendance", "data-testid": "open-history",
      onclick: () => show("history", group.id) })),
    h("h2", { text: "Upcoming sessions" }), h("p", { className: "hint", text: `Times in your time zone, ${tz}.` }), upcoming,
    scheduleForm(group), facilitatorsForm(group, clinicians), groupForm(group),
    "keep_moods" in group ? keepMoodsForm(records, group) : "",
    h("h2", { text: "Members" }), linkBox,
    group.members.length ? h("table", {}, h("tbody", {}, ...group.members.map(memberRow))) : h("p", { text: "No members yet." }),
    form);
}

/**
 * Whether members confirm where they are and an emergency contact at every join (only hosts see it).
 * @param {string} id @param {boolean} checked
 */
function emergencyBox(id, checked) {
  return h("div", {}, h("label", { for: id }, h("input", { type: "checkbox", id, name: "emergency_info", checked, "data-testid": id }),
    " Members confirm their current location and an emergency contact at every join"));
}

/** The group's own details: name, focus, capacity, agenda template, agreement and emergency information. @param {any} group */
function groupForm(group) {
  const form = /** @type {HTMLFormElement} */ (h("form", { className: "card", "data-testid": "group-edit" },
    h("h2", { text: "Group details" }),
    field("edit-name", "Name (members see it)", h("input", { name: "name", required: true, maxlength: 100, value: group.name, "data-testid": "edit-name" })),
    field("edit-focus", "Focus (never shown to members)", h("input", { name: "focus", maxlength: 100, value: group.focus, "data-testid": "edit-focus" })),
    field("edit-capacity", "Capacity", h("input", { name: "capacity", type: "number", min: 2, max: 100, value: group.capacity, "data-testid": "edit-capacity" })),
    field("edit-agenda", "Default agenda (one phase per line: title, then minutes, e.g. “Check-in 10”)",
      h("textarea", { name: "agenda_template", rows: 5, maxlength: 4000, "data-testid": "edit-agenda" }, group.agenda_template)),
    field("edit-consent", "Confidentiality agreement (everyone accepts it before entering)", h("textarea", { name: "consent_text", rows: 5, maxlength: 4000, required: true, "data-testid": "edit-consent" }, group.consent_text)),
    emergencyBox("edit-emergency", group.emergency_info),
    h("div", { className: "button-row" }, h("button", { type: "submit", text: "Save details", "data-testid": "group-save" }))));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await api("PATCH", `/groups/${group.id}`, values(form));
      await show("group", group.id);
      notify("Group saved.", "ok");
    } catch (err) {
      failed(err);
    }
  });
  return form;
}

/** Who hosts the group: one or more facilitators (co-facilitators). @param {any} group @param {any[]} clinicians */
function facilitatorsForm(group, clinicians) {
  const boxes = clinicians.map((c) => h("label", {}, h("input", {
    type: "checkbox", value: c.id, checked: group.facilitators.includes(c.id), "data-testid": "facilitator-choice",
    dataset: { name: c.display_name },
  }), ` ${c.display_name}`));
  const form = /** @type {HTMLFormElement} */ (h("form", { className: "card", "data-testid": "facilitators-form" },
    h("h2", { text: "Facilitators" }), h("fieldset", {}, h("legend", { text: "Who hosts this group" }), ...boxes),
    h("div", { className: "button-row" }, h("button", { type: "submit", text: "Save facilitators", "data-testid": "facilitators-save" }))));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const chosen = boxes.map((b) => /** @type {HTMLInputElement} */ (b.querySelector("input"))).filter((c) => c.checked).map((c) => c.value);
    try {
      await api("PATCH", `/groups/${group.id}`, { facilitators: chosen });
      if (chosen.includes(state.account.id) || state.account.role === "admin") await show("group", group.id);
      else await show("groups");
      notify("Facilitators saved.", "ok");
    } catch (err) {
      failed(err);
    }
  });
  return form;
}

const DAYS = [["MO", "Mon"], ["TU", "Tue"], ["WE", "Wed"], ["TH", "Thu"], ["FR", "Fri"], ["SA", "Sat"], ["SU", "Sun"]];

/**
 * One occurrence with its exceptions: cancel, restore, or move it (the new start in the group's own time).
 * @param {any} group @param {any} o
 */
function occurrenceRow(group, o) {
  const moveTo = h("input", { type: "datetime-local", "data-testid": "occurrence-move-start", "aria-label": `New start (${group.tz} time)` });
  const change = async (/** @type {Record<string, any>} */ body) => {
    try {
      await api("POST", `/groups/${group.id}/occurrences`, { key: o.key, ...body });
      await show("group", group.id);
      notify("Schedule changed.", "ok");
    } catch (err) {
      failed(err);
    }
  };
  return h("tr", { "data-testid": "occurrence-row", dataset: { key: o.key, cancelled: String(o.cancelled) }, className: o.cancelled ? "cancelled" : "" },
    h("td", { text: formatLocal(o.start, state.account.tz) + (o.cancelled ? " (cancelled)" : ""), "data-testid": "occurrence-time" }),
    h("td", {}, o.cancelled
      ? h("button", { type: "button", text: "Restore", "data-testid": "occurrence-restore", onclick: () => change({ action: "restore" }) })
      : h("div", { className: "button-row" },
        h("button", { type: "button", text: "Cancel this one", "data-testid": "occurrence-cancel", onclick: () => change({ action: "cancel" }) }),
        moveTo,
        h("button", { type: "button", text: "Move", "data-testid": "occurrence-move", onclick: () => {
          const start = /** @type {HTMLInputElement} */ (moveTo).value.slice(0, 16);
          if (start) change({ action: "move", start });
        } }))));
}

/** The schedule editor: first session, duration, weekly days and how many weeks, as an RFC 5545 rule. @param {any} group */
function scheduleForm(group) {
  const current = group.schedule;
  const rule = h("input", { name: "rrule", value: current?.rrule || "", "data-testid": "schedule-rrule", placeholder: "one-off" });
  const weeks = h("input", { type: "number", min: 1, max: 52, value: 8, "data-testid": "schedule-weeks", "aria-label": "Number of weeks" });
  const until = h("input", { type: "date", "data-testid": "schedule-until", "aria-label": "Last day" });
  const days = DAYS.map(([code, label]) => h("label", {}, h("input", { type: "checkbox", value: code, "data-testid": `schedule-day-${code}`,
    checked: Boolean(current?.rrule?.match(new RegExp(`BYDAY=[A-Z,]*${code}`))) }), ` ${label}`));
  const compose = () => {
    const chosen = days.map((d) => /** @type {HTMLInputElement} */ (d.querySelector("input"))).filter((c) => c.checked).map((c) => c.value);
    // A last day replaces the number of weeks: the server turns it into the rule's UNTIL in the group's zone.
    const ending = /** @type {HTMLInputElement} */ (until).value ? ""
      : `;COUNT=${chosen.length * Number(/** @type {HTMLInputElement} */ (weeks).value || 1)}`;
    /** @type {HTMLInputElement} */ (rule).value = chosen.length ? `FREQ=WEEKLY;BYDAY=${chosen.join(",")}${ending}` : "";
  };
  for (const d of days) d.addEventListener("change", compose);
  weeks.addEventListener("input", compose);
  until.addEventListener("input", compose);
  const form = /** @type {HTMLFormElement} */ (h("form", { className: "card", "data-testid": "schedule-form" },
    h("h2", { text: current ? "Schedule" : "Set a schedule" }),
    h("p", { className: "hint", text: `In the group's home time zone, ${group.tz}: the time stays the same across daylight-saving changes.` }),
    field("schedule-start", "First session (local time)", h("input", { name: "start", type: "datetime-local", required: true, value: current?.start || "", "data-testid": "schedule-start" })),
    field("schedule-duration", "Length (minutes)", h("input", { name: "duration", type: "number", min: 5, max: 480, value: current?.duration || 90, "data-testid": "schedule-duration" })),
    h("fieldset", {}, h("legend", { text: "Repeats weekly on" }), ...days),
    field("schedule-weeks", "For how many weeks", weeks),
    field("schedule-until", "Or until this day (the last one included)", until),
    field("schedule-rrule", "Rule (RFC 5545; empty for a one-off session)", rule),
    h("div", { className: "button-row" }, h("button", { type: "submit", text: "Save schedule", "data-testid": "schedule-save" }))));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = values(form);
    try {
      const last = /** @type {HTMLInputElement} */ (until).value;
      await api("PUT", `/groups/${group.id}/schedule`, {
        start: String(body.start).slice(0, 16), duration: body.duration, rrule: body.rrule || null,
        exceptions: current?.exceptions || [], ...(last && body.rrule ? { until: last } : {}),
      });
      await show("group", group.id);
      notify("Schedule saved.", "ok");
    } catch (err) {
      failed(err);
    }
  });
  return form;
}

/** @param {string} groupId @param {any} member @param {"new"|"show"|"send"|"revoke"|"discharge"} action @param {HTMLElement} box */
async function memberAction(groupId, member, action, box) {
  const path = `/groups/${groupId}/members/${member.id}`;
  try {
    if (action === "show") {
      const { invite_url: url } = await api("GET", `${path}/invite`);
      box.replaceChildren(h("p", { text: `Invite link for ${member.display_name}:` }), oneTimeValue(url, "invite-url"));
      return;
    }
    if (action === "send") {
      await api("POST", `${path}/invite/send`);
      notify(`${member.display_name}'s link was emailed.`, "ok");
      return;
    }
    if (action === "new") {
      const { invite_url: url } = await api("POST", `${path}/invite`);
      await show("group", groupId);
      $("view").querySelector('[data-testid="invite-box"]')?.replaceChildren(
        h("p", { text: `New invite link for ${member.display_name} (the old one no longer works):` }), oneTimeValue(url, "invite-url"));
      return;
    }
    if (action === "revoke") await api("DELETE", `${path}/invite`);
    if (action === "discharge") await api("PATCH", path, { status: "discharged" });
    await show("group", groupId);
    notify(action === "revoke" ? `${member.display_name}'s link no longer works.` : `${member.display_name} was discharged.`, "ok");
  } catch (err) {
    failed(err);
  }
}

// -- accounts (administrators) ---------------------------------------------------------------------

async function accountsView() {
  const { accounts } = await api("GET", "/accounts");
  const form = /** @type {HTMLFormElement} */ (h("form", { className: "card", "data-testid": "account-form" },
    h("h2", { text: "New account" }),
    field("account-email", "Email", h("input", { name: "email", type: "email", required: true, "data-testid": "account-email" })),
    field("account-name", "Name shown in sessions", h("input", { name: "display_name", required: true, maxlength: 40, "data-testid": "account-name" })),
    field("account-role", "Role", select({ name: "role", "data-testid": "account-role" }, [["clinician", "Clinician"], ["admin", "Administrator"]], "clinician")),
    field("account-tz", "Time zone", Object.assign(zoneSelect(state.account.tz, "account-tz"), { name: "tz" })),
    field("account-password", "First password (at least 12 characters)", h("input", { name: "password", type: "password", required: true, minlength: 12, autocomplete: "new-password", "data-testid": "account-password" })),
    h("label", {}, h("input", { name: "totp_required", type: "checkbox", checked: true, "data-testid": "account-totp" }), " Require two-factor sign-in"),
    h("div", { className: "button-row" }, h("button", { type: "submit", text: "Create account", "data-testid": "account-create" }))));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const made = await api("POST", "/accounts", values(form));
      await show("accounts");
      notify(`Account ${made.email} created.`, "ok");
    } catch (err) {
      failed(err);
    }
  });
  const row = (/** @type {any} */ a) => h("tr", { "data-testid": "account-row", dataset: { account: a.id } },
    h("td", { text: a.email }), h("td", { text: a.display_name }), h("td", { text: a.role }),
    h("td", { text: a.totp_enabled ? "Two-factor on" : a.totp_required ? "Two-factor at first login" : "Password only" }),
    h("td", { text: a.disabled ? "Disabled" : a.locked ? "Locked" : "Active" }),
    h("td", {}, h("div", { className: "button-row" },
      a.locked ? h("button", { type: "button", text: "Unlock", onclick: () => changeAccount(a.id, { unlock: true }) }) : "",
      a.totp_required ? "" : h("button", { type: "button", text: "Require two-factor", onclick: () => changeAccount(a.id, { totp_required: true }) }),
      a.totp_enabled ? h("button", { type: "button", text: "Reset two-factor", onclick: () => changeAccount(a.id, { reset_totp: true }) }) : "",
      a.id === state.account.id ? "" : h("button", { type: "button", text: a.disabled ? "Enable" : "Disable", onclick: () => changeAccount(a.id, { disabled: !a.disabled }) }))));
  return h("div", {}, h("h1", { text: "Accounts" }), h("table", {}, h("tbody", {}, ...accounts.map(row))), form);
}

/** @param {string} id @param {Record<string, any>} change */
async function changeAccount(id, change) {
  try {
    await api("PATCH", `/accounts/${id}`, change);
    await show("accounts");
  } catch (err) {
    failed(err);
  }
}

// -- API keys ----------------------------------------------------------------------------------------

async function keysView() {
  const { api_keys: keys } = await api("GET", "/api-keys");
  const shown = h("div");
  const form = /** @type {HTMLFormElement} */ (h("form", { className: "card", "data-testid": "key-form" },
    h("h2", { text: "New API key" }),
    h("p", { className: "hint", text: "A key acts for your account, for an integration such as your records system." }),
    field("key-label", "What it is for", h("input", { name: "label", required: true, maxlength: 100, "data-testid": "key-label" })),
    h("div", { className: "button-row" }, h("button", { type: "submit", text: "Make key", "data-testid": "key-create" }))));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const made = await api("POST", "/api-keys", values(form));
      await show("keys");
      $("view").querySelector('[data-testid="key-shown"]')?.replaceChildren(oneTimeValue(made.key, "api-key", "Shown this once: only a fingerprint of it is kept. Revoke it and make another if it is lost."));
    } catch (err) {
      failed(err);
    }
  });
  const row = (/** @type {any} */ k) => h("tr", { "data-testid": "key-row" }, h("td", { text: k.label }),
    h("td", { text: k.revoked ? "Revoked" : "Live" }),
    h("td", {}, k.revoked ? "" : h("button", { type: "button", text: "Revoke", onclick: async () => {
      try { await api("DELETE", `/api-keys/${k.id}`); await show("keys"); } catch (err) { failed(err); }
    } })));
  return h("div", {}, h("h1", { text: "API keys" }), h("div", { "data-testid": "key-shown" }, shown),
    keys.length ? h("table", {}, h("tbody", {}, ...keys.map(row))) : h("p", { text: "No keys yet." }), form);
}

// -- my account --------------------------------------------------------------------------------------

/** @param {string} text */
const sentence = (text) => text.charAt(0).toUpperCase() + text.slice(1) + (/[.!?]$/.test(text) ? "" : ".");

/** The logged-in clinician's own account: who they are, two-factor, and changing their password. */
function accountView() {
  const account = state.account;
  const input = (/** @type {string} */ name, /** @type {string} */ autocomplete, /** @type {string} */ testid) => /** @type {HTMLInputElement} */ (
    h("input", { name, type: "password", required: true, autocomplete, maxlength: 1024, "data-testid": testid,
      "aria-describedby": "password-error" }));
  const current = input("current_password", "current-password", "password-current");
  const fresh = input("new_password", "new-password", "password-new");
  const again = input("new_password_again", "new-password", "password-again");
  fresh.minLength = 12;
  again.minLength = 12;
  const error = h("p", { id: "password-error", className: "error", role: "alert", "data-testid": "password-error" });
  const done = h("p", { className: "ok", role: "status", "data-testid": "password-done" });
  /** @param {string} text @param {HTMLInputElement|null} [wrong] the field the problem is about */
  const problem = (text, wrong = null) => {
    done.textContent = "";
    error.textContent = text;
    for (const control of [current, fresh, again]) control.removeAttribute("aria-invalid");
    if (wrong) { wrong.setAttribute("aria-invalid", "true"); wrong.focus(); }
  };
  const form = /** @type {HTMLFormElement} */ (h("form", { className: "card", "data-testid": "password-form", "aria-labelledby": "password-heading" },
    h("h2", { id: "password-heading", text: "Change password" }),
    // The browser's password manager files the new password under this account.
    h("input", { type: "text", name: "username", autocomplete: "username", value: account.email, hidden: true, readonly: true }),
    field("password-current", "Current password", current),
    field("password-new", "New password (at least 12 characters)", fresh),
    field("password-again", "New password again", again),
    h("p", { className: "hint", text: "Changing it logs you out everywhere else; this browser stays logged in." }),
    error, done,
    h("div", { className: "button-row" }, h("button", { type: "submit", text: "Change password", "data-testid": "password-submit" }))));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (fresh.value !== again.value) {
      problem("The two new passwords are not the same. Type the new one twice.", again);
      return;
    }
    const button = /** @type {HTMLButtonElement} */ (form.querySelector('button[type="submit"]'));
    button.disabled = true;
    try {
      await api("POST", "/me/password", { current_password: current.value, new_password: fresh.value });
      form.reset();
      problem("");
      done.textContent = "Your password was changed. You were logged out everywhere else.";
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      if (["not-logged-in", "session-expired"].includes(err.code)) {
        failed(err);
        return;
      }
      const wrong = err.body.field === "current_password" ? current : err.body.field === "new_password" ? fresh : null;
      problem(err.code === "wrong-password" ? "Your current password is not right. Nothing was changed."
        : sentence(err.message), wrong);
    } finally {
      button.disabled = false;
    }
  });
  const twoFactor = account.totp_enabled ? "on (an authenticator app)" : account.totp_required ? "required at your next login" : "off";
  return h("div", {}, h("h1", { text: "My account" }),
    h("dl", { className: "account-facts", "data-testid": "my-account" },
      h("dt", { text: "Email" }), h("dd", { text: account.email }),
      h("dt", { text: "Time zone" }), h("dd", { text: account.tz }),
      h("dt", { text: "Two-factor sign-in" }), h("dd", { text: twoFactor, "data-testid": "my-totp" })),
    form);
}

// -- start -------------------------------------------------------------------------------------------

zoneList();
$("login").addEventListener("submit", submitLogin);
$("logout").addEventListener("click", async () => {
  try { await api("POST", "/logout"); } catch { /* logged off already */ }
  showLogin("You are logged out.");
});
for (const button of document.querySelectorAll("nav button")) {
  button.addEventListener("click", () => {
    notify(""); // a message about the last view's action does not belong on the next one
    show(/** @type {HTMLElement} */ (button).dataset.view || "sessions");
  });
}
api("GET", "/me").then(signedIn, (err) => {
  if (err instanceof ApiError && (err.code === "not-logged-in" || err.code === "session-expired")) showLogin("");
  else failed(err);
});
