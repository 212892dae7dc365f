// The subscribe connection's side of upstream repair (docs/protocol.md 6.3, `repair_ms`): each slot's
// jitter buffer waits as long as the server says its track's repairs take, and no longer.
import assert from "node:assert/strict";
import test from "node:test";

import { Subscriber } from "../../web_client/subscriber.js";

/** A transceiver as the browser has it: its mid, and a receiver with WebRTC's jitterBufferTarget. */
function transceiver(mid, { refuses = false, supported = true } = {}) {
  const receiver = {};
  if (supported) {
    let target = null;
    Object.defineProperty(receiver, "jitterBufferTarget", {
      get: () => target,
      set: (value) => {
        if (refuses) throw new RangeError("out of range");
        target = value;
      },
    });
  }
  return { mid, receiver };
}

function subscriber(transceivers) {
  const subscriber = new Subscriber({ configuration: () => ({}), answer: async () => ({}), onChange: () => {},
    onError: () => {} });
  subscriber.pc = /** @type {any} */ ({ getTransceivers: () => transceivers });
  return subscriber;
}

const entry = (mid, kind, extra = {}) => ({ mid, track_id: `t-${mid}`, participant_id: "u-1", kind,
  label: kind === "video" ? "camera" : "microphone", ...extra });

test("a video whose repairs come late is waited for, and nothing else", () => {
  const slots = [transceiver("0"), transceiver("1"), transceiver("2"), transceiver(null)];
  const sub = subscriber(slots);
  sub.setConsumers({ consumers: [entry("0", "video", { repair_ms: 150 }), entry("1", "video"),
    entry("2", "audio", { repair_ms: 150 })] });
  assert.deepEqual(slots.map((t) => t.receiver.jitterBufferTarget), [150, null, null, null]);
  // The server stops asking once the publisher's link recovered: the browser's own delay again.
  sub.setConsumers({ consumers: [entry("0", "video"), entry("1", "video"), entry("2", "audio")] });
  assert.equal(slots[0].receiver.jitterBufferTarget, null);
  // Nonsense from the wire is ignored, and an absurd wait is cut to one a conversation bears.
  sub.setConsumers({ consumers: [entry("0", "video", { repair_ms: "soon" }),
    entry("1", "video", { repair_ms: 1e9 })] });
  assert.deepEqual(slots.slice(0, 2).map((t) => t.receiver.jitterBufferTarget), [null, 1000]);
});

test("a browser without jitterBufferTarget, or one refusing the value, keeps playing", () => {
  const slots = [transceiver("0", { supported: false }), transceiver("1", { refuses: true })];
  const sub = subscriber(slots);
  sub.setConsumers({ consumers: [entry("0", "video", { repair_ms: 100 }), entry("1", "video", { repair_ms: 100 })] });
  assert.equal("jitterBufferTarget" in slots[0].receiver, false);
  assert.equal(slots[1].receiver.jitterBufferTarget, null);
});

test("without a connection yet there is nothing to set", () => {
  const sub = subscriber([]);
  sub.pc = null;
  sub.setConsumers({ consumers: [entry("0", "video", { repair_ms: 100 })] });
  assert.equal(sub.consumers.get("0").repair_ms, 100);
});
