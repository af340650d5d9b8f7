// The demo page (GET /) in headless chromium: it connects on load, shows the
// README's curl event, publishes with a lane, pauses, and counts.
//
// SSE_HUB_DEMO_SCREENSHOT=path also saves a screenshot of the page (the one
// in the README is made so).

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { launchBrowser, startServer, WAIT } from "../support/harness.mjs";

const run = promisify(execFile);
let browser;
let server;

before(async () => {
  [browser, server] = await Promise.all([launchBrowser(), startServer(["--flush-interval-ms", "200"])]);
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

const rowsOf = (page, type) =>
  page.$$eval(`#log tr[data-type="${type}"]`, (rows) => rows.map((tr) => [...tr.cells].map((td) => td.textContent)));

test("the demo connects on load and shows the README's curl event", async () => {
  const page = await browser.newPage({ viewport: { width: 1100, height: 760 } });
  const errors = [];
  page.on("pageerror", (err) => errors.push(String(err)));
  page.on("console", (msg) => msg.type() === "error" && errors.push(msg.text()));
  try {
    await page.goto(server.url + "/");
    await page.waitForFunction(() => document.getElementById("state").textContent === "open", null, {
      timeout: WAIT,
    });
    // The README's publish command, verbatim but for the port.
    const { stdout } = await run("curl", [
      "-sS",
      "-X",
      "POST",
      `${server.url}/publish`,
      "-H",
      "content-type: application/json",
      "-d",
      '{"topics":["demo"],"type":"hello","data":"hi"}',
    ]);
    const id = JSON.parse(stdout).ids[0];
    await page.waitForSelector('#log tr[data-type="hello"]', { timeout: WAIT });
    const [[, type, shownId, lane, data]] = await rowsOf(page, "hello");
    assert.deepEqual([type, shownId, lane, data], ["hello", id, "?", "hi"]);

    // The publish form, on a sub-topic (`demo.>`), in the batched lane.
    await page.fill("#topic", "demo.orders");
    await page.fill("#type", "order-created");
    await page.fill("#data", '{"id":42}');
    await page.selectOption("#priority", "batched");
    await page.click("#publish button");
    await page.waitForFunction(
      () => [...document.querySelectorAll('#log tr[data-type="order-created"]')].some((tr) => tr.cells[3].textContent === "batched"),
      null,
      { timeout: WAIT },
    );

    // Pause from the page, counters from /stats.
    await page.click("#toggle-pause");
    await page.waitForFunction(() => document.getElementById("pause").textContent.startsWith("paused"), null, {
      timeout: WAIT,
    });
    await page.waitForFunction(() => document.getElementById("c-paused").textContent === "1", null, {
      timeout: WAIT,
    });
    await page.click("#toggle-pause");
    await page.waitForFunction(() => document.getElementById("pause").textContent === "live", null, {
      timeout: WAIT,
    });
    await page.waitForFunction(
      () => Number(document.getElementById("c-published").textContent) >= 2 && document.getElementById("c-connections").textContent === "1",
      null,
      { timeout: WAIT },
    );
    await page.waitForFunction(() => document.getElementById("c-paused").textContent === "0", null, {
      timeout: WAIT,
    });
    const [[, , , , connectedData]] = await rowsOf(page, "connected");
    assert.match(connectedData, /"control_token":"…"/, "the control token is not displayed");
    const types = await page.$$eval("#log tr", (rows) => rows.map((tr) => tr.dataset.type));
    assert.deepEqual(types, ["order-created", "hello", "connected"], "one row per server event");
    assert.deepEqual(errors, [], "no errors on the console");
    if (process.env.SSE_HUB_DEMO_SCREENSHOT) {
      await page.screenshot({ path: process.env.SSE_HUB_DEMO_SCREENSHOT });
    }
  } finally {
    await page.close();
  }
});
