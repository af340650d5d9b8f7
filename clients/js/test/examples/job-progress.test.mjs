// examples/job-progress end to end in headless chromium.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { binaryPath, launchBrowser, startServer, WAIT } from "../support/harness.mjs";

let browser;
let app;

before(async () => {
  [browser, app] = await Promise.all([launchBrowser(), startServer([], { binary: binaryPath("job-progress") })]);
});

after(async () => {
  await browser?.close();
  await app?.stop();
});

test("progress is coalesced and complete is never overtaken by a stale progress", async () => {
  const page = await browser.newPage();
  try {
    await page.goto(app.url + "/");
    await page.waitForFunction(() => window.hub.state === "open", null, { timeout: WAIT });
    for (const job of ["job-1", "job-2"]) {
      await page.click("#start");
      await page.waitForFunction((job) => window.jobs[job]?.complete === "completed", job, { timeout: WAIT });
      await page.waitForSelector(`#${job}.done`, { timeout: WAIT });
      assert.equal(await page.textContent(`#${job} .pct`), "100%");
    }
    // job-1's stale progress, had it been left behind, would have arrived
    // during job-2's whole run.
    const { jobs, late } = await page.evaluate(() => ({ jobs: window.jobs, late: window.progressAfterComplete }));
    assert.equal(late, 0, "no progress after complete");
    for (const [job, seen] of Object.entries(jobs)) {
      assert.ok(seen.progress.length < 100, `${job}: coalesced (${seen.progress.length} updates for 100 steps)`);
      const sorted = [...seen.progress].sort((a, b) => a - b);
      assert.deepEqual(seen.progress, sorted, `${job}: progress only moves forward`);
    }
  } finally {
    await page.close();
  }
});
