// The real server in a real browser: EventSource against GET /events.

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

test("a browser EventSource receives an event published over HTTP", async () => {
  const page = await browser.newPage();
  try {
    await page.goto(server.url + "/healthz");
    await page.evaluate(() => {
      window.received = [];
      window.source = new EventSource("/events?topic=demo");
      window.source.addEventListener("connected", () => (window.connected = true));
      window.source.addEventListener("hello", (e) => window.received.push({ data: e.data, id: e.lastEventId }));
    });
    await page.waitForFunction(() => window.connected === true, null, { timeout: WAIT });
    const { status, body } = await publish(server.url, { topics: ["demo"], type: "hello", data: "hi" });
    assert.equal(status, 202);
    const got = await page.waitForFunction(() => window.received.length > 0 && window.received[0], null, {
      timeout: WAIT,
    });
    const event = await got.jsonValue();
    assert.equal(event.data, "hi");
    assert.equal(event.id, body.ids[0]);
  } finally {
    await page.close();
  }
});
