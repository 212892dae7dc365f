import { test } from "node:test";
import assert from "node:assert/strict";

import {
  Connection, backoffDelay, closeError, jitteredDelay, retryWithBackoff, shouldReconnect,
  REQUEST_TIMEOUT_MS, SOCKET_OPEN_TIMEOUT_MS, HEARTBEAT_MISSES,
} from "../../web_client/connection.js";
import { CLOSE_CODES } from "../../web_client/constants.js";
import { HavenError } from "../../web_client/errors.js";
import { FakeClock, FakeSocket, flush } from "./fakes.mjs";

/** Opens a connection over a fake socket; returns it with the socket, the clock and what it reported. */
async function opened(options = {}) {
  const clock = new FakeClock();
  const seen = { events: [], closes: [], serverErrors: [], silent: 0 };
  /** @type {FakeSocket|null} */
  let socket = null;
  const connection = new Connection({
    url: "ws://haven.test/ws",
    clock,
    createSocket: (url) => (socket = new FakeSocket(url)),
    onEvent: (message) => seen.events.push(message),
    onClose: (error) => seen.closes.push(error),
    onServerError: (error) => seen.serverErrors.push(error),
    onSilent: () => seen.silent++,
    ...options,
  });
  const opening = connection.open();
  socket.accept();
  await opening;
  return { connection, socket, clock, seen };
}

test("a request is sent as one JSON object with its type, fields and a fresh id", async () => {
  const { connection, socket } = await opened();
  connection.request("admit", { participant_id: "u-2" });
  connection.request("admit-all");
  assert.deepEqual(socket.sent, [
    { type: "admit", participant_id: "u-2", id: 1 },
    { type: "admit-all", id: 2 },
  ]);
});

test("a result resolves the request with the same id, whatever the order of answers", async () => {
  const { connection, socket } = await opened();
  const first = connection.request("hello", { version: 1, token: "t" });
  const second = connection.request("join");
  socket.receive({ type: "result", id: 2, data: { state: "admitted" } });
  socket.receive({ type: "result", id: 1, data: { version: 1 } });
  assert.deepEqual(await first, { version: 1 });
  assert.deepEqual(await second, { state: "admitted" });
});

test("a result without data resolves with an empty object", async () => {
  const { connection, socket } = await opened();
  const pending = connection.request("leave");
  socket.receive({ type: "result", id: 1 });
  assert.deepEqual(await pending, {});
});

test("an error rejects the request with its stable code and message", async () => {
  const { connection, socket } = await opened();
  const pending = connection.request("admit", { participant_id: "u-9" });
  socket.receive({ type: "error", id: 1, code: "not-waiting", message: "u-9 is not waiting" });
  await assert.rejects(pending, (err) => {
    assert.ok(err instanceof HavenError);
    assert.equal(err.code, "not-waiting");
    assert.equal(err.message, "u-9 is not waiting");
    return true;
  });
});

test("answers for unknown ids are ignored and leave pending requests waiting", async () => {
  const { connection, socket, clock } = await opened();
  let settled = false;
  const pending = connection.request("join").finally(() => { settled = true; });
  socket.receive({ type: "result", id: 99, data: {} });
  await flush();
  assert.equal(settled, false);
  clock.advance(REQUEST_TIMEOUT_MS);
  await assert.rejects(pending, { code: "timeout" });
});

test("a request without an answer rejects with timeout, and a late answer changes nothing", async () => {
  const { connection, socket, clock } = await opened();
  const pending = connection.request("publish", { sdp: "v=0", tracks: [] });
  clock.advance(REQUEST_TIMEOUT_MS - 1);
  await flush();
  clock.advance(1);
  await assert.rejects(pending, { code: "timeout" });
  socket.receive({ type: "result", id: 1, data: {} });
});

test("the request timeout can be chosen", async () => {
  const { connection, clock } = await opened({ requestTimeoutMs: 50 });
  const pending = connection.request("join");
  clock.advance(50);
  await assert.rejects(pending, { code: "timeout", message: "no answer to join within 0.05 s" });
});

test("a request before the socket opens or after it closed rejects with disconnected", async () => {
  const connection = new Connection({ url: "ws://x", clock: new FakeClock(), createSocket: (u) => new FakeSocket(u) });
  await assert.rejects(connection.request("hello"), { code: "disconnected" });
  const { connection: open } = await opened();
  open.close();
  await assert.rejects(open.request("join"), { code: "disconnected" });
});

test("an error with a null id goes to onServerError and settles no request", async () => {
  const { connection, socket, seen } = await opened();
  let settled = false;
  connection.request("join").then(() => { settled = true; }, () => { settled = true; });
  socket.receive({ type: "error", id: null, code: "bad-request", message: "not JSON" });
  await flush();
  assert.equal(settled, false);
  assert.equal(seen.serverErrors.length, 1);
  assert.equal(seen.serverErrors[0].code, "bad-request");
});

test("a ping is answered with a pong carrying the same ts and never reaches onEvent", async () => {
  const { connection, socket, clock, seen } = await opened();
  socket.receive({ type: "ping", ts: clock.now() + 2500 });
  assert.deepEqual(socket.sent, [{ type: "pong", ts: clock.now() + 2500 }]);
  assert.equal(connection.clockOffset, 2500);
  assert.deepEqual(seen.events, []);
});

test("a ping without a numeric ts is still answered but leaves the clock offset alone", async () => {
  const { connection, socket } = await opened();
  socket.receive({ type: "ping", ts: "soon" });
  assert.deepEqual(socket.sent, [{ type: "pong", ts: "soon" }]);
  assert.equal(connection.clockOffset, 0);
});

test("events reach onEvent in order; results, errors and frames that are not JSON objects do not", async () => {
  const { connection, socket, seen } = await opened();
  connection.request("join");
  socket.receive({ type: "participant-joined", participant: { id: "u-2" } });
  socket.receive({ type: "result", id: 1, data: {} });
  socket.receive("not json");
  socket.receive("42");
  socket.receive({ type: "some-future-event", x: 1 });
  assert.deepEqual(seen.events.map((m) => m.type), ["participant-joined", "some-future-event"]);
});

test("a server close rejects pending requests with the close code's name and reports it once", async () => {
  const { connection, socket, seen } = await opened();
  const pending = connection.request("join");
  socket.serverClose(CLOSE_CODES.REPLACED, "");
  await assert.rejects(pending, { code: "replaced" });
  assert.deepEqual(seen.closes.map((e) => e.code), ["replaced"]);
  assert.equal(connection.isOpen, false);
});

test("a removed event before a 4403 close says removed, or denied when the host did not admit", async () => {
  for (const [reason, code] of [["removed", "removed"], ["denied", "denied"]]) {
    const { socket, seen } = await opened();
    socket.receive({ type: "removed", reason });
    socket.serverClose(CLOSE_CODES.REMOVED);
    assert.equal(seen.closes[0].code, code);
    assert.deepEqual(seen.events.map((m) => m.type), ["removed"]);
  }
});

test("a session-ended event before a 4000 close says why the session ended", async () => {
  const { socket, seen } = await opened();
  socket.receive({ type: "session-ended", reason: "no-host" });
  socket.serverClose(CLOSE_CODES.SESSION_ENDED);
  assert.equal(seen.closes[0].code, "session-ended");
  assert.match(seen.closes[0].message, /no host/);
});

test("a removed event does not explain a close with another code", async () => {
  const { socket, seen } = await opened();
  socket.receive({ type: "removed", reason: "removed" });
  socket.serverClose(CLOSE_CODES.HEARTBEAT_TIMEOUT);
  assert.equal(seen.closes[0].code, "heartbeat-timeout");
});

test("close() rejects pending requests, closes the socket with 1000 and reports no close", async () => {
  const { connection, socket, seen } = await opened();
  const pending = connection.request("join");
  connection.close();
  connection.close();
  await assert.rejects(pending, { code: "disconnected" });
  assert.equal(socket.closedWith, 1000);
  socket.serverClose(1000);
  socket.receive({ type: "participant-joined", participant: { id: "u-2" } });
  assert.deepEqual(seen.closes, []);
  assert.deepEqual(seen.events, []);
});

test("silence for more than the heartbeat misses calls onSilent once", async () => {
  const { connection, clock, seen } = await opened();
  connection.startHeartbeat(1000);
  clock.advance(HEARTBEAT_MISSES * 1000);
  assert.equal(seen.silent, 0);
  clock.advance(1000);
  assert.equal(seen.silent, 1);
  clock.advance(10_000);
  assert.equal(seen.silent, 1);
});

test("every message from the server, pings included, keeps the heartbeat alive", async () => {
  const { connection, socket, clock, seen } = await opened();
  connection.startHeartbeat(1000);
  for (let i = 0; i < 10; i++) {
    clock.advance(1000);
    socket.receive({ type: "ping", ts: clock.now() });
  }
  assert.equal(seen.silent, 0);
});

test("the heartbeat falls back to the default interval when hello gives none", async () => {
  const { connection, clock, seen } = await opened();
  connection.startHeartbeat(undefined);
  clock.advance(HEARTBEAT_MISSES * 10_000);
  assert.equal(seen.silent, 0);
  clock.advance(10_000);
  assert.equal(seen.silent, 1);
});

test("a socket that closes before opening rejects open with network-error, or with the close code's name", async () => {
  for (const [code, expected] of [[1006, "network-error"], [CLOSE_CODES.AUTH_FAILED, "auth-failed"]]) {
    let socket = null;
    const connection = new Connection({ url: "ws://x", clock: new FakeClock(), createSocket: (u) => (socket = new FakeSocket(u)) });
    const opening = connection.open();
    socket.serverClose(code);
    await assert.rejects(opening, { code: expected });
  }
});

test("a socket that never opens rejects open with network-error after the open timeout", async () => {
  const clock = new FakeClock();
  let socket = null;
  const connection = new Connection({ url: "ws://x", clock, createSocket: (u) => (socket = new FakeSocket(u)) });
  const opening = connection.open();
  clock.advance(SOCKET_OPEN_TIMEOUT_MS);
  await assert.rejects(opening, { code: "network-error" });
  assert.equal(socket.readyState, 3);
});

test("every close code of the protocol turns into its error code", () => {
  const table = [
    [1000, "", "closed"],
    [1000, "server-shutdown", "server-shutdown"],
    [1001, "server-restarting", "server-restarting"],
    [1001, "", "server-restarting"],
    [1009, "", "message-too-large"],
    [1013, "node-unavailable", "try-again"],
    [4000, "", "session-ended"],
    [4400, "", "protocol-error"],
    [4401, "", "auth-failed"],
    [4403, "", "removed"],
    [4408, "", "heartbeat-timeout"],
    [4409, "", "replaced"],
    [4410, "", "media-failed"],
    [4429, "", "rate-limited"],
    [1006, "", "disconnected"],
    [4999, "", "disconnected"],
  ];
  for (const [code, reason, expected] of table) {
    assert.equal(closeError({ code, reason }).code, expected, `close ${code} ${reason}`);
  }
});

test("losses worth retrying reconnect; refusals the same client would meet again do not", () => {
  const retry = ["heartbeat-timeout", "media-failed", "disconnected", "closed", "server-shutdown", "server-restarting",
    "network-error", "try-again",
    "timeout", "internal-error", "client-error"];
  const stop = ["auth-failed", "replaced", "session-ended", "removed", "denied", "banned", "room-locked",
    "consent-required", "consent-declined", "unsupported-version", "room-full", "server-full", "not-permitted",
    "protocol-error", "rate-limited", "message-too-large", "token-expired", "token-bad-signature"];
  for (const code of retry) assert.equal(shouldReconnect(new HavenError(code)), true, code);
  for (const code of stop) assert.equal(shouldReconnect(new HavenError(code)), false, code);
});

test("the close codes that stop reconnecting are exactly those for auth, replacement, removal, end and abuse", () => {
  const stopping = Object.values(CLOSE_CODES).filter((code) => !shouldReconnect(closeError({ code, reason: "" })));
  assert.deepEqual(stopping.sort(), [1009, 4000, 4400, 4401, 4403, 4409, 4429]);
});

test("the reconnect delay doubles from half a second and stays at ten seconds", () => {
  assert.deepEqual([0, 1, 2, 3, 4, 5, 6, 10].map(backoffDelay), [500, 1000, 2000, 4000, 8000, 10000, 10000, 10000]);
});

test("each reconnect wait is jittered within the upper half of its backoff step", () => {
  const steps = [0, 1, 2, 3, 4, 5, 6, 10];
  assert.deepEqual(steps.map((n) => jitteredDelay(n, () => 0)), [250, 500, 1000, 2000, 4000, 5000, 5000, 5000]);
  assert.deepEqual(steps.map((n) => jitteredDelay(n, () => 1)), steps.map(backoffDelay));
  assert.deepEqual(steps.map((n) => jitteredDelay(n, () => 0.5)), [375, 750, 1500, 3000, 6000, 7500, 7500, 7500]);
  // Out-of-range randomness is clamped rather than trusted.
  assert.equal(jitteredDelay(0, () => -3), 250);
  assert.equal(jitteredDelay(0, () => 7), 500);
  // With the real Math.random, many clients closed together spread over the step instead of coming back at once.
  const first = Array.from({ length: 200 }, () => jitteredDelay(0));
  assert.ok(first.every((ms) => ms >= 250 && ms <= 500));
  assert.ok(new Set(first).size > 20, "the first waits are spread out");
  assert.ok(Math.max(...first) - Math.min(...first) > 150);
});

test("retrying draws each wait from the jittered schedule", async () => {
  const waits = [];
  const draws = [0, 0.5, 1, 0.25];
  let attempts = 0;
  await retryWithBackoff(async () => ++attempts > 3, {
    stopped: () => false, sleep: async (ms) => { waits.push(ms); }, random: () => draws.shift(),
  });
  assert.deepEqual(waits, [250, 750, 2000, 2500]);
});

test("retrying waits the backoff before each attempt and cleans up after each failure", async () => {
  const waits = [];
  let attempts = 0;
  let cleanups = 0;
  const result = await retryWithBackoff(async () => {
    attempts++;
    if (attempts < 3) throw new HavenError("network-error");
    return true;
  }, { stopped: () => false, cleanup: () => cleanups++, sleep: async (ms) => { waits.push(ms); }, random: () => 1 });
  assert.deepEqual(result, { outcome: "done" });
  assert.deepEqual(waits, [500, 1000, 2000]);
  assert.equal(cleanups, 2);
});

test("an attempt that resolves false is retried like a failure", async () => {
  const waits = [];
  let attempts = 0;
  const result = await retryWithBackoff(async () => ++attempts > 1, {
    stopped: () => false, sleep: async (ms) => { waits.push(ms); }, random: () => 1,
  });
  assert.deepEqual(result, { outcome: "done" });
  assert.deepEqual(waits, [500, 1000]);
});

test("retrying stops at the first error after which reconnecting cannot help", async () => {
  let attempts = 0;
  const result = await retryWithBackoff(async () => {
    attempts++;
    throw new HavenError(attempts === 1 ? "network-error" : "token-expired");
  }, { stopped: () => false, sleep: async () => {} });
  assert.equal(result.outcome, "failed");
  assert.equal(result.error.code, "token-expired");
  assert.equal(attempts, 2);
});

test("retrying stops without an attempt once stopped, for example after leave", async () => {
  let attempts = 0;
  const result = await retryWithBackoff(async () => { attempts++; return true; }, {
    stopped: () => true, sleep: async () => {},
  });
  assert.deepEqual(result, { outcome: "stopped" });
  assert.equal(attempts, 0);
});
