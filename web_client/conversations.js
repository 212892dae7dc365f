// @ts-check
/**
 * Private chat conversations as a viewer sees them, with no DOM: which conversation a message belongs to,
 * where a reply goes, and which messages a conversation view shows. A reply always goes back into the same
 * private conversation, so answering a private message can never reach the whole group by accident.
 */

/** The conversation of every private message between a member and the hosts, as that member sees it. */
export const HOSTS = "hosts";
/** Messages to everyone in the room: not a private conversation. */
export const ROOM = "room";

/**
 * @typedef {{id: string, from: {id: string, name: string}, to: string, text: string, ts: number}} ChatMessage
 * @typedef {{selfId: string, selfIsHost: boolean, isHostId: (id: string) => boolean}} Viewer
 */

/**
 * Returns the private conversation a message belongs to for this viewer: the other member's id (for a host,
 * every member who writes privately has one conversation with the hosts), `hosts` (a member's conversation
 * with the hosts, or hosts among themselves), or null for a message to everyone. The value is also where a
 * reply in that conversation goes (the chat request's `to`): the member for a host, the hosts for a member.
 * @param {ChatMessage} message
 * @param {Viewer} viewer
 * @returns {string|null}
 */
export function conversationOf(message, viewer) {
  if (!message || message.to === ROOM || typeof message.to !== "string") return null;
  const fromId = message.from && typeof message.from.id === "string" ? message.from.id : "";
  const own = fromId === viewer.selfId;
  if (viewer.selfIsHost) {
    if (own) return message.to === HOSTS || viewer.isHostId(message.to) ? HOSTS : message.to;
    if (viewer.isHostId(fromId)) {
      // A co-host's note to the hosts, or a host's private message to a member another host reads.
      return message.to === HOSTS || message.to === viewer.selfId || viewer.isHostId(message.to) ? HOSTS : message.to;
    }
    return fromId;
  }
  const other = own ? message.to : fromId;
  return other === HOSTS || viewer.isHostId(other) ? HOSTS : other;
}

/**
 * Returns the messages of one conversation, in order.
 * @param {ChatMessage[]} messages
 * @param {string} conversation
 * @param {Viewer} viewer
 * @returns {ChatMessage[]}
 */
export function messagesOf(messages, conversation, viewer) {
  return messages.filter((message) => conversationOf(message, viewer) === conversation);
}

/**
 * Tells whether a message is a private message to this host from a member (it raises the host's notice).
 * @param {ChatMessage} message
 * @param {Viewer} viewer
 */
export function needsHostNotice(message, viewer) {
  if (!viewer.selfIsHost || !message || !message.from || message.from.id === viewer.selfId) return false;
  if (viewer.isHostId(message.from.id)) return false;
  return message.to === HOSTS || message.to === viewer.selfId;
}
