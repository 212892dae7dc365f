// The dashboard's and invite page's time formatting: one UTC instant, each viewer's own zone, across DST.
import assert from "node:assert/strict";
import test from "node:test";

import { formatLocal, localDate } from "../../web_client/practice_api.js";

test("an 18:00 Chicago session reads in each member's own zone, with the zone named", () => {
  // Monday 2 March 2026 18:00 CST is 00:00 UTC on the 3rd.
  assert.equal(formatLocal("2026-03-03T00:00:00Z", "America/Chicago"), "Mon 2 Mar, 18:00 CST");
  assert.equal(formatLocal("2026-03-03T00:00:00Z", "America/Los_Angeles"), "Mon 2 Mar, 16:00 PST");
  assert.equal(formatLocal("2026-03-03T00:00:00Z", "Europe/London"), "Tue 3 Mar, 00:00 GMT");
  assert.match(formatLocal("2026-03-03T00:00:00Z", "Asia/Kolkata"), /^Tue 3 Mar, 05:30 /);
});

test("after the March change the same local session is an hour earlier in UTC and still 18:00 in Chicago", () => {
  assert.equal(formatLocal("2026-03-09T23:00:00Z", "America/Chicago"), "Mon 9 Mar, 18:00 CDT");
  // London has not changed yet (29 March): the gap to Chicago is five hours for those weeks.
  assert.equal(formatLocal("2026-03-09T23:00:00Z", "Europe/London"), "Mon 9 Mar, 23:00 GMT");
});

test("the local date decides what counts as today", () => {
  assert.equal(localDate("2026-03-03T00:00:00Z", "America/Chicago"), "2026-03-02");
  assert.equal(localDate("2026-03-03T00:00:00Z", "Asia/Kolkata"), "2026-03-03");
});
