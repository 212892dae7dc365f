import { test } from "node:test";
import assert from "node:assert/strict";

import { checkPlan, parseMinutes } from "../../web_client/breakouts.js";
import { readLimits } from "../../web_client/limits.js";

const LIMITS = readLimits({ limits: { max_breakouts: 3, max_breakout_name_chars: 5, max_breakout_minutes: 30 } });

test("the protocol library's modules import under Node, with no DOM to touch", async () => {
  assert.equal(typeof globalThis.document, "undefined");
  for (const name of ["constants", "errors", "connection", "requests", "roster", "limits", "negotiation",
    "subscriber", "publisher", "protocol"]) {
    await import(`../../web_client/${name}.js`);
  }
});

test("the breakout timer is checked against the server's maximum, not a number of the client's own", () => {
  assert.equal(parseMinutes("", LIMITS.max_breakout_minutes), null);
  assert.equal(parseMinutes("0", LIMITS.max_breakout_minutes), null);
  assert.equal(parseMinutes("2,5", LIMITS.max_breakout_minutes), 2.5);
  assert.equal(parseMinutes("30", LIMITS.max_breakout_minutes), 30);
  assert.equal(parseMinutes("31", LIMITS.max_breakout_minutes),
    "The timer needs a number of minutes from 0 to 30, for example 10 or 2.5.");
  assert.equal(parseMinutes("500"), 500, "without a limit from the server only the server checks");
  assert.match(String(parseMinutes("soon")), /needs a number of minutes/);
});

test("a breakout plan is checked against the server's room count and name length", () => {
  assert.deepEqual(checkPlan([], 3, LIMITS), { plan: { count: 3 }, problem: "" });
  assert.equal(checkPlan([], 4, LIMITS).problem, "Choose 1 to 3 rooms.");
  assert.equal(checkPlan([], 0, LIMITS).problem, "Choose 1 to 3 rooms.");
  assert.deepEqual(checkPlan(["A", "B"], 0, LIMITS), { plan: { names: ["A", "B"] }, problem: "" });
  assert.equal(checkPlan(["A", "B", "C", "D"], 0, LIMITS).problem, "Give at most 3 room names.");
  assert.equal(checkPlan(["A", "A"], 0, LIMITS).problem, "Give each room a different name.");
  assert.match(checkPlan(["Kitchen"], 0, LIMITS).problem, /at most 5 characters/);
  assert.match(checkPlan(["main"], 0, LIMITS).problem, /cannot be “main”/);
  assert.equal(checkPlan([], 50, readLimits({})).problem, "", "without limits only the server checks the count");
});
