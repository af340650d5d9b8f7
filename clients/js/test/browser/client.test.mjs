// sse-hub-client in headless chromium, imported from the server's /client.js.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { launchBrowser, publish, startServer, WAIT } from "../support/harness.mjs";

let browser;
let server;

before(async () => {
  [browser, server] = await Promise.all([launchBrowser(), startServer(["--flush-interval-ms", "100"])]);
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/** A page on `base` with a client connected to `topics`; `window.seen` records events. */
async function clientPage(base, topics, options = {}) {
  const page = await browser.newPage();
  await page.goto(base + "/healthz");
  await page.evaluate(
    async ({ topics, options }) => {
      const { SseHubClient } = await import("/client.js");
      window.seen = [];
      window.resyncs = 0;
      window.states = [];
      window.hub = new SseHubClient({
        topics,
        ...options,
        onResync: () => window.resyncs++,
        onStateChange: (s) => window.states.push(s),
      });
      window.hub.onAny((e) => window.seen.push({ type: e.type, data: e.data, id: e.id }));
      for (const type of options.types ?? []) window.hub.on(type, () => {});
      window.hub.connect();
    },
    { topics, options },
  );
  await page.waitForFunction(() => window.hub.state === "open", null, { timeout: WAIT });
  return page;
}

const dataOf = (page, type) =>
  page.evaluate((type) => window.seen.filter((e) => e.type === type).map((e) => e.data), type);

/** Makes the tab hidden or visible as the browser would (visibilityState + event). */
async function setHidden(page, hidden) {
  await page.evaluate((hidden) => {
    Object.defineProperty(document, "hidden", { configurable: true, get: () => hidden });
    Object.defineProperty(document, "visibilityState", {
      configurable: true,
      get: () => (hidden ? "hidden" : "visible"),
    });
    document.dispatchEvent(new Event("visibilitychange"));
  }, hidden);
}

test("a hidden tab pauses; on resume it gets the latest coalesced state", async () => {
  const page = await clientPage(server.url, ["browser.job"], { types: ["progress", "note"] });
  try {
    assert.equal(await page.evaluate(() => window.hub.transport), "eventsource");
    await setHidden(page, true);
    await page.waitForFunction(() => window.hub.paused === true, null, { timeout: WAIT });
    const stats = await (await fetch(server.url + "/stats")).json();
    assert.equal(stats.paused, 1, "the server holds this connection's events");
    for (let i = 1; i <= 10; i++) {
      const answer = await publish(server.url, {
        topics: ["browser.job"],
        type: "progress",
        data: String(i * 10),
        priority: "coalesced",
        coalesce_key: "job-7",
      });
      assert.equal(answer.status, 202);
    }
    await publish(server.url, { topics: ["browser.job"], type: "note", data: "instant" });
    await page.waitForFunction(() => window.seen.some((e) => e.type === "note"), null, { timeout: WAIT });
    assert.deepEqual(await dataOf(page, "progress"), [], "held while hidden");
    await setHidden(page, false);
    await page.waitForFunction(() => window.seen.some((e) => e.type === "progress"), null, { timeout: WAIT });
    assert.equal(await page.evaluate(() => window.hub.paused), false);
    assert.deepEqual(await dataOf(page, "progress"), ["100"], "only the latest state");
  } finally {
    await page.close();
  }
});

test("resync calls the app's hook", async () => {
  const page = await clientPage(server.url, ["browser.resync"], { lastEventId: "1-0" });
  try {
    await page.waitForFunction(() => window.resyncs === 1, null, { timeout: WAIT });
  } finally {
    await page.close();
  }
});

test("a killed and restarted server is reconnected to with no loss (replay)", async () => {
  const prefix = `sse-hub-test-browser-${process.pid}-${Date.now()}`;
  const args = ["--replay", "redis", "--redis-prefix", prefix, "--retry-ms", "1500"];
  const first = await startServer(args);
  const page = await clientPage(first.url, ["browser.restart"], { types: ["tick"] });
  let second;
  try {
    const ids = [];
    for (let i = 1; i <= 3; i++) {
      const { body } = await publish(first.url, { topics: ["browser.restart"], type: "tick", data: `before-${i}` });
      ids.push(...body.ids);
    }
    await page.waitForFunction(() => window.seen.filter((e) => e.type === "tick").length === 3, null, {
      timeout: WAIT,
    });
    await first.kill();
    await page.waitForFunction(() => window.hub.state === "reconnecting", null, { timeout: WAIT });
    second = await startServer(args, { port: first.port });
    // Published while the browser waits to reconnect: it gets them by replay.
    for (let i = 1; i <= 3; i++) {
      const { body } = await publish(second.url, { topics: ["browser.restart"], type: "tick", data: `after-${i}` });
      ids.push(...body.ids);
    }
    await page.waitForFunction(() => window.seen.filter((e) => e.type === "tick").length >= 6, null, {
      timeout: WAIT,
    });
    const ticks = await page.evaluate(() => window.seen.filter((e) => e.type === "tick"));
    const why = JSON.stringify({ ticks, ids, states: await page.evaluate(() => window.states) });
    assert.deepEqual(
      ticks.map((e) => e.data),
      ["before-1", "before-2", "before-3", "after-1", "after-2", "after-3"],
      why,
    );
    assert.deepEqual(
      ticks.map((e) => e.id),
      ids,
      why,
    );
    assert.equal(await page.evaluate(() => window.hub.state), "open");
    assert.equal(await page.evaluate(() => window.resyncs), 0);
  } finally {
    await page.close();
    await first.kill();
    await second?.stop();
  }
});

test("streams cut while events flow lose nothing (memory replay within retention)", async () => {
  // Every connection lives about a second; the browser comes back with
  // Last-Event-ID and the in-memory ring replays what it missed meanwhile.
  const short = await startServer(["--max-lifetime-s", "1", "--retry-ms", "300", "--flush-interval-ms", "100"]);
  const page = await clientPage(short.url, ["browser.flow"], { types: ["tick"] });
  try {
    const ids = [];
    const started = Date.now();
    for (let n = 0; Date.now() - started < 3_000; n++) {
      const { status, body } = await publish(short.url, { topics: ["browser.flow"], type: "tick", data: String(n) });
      assert.equal(status, 202);
      ids.push(...body.ids);
      await new Promise((r) => setTimeout(r, 20));
    }
    await page.waitForFunction((n) => window.seen.filter((e) => e.type === "tick").length >= n, ids.length, {
      timeout: WAIT,
    });
    const ticks = await page.evaluate(() => window.seen.filter((e) => e.type === "tick").map((e) => e.id));
    assert.deepEqual(ticks, ids, "every event once, in order");
    const connects = await page.evaluate(() => window.seen.filter((e) => e.type === "connected").length);
    assert.ok(connects >= 2, `the stream was cut and resumed (${connects} connections)`);
    assert.equal(await page.evaluate(() => window.resyncs), 0);
  } finally {
    await page.close();
    await short.stop();
  }
});

test("EventSource giving up on a non-200 answer is retried with backoff", async () => {
  // An invalid topic answers 400: the browser's EventSource closes for good.
  const page = await browser.newPage();
  try {
    await page.goto(server.url + "/healthz");
    await page.evaluate(async () => {
      const { SseHubClient } = await import("/client.js");
      window.states = [];
      window.hub = new SseHubClient({
        topics: ["bad..topic"],
        backoff: { initialMs: 50, maxMs: 100 },
        onStateChange: (s) => window.states.push(s),
      });
      window.hub.connect();
    });
    await page.waitForFunction(() => window.states.filter((s) => s === "connecting").length >= 3, null, {
      timeout: WAIT,
    });
    // Fix the subscription while it retries: the next attempt connects.
    await page.evaluate(() => window.hub.updateTopics({ remove: ["bad..topic"], add: ["browser.fixed"] }));
    await page.waitForFunction(() => window.hub.state === "open", null, { timeout: WAIT });
  } finally {
    await page.close();
  }
});
