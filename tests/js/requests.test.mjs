import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";

import { Requests } from "../../web_client/requests.js";

const PROTOCOL = readFileSync(new URL("../../docs/protocol.md", import.meta.url), "utf8");

/**
 * Reads the client → server request types from docs/protocol.md, the way the document states them:
 * headings and bold lines marked "(request)" or "(requests)", rows of tables whose first column is
 * "request", JSON examples that carry an `id` (section 2: only requests and their answers do), and
 * paragraphs that open with a backticked name and who may send it ("`homework` (host; …").
 * Returns type → the field names the document lists for it (null when it lists them in prose or JSON).
 * @returns {Map<string, Set<string>|null>}
 */
function documentedRequests() {
  /** @type {Map<string, Set<string>|null>} */
  const types = new Map();
  const add = (type, fields = null) => {
    if (!types.has(type) || fields) types.set(type, fields);
  };
  const names = (text) => [...text.matchAll(/`([a-z][a-z-]*)`/g)].map((m) => m[1]);
  const fieldNames = (text) => [...text.matchAll(/`([a-z][a-z_]*)`/g)].map((m) => m[1]);
  const lines = PROTOCOL.split("\n");
  let tableFields = -1;
  let inTable = false;
  for (const line of lines) {
    const marker = line.match(/^(?:#+ .*|\*\*.*\*\*)$/) && line.match(/^(.*)\(requests?\)/);
    if (marker) for (const name of names(marker[1])) add(name);

    if (line.startsWith("|")) {
      const cells = line.split("|").slice(1, -1).map((c) => c.trim());
      if (!inTable) {
        inTable = true;
        tableFields = cells[0] === "request" ? cells.indexOf("fields") : -2;
        continue;
      }
      if (tableFields === -2 || /^-+$/.test(cells[0])) continue;
      const [type] = names(cells[0]);
      if (type) add(type, new Set(tableFields >= 0 ? fieldNames(cells[tableFields]) : []));
    } else {
      inTable = false;
    }

    for (const json of line.matchAll(/\{"type": ?"([a-z-]+)", ?"id":/g)) {
      if (json[1] !== "result" && json[1] !== "error") add(json[1]);
    }

    const prose = line.match(/^`([a-z][a-z-]*)` \((?:host|cohost|participant|anyone)\b/);
    if (prose) add(prose[1]);
  }
  return types;
}

// Methods that take one object of options get a realistic one; the others get an id and an empty value.
const ARGUMENTS = {
  hello: [{ version: 1, token: "t" }],
  publish: [{ sdp: "v=0", tracks: [] }],
  setRoom: [{ locked: true }],
  agendaStart: [{ template: "default", phases: [] }],
  checkinStart: [{ random: true }],
  breakoutCreate: [{ count: 2 }],
  breakoutSettings: [{ self_select: true }],
};

/** Calls every method of Requests once; returns method name → the requests it sent. */
function sentByMethod() {
  /** @type {Array<{type: string, fields: Record<string, any>}>} */
  let sent = [];
  const requests = new Requests(async (type, fields = {}) => {
    sent.push({ type, fields });
    return {};
  });
  const methods = Object.getOwnPropertyNames(Requests.prototype).filter((name) => name !== "constructor");
  /** @type {Map<string, Array<{type: string, fields: Record<string, any>}>>} */
  const result = new Map();
  for (const name of methods) {
    sent = [];
    /** @type {any} */ (requests)[name](...(ARGUMENTS[name] || ["u-1", {}]));
    result.set(name, sent);
  }
  return result;
}

test("the protocol document lists the requests it defines, from hello to stop-screen-share", () => {
  const types = documentedRequests();
  for (const type of ["hello", "join", "leave", "publish", "unpublish", "mute", "subscriber-answer", "admit",
    "set-room", "agenda-start", "checkin-mood", "give-floor", "chat", "homework", "breakout-create",
    "ask-for-help", "allow-screen-share", "stop-screen-share"]) {
    assert.ok(types.has(type), `${type} is found in docs/protocol.md`);
  }
  for (const notRequest of ["pong", "ping", "result", "error", "consumers", "room-state", "moved"]) {
    assert.equal(types.has(notRequest), false, `${notRequest} is not a request`);
  }
});

test("every method of requests.js sends exactly one request", () => {
  for (const [name, sent] of sentByMethod()) assert.equal(sent.length, 1, `${name} sends one request`);
});

test("every request type in docs/protocol.md has exactly one method in requests.js that sends it", () => {
  const byType = new Map();
  for (const [name, sent] of sentByMethod()) {
    for (const { type } of sent) byType.set(type, [...(byType.get(type) || []), name]);
  }
  for (const type of documentedRequests().keys()) {
    assert.deepEqual((byType.get(type) || []).length, 1, `${type} is sent by exactly one method (${byType.get(type) || "none"})`);
  }
});

test("requests.js sends no request type that docs/protocol.md does not define", () => {
  const documented = documentedRequests();
  for (const [name, sent] of sentByMethod()) {
    for (const { type } of sent) assert.ok(documented.has(type), `${name} sends ${type}, which the protocol does not define`);
  }
});

test("the requests defined in tables carry only the fields their table lists", () => {
  const documented = documentedRequests();
  for (const [name, sent] of sentByMethod()) {
    for (const { type, fields } of sent) {
      const allowed = documented.get(type);
      if (!allowed) continue;
      for (const field of Object.keys(fields)) {
        assert.ok(allowed.has(field), `${name} sends ${type} with "${field}", which its table does not list`);
      }
    }
  }
});

test("methods put their arguments in the protocol's fields", async () => {
  const sent = [];
  const requests = new Requests(async (type, fields = {}) => { sent.push([type, fields]); });
  await requests.admit("u-2");
  await requests.agendaStart({ template: "process", phases: [{ title: "Check-in", minutes: 5 }] });
  await requests.agendaStart();
  await requests.breakoutAssign("u-2", null);
  await requests.breakoutCreate({ count: 3 });
  await requests.breakoutCreate({ names: ["A", "B"] });
  await requests.breakoutOpen(null);
  await requests.breakoutOpen(2.5);
  await requests.remove("u-2", { ban: true });
  await requests.lowerHand();
  await requests.lowerHand("u-2");
  await requests.giveFloor(null);
  await requests.setRoom({ locked: true });
  await requests.join("3f1c");
  await requests.join();
  await requests.subscriberAnswer(4, "v=0");
  await requests.chat("hosts", "hello");
  assert.deepEqual(sent, [
    ["admit", { participant_id: "u-2" }],
    ["agenda-start", { template: "process", phases: [{ title: "Check-in", minutes: 5 }] }],
    ["agenda-start", {}],
    ["breakout-assign", { participant_id: "u-2", room: null }],
    ["breakout-create", { count: 3 }],
    ["breakout-create", { names: ["A", "B"] }],
    ["breakout-open", {}],
    ["breakout-open", { minutes: 2.5 }],
    ["remove", { participant_id: "u-2", ban: true }],
    ["lower-hand", {}],
    ["lower-hand", { participant_id: "u-2" }],
    ["give-floor", { participant_id: null }],
    ["set-room", { locked: true }],
    ["join", { consent_version: "3f1c" }],
    ["join", {}],
    ["subscriber-answer", { revision: 4, sdp: "v=0" }],
    ["chat", { to: "hosts", text: "hello" }],
  ]);
});

test("a method resolves with the result data and rejects with the error of its send", async () => {
  const ok = new Requests(async () => ({ sdp: "answer" }));
  assert.deepEqual(await ok.publish({ sdp: "offer", tracks: [] }), { sdp: "answer" });
  const failing = new Requests(async () => { throw Object.assign(new Error("nope"), { code: "not-permitted" }); });
  await assert.rejects(failing.endSession(), { code: "not-permitted" });
});
