import { test } from "node:test";
import assert from "node:assert/strict";

import { levelOf } from "../../web_client/prejoin.js";

test("silence shows an empty meter", () => {
  assert.equal(levelOf(new Float32Array(512)), 0);
  assert.equal(levelOf([]), 0);
});

test("a louder signal shows a fuller meter, never past full", () => {
  const tone = (amplitude) => Float32Array.from({ length: 512 }, (_, i) => amplitude * Math.sin(i / 5));
  const quiet = levelOf(tone(0.02));
  const speech = levelOf(tone(0.15));
  assert.ok(quiet > 0 && quiet < speech, `${quiet} < ${speech}`);
  assert.ok(speech > 0.3, "ordinary speech fills a good part of the bar");
  assert.equal(levelOf(tone(1)), 1);
});
