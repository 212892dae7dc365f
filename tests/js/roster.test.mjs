import { test } from "node:test";
import assert from "node:assert/strict";

import { initialRoster, reduceRoster, MAX_CHAT_HISTORY } from "../../web_client/roster.js";

const CAMERA = { track_id: "t-1", kind: "video", label: "camera", muted: false };
const MIC = { track_id: "t-2", kind: "audio", label: "microphone", muted: false };
const HOST = { id: "u-3", name: "Dr. Rivera", role: "host", state: "admitted", tracks: [CAMERA] };
const SAM = { id: "u-4", name: "Sam", role: "participant", state: "admitted", tracks: [] };
const SELF = { id: "u-17", name: "Alex", role: "participant", state: "admitted", tracks: [] };

/** Runs messages through the reducer; returns the last state and every change, as [type, detail]. */
function run(state, ...messages) {
  const changes = [];
  for (const message of messages) {
    const result = reduceRoster(state, message);
    state = result.state;
    changes.push(...result.changes.map((c) => [c.type, c.detail]));
  }
  return { state, changes };
}

/** The state after an admitted join with the host and Sam in the room. */
function joined() {
  return run(initialRoster(), {
    type: "joined",
    participant: { id: "u-17", name: "Alex", role: "participant" },
    result: {
      state: "admitted", session_id: "s-1", self: SELF, participants: [HOST, SAM],
      room: { session_id: "s-1", location: "main", breakouts: null }, chat: [{ id: "m-1", text: "hi" }],
    },
  }).state;
}

/** Deep-freezes a state so that any mutation by the reducer throws. */
function frozen(state) {
  for (const participant of state.participants.values()) Object.freeze(participant.tracks);
  Object.freeze(state.chat);
  return Object.freeze(state);
}

test("the initial roster is empty, in the main room and not yet joined", () => {
  const state = initialRoster();
  assert.equal(state.self, null);
  assert.equal(state.participants.size, 0);
  assert.equal(state.location, "main");
  assert.equal(state.admission, null);
});

test("an admitted join sets self, the others, the session and the room, and announces a reset", () => {
  const { state, changes } = run(initialRoster(), {
    type: "joined", participant: { id: "u-17", name: "Alex", role: "participant" },
    result: { state: "admitted", session_id: "s-1", self: SELF, participants: [HOST, SELF], room: { location: "main" }, chat: [] },
  });
  assert.equal(state.self.id, "u-17");
  assert.deepEqual([...state.participants.keys()], ["u-3"], "our own entry is never in participants");
  assert.deepEqual(state.participants.get("u-3").tracks, [CAMERA]);
  assert.equal(state.admission, "admitted");
  assert.equal(state.sessionId, "s-1");
  assert.ok(state.directory.has("u-17") && state.directory.has("u-3"));
  assert.deepEqual(changes.map(([type]) => type), ["roster", "admission", "room-state"]);
  assert.deepEqual(changes[0][1], { change: "reset" });
  assert.equal(changes[1][1], "admitted");
});

test("a join into the waiting room keeps no roster and takes the waiting view", () => {
  const view = { session_id: "s-1", starts_at: null, support_text: "Call us", host_present: false };
  const { state, changes } = run(initialRoster(), {
    type: "joined", participant: { id: "u-17", name: "Alex", role: "participant" },
    result: { state: "waiting", self: SELF, participants: [], room: view, chat: [] },
  });
  assert.equal(state.admission, "waiting");
  assert.equal(state.roomState, view);
  assert.equal(state.participants.size, 0);
  assert.equal(state.directory.size, 0, "a waiting participant is not yet seen admitted");
  assert.equal(changes[1][1], "waiting");
});

test("a join result without self falls back to hello's participant", () => {
  const { state } = run(initialRoster(), {
    type: "joined", participant: { id: "u-17", name: "Alex", role: "host" }, result: { state: "admitted" },
  });
  assert.deepEqual(state.self, { id: "u-17", name: "Alex", role: "host", tracks: [] });
});

test("being admitted from the waiting room fills the roster and keeps our own tracks", () => {
  let { state } = run(initialRoster(), {
    type: "joined", participant: SELF, result: { state: "waiting", self: SELF, room: {} },
  });
  ({ state } = run(state, { type: "self-tracks", tracks: [{ track_id: "t-7", kind: "video", label: "camera", enabled: true }] }));
  const { state: admitted, changes } = run(state, {
    type: "admitted", state: "admitted", self: SELF, participants: [HOST], room: { location: "main" }, chat: [],
  });
  assert.equal(admitted.admission, "admitted");
  assert.deepEqual([...admitted.participants.keys()], ["u-3"]);
  assert.deepEqual(admitted.self.tracks.map((t) => t.track_id), ["t-7"]);
  assert.ok(changes.some(([type, detail]) => type === "admission" && detail === "admitted"));
});

test("a participant joining is added and announced; our own id is ignored", () => {
  const before = frozen(joined());
  const newcomer = { id: "u-5", name: "Kim", role: "participant", tracks: [MIC] };
  const { state, changes } = run(before, { type: "participant-joined", participant: newcomer });
  assert.equal(state.participants.get("u-5").name, "Kim");
  assert.ok(state.directory.has("u-5"));
  assert.deepEqual(changes, [["roster", { change: "joined", participant_id: "u-5" }]]);
  assert.equal(before.participants.has("u-5"), false, "the previous state is left as it was");
  assert.deepEqual(run(before, { type: "participant-joined", participant: SELF }).changes, []);
});

test("a participant joining again under a known id replaces the entry (a reconnect)", () => {
  const { state } = run(joined(), { type: "participant-joined", participant: { ...HOST, name: "Dr. R", tracks: [] } });
  assert.equal(state.participants.size, 2);
  assert.equal(state.participants.get("u-3").name, "Dr. R");
  assert.deepEqual(state.participants.get("u-3").tracks, []);
});

test("a participant leaving is removed, forgotten, and stops being the active speaker", () => {
  let { state } = run(joined(), { type: "active-speaker", participant_id: "u-4" });
  const { state: after, changes } = run(state, { type: "participant-left", participant_id: "u-4", reason: "left" });
  assert.equal(after.participants.has("u-4"), false);
  assert.equal(after.directory.has("u-4"), false);
  assert.equal(after.activeSpeaker, null);
  assert.deepEqual(changes, [["roster", { change: "left", participant_id: "u-4", reason: "left" }]]);
});

test("a participant who moved to another breakout leaves the roster but stays in the directory", () => {
  const { state } = run(joined(), { type: "participant-left", participant_id: "u-4", reason: "moved" });
  assert.equal(state.participants.has("u-4"), false);
  assert.equal(state.directory.get("u-4").name, "Sam");
});

test("someone unknown leaving changes nothing worth announcing", () => {
  const { changes } = run(joined(), { type: "participant-left", participant_id: "u-99", reason: "left" });
  assert.deepEqual(changes, []);
});

test("a published track is added; a track with the same label replaces the old one", () => {
  const before = frozen(joined());
  const { state, changes } = run(before, { type: "track-published", participant_id: "u-4", track: MIC });
  assert.deepEqual(state.participants.get("u-4").tracks, [MIC]);
  assert.deepEqual(changes, [["roster", { change: "tracks", participant_id: "u-4" }]]);
  const camera2 = { track_id: "t-9", kind: "video", label: "camera", muted: true };
  const { state: replaced } = run(before, { type: "track-published", participant_id: "u-3", track: camera2 });
  assert.deepEqual(replaced.participants.get("u-3").tracks, [camera2]);
  assert.deepEqual(before.participants.get("u-3").tracks, [CAMERA]);
});

test("a track of someone not in the roster, or without a track id, is ignored", () => {
  assert.deepEqual(run(joined(), { type: "track-published", participant_id: "u-99", track: MIC }).changes, []);
  assert.deepEqual(run(joined(), { type: "track-published", participant_id: "u-4", track: { kind: "audio" } }).changes, []);
});

test("an unpublished track is removed from its participant", () => {
  const { state, changes } = run(joined(), { type: "track-unpublished", participant_id: "u-3", track_id: "t-1" });
  assert.deepEqual(state.participants.get("u-3").tracks, []);
  assert.deepEqual(changes, [["roster", { change: "tracks", participant_id: "u-3" }]]);
});

test("a muted track is marked muted, and unmuted again", () => {
  const before = frozen(joined());
  const { state } = run(before, { type: "track-muted", participant_id: "u-3", track_id: "t-1", muted: true });
  assert.equal(state.participants.get("u-3").tracks[0].muted, true);
  assert.equal(before.participants.get("u-3").tracks[0].muted, false);
  const { state: unmuted } = run(state, { type: "track-muted", participant_id: "u-3", track_id: "t-1", muted: false });
  assert.equal(unmuted.participants.get("u-3").tracks[0].muted, false);
});

test("our own tracks come from the publisher, and keep their muted state across updates", () => {
  let { state, changes } = run(joined(), {
    type: "self-tracks",
    tracks: [
      { track_id: "t-7", kind: "video", label: "camera", enabled: false },
      { track_id: "t-8", kind: "audio", label: "microphone", enabled: true },
    ],
  });
  assert.deepEqual(state.self.tracks.map((t) => [t.label, t.muted]), [["camera", true], ["microphone", false]]);
  assert.deepEqual(changes, [["roster", { change: "self" }]]);
  ({ state } = run(state, { type: "track-muted", participant_id: "u-17", track_id: "t-8", muted: true }));
  ({ state } = run(state, { type: "self-tracks", tracks: [{ track_id: "t-8", kind: "audio", label: "microphone", enabled: true }] }));
  assert.deepEqual(state.self.tracks.map((t) => [t.label, t.muted]), [["microphone", true]]);
});

test("muting our own track changes self only when the state really changes", () => {
  let { state } = run(joined(), { type: "self-tracks", tracks: [{ track_id: "t-8", kind: "audio", label: "microphone", enabled: true }] });
  const first = run(state, { type: "self-muted", track_id: "t-8", muted: true });
  assert.equal(first.state.self.tracks[0].muted, true);
  assert.deepEqual(first.changes, [["roster", { change: "self" }]]);
  assert.deepEqual(run(first.state, { type: "self-muted", track_id: "t-8", muted: true }).changes, []);
  assert.deepEqual(run(first.state, { type: "self-muted", track_id: "t-unknown", muted: false }).changes, []);
});

test("a host muting us marks our track of that label muted", () => {
  let { state } = run(joined(), { type: "self-tracks", tracks: [{ track_id: "t-8", kind: "audio", label: "microphone", enabled: true }] });
  ({ state } = run(state, { type: "muted-by-host", label: "microphone" }));
  assert.equal(state.self.tracks[0].muted, true);
});

test("a role change updates the participant, and says self when it is us", () => {
  const { state, changes } = run(joined(), { type: "role-changed", participant_id: "u-4", role: "cohost" });
  assert.equal(state.participants.get("u-4").role, "cohost");
  assert.equal(state.directory.get("u-4").role, "cohost");
  assert.deepEqual(changes, [["roster", { change: "role", participant_id: "u-4" }]]);
  const mine = run(joined(), { type: "role-changed", participant_id: "u-17", role: "cohost" });
  assert.equal(mine.state.self.role, "cohost");
  assert.deepEqual(mine.changes, [["roster", { change: "self", participant_id: "u-17" }]]);
});

test("a role change of someone in another breakout only updates the directory", () => {
  let { state } = run(joined(), { type: "participant-left", participant_id: "u-4", reason: "moved" });
  const { state: after, changes } = run(state, { type: "role-changed", participant_id: "u-4", role: "cohost" });
  assert.equal(after.directory.get("u-4").role, "cohost");
  assert.deepEqual(changes, []);
});

test("moving to a breakout replaces the roster and the chat, and remembers where we came from", () => {
  let { state } = run(joined(), { type: "active-speaker", participant_id: "u-3" });
  const kim = { id: "u-5", name: "Kim", role: "participant", tracks: [] };
  const { state: moved, changes } = run(state, {
    type: "moved", location: "A", participants: [kim, SELF], chat: [{ id: "m-9", text: "welcome to A" }],
  });
  assert.equal(moved.location, "A");
  assert.deepEqual([...moved.participants.keys()], ["u-5"]);
  assert.deepEqual(moved.chat.map((m) => m.id), ["m-9"]);
  assert.equal(moved.activeSpeaker, null);
  assert.ok(moved.directory.has("u-3"), "the people of the main room are still in the session");
  assert.deepEqual(changes, [
    ["roster", { change: "reset", reason: "moved" }],
    ["moved", { location: "A", from: "main" }],
    ["active-speaker", null],
  ]);
});

test("being sent to the waiting room empties the roster and takes the waiting view", () => {
  const view = { session_id: "s-1", host_present: true };
  let { state } = run(joined(), { type: "active-speaker", participant_id: "u-3" });
  const { state: waiting, changes } = run(state, { type: "sent-to-waiting", room: view });
  assert.equal(waiting.admission, "waiting");
  assert.equal(waiting.participants.size, 0);
  assert.equal(waiting.roomState, view);
  assert.equal(waiting.location, "main");
  assert.equal(waiting.breakouts, null);
  assert.equal(waiting.activeSpeaker, null);
  assert.deepEqual(changes.map(([type]) => type), ["roster", "admission", "room-state"]);
});

test("the room state sets where we are and the breakouts", () => {
  const breakouts = { open: true, ends_at: null, self_select: false, mine: "A", rooms: [{ name: "A" }] };
  const room = { location: "A", breakouts };
  const { state, changes } = run(joined(), { type: "room-state", room });
  assert.equal(state.location, "A");
  assert.equal(state.breakouts, breakouts);
  assert.deepEqual(changes, [["room-state", room]]);
  const { state: none } = run(state, { type: "room-state", room: { breakouts: { open: false } } });
  assert.equal(none.location, "main");
  assert.equal(none.breakouts, null, "breakouts without rooms are none");
});

test("the waiting view is refreshed by waiting-state", () => {
  const view = { host_present: true };
  const { state, changes } = run(joined(), { type: "waiting-state", room: view });
  assert.equal(state.roomState, view);
  assert.deepEqual(changes, [["room-state", view]]);
});

test("the waiting list is kept for hosts, and a malformed one counts as empty", () => {
  const waiting = [{ id: "u-21", name: "Sam", since: 1 }];
  assert.deepEqual(run(joined(), { type: "waiting-list", waiting }).state.waiting, waiting);
  assert.deepEqual(run(joined(), { type: "waiting-list", waiting: "nobody" }).state.waiting, []);
});

test("the active speaker is set, and cleared with null", () => {
  const { state } = run(joined(), { type: "active-speaker", participant_id: "u-3" });
  assert.equal(state.activeSpeaker, "u-3");
  assert.equal(run(state, { type: "active-speaker", participant_id: null }).state.activeSpeaker, null);
});

test("chat messages are appended and only the most recent ones are kept", () => {
  let state = joined();
  const messages = Array.from({ length: MAX_CHAT_HISTORY + 5 }, (_, i) => ({ type: "chat-message", message: { id: `m-${i}` } }));
  const result = run(state, ...messages);
  assert.equal(result.state.chat.length, MAX_CHAT_HISTORY);
  assert.equal(result.state.chat.at(-1).id, `m-${MAX_CHAT_HISTORY + 4}`);
  assert.equal(result.changes.length, messages.length);
  assert.deepEqual(run(state, { type: "chat-message" }).changes, []);
});

test("events the roster does not know leave the state as it was", () => {
  const state = joined();
  for (const message of [{ type: "agenda-overrun", phase: 0 }, { type: "x-future" }, {}, null]) {
    const result = reduceRoster(state, message);
    assert.equal(result.state, state);
    assert.deepEqual(result.changes, []);
  }
});

test("participants from the server are normalized: missing names, roles and tracks get defaults", () => {
  const { state } = run(joined(), { type: "participant-joined", participant: { id: "u-8", tracks: [null, { track_id: "t-5", kind: "audio", label: "microphone" }] } });
  assert.deepEqual(state.participants.get("u-8"), {
    id: "u-8", name: "", role: "participant", tracks: [{ track_id: "t-5", kind: "audio", label: "microphone", muted: false }],
  });
});
