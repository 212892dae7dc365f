import { test } from "node:test";
import assert from "node:assert/strict";

import { canRetry, describeFailure, describeState } from "../../web_client/status.js";

test("reconnecting after the server said it is restarting shows the restart notice", () => {
  assert.equal(describeState("reconnecting", "server-restarting"), "The service is restarting — reconnecting…");
  assert.equal(describeState("reconnecting", "server-shutdown"), "The service is restarting — reconnecting…");
  assert.equal(describeState("reconnecting", "heartbeat-timeout"), "Reconnecting…");
  assert.equal(describeState("reconnecting"), "Reconnecting…");
  assert.equal(describeState("connected", "server-restarting"), "Connected");
});

test("a restart is a failure worth retrying, in plain words", () => {
  assert.match(describeFailure("server-restarting"), /restarting/);
  assert.equal(canRetry("server-restarting"), true);
  assert.equal(describeState("failed", "server-restarting"), describeFailure("server-restarting"));
});
