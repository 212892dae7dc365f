import { test } from "node:test";
import assert from "node:assert/strict";

import { MIN_TILE, chooseFocus, computeLayout, overlaps } from "../../web_client/layout.js";

const ids = (n) => Array.from({ length: n }, (_, i) => `p${i}`);

/** Every box is inside the area's width, at least MIN_TILE, and no two overlap. */
function assertSound(layout, input) {
  const boxes = [...layout.boxes.entries()];
  assert.equal(boxes.length, input.ids.length, "one box per tile");
  for (const [id, box] of boxes) {
    assert.ok(box.x >= 0 && box.y >= 0, `${id} starts inside the area`);
    assert.ok(box.x + box.width <= input.width + 0.001, `${id} fits the width`);
    assert.ok(box.width >= Math.min(MIN_TILE.width, input.width) && box.height >= MIN_TILE.height - 1,
      `${id} is ${box.width}x${box.height}, below a readable tile`);
    assert.ok(box.y + box.height <= layout.extent.height + 0.001, `${id} is inside the scrolled extent`);
  }
  for (let i = 0; i < boxes.length; i++) {
    for (let j = i + 1; j < boxes.length; j++) {
      assert.ok(!overlaps(boxes[i][1], boxes[j][1]), `${boxes[i][0]} and ${boxes[j][0]} overlap`);
    }
  }
}

test("a grid fits four people at 1280x800 without scrolling, as large as possible", () => {
  const input = { width: 800, height: 620, ids: ids(4) };
  const layout = computeLayout(input);
  assertSound(layout, input);
  assert.equal(layout.extent.height, 620);
  const box = layout.boxes.get("p0");
  assert.ok(box.width > 350, `tiles are ${box.width}px wide`);
});

test("on a phone the other members are visible without scrolling", () => {
  const input = { width: 366, height: 560, ids: ids(4) };
  const layout = computeLayout(input);
  assertSound(layout, input);
  assert.equal(layout.extent.height, 560, "nothing scrolls");
});

test("a focused tile is large and the others sit in a strip beside it, never on it", () => {
  const input = { width: 800, height: 620, ids: ["screen", ...ids(4)], focus: "screen" };
  const layout = computeLayout(input);
  assertSound(layout, input);
  const main = layout.boxes.get("screen");
  assert.ok(main.width > 550 && main.height === 620);
  for (const id of ids(4)) assert.ok(layout.boxes.get(id).x >= main.x + main.width, `${id} is in the strip`);
});

test("on a tall area the strip goes below the focused tile", () => {
  const input = { width: 366, height: 600, ids: ["screen", ...ids(3)], focus: "screen" };
  const layout = computeLayout(input);
  assertSound(layout, input);
  const main = layout.boxes.get("screen");
  for (const id of ids(3)) assert.ok(layout.boxes.get(id).y >= main.y + main.height, `${id} is below`);
});

test("too many tiles for the area scroll instead of shrinking below a readable size", () => {
  const input = { width: 300, height: 400, ids: ids(12) };
  const layout = computeLayout(input);
  assertSound(layout, input);
  assert.ok(layout.extent.height > 400, "the grid scrolls");
});

test("no overlap and no unreadable tile for any size and count", () => {
  for (const width of [200, 366, 390, 640, 800, 1024, 1280, 1920]) {
    for (const height of [150, 300, 560, 620, 800, 1080]) {
      for (let n = 1; n <= 20; n++) {
        for (const focus of [null, "p0"]) {
          const input = { width, height, ids: ids(n), focus };
          assertSound(computeLayout(input), input);
        }
      }
    }
  }
});

test("a focus that is not among the tiles gives a grid, and one tile alone fills the area", () => {
  assert.equal(computeLayout({ width: 800, height: 600, ids: ids(3), focus: "gone" }).mode, "grid");
  const alone = computeLayout({ width: 800, height: 600, ids: ["p0"], focus: "p0" });
  assert.deepEqual(alone.boxes.get("p0"), { x: 0, y: 0, width: 800, height: 600 });
});

test("the shared screen wins, then the spotlight, then one's own pin, then the speaker in speaker view", () => {
  const present = () => true;
  const base = { screen: null, spotlight: null, pinned: null, speaker: "s", view: "grid", present };
  assert.equal(chooseFocus(base), null);
  assert.equal(chooseFocus({ ...base, view: "speaker" }), "s");
  assert.equal(chooseFocus({ ...base, pinned: "p" }), "p");
  assert.equal(chooseFocus({ ...base, pinned: "p", spotlight: "h" }), "h");
  assert.equal(chooseFocus({ ...base, pinned: "p", spotlight: "h", screen: "x" }), "x");
  assert.equal(chooseFocus({ ...base, pinned: "gone", present: (id) => id !== "gone" }), null);
});
