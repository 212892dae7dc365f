// @ts-check
/**
 * The member's page, opened from their personal invite (`/invite#<secret>`): their upcoming sessions in
 * their own time zone, help, and — from shortly before a session until it ends — "Join", which exchanges
 * the invite for a single-use join link. The secret stays in the fragment, so it never reaches a server log;
 * the page posts it to the API.
 */

import { h } from "./dom.js";
import { api, ApiError, formatLocal } from "./practice_api.js";

/** @param {string} id */
const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));

const secret = decodeURIComponent(location.hash.slice(1));

/** @param {string} message */
function invalid(message) {
  $("loading").hidden = true;
  $("page").hidden = true;
  $("invalid").hidden = false;
  if (message) $("invalid-message").textContent = message;
}

/** @param {any} page */
function render(page) {
  const tz = page.member.tz;
  $("loading").hidden = true;
  $("page").hidden = false;
  $("greeting").textContent = `Hello, ${page.member.display_name}`;
  $("group-name").textContent = `Your group: ${page.group.name}`;
  $("tz-hint").textContent = `Times in your time zone, ${tz}.`;
  $("support").textContent = page.support_text;
  $("upcoming").replaceChildren(...(page.upcoming.length ? page.upcoming.map((/** @type {any} */ o) =>
    h("li", { className: o.cancelled ? "cancelled" : "", "data-testid": "invite-occurrence", dataset: { cancelled: String(o.cancelled) },
      text: formatLocal(o.start, tz) + (o.cancelled ? " — cancelled" : "") })) : [h("li", { text: "No session is scheduled yet." })]));
  $("join-open").hidden = !page.open;
  if (page.open) $("open-time").textContent = formatLocal(page.open.start, tz);
  const next = $("next-session");
  next.hidden = Boolean(page.open);
  const minutes = Math.round(page.join_window_s / 60);
  next.textContent = page.next
    ? `Your next session is ${formatLocal(page.next.start, tz)}. You can join from ${minutes} minutes before it starts.`
    : "No session is scheduled at the moment.";
  /** @type {HTMLInputElement} */ ($("calendar-feed")).value = page.calendar_feed_url;
  $("setup-link").setAttribute("href", `/setup#invite=${encodeURIComponent(secret)}`);
  $("setup-status").textContent = page.member.setup_passed
    ? "You have checked your camera, microphone and connection."
    : "Check your camera, microphone and connection before your first session.";
}

async function load() {
  if (!secret) {
    invalid("This page needs your personal invite link. Open the link your therapist sent you.");
    return;
  }
  try {
    render(await api("POST", "/invite", { secret }));
  } catch (err) {
    invalid(err instanceof ApiError && err.code === "invite-invalid" ? err.message : "The page could not load — try again in a minute.");
  }
}

$("join").addEventListener("click", async () => {
  $("join-error").textContent = "";
  try {
    const { join_url: url } = await api("POST", "/invite/join", { secret });
    location.assign(url);
  } catch (err) {
    if (err instanceof ApiError && err.code === "outside-window") await load();
    $("join-error").textContent = err instanceof Error ? err.message : String(err);
  }
});

$("calendar-download").addEventListener("click", async () => {
  $("join-error").textContent = "";
  try {
    const response = await fetch("/api/v1/invite/calendar", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ secret }),
    });
    if (!response.ok) throw new ApiError(response.status, await response.json());
    const url = URL.createObjectURL(await response.blob());
    const link = h("a", { href: url, download: "haven-sessions.ics", hidden: true });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  } catch (err) {
    $("join-error").textContent = err instanceof Error ? err.message : String(err);
  }
});

load();
