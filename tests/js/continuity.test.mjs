import { test } from "node:test";
import assert from "node:assert/strict";

import { clockTime, describeAbsence, describeHostAway, minutesText } from "../../web_client/continuity.js";

const SINCE = Date.UTC(2025, 0, 14, 18, 40);
const GRACE_MS = 10 * 60000; // session.host_grace's default: ends_at is since + grace
const away = (fields) => ({ since: SINCE, ends_at: SINCE + GRACE_MS, media_paused: true, reason: "left", ...fields });

test("a therapist who stepped out: members are told calmly that the session is paused", () => {
  const { title, text } = describeHostAway(away({ reason: "left", media_paused: true }));
  assert.equal(title, "Your therapist has stepped out for a moment.");
  assert.equal(text, "The session is paused: video and sound are off until a host is back. Please stay here. " +
    `If no host is back by ${clockTime(SINCE + GRACE_MS)}, the session will close.`);
});

test("a dropped connection is told apart from stepping out, and expected back", () => {
  const { title, text } = describeHostAway(away({ reason: "disconnected" }));
  assert.equal(title, "Your therapist's connection dropped. They will probably be back in a moment.");
  assert.match(text, /^The session is paused: video and sound are off until a host is back\./);
  assert.notEqual(title, describeHostAway(away({ reason: "left" })).title);
});

test("when the hosts allowed it, members may keep talking with each other", () => {
  for (const reason of ["left", "disconnected"]) {
    const { text } = describeHostAway(away({ reason, media_paused: false }));
    assert.ok(text.startsWith("You can keep talking with each other until a host is back. "), text);
    assert.doesNotMatch(text, /paused/);
  }
});

test("the notice says when the grace period ends and the session closes", () => {
  const later = SINCE + 45 * 60000;
  const { text } = describeHostAway(away({ reason: "disconnected", ends_at: later }));
  assert.ok(text.endsWith(`If no host is back by ${clockTime(later)}, the session will close.`), text);
  assert.notEqual(clockTime(later), clockTime(SINCE + GRACE_MS));
});

test("a returning host learns how long the group was alone and when it would have closed", () => {
  const text = describeAbsence({ since: SINCE, returned_at: SINCE + 3 * 60000 + 20000, ends_at: SINCE + GRACE_MS,
    media_paused: true });
  assert.equal(text, `No host was here for 3 minutes (since ${clockTime(SINCE)}). Members were told you stepped out, ` +
    `and their video and sound were paused until now. Had no host come back by ${clockTime(SINCE + GRACE_MS)}, ` +
    "the session would have closed for everyone.");
  assert.equal(minutesText(59000), "less than a minute");
  assert.equal(minutesText(60000), "1 minute");
});
