import { test } from "node:test";
import assert from "node:assert/strict";

import { TileSizes, heightsByTrack } from "../../web_client/tile_sizes.js";
import { SCREEN_TILE } from "../../web_client/tiles.js";
import { SIMULCAST_LAYERS, SIMULCAST_MIN_HEIGHT, sendInit } from "../../web_client/publisher.js";

const ANA = { id: "u-1", name: "Ana", role: "host", tracks: [
  { track_id: "t-cam", kind: "video", label: "camera", muted: false },
  { track_id: "t-mic", kind: "audio", label: "microphone", muted: false },
  { track_id: "t-screen", kind: "video", label: "screen", muted: false }] };
const BEN = { id: "u-2", name: "Ben", role: "participant", tracks: [
  { track_id: "t-ben", kind: "video", label: "camera", muted: false }] };

test("every received video gets its tile's height, 0 when its tile is not shown", () => {
  const heights = new Map([["u-1", 360], [SCREEN_TILE, 720]]);
  assert.deepEqual(heightsByTrack(heights, [ANA, BEN], "u-1"), { "t-cam": 360, "t-screen": 720, "t-ben": 0 });
  // A screen track of someone whose share is not the one shown is not shown.
  assert.deepEqual(heightsByTrack(heights, [ANA], null), { "t-cam": 360, "t-screen": 0 });
});

test("sizes are sent once the layout settles, and only when they changed", async () => {
  const sent = [];
  const sizes = new TileSizes(async (heights) => { sent.push(heights); }, 5);
  sizes.report({ "t-1": 100 });
  sizes.report({ "t-1": 200 });
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.deepEqual(sent, [{ "t-1": 200 }]);
  sizes.report({ "t-1": 200 });
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal(sent.length, 1);
  sizes.reset(); // a new connection: the server knows nothing yet
  sizes.report({ "t-1": 200 });
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal(sent.length, 2);
});

test("a refused report is sent again next time", async () => {
  let calls = 0;
  const sizes = new TileSizes(async () => { calls++; throw new Error("refused"); }, 1);
  sizes.report({ "t-1": 1 });
  await new Promise((resolve) => setTimeout(resolve, 10));
  sizes.report({ "t-1": 1 });
  await new Promise((resolve) => setTimeout(resolve, 10));
  assert.equal(calls, 2);
});

test("the camera goes out as simulcast layers, lowest first, when it is large enough", () => {
  const track = (height) => ({ getSettings: () => ({ height }) });
  const stream = /** @type {any} */ ({});
  const camera = sendInit({ label: "camera", track: /** @type {any} */ (track(480)) }, stream);
  assert.deepEqual(camera.sendEncodings.map((e) => e.rid), SIMULCAST_LAYERS.map((l) => l.rid));
  assert.ok(camera.sendEncodings[0].scaleResolutionDownBy > camera.sendEncodings[1].scaleResolutionDownBy);
  assert.equal(sendInit({ label: "camera", track: /** @type {any} */ (track(SIMULCAST_MIN_HEIGHT - 1)) }, stream)
    .sendEncodings, undefined);
  assert.equal(sendInit({ label: "screen", track: /** @type {any} */ (track(1080)) }, stream).sendEncodings, undefined);
});

test("on a poor link of our own the camera sends its low layer only, and all of them again after", async () => {
  const { Publisher } = await import("../../web_client/publisher.js");
  let parameters = { encodings: [{ rid: "l", active: true }, { rid: "h", active: true }] };
  const sender = {
    getParameters: () => structuredClone(parameters),
    setParameters: async (next) => { parameters = next; },
  };
  const publisher = new Publisher(/** @type {any} */ ({}));
  publisher.published.set("camera", /** @type {any} */ ({ label: "camera", transceiver: { sender } }));
  await publisher.uplinkRated("poor");
  assert.deepEqual(parameters.encodings.map((e) => e.active), [true, false]);
  // Near the threshold the link is rated weak and poor by turns: the top layer stays off.
  for (const quality of ["weak", "poor", "weak", "good", "weak", "good", "good"]) await publisher.uplinkRated(quality);
  assert.deepEqual(parameters.encodings.map((e) => e.active), [true, false]);
  await publisher.uplinkRated("good"); // three good ratings in a row
  assert.deepEqual(parameters.encodings.map((e) => e.active), [true, true]);
});
