// examples/cache-invalidation end to end in headless chromium: invalidate ->
// refetch, replay of missed invalidations on reload, resync -> refetch.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { binaryPath, launchBrowser, startServer, WAIT } from "../support/harness.mjs";

let browser;
let app;

before(async () => {
  [browser, app] = await Promise.all([launchBrowser(), startServer([], { binary: binaryPath("cache-invalidation") })]);
});

after(async () => {
  await browser?.close();
  await app?.stop();
});

async function setPrice(id, cents) {
  const response = await fetch(`${app.url}/api/products/${id}/price`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ price_cents: cents }),
  });
  assert.equal(response.status, 204);
}

const price = (page, id) => page.textContent(`#${id} td:nth-child(3)`);

async function open(page) {
  await page.goto(app.url + "/");
  await page.waitForFunction(() => window.hub.state === "open", null, { timeout: WAIT });
}

test("invalidate refetches; a reload replays what it missed; a long absence resyncs and refetches", async () => {
  const page = await browser.newPage();
  try {
    await open(page);
    assert.equal(await page.evaluate(() => window.fetches), 1);
    await setPrice("p1", 2500);
    await page.waitForFunction(() => document.querySelector("#p1 td:nth-child(3)").textContent === "25.00", null, {
      timeout: WAIT,
    });
    assert.equal(await page.evaluate(() => window.fetches), 2);

    // Away for one change (within the 3-event replay window): replayed.
    await page.goto("about:blank");
    await setPrice("p2", 3100);
    await open(page);
    await page.waitForFunction(() => document.querySelector("#p2 td:nth-child(3)").textContent === "31.00", null, {
      timeout: WAIT,
    });
    assert.deepEqual(await page.evaluate(() => [window.fetches, window.resyncs]), [1, 0], "one refetch, by replay");

    // Away for five changes: the replay window lost the tab's last id.
    await page.goto("about:blank");
    for (let cents = 4001; cents <= 4005; cents++) await setPrice("p3", cents);
    await open(page);
    await page.waitForFunction(() => window.resyncs === 1, null, { timeout: WAIT });
    await page.waitForFunction(() => document.querySelector("#p3 td:nth-child(3)").textContent === "40.05", null, {
      timeout: WAIT,
    });
    assert.equal(await price(page, "p1"), "25.00");
  } finally {
    await page.close();
  }
});
