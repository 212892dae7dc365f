import { test } from "node:test";
import assert from "node:assert/strict";

import { HavenClient, PROTOCOL_VERSION } from "../../web_client/protocol.js";
import { readLimits, readAgendaTemplates } from "../../web_client/limits.js";
import { readJoinLink } from "../../web_client/joinlink.js";
import { FakeSocket, flush } from "./fakes.mjs";

const HELLO = {
  version: 1, server: "haven/test", participant: { id: "u-17", name: "Alex", role: "participant" },
  room: "tuesday", heartbeat_interval_ms: 10000,
  limits: { max_message_bytes: 131072, max_chat_chars: 500, max_participants: 20, max_agenda_phases: 12,
    max_phase_title_chars: 60, max_phase_minutes: 240, max_breakouts: 20, max_breakout_name_chars: 40,
    max_breakout_minutes: 240, max_homework_chars: 4000, max_broadcast_chars: 500 },
  agenda_templates: [{ id: "default", name: "Default", phases: [{ title: "Check-in", minutes: 10 }] },
    { id: "process", name: "Process group", phases: [{ title: "Open process", minutes: 45 }] }],
  ice_servers: [], consent: { text: "Stays in the group", version: "v1" }, support_text: "", starts_at: null,
};
const JOIN = {
  state: "admitted", session_id: "s-1",
  self: { id: "u-17", name: "Alex", role: "participant", state: "admitted", tracks: [] },
  participants: [{ id: "u-3", name: "Dr. Rivera", role: "host", state: "admitted", tracks: [] }],
  room: { location: "main" }, chat: [],
};

/** Plays the server's side of hello and join on each socket the client opens. */
function fakeServer() {
  /** @type {FakeSocket[]} */
  const sockets = [];
  const createSocket = (url) => {
    const socket = new FakeSocket(url);
    sockets.push(socket);
    const send = socket.send.bind(socket);
    socket.send = (data) => {
      send(data);
      const message = JSON.parse(data);
      if (message.type === "hello") queueMicrotask(() => socket.receive({ type: "result", id: message.id, data: HELLO }));
      if (message.type === "join") queueMicrotask(() => socket.receive({ type: "result", id: message.id, data: JOIN }));
      if (message.type === "leave") queueMicrotask(() => socket.receive({ type: "result", id: message.id, data: {} }));
    };
    setImmediate(() => socket.accept());
    return socket;
  };
  return { sockets, createSocket };
}

/** Waits until `check()` is true, for at most `ms`. */
async function eventually(check, what, ms = 3000) {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) assert.fail(`still waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function newClient(server, consent = async () => true) {
  return new HavenClient({ url: "ws://haven.test/ws", token: "tok", room: "tuesday", onConsent: consent, createSocket: server.createSocket });
}

test("connecting sends hello with the version, token and room, then join with the accepted agreement", async () => {
  const server = fakeServer();
  const client = newClient(server);
  const join = await client.connect();
  const socket = server.sockets[0];
  assert.deepEqual(socket.sent[0], { type: "hello", id: 1, version: PROTOCOL_VERSION, token: "tok", room: "tuesday" });
  assert.deepEqual(socket.sent[1], { type: "join", id: 2, consent_version: "v1" });
  assert.equal(join.session_id, "s-1");
  assert.equal(client.status, "connected");
  assert.equal(client.self.id, "u-17");
  assert.deepEqual([...client.participants.keys()], ["u-3"]);
  await client.leave();
});

test("the server's limits and agenda templates are what the client offers the UI", async () => {
  const server = fakeServer();
  const client = newClient(server);
  assert.deepEqual(client.limits, {}, "nothing is assumed before hello");
  assert.deepEqual(client.agendaTemplates, []);
  await client.connect();
  assert.equal(client.limits.max_chat_chars, 500);
  assert.equal(client.limits.max_agenda_phases, 12);
  assert.deepEqual(client.agendaTemplates.map((t) => t.id), ["default", "process"]);
  await client.leave();
});

test("declining the agreement fails the connection with consent-declined and sends no join", async () => {
  const server = fakeServer();
  const client = newClient(server, async () => false);
  await assert.rejects(client.connect(), { code: "consent-declined" });
  assert.equal(client.status, "failed");
  assert.equal(server.sockets[0].last("join"), undefined);
});

test("roster events from the server reach the client's state and its roster event", async () => {
  const server = fakeServer();
  const client = newClient(server);
  await client.connect();
  const seen = [];
  client.addEventListener("roster", (event) => seen.push(event.detail));
  server.sockets[0].receive({ type: "participant-joined", participant: { id: "u-4", name: "Sam", role: "participant", tracks: [] } });
  server.sockets[0].receive({ type: "participant-left", participant_id: "u-3", reason: "left" });
  assert.deepEqual([...client.participants.keys()], ["u-4"]);
  assert.deepEqual(seen, [
    { change: "joined", participant_id: "u-4" },
    { change: "left", participant_id: "u-3", reason: "left" },
  ]);
  await client.leave();
});

test("typed requests go out on the current socket and resolve with the result", async () => {
  const server = fakeServer();
  const client = newClient(server);
  await client.connect();
  const socket = server.sockets[0];
  const pending = client.requests.raiseHand();
  const sent = socket.last("raise-hand");
  assert.deepEqual(sent, { type: "raise-hand", id: 3 });
  socket.receive({ type: "result", id: sent.id, data: {} });
  assert.deepEqual(await pending, {});
  await client.leave();
});

test("a heartbeat-timeout close reconnects with hello and join on a new socket", async () => {
  const server = fakeServer();
  const client = newClient(server);
  await client.connect();
  const statuses = [];
  client.addEventListener("status", (event) => statuses.push(event.detail));
  let reconnected = false;
  client.addEventListener("reconnected", () => { reconnected = true; });
  server.sockets[0].serverClose(4408);
  await eventually(() => reconnected, "the reconnect");
  assert.deepEqual(statuses, ["reconnecting", "connected"]);
  assert.equal(server.sockets.length, 2);
  assert.deepEqual(server.sockets[1].sent.map((m) => m.type), ["hello", "join"]);
  await client.leave();
});

test("a replaced close fails the client without reconnecting", async () => {
  const server = fakeServer();
  const client = newClient(server);
  await client.connect();
  server.sockets[0].serverClose(4409);
  await flush();
  assert.equal(client.status, "failed");
  assert.equal(client.failure.code, "replaced");
  await new Promise((resolve) => setTimeout(resolve, 700));
  assert.equal(server.sockets.length, 1);
});

test("being removed by a host ends the client with removed, not a reconnect", async () => {
  const server = fakeServer();
  const client = newClient(server);
  await client.connect();
  server.sockets[0].receive({ type: "removed", reason: "removed" });
  server.sockets[0].serverClose(4403);
  await flush();
  assert.equal(client.failure.code, "removed");
});

test("leave sends leave, closes the socket and reports disconnected", async () => {
  const server = fakeServer();
  const client = newClient(server);
  await client.connect();
  await client.leave();
  assert.ok(server.sockets[0].last("leave"));
  assert.equal(server.sockets[0].closedWith, 1000);
  assert.equal(client.status, "disconnected");
});

test("limits keep only positive integers, and templates only well-formed entries", () => {
  assert.deepEqual(readLimits({ limits: { max_chat_chars: 1000, max_breakouts: 0, max_phase_minutes: "240", x: 2.5 } }),
    { max_chat_chars: 1000 });
  assert.deepEqual(readLimits(null), {});
  assert.deepEqual(readAgendaTemplates({
    agenda_templates: [
      { id: "default", name: "Default", phases: [{ title: "Check-in", minutes: 10 }, { title: 3 }] },
      { name: "no id", phases: [] },
      { id: "bare", phases: [] },
    ],
  }), [
    { id: "default", name: "Default", phases: [{ title: "Check-in", minutes: 10 }] },
    { id: "bare", name: "bare", phases: [] },
  ]);
  assert.deepEqual(readAgendaTemplates({}), []);
});

test("a practice group's own agenda comes first among the templates, and none when it has none", () => {
  const agenda_templates = [{ id: "default", name: "Default", phases: [{ title: "Check-in", minutes: 10 }] }];
  const ours = [{ title: "Mindful arrival", minutes: 5 }, { title: "Process", minutes: 50 }];
  assert.deepEqual(readAgendaTemplates({ agenda_templates, default_agenda: ours }), [
    { id: "group", name: "This group's agenda", phases: ours },
    { id: "default", name: "Default", phases: [{ title: "Check-in", minutes: 10 }] },
  ]);
  assert.deepEqual(readAgendaTemplates({ agenda_templates, default_agenda: null }).map((t) => t.id), ["default"]);
  assert.deepEqual(readAgendaTemplates({ agenda_templates, default_agenda: [] }).map((t) => t.id), ["default"]);
});

test("the resume credential from join and its renewals goes into the next hello, stays private, and leave forgets it", async () => {
  /** @type {FakeSocket[]} */
  const sockets = [];
  const createSocket = (url) => {
    const socket = new FakeSocket(url);
    sockets.push(socket);
    const send = socket.send.bind(socket);
    socket.send = (data) => {
      send(data);
      const message = JSON.parse(data);
      const reply = { hello: HELLO, join: { ...JOIN, resume: { credential: `cred-${sockets.length}`, expires_at: 1 } }, leave: {} };
      if (message.type in reply) queueMicrotask(() => socket.receive({ type: "result", id: message.id, data: reply[message.type] }));
    };
    setImmediate(() => socket.accept());
    return socket;
  };
  const stored = new Map();
  const resumeStorage = { getItem: (k) => stored.get(k) ?? null, setItem: (k, v) => stored.set(k, v), removeItem: (k) => stored.delete(k) };
  const client = new HavenClient({ url: "ws://haven.test/ws", token: "tok", room: "tuesday", onConsent: async () => true, createSocket, resumeStorage });
  const seen = [];
  client.addEventListener("server-event", (event) => seen.push(event.detail.type));
  const joined = await client.connect();
  assert.equal(joined.resume, undefined, "the join result handed the credential to the page");
  assert.equal(sockets[0].sent[0].resume, undefined, "a first hello has no credential");
  sockets[0].receive({ type: "resume-credential", credential: "cred-renewed", expires_at: 2 });
  await flush();
  assert.ok(!seen.includes("resume-credential"), "the credential was passed on as an event");
  assert.deepEqual([...stored.values()], ["cred-renewed"]);
  let reconnected = false;
  client.addEventListener("reconnected", () => { reconnected = true; });
  sockets[0].serverClose(4408);
  await eventually(() => reconnected, "the reconnect");
  assert.equal(sockets[1].sent[0].type, "hello");
  assert.equal(sockets[1].sent[0].resume, "cred-renewed");
  assert.deepEqual([...stored.values()], ["cred-2"]);
  await client.leave();
  assert.equal(stored.size, 0, "leave kept the credential");

  // A reloaded page (a new client in the same tab) finds it in the tab's storage.
  stored.set("haven.resume.tuesday", "cred-from-before-reload");
  const reloaded = new HavenClient({ url: "ws://haven.test/ws", token: "tok", room: "tuesday", onConsent: async () => true, createSocket, resumeStorage });
  await reloaded.connect();
  assert.equal(sockets.at(-1).sent[0].resume, "cred-from-before-reload");
  await reloaded.leave();
});

test("a join link's fragment carries the token and, from an invite, the group's name to show", () => {
  const token = "e30.eyJuYW1lIjoiUm9iaW4iLCJyb29tIjoiZy0xLTIwMjcifQ.sig";
  const titled = readJoinLink(/** @type {any} */ ({
    hash: `#token=${token}&title=Evening%20process%20group`, pathname: "/r/g-1-2027" }));
  assert.equal(titled.token, token);
  assert.equal(titled.room, "g-1-2027");
  assert.equal(titled.title, "Evening process group");
  assert.equal(titled.claims && titled.claims.name, "Robin");
  const plain = readJoinLink(/** @type {any} */ ({ hash: `#token=${token}`, pathname: "/r/tuesday" }));
  assert.equal(plain.title, null);
  assert.equal(readJoinLink(/** @type {any} */ ({ hash: `#token=${token}&title=%20%20`, pathname: "/r/x" })).title, null);
});
