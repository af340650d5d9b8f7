// The client in node (fetch transport) against the real sse-hub binary.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:net";
import { SseHubClient } from "../../src/sse-hub-client.js";
import { publish, startServer, waitFor } from "../support/harness.mjs";

let server;

before(async () => {
  server = await startServer(["--flush-interval-ms", "100"]);
});

after(async () => {
  await server?.stop();
});

/** A client that records everything it sees, closed when the test ends. */
function recorder(t, options) {
  const seen = { states: [], events: [], resyncs: 0 };
  const client = new SseHubClient({
    url: server.url,
    window: null,
    document: null,
    onStateChange: (s) => seen.states.push(s),
    onResync: () => seen.resyncs++,
    ...options,
  });
  client.onAny((e) => seen.events.push(e));
  t.after(() => client.close());
  return { client, seen };
}

const dataOf = (seen, type) => seen.events.filter((e) => e.type === type).map((e) => e.data);

test("typed handlers, last event id and the state machine", async (t) => {
  const { client, seen } = recorder(t, { topics: ["node.typed"] });
  const typed = [];
  client.on("greeting", (e) => typed.push(e.json()));
  assert.equal(client.transport, "fetch");
  client.connect();
  await waitFor(() => client.state === "open", "open");
  assert.deepEqual(seen.states, ["connecting", "open"]);
  assert.ok(client.connectionId, "connection id from `connected`");
  const { body } = await publish(server.url, { topics: ["node.typed"], type: "greeting", data: { n: 1 } });
  await waitFor(() => typed.length === 1, "typed event");
  assert.deepEqual(typed, [{ n: 1 }]);
  assert.equal(client.lastEventId, body.ids[0]);
  const connected = seen.events.find((e) => e.type === "connected");
  assert.equal(connected.id, null, "control events carry no id");
  client.close();
  assert.equal(client.state, "closed");
});

test("topics are added and removed without reconnecting", async (t) => {
  const { client, seen } = recorder(t, { topics: ["node.a"] });
  client.connect();
  await waitFor(() => client.state === "open", "open");
  const id = client.connectionId;
  assert.deepEqual(await client.addTopics(["node.b"]), ["node.a", "node.b"]);
  await publish(server.url, { topics: ["node.b"], type: "x", data: "b1" });
  await waitFor(() => dataOf(seen, "x").includes("b1"), "event on the added topic");
  assert.deepEqual(await client.removeTopics(["node.a"]), ["node.b"]);
  await publish(server.url, { topics: ["node.a"], type: "x", data: "a-after-remove" });
  await publish(server.url, { topics: ["node.b"], type: "x", data: "b2" });
  await waitFor(() => dataOf(seen, "x").includes("b2"), "marker");
  assert.deepEqual(dataOf(seen, "x"), ["b1", "b2"]);
  assert.equal(client.connectionId, id, "same connection");
  client.close();
});

test("pause holds coalesced events; resume delivers the latest per key", async (t) => {
  const { client, seen } = recorder(t, { topics: ["node.job"] });
  client.connect();
  await waitFor(() => client.state === "open", "open");
  assert.equal(await client.pause(), true);
  assert.equal(client.paused, true);
  for (let i = 1; i <= 5; i++) {
    await publish(server.url, {
      topics: ["node.job"],
      type: "progress",
      data: String(i * 20),
      priority: "coalesced",
      coalesce_key: "job-1",
    });
  }
  await publish(server.url, { topics: ["node.job"], type: "ping", data: "instant flows while paused" });
  await waitFor(() => dataOf(seen, "ping").length === 1, "instant event while paused");
  assert.deepEqual(dataOf(seen, "progress"), [], "coalesced events are held");
  assert.equal(await client.resume(), true);
  await waitFor(() => dataOf(seen, "progress").length > 0, "held state on resume");
  assert.deepEqual(dataOf(seen, "progress"), ["100"]);
  client.close();
});

test("an unknown last event id gets `resync`, and the hook runs", async (t) => {
  const { client, seen } = recorder(t, { topics: ["node.resync"], lastEventId: "1-0" });
  client.connect();
  await waitFor(() => seen.resyncs === 1, "onResync");
  client.close();
});

test("a server that is not there yet is retried with backoff until it is", async (t) => {
  const port = await new Promise((resolve) => {
    const probe = createServer().listen(0, "127.0.0.1", () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
  const { client, seen } = recorder(t, {
    url: `http://127.0.0.1:${port}`,
    topics: ["node.late"],
    backoff: { initialMs: 50, maxMs: 200 },
  });
  const errors = [];
  client.on("error", (e) => errors.push(e));
  client.connect();
  await waitFor(() => errors.length >= 2, "failed attempts");
  assert.ok(["reconnecting", "connecting"].includes(client.state), client.state);
  assert.ok(seen.states.includes("reconnecting"));
  const late = await startServer([], { port });
  try {
    await waitFor(() => client.state === "open", "open once the server is up");
    assert.ok(seen.states.filter((s) => s === "reconnecting").length >= 2);
  } finally {
    client.close();
    await late.stop();
  }
});

async function freePort() {
  return new Promise((resolve) => {
    const probe = createServer().listen(0, "127.0.0.1", () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

test("`online` cuts a long backoff short", async (t) => {
  const port = await freePort();
  const online = new EventTarget();
  const { client, seen } = recorder(t, {
    url: `http://127.0.0.1:${port}`,
    topics: ["node.online"],
    window: online,
    // Without `online` the next attempt would be up to a minute away.
    backoff: { initialMs: 60_000, maxMs: 60_000 },
    random: () => 0.999,
  });
  const errors = [];
  client.on("error", (e) => errors.push(e));
  client.connect();
  await waitFor(() => errors.length === 1 && client.state === "reconnecting", "first failure");
  const late = await startServer([], { port });
  t.after(() => late.stop());
  online.dispatchEvent(new Event("online"));
  await waitFor(() => client.state === "open", "open right after `online`", 5_000);
  assert.equal(errors.length, 1);
  assert.ok(seen.states.includes("reconnecting"));
});

test("server-shutdown: the client comes back after the server's retry: delay (fetch transport)", async (t) => {
  const first = await startServer(["--retry-ms", "300", "--drain-timeout-s", "1"]);
  const { client, seen } = recorder(t, { url: first.url, topics: ["node.drain"] });
  client.connect();
  await waitFor(() => client.state === "open", "open");
  const id = client.connectionId;
  const stopped = first.stop();
  await waitFor(() => seen.events.some((e) => e.type === "server-shutdown"), "server-shutdown");
  await stopped;
  await waitFor(() => client.state === "reconnecting", "reconnecting");
  const second = await startServer(["--retry-ms", "300"], { port: first.port });
  t.after(() => second.stop());
  await waitFor(() => client.state === "open" && client.connectionId !== id, "back on the new server");
});
