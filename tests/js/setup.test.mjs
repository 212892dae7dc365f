import { test } from "node:test";
import assert from "node:assert/strict";

import { deviceAdvice } from "../../web_client/setup.js";

/** @param {string} name */
const named = (name) => Object.assign(new Error(name), { name });
/** @param {string[]} kinds */
const streamOf = (kinds) => ({
  getVideoTracks: () => kinds.filter((k) => k === "video"),
  getAudioTracks: () => kinds.filter((k) => k === "audio"),
});

test("the setup page says what to do for each way a camera or microphone fails", () => {
  assert.match(deviceAdvice(named("NotAllowedError"), null), /blocking the camera and microphone.*Allow/);
  assert.match(deviceAdvice(named("NotFoundError"), null), /No camera or microphone was found/);
  assert.match(deviceAdvice(named("NotReadableError"), null), /being used by another app/);
  assert.match(deviceAdvice(named("TimeoutError"), null), /did not respond/);
  assert.match(deviceAdvice(named("Weird"), null), /could not be started/);
  assert.match(deviceAdvice(named("NotFoundError"), streamOf(["video"])), /microphone could not be used/);
  assert.match(deviceAdvice(named("NotFoundError"), streamOf(["audio"])), /camera could not be used/);
});
