/** Who is who in the session, as the UI words it: roles, display names and the shared view context. */

import { ROLES } from "./constants.js";

/**
 * @typedef {import("./protocol.js").HavenClient} HavenClient
 * @typedef {object} SessionContext what the session views need from the app
 * @property {() => HavenClient|null} client the current protocol client
 * @property {(call: (requests: import("./requests.js").Requests) => Promise<any>) => Promise<boolean>} send
 *   sends a request with one of the typed methods (`(r) => r.admit(id)`); on failure shows a notice and
 *   resolves false
 * @property {(text: string) => void} announce reads a message to screen reader users
 * @property {(text: string, key?: string) => void} notice shows a message in the room; `key` names its cause
 * @property {(key: string) => void} clearNotice clears the message if it is still about that cause
 */

/** @type {ReadonlySet<string>} */
export const HOST_ROLES = new Set([ROLES.HOST, ROLES.COHOST]);

/** @type {Record<string, string>} */
export const ROLE_NAMES = { [ROLES.HOST]: "Host", [ROLES.COHOST]: "Co-host" };

/**
 * Tells whether the participant behind this client may moderate (host or co-host).
 * @param {HavenClient|null} client
 */
export function isHost(client) {
  return !!client && !!client.self && HOST_ROLES.has(client.self.role);
}

/**
 * Returns a participant's display name; "you" marks the viewer.
 * @param {HavenClient|null} client
 * @param {string|null|undefined} id
 * @param {{you?: string}} [options] what to call the viewer (default: their name followed by "(you)")
 */
export function nameOf(client, id, { you } = {}) {
  if (!client || !id) return "Someone";
  if (client.self && client.self.id === id) {
    if (you !== undefined) return you;
    return `${client.self.name || "You"} (you)`;
  }
  const participant = client.participants.get(id);
  if (participant) return participant.name || "A participant";
  const waiting = client.waiting.find((person) => person.id === id);
  if (waiting) return waiting.name || "A participant";
  return "Someone who left";
}

/**
 * Returns the room state when the participant is admitted (the waiting view has no `hands`).
 * @param {HavenClient|null} client
 * @returns {any|null}
 */
export function admittedRoom(client) {
  if (!client || client.admission !== "admitted") return null;
  const room = client.roomState;
  return room && typeof room === "object" && "hands" in room ? room : null;
}
