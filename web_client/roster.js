// @ts-check
/**
 * Who is where, as a pure reducer: the roster state and one server event (or one of the client's own
 * actions) give a new state and the changes to announce. No DOM, no socket; the state is never mutated.
 */

import { ADMISSION, LEAVE_REASONS, MAIN_ROOM, ROLES } from "./constants.js";

// Chat history kept for the UI; the server sends at most its own recent history on join and moves.
export const MAX_CHAT_HISTORY = 200;

/**
 * @typedef {{track_id: string, kind: string, label: string, muted: boolean}} TrackInfo
 * @typedef {{id: string, name: string, role: string, tracks: TrackInfo[]}} Participant
 * @typedef {{id: string, name: string, role: string}} Known
 * @typedef {{name: string, members?: string[], planned?: string[], help_requested?: boolean}} BreakoutRoomInfo
 * @typedef {{open: boolean, ends_at: number|null, self_select: boolean, mine: string|null,
 *            rooms: BreakoutRoomInfo[]}} BreakoutState
 * @typedef {object} RosterState
 * @property {Participant|null} self
 * @property {ReadonlyMap<string, Participant>} participants everyone else in our room or breakout
 * @property {ReadonlyMap<string, Known>} directory everyone seen admitted in this session, wherever they are now
 * @property {string} location `main` or the name of the breakout we are in
 * @property {BreakoutState|null} breakouts
 * @property {string|null} activeSpeaker
 * @property {"waiting"|"admitted"|null} admission
 * @property {string|null} sessionId
 * @property {any} roomState the latest `room-state` (admitted) or waiting view (waiting)
 * @property {Array<{id: string, name: string, since: number}>} waiting (hosts) the waiting room
 * @property {any[]} chat recent chat messages, oldest first
 * @typedef {{type: string, detail: any}} Change an event for the client to dispatch
 * @typedef {{state: RosterState, changes: Change[]}} Reduction
 * @typedef {{track_id: string, kind: string, label: string, enabled: boolean}} LocalTrack
 *
 * Besides the server's events, the reducer takes these actions of the client:
 * - `{type: "joined", result, participant}`: the `join` result, `participant` being `hello`'s;
 * - `{type: "self-tracks", tracks: LocalTrack[]}`: what the publish connection carries now;
 * - `{type: "self-muted", track_id, muted}`: we muted or unmuted one of our tracks.
 */

/** @returns {RosterState} the state before joining */
export function initialRoster() {
  return {
    self: null,
    participants: new Map(),
    directory: new Map(),
    location: MAIN_ROOM,
    breakouts: null,
    activeSpeaker: null,
    admission: null,
    sessionId: null,
    roomState: null,
    waiting: [],
    chat: [],
  };
}

/**
 * Returns the state after one message, and the changes to announce (none when the message changes nothing).
 * @param {RosterState} state
 * @param {any} message a server event, or one of the client actions listed above
 * @returns {Reduction}
 */
export function reduceRoster(state, message) {
  const handler = message && typeof message.type === "string" ? HANDLERS[message.type] : undefined;
  return handler ? handler(state, message) : unchanged(state);
}

/** @type {Record<string, (state: RosterState, message: any) => Reduction>} */
const HANDLERS = {
  joined: (state, { result, participant }) => applyJoin(state, result, participant),
  admitted: (state, message) => applyJoin(state, message, null),
  "sent-to-waiting": sentToWaiting,
  "participant-joined": participantJoined,
  "participant-left": participantLeft,
  "track-published": trackPublished,
  "track-unpublished": trackUnpublished,
  "track-muted": trackMuted,
  "role-changed": roleChanged,
  "muted-by-host": (state, message) => selfMuted(state, (t) => t.label === message.label, true),
  moved,
  "active-speaker": (state, message) => {
    const id = typeof message.participant_id === "string" ? message.participant_id : null;
    return changed({ ...state, activeSpeaker: id }, ["active-speaker", id]);
  },
  "room-state": (state, message) => {
    const next = withRoomState(state, message.room || null);
    return changed(next, ["room-state", next.roomState]);
  },
  "waiting-state": (state, message) => {
    const next = { ...state, roomState: message.room || null };
    return changed(next, ["room-state", next.roomState]);
  },
  "waiting-list": (state, message) => {
    const waiting = Array.isArray(message.waiting) ? message.waiting : [];
    return changed({ ...state, waiting }, ["waiting-list", waiting]);
  },
  "chat-message": (state, message) => {
    if (!message.message) return unchanged(state);
    const chat = [...state.chat, message.message].slice(-MAX_CHAT_HISTORY);
    return changed({ ...state, chat }, ["chat-message", message.message]);
  },
  "self-tracks": selfTracks,
  "self-muted": (state, message) => selfMuted(state, (t) => t.track_id === message.track_id, !!message.muted),
};

/**
 * @param {RosterState} state
 * @returns {Reduction}
 */
function unchanged(state) {
  return { state, changes: [] };
}

/**
 * @param {RosterState} state
 * @param {...[string, any]} changes
 * @returns {Reduction}
 */
function changed(state, ...changes) {
  return { state, changes: changes.map(([type, detail]) => ({ type, detail })) };
}

/**
 * Returns a participant in the shape the rest of the client relies on.
 * @param {any} raw
 * @returns {Participant}
 */
export function normalizeParticipant(raw) {
  return {
    id: String(raw.id),
    name: typeof raw.name === "string" ? raw.name : "",
    role: typeof raw.role === "string" ? raw.role : ROLES.PARTICIPANT,
    tracks: Array.isArray(raw.tracks) ? raw.tracks.filter(Boolean).map(normalizeTrack) : [],
  };
}

/**
 * @param {any} track
 * @returns {TrackInfo}
 */
function normalizeTrack(track) {
  return { track_id: track.track_id, kind: track.kind, label: track.label, muted: !!track.muted };
}

/**
 * @param {Map<string, Known>} directory
 * @param {Participant} participant
 */
function remember(directory, participant) {
  directory.set(participant.id, { id: participant.id, name: participant.name, role: participant.role });
}

/**
 * Takes an admitted participant's room state, with where we are and the breakouts (section 10.1).
 * @param {RosterState} state
 * @param {any} room
 * @returns {RosterState}
 */
function withRoomState(state, room) {
  const breakouts = room && room.breakouts;
  return {
    ...state,
    roomState: room,
    location: room && typeof room.location === "string" ? room.location : MAIN_ROOM,
    breakouts: breakouts && typeof breakouts === "object" && Array.isArray(breakouts.rooms) ? breakouts : null,
  };
}

/**
 * @param {RosterState} state
 * @param {any} view the waiting room's reduced view
 * @returns {RosterState}
 */
function withWaitingView(state, view) {
  return { ...state, roomState: view, location: MAIN_ROOM, breakouts: null };
}

/**
 * Builds the roster of a place from a list the server sent, leaving ourselves out.
 * @param {RosterState} state
 * @param {any} list
 * @param {string|null} selfId
 */
function rosterFrom(state, list, selfId) {
  /** @type {Map<string, Participant>} */
  const participants = new Map();
  const directory = new Map(state.directory);
  for (const raw of Array.isArray(list) ? list : []) {
    if (!raw || typeof raw.id !== "string" || raw.id === selfId) continue;
    const entry = normalizeParticipant(raw);
    participants.set(entry.id, entry);
    remember(directory, entry);
  }
  return { participants, directory };
}

/**
 * The `join` result or the `admitted` event (the same fields, section 9.2).
 * @param {RosterState} state
 * @param {any} result
 * @param {any} helloParticipant the `hello` result's `participant`
 * @returns {Reduction}
 */
function applyJoin(state, result, helloParticipant) {
  const raw = (result && result.self) || helloParticipant || state.self || {};
  // Our own tracks survive an admission; after a fresh join, the republish refills them.
  const self = { ...normalizeParticipant(raw), tracks: state.self ? state.self.tracks : [] };
  const admission = result && result.state === ADMISSION.WAITING ? ADMISSION.WAITING : ADMISSION.ADMITTED;
  const room = (result && result.room) || null;
  let next = admission === ADMISSION.ADMITTED ? withRoomState(state, room) : withWaitingView(state, room);
  const admitted = admission === ADMISSION.ADMITTED;
  const { participants, directory } = rosterFrom(next, admitted ? result && result.participants : [], self.id);
  if (admitted) remember(directory, self);
  next = {
    ...next,
    self,
    admission,
    sessionId: result && typeof result.session_id === "string" ? result.session_id : state.sessionId,
    chat: Array.isArray(result && result.chat) ? result.chat.slice(-MAX_CHAT_HISTORY) : [],
    participants,
    directory,
  };
  return changed(next, ["roster", { change: "reset" }], ["admission", admission], ["room-state", next.roomState]);
}

/**
 * @param {RosterState} state
 * @param {any} message
 * @returns {Reduction}
 */
function sentToWaiting(state, message) {
  const next = {
    ...withWaitingView(state, message.room || null),
    admission: /** @type {"waiting"} */ (ADMISSION.WAITING),
    participants: new Map(),
    activeSpeaker: null,
  };
  return changed(next, ["roster", { change: "reset" }], ["admission", next.admission], ["room-state", next.roomState]);
}

/**
 * Section 8: a known id is a reconnect and replaces the entry.
 * @param {RosterState} state
 * @param {any} message
 * @returns {Reduction}
 */
function participantJoined(state, message) {
  const raw = message.participant;
  if (!raw || typeof raw.id !== "string" || (state.self && raw.id === state.self.id)) return unchanged(state);
  const entry = normalizeParticipant(raw);
  const participants = new Map(state.participants).set(entry.id, entry);
  const directory = new Map(state.directory);
  remember(directory, entry);
  return changed({ ...state, participants, directory }, ["roster", { change: "joined", participant_id: entry.id }]);
}

/**
 * @param {RosterState} state
 * @param {any} message
 * @returns {Reduction}
 */
function participantLeft(state, message) {
  const id = message.participant_id;
  const directory = new Map(state.directory);
  // Someone who moved to another breakout is still in the session.
  if (message.reason !== LEAVE_REASONS.MOVED) directory.delete(id);
  if (!state.participants.has(id)) return unchanged({ ...state, directory });
  const participants = new Map(state.participants);
  participants.delete(id);
  const activeSpeaker = state.activeSpeaker === id ? null : state.activeSpeaker;
  return changed({ ...state, participants, directory, activeSpeaker },
    ["roster", { change: "left", participant_id: id, reason: message.reason || null }]);
}

/**
 * Replaces one participant's entry with `update(entry)`.
 * @param {RosterState} state
 * @param {string} id
 * @param {(participant: Participant) => Participant} update
 * @returns {RosterState|null} null when the participant is not in the roster
 */
function updateParticipant(state, id, update) {
  const participant = state.participants.get(id);
  if (!participant) return null;
  return { ...state, participants: new Map(state.participants).set(id, update(participant)) };
}

/**
 * @param {RosterState} state
 * @param {any} message
 * @returns {Reduction}
 */
function trackPublished(state, message) {
  const track = message.track;
  if (!track || typeof track.track_id !== "string") return unchanged(state);
  const next = updateParticipant(state, message.participant_id, (p) => ({
    ...p,
    // A participant has at most one track per label (section 6.1).
    tracks: [...p.tracks.filter((t) => t.track_id !== track.track_id && t.label !== track.label), normalizeTrack(track)],
  }));
  return next ? changed(next, ["roster", { change: "tracks", participant_id: message.participant_id }]) : unchanged(state);
}

/**
 * @param {RosterState} state
 * @param {any} message
 * @returns {Reduction}
 */
function trackUnpublished(state, message) {
  const next = updateParticipant(state, message.participant_id, (p) => ({
    ...p, tracks: p.tracks.filter((t) => t.track_id !== message.track_id),
  }));
  return next ? changed(next, ["roster", { change: "tracks", participant_id: message.participant_id }]) : unchanged(state);
}

/**
 * @param {RosterState} state
 * @param {any} message
 * @returns {Reduction}
 */
function trackMuted(state, message) {
  const muted = !!message.muted;
  if (state.self && message.participant_id === state.self.id) {
    return selfMuted(state, (t) => t.track_id === message.track_id, muted);
  }
  const next = updateParticipant(state, message.participant_id, (p) => ({
    ...p, tracks: p.tracks.map((t) => (t.track_id === message.track_id ? { ...t, muted } : t)),
  }));
  return next ? changed(next, ["roster", { change: "tracks", participant_id: message.participant_id }]) : unchanged(state);
}

/**
 * @param {RosterState} state
 * @param {any} message
 * @returns {Reduction}
 */
function roleChanged(state, message) {
  const id = message.participant_id;
  const role = message.role;
  if (typeof role !== "string") return unchanged(state);
  const directory = new Map(state.directory);
  const known = directory.get(id);
  if (state.self && id === state.self.id) {
    const self = { ...state.self, role };
    remember(directory, self);
    return changed({ ...state, self, directory }, ["roster", { change: "self", participant_id: id }]);
  }
  const next = updateParticipant(state, id, (p) => ({ ...p, role }));
  if (!next) {
    // In another breakout: only the directory knows them.
    if (known) directory.set(id, { ...known, role });
    return unchanged({ ...state, directory });
  }
  remember(directory, /** @type {Participant} */ (next.participants.get(id)));
  return changed({ ...next, directory }, ["roster", { change: "role", participant_id: id }]);
}

/**
 * We are somewhere else now (section 10.1): a new roster and chat; the media connections stay.
 * @param {RosterState} state
 * @param {any} message
 * @returns {Reduction}
 */
function moved(state, message) {
  const from = state.location;
  const location = typeof message.location === "string" ? message.location : MAIN_ROOM;
  const { participants, directory } = rosterFrom(state, message.participants, state.self ? state.self.id : null);
  const chat = Array.isArray(message.chat) ? message.chat.slice(-MAX_CHAT_HISTORY) : [];
  const next = { ...state, location, participants, directory, chat, activeSpeaker: null };
  return changed(next,
    ["roster", { change: "reset", reason: LEAVE_REASONS.MOVED }],
    ["moved", { location, from }],
    ["active-speaker", null]);
}

/**
 * Sets `muted` on our own tracks that `match`.
 * @param {RosterState} state
 * @param {(track: TrackInfo) => boolean} match
 * @param {boolean} muted
 * @returns {Reduction}
 */
function selfMuted(state, match, muted) {
  if (!state.self || !state.self.tracks.some((t) => match(t) && t.muted !== muted)) return unchanged(state);
  const self = { ...state.self, tracks: state.self.tracks.map((t) => (match(t) ? { ...t, muted } : t)) };
  return changed({ ...state, self }, ["roster", { change: "self" }]);
}

/**
 * Our published tracks changed: a track keeps the muted state it had; a new one is muted when disabled.
 * @param {RosterState} state
 * @param {{tracks: LocalTrack[]}} message
 * @returns {Reduction}
 */
function selfTracks(state, { tracks }) {
  if (!state.self) return unchanged(state);
  const previous = new Map(state.self.tracks.map((t) => [t.track_id, t]));
  const self = {
    ...state.self,
    tracks: tracks.map((t) => {
      const before = previous.get(t.track_id);
      return { track_id: t.track_id, kind: t.kind, label: t.label, muted: before ? before.muted : !t.enabled };
    }),
  };
  return changed({ ...state, self }, ["roster", { change: "self" }]);
}
