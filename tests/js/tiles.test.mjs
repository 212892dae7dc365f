import { test } from "node:test";
import assert from "node:assert/strict";

import { QUALITY_WORDS, bitrateText, describeQuality } from "../../web_client/tiles.js";

const text = (entry) => {
  const shown = describeQuality(entry);
  return shown && [shown.words, ...shown.figures].join(" · ");
};

test("a weak link reads the words, the loss and what the participant sends, as on the tile", () => {
  const entry = { quality: "weak", loss_in: 0.04, loss_out: 0.01, rtt_ms: 80, bitrate_in: 180000 };
  assert.equal(text(entry), "Weak connection · 4% lost · 180 kbit/s");
  assert.equal(describeQuality(entry).quality, "weak");
});

test("the loss shown is the larger of the two directions; the tooltip keeps both", () => {
  const shown = describeQuality({ quality: "poor", loss_in: 0.02, loss_out: 0.25, rtt_ms: 42, bitrate_in: 412000 });
  assert.equal(shown.words, QUALITY_WORDS.poor);
  assert.deepEqual(shown.figures, ["25% lost", "412 kbit/s"]);
  assert.equal(shown.detail,
    "Lost on the way in: 2%; on the way to them: 25%; round trip: 42 ms; they send: 412 kbit/s");
});

test("a slow round trip is shown when it is what makes the link weak", () => {
  assert.equal(text({ quality: "poor", loss_in: 0, loss_out: 0, rtt_ms: 620, bitrate_in: 1_250_000 }),
    "Poor connection · 0% lost · 620 ms round trip · 1.3 Mbit/s");
  assert.equal(text({ quality: "weak", loss_in: 0, loss_out: 0, rtt_ms: 249, bitrate_in: 90000 }),
    "Weak connection · 0% lost · 90 kbit/s");
});

test("figures not measured yet are left out of the text and said so in the tooltip", () => {
  const shown = describeQuality({ quality: "weak", loss_in: null, loss_out: 0.05, rtt_ms: null, bitrate_in: null });
  assert.deepEqual(shown.figures, ["5% lost"]);
  assert.equal(shown.detail,
    "Lost on the way in: not measured; on the way to them: 5%; round trip: not measured; they send: not measured");
  assert.equal(text({ quality: "poor" }), "Poor connection");
});

test("a good, unknown or missing link shows nothing", () => {
  for (const entry of [{ quality: "good", loss_in: 0, bitrate_in: 500000 }, { quality: "unknown" }, {}, undefined,
    { quality: "terrible", loss_in: 0.5 }]) {
    assert.equal(describeQuality(entry), null, JSON.stringify(entry));
  }
});

test("bitrates read in kbit/s below a megabit, in Mbit/s from there", () => {
  assert.equal(bitrateText(0), "0 kbit/s");
  assert.equal(bitrateText(999_400), "999 kbit/s");
  assert.equal(bitrateText(999_600), "1.0 Mbit/s");
  assert.equal(bitrateText(1_000_000), "1.0 Mbit/s");
  assert.equal(bitrateText(2_460_000), "2.5 Mbit/s");
});
