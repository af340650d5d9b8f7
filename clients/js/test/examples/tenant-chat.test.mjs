// examples/tenant-chat end to end in headless chromium: cookie login, rooms,
// tenant isolation.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { binaryPath, launchBrowser, startServer, WAIT } from "../support/harness.mjs";

let browser;
let app;

before(async () => {
  [browser, app] = await Promise.all([launchBrowser(), startServer([], { binary: binaryPath("tenant-chat") })]);
});

after(async () => {
  await browser?.close();
  await app?.stop();
});

/** A user logged in through the page's form, in a browser context of its own. */
async function login(user, tenant) {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(app.url + "/");
  await page.fill("#user", user);
  await page.fill("#tenant", tenant);
  await page.click("#login button");
  await page.waitForFunction(() => window.hub?.state === "open", null, { timeout: WAIT });
  return { context, page };
}

const texts = (page) => page.evaluate(() => window.messages.map((m) => `${m.user}:${m.text}`));

async function say(page, text, room) {
  if (room === undefined) {
    await page.fill("#text", text);
    await page.click("#send button");
  } else {
    const status = await page.evaluate(
      async ({ room, text }) =>
        (
          await fetch(`/rooms/${room}/messages`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ text }),
          })
        ).status,
      { room, text },
    );
    assert.equal(status, 202);
  }
}

const until = (page, entry) =>
  page.waitForFunction((entry) => window.messages.some((m) => `${m.user}:${m.text}` === entry), entry, {
    timeout: WAIT,
  });

test("cookie login, rooms, and tenants that never see each other", async () => {
  const alice = await login("alice", "acme");
  const bob = await login("bob", "acme");
  const eve = await login("eve", "globex");
  try {
    // The token is in an HttpOnly cookie: page scripts cannot read it.
    assert.equal(await alice.page.evaluate(() => document.cookie), "");

    await say(alice.page, "m1");
    await until(bob.page, "alice:m1");
    await say(eve.page, "m2"); // same room name, other tenant
    await until(eve.page, "eve:m2");
    await say(alice.page, "m3");
    await until(bob.page, "alice:m3");
    await say(eve.page, "m4");
    await until(eve.page, "eve:m4");
    // Had m2 leaked it would have reached acme before m3 (and m1/m3 globex before m4).
    assert.deepEqual(await texts(bob.page), ["alice:m1", "alice:m3"]);
    assert.deepEqual(await texts(alice.page), ["alice:m1", "alice:m3"]);
    assert.deepEqual(await texts(eve.page), ["eve:m2", "eve:m4"]);

    // Bob moves to #random on the same connection.
    const connection = await bob.page.evaluate(() => window.hub.connectionId);
    await bob.page.selectOption("#room", "random");
    await bob.page.waitForFunction(() => window.room === "random", null, { timeout: WAIT });
    assert.deepEqual(await bob.page.evaluate(() => window.hub.topics), ["chat.random"]);
    await say(alice.page, "m5"); // lobby
    await say(alice.page, "m6", "random");
    await until(bob.page, "alice:m6");
    assert.deepEqual(await texts(bob.page), ["alice:m1", "alice:m3", "alice:m6"]);
    assert.equal(await bob.page.evaluate(() => window.hub.connectionId), connection);
  } finally {
    await Promise.all([alice.context.close(), bob.context.close(), eve.context.close()]);
  }
});

test("without the login cookie the stream is refused", async () => {
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    await page.goto(app.url + "/");
    const outcome = await page.evaluate(
      () =>
        new Promise((resolve) => {
          const source = new EventSource("/events?topic=chat.lobby");
          source.addEventListener("connected", () => resolve("connected"));
          source.onerror = () => source.readyState === EventSource.CLOSED && resolve("refused");
        }),
    );
    assert.equal(outcome, "refused");
  } finally {
    await context.close();
  }
});
