import { test } from "node:test";
import assert from "node:assert/strict";

import { conversationOf, messagesOf, needsHostNotice, HOSTS } from "../../web_client/conversations.js";

const HOST_IDS = new Set(["ana", "cora"]);
const isHostId = (id) => HOST_IDS.has(id);
const ANA = { selfId: "ana", selfIsHost: true, isHostId };
const BEN = { selfId: "ben", selfIsHost: false, isHostId };

const message = (id, from, to) => ({ id, from: { id: from, name: from }, to, text: "…", ts: 0 });

test("a member's message to the hosts is the host's conversation with that member", () => {
  assert.equal(conversationOf(message("m-1", "ben", "hosts"), ANA), "ben");
  assert.equal(conversationOf(message("m-1", "ben", "ana"), ANA), "ben");
});

test("a host's private reply stays in the conversation with that member, for every host", () => {
  assert.equal(conversationOf(message("m-2", "ana", "ben"), ANA), "ben");
  assert.equal(conversationOf(message("m-2", "cora", "ben"), ANA), "ben");
});

test("for the member, everything private with any host is one conversation with the hosts", () => {
  assert.equal(conversationOf(message("m-1", "ben", "hosts"), BEN), HOSTS);
  assert.equal(conversationOf(message("m-2", "ana", "ben"), BEN), HOSTS);
  assert.equal(conversationOf(message("m-3", "ben", "cora"), BEN), HOSTS);
});

test("messages to everyone belong to no private conversation", () => {
  assert.equal(conversationOf(message("m-4", "ben", "room"), ANA), null);
  assert.equal(conversationOf(message("m-4", "ana", "room"), BEN), null);
});

test("hosts writing among themselves is the hosts' conversation", () => {
  assert.equal(conversationOf(message("m-5", "cora", "hosts"), ANA), HOSTS);
  assert.equal(conversationOf(message("m-5", "ana", "hosts"), ANA), HOSTS);
});

test("members writing privately to each other (when allowed) is a conversation with that member", () => {
  assert.equal(conversationOf(message("m-6", "dee", "ben"), BEN), "dee");
  assert.equal(conversationOf(message("m-7", "ben", "dee"), BEN), "dee");
});

test("a conversation view lists only that conversation, in order", () => {
  const all = [message("m-1", "ben", "hosts"), message("m-2", "ana", "room"), message("m-3", "dee", "hosts"),
    message("m-4", "ana", "ben")];
  assert.deepEqual(messagesOf(all, "ben", ANA).map((m) => m.id), ["m-1", "m-4"]);
});

test("only a member's private message to the hosts raises a host's notice", () => {
  assert.equal(needsHostNotice(message("m-1", "ben", "hosts"), ANA), true);
  assert.equal(needsHostNotice(message("m-1", "ben", "ana"), ANA), true);
  assert.equal(needsHostNotice(message("m-2", "ben", "room"), ANA), false);
  assert.equal(needsHostNotice(message("m-3", "cora", "hosts"), ANA), false);
  assert.equal(needsHostNotice(message("m-4", "ana", "ben"), ANA), false);
  assert.equal(needsHostNotice(message("m-4", "ana", "ben"), BEN), false);
});
