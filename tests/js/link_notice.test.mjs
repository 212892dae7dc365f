import { test } from "node:test";
import assert from "node:assert/strict";

import { FORGET_DISMISSAL_MS, LinkNotice, OwnLinkState, describeOwnLink, ownEntry } from "../../web_client/link_notice.js";

const entry = (quality, id = "ana") => ({ participant_id: id, quality, loss_in: 0.2, loss_out: 0, rtt_ms: 40,
  bitrate_in: 300000 });
const CAMERA_OFF_TEXT = "Your connection is weak. Turning your camera off keeps your voice clear.";

test("a weak or poor link is told calmly, with one suggestion: the camera while it is on, else the router", () => {
  for (const quality of ["weak", "poor"]) {
    assert.deepEqual(describeOwnLink(entry(quality), true), { text: CAMERA_OFF_TEXT, action: "camera-off" });
    assert.deepEqual(describeOwnLink(entry(quality), false),
      { text: "Your connection is weak. Moving closer to your Wi-Fi router may help.", action: null });
  }
  for (const quality of ["good", "unknown"]) assert.equal(describeOwnLink(entry(quality), true), null);
  assert.equal(describeOwnLink(undefined, true), null);
});

const ANA = { id: "ana", role: "participant" };

test("a member's own entry is found in their one-entry event; a host, who reads the tiles, is told nothing", () => {
  assert.equal(ownEntry([entry("poor")], ANA).quality, "poor");
  const list = [entry("poor", "host"), entry("weak", "ana"), entry("poor", "ben")];
  assert.equal(ownEntry(list, ANA).quality, "weak");
  assert.equal(ownEntry(list, { id: "host", role: "host" }), undefined);
  assert.equal(ownEntry(list, { id: "ana", role: "cohost" }), undefined);
  assert.equal(ownEntry(list, { id: "cal", role: "participant" }), undefined);
  assert.equal(ownEntry(list, null), undefined);
  assert.equal(ownEntry("not a list", ANA), undefined);
  assert.equal(ownEntry([null, { participant_id: "ana" }], ANA), undefined);
});

test("dismissed, the notice stays away while the link stays weak, report after report", () => {
  const state = new OwnLinkState();
  state.report(entry("poor"), 0);
  assert.equal(state.view(true).action, "camera-off");
  state.dismiss();
  for (let t = 3000; t <= 120000; t += 3000) {
    state.report(entry(t % 6000 ? "weak" : "poor"), t);
    assert.equal(state.view(true), null, `shown again at ${t} ms`);
  }
});

test("the notice hides as soon as the link is good, and a weak spell long after is told afresh", () => {
  const state = new OwnLinkState();
  state.report(entry("weak"), 0);
  state.dismiss();
  state.report(entry("good"), 3000);
  assert.equal(state.view(true), null);
  state.report(entry("weak"), 3000 + FORGET_DISMISSAL_MS - 1); // good only a moment: still dismissed
  assert.equal(state.view(true), null);
  state.report(entry("good"), 10000);
  state.report(entry("good"), 13000);
  state.report(entry("weak"), 10000 + FORGET_DISMISSAL_MS);
  assert.equal(state.view(true).text, CAMERA_OFF_TEXT);
});

test("an undismissed notice follows the reports: shown while weak, hidden while good or unknown", () => {
  const state = new OwnLinkState();
  assert.equal(state.view(true), null);
  state.report(entry("weak"), 0);
  assert.notEqual(state.view(true), null);
  state.report(entry("unknown"), 3000);
  assert.equal(state.view(true), null);
  state.report(undefined, 6000);
  assert.equal(state.view(true), null);
  state.report(entry("poor"), 9000);
  assert.notEqual(state.view(true), null);
  state.reset();
  assert.equal(state.view(true), null);
});

/** The few element properties LinkNotice uses. */
function fakeElements() {
  const make = () => ({ hidden: true, textContent: "", listeners: {},
    addEventListener(type, fn) { this.listeners[type] = fn; } });
  const elements = { "link-notice": make(), "link-notice-text": make(), "link-notice-action": make(),
    "link-notice-dismiss": make() };
  return { elements, byId: (id) => elements[id] };
}

test("the notice's button turns the camera off and closes the notice; Dismiss only closes it", () => {
  const { elements, byId } = fakeElements();
  let cameraOn = true;
  const notice = new LinkNotice(byId, { cameraOn: () => cameraOn, turnCameraOff: () => { cameraOn = false; },
    now: () => 0 });
  notice.onLinkQuality({ participants: [entry("poor")] }, ANA);
  assert.equal(elements["link-notice"].hidden, false);
  assert.equal(elements["link-notice-text"].textContent, CAMERA_OFF_TEXT);
  assert.equal(elements["link-notice-action"].hidden, false);
  elements["link-notice-action"].listeners.click();
  assert.equal(cameraOn, false);
  assert.equal(elements["link-notice"].hidden, true);
  notice.onLinkQuality({ participants: [entry("poor")] }, ANA);
  assert.equal(elements["link-notice"].hidden, true, "acted on: not suggested again in this weak spell");

  notice.reset();
  notice.onLinkQuality({ participants: [entry("weak")] }, ANA);
  assert.equal(elements["link-notice"].hidden, false);
  assert.equal(elements["link-notice-action"].hidden, true, "the camera is off already: no button");
  elements["link-notice-dismiss"].listeners.click();
  assert.equal(elements["link-notice"].hidden, true);
});

test("a host is shown no notice, for their own link or anyone's; a member made co-host is told no more", () => {
  const { elements, byId } = fakeElements();
  const notice = new LinkNotice(byId, { cameraOn: () => true, turnCameraOff: () => {}, now: () => 0 });
  notice.onLinkQuality({ participants: [entry("poor", "host"), entry("poor", "ana")] }, { id: "host", role: "host" });
  assert.equal(elements["link-notice"].hidden, true);
  notice.onLinkQuality({ participants: [entry("poor", "ana")] }, ANA);
  assert.equal(elements["link-notice"].hidden, false);
  notice.onLinkQuality({ participants: [entry("poor", "host"), entry("poor", "ana")] }, { id: "ana", role: "cohost" });
  assert.equal(elements["link-notice"].hidden, true);
});
