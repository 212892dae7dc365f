/** The join link: the token in the URL fragment, the room in the path, and the token's display claims. */

/**
 * @typedef {{name?: string, room?: string, role?: string, exp?: number, sub?: string}} TokenClaims
 * @typedef {{token: string|null, room: string|null, title: string|null, claims: TokenClaims|null}} JoinLink
 */

/**
 * Reads the token from `#token=…`, the room from `/r/<room>`, and the room's display title (a practice
 * group's name) from `&title=…` in the fragment, when the link has one.
 * @param {Location} location
 * @returns {JoinLink}
 */
export function readJoinLink(location) {
  const fragment = new URLSearchParams(location.hash.replace(/^#/, ""));
  const token = fragment.get("token") || null;
  const title = (fragment.get("title") || "").trim().slice(0, 100) || null;
  const match = location.pathname.match(/^\/r\/([^/]+)\/?$/);
  let room = null;
  if (match) {
    try {
      room = decodeURIComponent(match[1]);
    } catch {
      room = match[1];
    }
  }
  return { token, room, title, claims: token ? decodeTokenClaims(token) : null };
}

/**
 * Removes the token from the address bar (and so from history and screenshots); the caller keeps it.
 * @param {Location} location
 * @param {History} history
 */
export function hideTokenFromUrl(location, history) {
  if (location.hash) history.replaceState(history.state, "", location.pathname + location.search);
}

/**
 * Decodes a JWT's payload for display only; the server verifies the token, this does not.
 * @param {string} token
 * @returns {TokenClaims|null}
 */
export function decodeTokenClaims(token) {
  const parts = token.split(".");
  if (parts.length !== 3) return null;
  try {
    const base64 = parts[1].replace(/-/g, "+").replace(/_/g, "/");
    const padded = base64 + "=".repeat((4 - (base64.length % 4)) % 4);
    const bytes = Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
    const claims = JSON.parse(new TextDecoder().decode(bytes));
    return claims && typeof claims === "object" ? claims : null;
  } catch {
    return null;
  }
}
