// The mood chart's geometry and its words: points by time on a 1-10 scale, and a summary a screen reader reads.
import assert from "node:assert/strict";
import test from "node:test";

import { moodChart, moodSummary, usableMoods } from "../../web_client/mood_chart.js";

const MOODS = [
  { at: "2026-11-30T18:20:00Z", rating: 3, session_id: "s1" },
  { at: "2026-12-02T18:20:00Z", rating: 7, session_id: "s2" },
  { at: "2026-12-01T18:20:00Z", rating: 5, session_id: "s3" },
  { at: "2026-12-03T18:20:00Z", rating: 4, session_id: "s4" },
  { at: "2026-12-04T18:20:00Z", rating: 6, session_id: "s5" },
];

test("the summary counts the ratings, their range and the latest in time (not in list order)", () => {
  assert.equal(moodSummary(MOODS), "5 ratings, from 3 to 7, latest 6");
  assert.equal(moodSummary([{ at: "2026-12-01T00:00:00Z", rating: 8 }]), "1 rating: 8");
  assert.equal(moodSummary([{ at: "2026-12-01T00:00:00Z", rating: 5 }, { at: "2026-12-02T00:00:00Z", rating: 5 }]),
    "2 ratings, all 5, latest 5");
  assert.equal(moodSummary([]), "No mood ratings kept in this period.");
});

test("ratings that are not 1-10 or have no time are left out, never drawn", () => {
  const kept = usableMoods([{ at: "2026-12-01T00:00:00Z", rating: 0 }, { at: "2026-12-01T00:00:00Z", rating: 11 },
    { at: "nonsense", rating: 5 }, { at: "2026-12-01T00:00:00Z", rating: 4.5 }, { at: "2026-12-01T00:00:00Z", rating: 9 }]);
  assert.deepEqual(kept.map((m) => m.rating), [9]);
});

test("points run left to right in time and 10 is at the top, 1 at the bottom", () => {
  const chart = moodChart(MOODS, { width: 320, height: 120, pad: 16 });
  assert.equal(chart.points.length, 5);
  assert.deepEqual(chart.points.map((p) => p.rating), [3, 5, 7, 4, 6]);
  const xs = chart.points.map((p) => p.x);
  assert.deepEqual([...xs].sort((a, b) => a - b), xs);
  assert.equal(xs[0], 32); // left edge after the scale's labels
  assert.equal(xs[4], 304); // right edge
  assert.equal(xs[2], 168); // evenly spaced days: the middle one in the middle
  const [one, five, ten] = chart.grid;
  assert.deepEqual([one.label, five.label, ten.label], ["1", "5", "10"]);
  assert.equal(one.y, 104);
  assert.equal(ten.y, 8);
  assert.ok(chart.points[2].y < chart.points[0].y); // 7 is higher than 3
  assert.equal(chart.line.split(" L").length, 5);
  assert.match(chart.line, /^M32 /);
  assert.equal(chart.summary, "5 ratings, from 3 to 7, latest 6");
});

test("one rating sits in the middle; none gives an empty chart that still says so", () => {
  const single = moodChart([{ at: "2026-12-01T00:00:00Z", rating: 10 }], { width: 320, height: 120, pad: 16 });
  assert.deepEqual(single.points.map((p) => [p.x, p.y]), [[168, 8]]);
  const empty = moodChart([]);
  assert.deepEqual(empty.points, []);
  assert.equal(empty.line, "");
  assert.equal(empty.summary, "No mood ratings kept in this period.");
});
