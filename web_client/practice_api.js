// @ts-check
/** The dashboard's and the invite page's one way to call /api/v1 (docs/openapi.yaml): JSON in and out. */

/** A refusal from the API: `code` is the stable error code, `body` the whole error object. */
export class ApiError extends Error {
  /**
   * @param {number} status
   * @param {Record<string, any>} body
   */
  constructor(status, body) {
    super(body.message || `request failed (${status})`);
    this.name = "ApiError";
    this.status = status;
    this.code = body.error || "failed";
    this.body = body;
  }
}

/** The dashboard session's CSRF token, sent with every request that changes something. */
let csrfToken = "";

/** @param {string} token */
export function setCsrfToken(token) {
  csrfToken = token || "";
}

/**
 * Calls the API; resolves to the JSON body (or null for 204), rejects with ApiError.
 * @param {string} method
 * @param {string} path under /api/v1
 * @param {any} [body]
 * @returns {Promise<any>}
 */
export async function api(method, path, body) {
  /** @type {Record<string, string>} */
  const headers = {};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && csrfToken) headers["X-CSRF-Token"] = csrfToken;
  let response;
  try {
    response = await fetch(`/api/v1${path}`, {
      method, headers, credentials: "same-origin", body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, { error: "network-error", message: "Could not reach the server — check your connection" });
  }
  if (response.status === 204) return null;
  const answer = await response.json().catch(() => ({ error: "bad-response", message: "The server's answer was unreadable" }));
  if (!response.ok) throw new ApiError(response.status, answer);
  return answer;
}

/**
 * Formats a UTC instant for a viewer's time zone, with the zone named: "Mon 7 Dec, 18:00 CST".
 * @param {string} iso
 * @param {string} timeZone IANA name
 * @returns {string}
 */
export function formatLocal(iso, timeZone) {
  const parts = new Intl.DateTimeFormat("en-GB", {
    timeZone, weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit",
    hourCycle: "h23",
  }).formatToParts(new Date(iso));
  // en-US names the zones Americans know (CST, PDT) and writes an offset for the rest (GMT+5:30).
  const zone = new Intl.DateTimeFormat("en-US", { timeZone, timeZoneName: "short" }).formatToParts(new Date(iso))
    .find((p) => p.type === "timeZoneName")?.value || timeZone;
  /** @param {string} type */
  const part = (type) => parts.find((p) => p.type === type)?.value || "";
  return `${part("weekday")} ${part("day")} ${part("month")}, ${part("hour")}:${part("minute")} ${zone}`;
}

/**
 * Returns the local calendar date (YYYY-MM-DD) of an instant in a time zone.
 * @param {string|Date} when
 * @param {string} timeZone
 */
export function localDate(when, timeZone) {
  return new Intl.DateTimeFormat("en-CA", { timeZone, year: "numeric", month: "2-digit", day: "2-digit" })
    .format(new Date(when));
}
