// The records views' pure helpers: the clinician's calendar ranges, attendance and weekly hours in words,
// the audit chain's state in words, and query strings of ids and dates.
import assert from "node:assert/strict";
import test from "node:test";

import {
  addDays, attendanceText, breakoutRoomsText, chainText, detailText, formatDay, isDay, mondayOf, query, quickRange, rangeProblem, weeklyHoursText,
} from "../../web_client/records.js";

test("weeks start on Monday, across month and year ends", () => {
  assert.equal(mondayOf("2026-12-03"), "2026-11-30"); // a Thursday
  assert.equal(mondayOf("2026-11-30"), "2026-11-30"); // a Monday is its own week's start
  assert.equal(mondayOf("2026-12-06"), "2026-11-30"); // Sunday belongs to the week before it
  assert.equal(mondayOf("2027-01-02"), "2026-12-28");
  assert.equal(addDays("2026-02-28", 1), "2026-03-01");
  assert.equal(addDays("2028-02-28", 1), "2028-02-29");
});

test("day arithmetic is calendar arithmetic: a daylight-saving change does not shift a day", () => {
  // America/New_York changes on 1 Nov 2026; the range helpers work on dates, not instants.
  assert.equal(mondayOf("2026-11-01"), "2026-10-26");
  assert.deepEqual(quickRange("this-week", "2026-11-02"), { from: "2026-11-02", to: "2026-11-08" });
  assert.deepEqual(quickRange("last-week", "2026-11-02"), { from: "2026-10-26", to: "2026-11-01" });
});

test("the quick ranges: this week, last week, the last four weeks ending this Sunday", () => {
  assert.deepEqual(quickRange("this-week", "2026-12-03"), { from: "2026-11-30", to: "2026-12-06" });
  assert.deepEqual(quickRange("last-week", "2026-12-03"), { from: "2026-11-23", to: "2026-11-29" });
  assert.deepEqual(quickRange("last-4-weeks", "2026-12-03"), { from: "2026-11-09", to: "2026-12-06" });
});

test("a range is refused with a reason when it is not one the API answers", () => {
  assert.equal(rangeProblem("2026-11-30", "2026-12-06"), "");
  assert.equal(rangeProblem("2026-12-06", "2026-11-30"), "The first day must not be after the last day.");
  assert.equal(rangeProblem("", "2026-11-30"), "Choose both days of the range.");
  assert.equal(rangeProblem("2026-02-30", "2026-03-01"), "Choose both days of the range.");
  assert.equal(rangeProblem("2026-01-01", "2027-01-01"), "");  // 366 days
  assert.equal(rangeProblem("2026-01-01", "2027-01-02"), "Choose at most 366 days.");
  assert.ok(isDay("2028-02-29"));
  assert.ok(!isDay("2027-02-29"));
});

test("weekly hours say met or not met in words, with what is short", () => {
  assert.equal(formatDay("2026-11-30"), "Mon 30 Nov 2026");
  assert.equal(weeklyHoursText({ week_start: "2026-11-30", hours: 3.25, required: 3, met: true }),
    "Week of Mon 30 Nov 2026: 3.3 of 3 hours, requirement met");
  assert.equal(weeklyHoursText({ week_start: "2026-11-30", hours: 1, required: 3, met: false }),
    "Week of Mon 30 Nov 2026: 1 of 3 hours, not met (2 short)");
  assert.equal(weeklyHoursText({ week_start: "2026-11-30", hours: 1.5, required: 0, met: true }),
    "Week of Mon 30 Nov 2026: 1.5 hours (no weekly requirement)");
});

test("attendance reads as words: present with marks, absent, excused with its reason, upcoming", () => {
  const base = { occurrence: "20261130T180000", minutes_present: 0, minutes_waiting: 0, late_minutes: 0,
    left_early_minutes: 0, reconnects: 0, removed: false, excuse_reason: null };
  assert.equal(attendanceText({ ...base, status: "present", minutes_present: 85 }), "Present 85 min");
  assert.equal(attendanceText({ ...base, status: "present", minutes_present: 60, late_minutes: 12,
    left_early_minutes: 10, reconnects: 1, minutes_waiting: 3, removed: true }),
  "Present 60 min, late 12 min, left 10 min early, 1 reconnect, waited 3 min, removed by a host");
  assert.equal(attendanceText({ ...base, status: "present", minutes_present: 1, reconnects: 2 }),
    "Present 1 min, 2 reconnects");
  assert.equal(attendanceText({ ...base, status: "absent" }), "Absent");
  assert.equal(attendanceText({ ...base, status: "excused", excuse_reason: "Hospital appointment" }),
    "Excused: Hospital appointment");
  assert.equal(attendanceText({ ...base, status: "upcoming" }), "Upcoming");
});

test("the audit chain's state in words: intact, tampered, records lost, anchor", () => {
  const intact = { ok: true, complete: true, entries: 1234, first_bad_seq: null, problem: null, gaps: [], lost: 0 };
  assert.deepEqual(chainText(intact, { seq: 1200, hash: "ab", at: "2026-12-03T10:00:00Z", matches: true }), {
    ok: true, text: "Hash chain intact: 1,234 entries, no records lost; anchor matches (entry 1200)" });
  assert.equal(chainText(intact, null).text, "Hash chain intact: 1,234 entries, no records lost; no anchor written yet");
  const tampered = chainText({ ...intact, ok: false, first_bad_seq: 17, problem: "hash mismatch" }, null);
  assert.equal(tampered.ok, false);
  assert.match(tampered.text, /^TAMPERED at entry 17: hash mismatch/);
  const lost = chainText({ ...intact, lost: 3, gaps: [[10, 12]] }, null);
  assert.equal(lost.ok, false);
  assert.match(lost.text, /3 entries lost in 1 gap/);
  const cut = chainText(intact, { seq: 2000, hash: "cd", at: "2026-12-03T10:00:00Z", matches: false });
  assert.equal(cut.ok, false);
  assert.match(cut.text, /anchor DOES NOT match/);
});

test("query strings carry only the values that are set", () => {
  assert.equal(query({ from: "2026-11-30", to: "2026-12-06", format: "csv" }), "?from=2026-11-30&to=2026-12-06&format=csv");
  assert.equal(query({ actor: "", group: null, before: 42 }), "?before=42");
  assert.equal(query({}), "");
});

test("breakout rooms and audit details read plainly", () => {
  assert.equal(breakoutRoomsText([["m-1", "m-2"], ["m-3"]]), "2 rooms: 2 people, 1 person");
  assert.equal(breakoutRoomsText([{ participants: ["m-1"] }]), "1 room: 1 person");
  assert.equal(breakoutRoomsText(3), "3 rooms");
  assert.equal(breakoutRoomsText(null), "—");
  assert.equal(detailText({ count: 2 }), '{"count":2}');
  assert.equal(detailText("records-read"), "records-read");
  assert.equal(detailText(null), "");
});
