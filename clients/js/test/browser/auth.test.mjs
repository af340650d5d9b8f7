// Browsers against a server with JWT auth (issue 10): the sse_hub_token
// cookie, cross-origin EventSource with credentials from a --cors-origin page
// (and refused from an unlisted one), tickets, and auth-expired -> getToken.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { launchBrowser, pageServer, publish, signJwt, startServer, WAIT } from "../support/harness.mjs";

const SECRET = "browser-test-secret-at-least-32-bytes!";
const PUBLISH = "browser-test-publish-token";
const grants = { subscribe: ["private.>"] };

let browser;
let server;
let listed;
let unlisted;

const PAGE = "<!doctype html><title>second origin</title>";

before(async () => {
  [listed, unlisted] = await Promise.all([pageServer(PAGE), pageServer(PAGE)]);
  [browser, server] = await Promise.all([
    launchBrowser(),
    startServer([
      "--jwt-secret",
      SECRET,
      "--jwt-leeway-s",
      "0",
      "--publish-token",
      PUBLISH,
      "--cors-origin",
      listed.url,
      "--flush-interval-ms",
      "100",
    ]),
  ]);
});

after(async () => {
  await browser?.close();
  await server?.stop();
  await listed?.close();
  await unlisted?.close();
});

const send = (topic, data) =>
  publish(server.url, { topics: [topic], type: "note", data }, { authorization: `Bearer ${PUBLISH}` });

/** A browser context holding the subscriber cookie for the server's origin. */
async function withCookie(token = signJwt(SECRET, { grants })) {
  const context = await browser.newContext();
  await context.addCookies([{ name: "sse_hub_token", value: token, url: server.url, sameSite: "Lax" }]);
  return context;
}

/** Opens an EventSource in `page`; resolves to "connected" or "error". */
function openSource(page, url, withCredentials) {
  return page.evaluate(
    ({ url, withCredentials }) =>
      new Promise((resolve) => {
        window.notes = [];
        const source = new EventSource(url, { withCredentials });
        window.source = source;
        source.addEventListener("note", (e) => window.notes.push(e.data));
        source.addEventListener("connected", () => resolve("connected"));
        source.addEventListener("error", () => {
          if (source.readyState === EventSource.CLOSED) resolve("error");
        });
      }),
    { url, withCredentials },
  );
}

test("the sse_hub_token cookie authorizes a browser's EventSource; no cookie is refused", async () => {
  const context = await withCookie();
  const anonymous = await browser.newContext();
  try {
    const page = await context.newPage();
    await page.goto(server.url + "/healthz");
    assert.equal(await openSource(page, "/events?topic=private.cookie", false), "connected");
    assert.equal((await send("private.cookie", "for cookie holders")).status, 202);
    await page.waitForFunction(() => window.notes.length === 1, null, { timeout: WAIT });
    assert.deepEqual(await page.evaluate(() => window.notes), ["for cookie holders"]);

    const stranger = await anonymous.newPage();
    await stranger.goto(server.url + "/healthz");
    assert.equal(await openSource(stranger, "/events?topic=private.cookie", false), "error");
  } finally {
    await context.close();
    await anonymous.close();
  }
});

test("cross-origin EventSource with credentials works from a --cors-origin page", async () => {
  const context = await withCookie();
  try {
    const page = await context.newPage();
    await page.goto(listed.url + "/");
    const url = `${server.url}/events?topic=private.cors`;
    assert.equal(await openSource(page, url, true), "connected");
    await send("private.cors", "across origins");
    await page.waitForFunction(() => window.notes.length === 1, null, { timeout: WAIT });
    assert.deepEqual(await page.evaluate(() => window.notes), ["across origins"]);
  } finally {
    await context.close();
  }
});

test("cross-origin EventSource is refused from an origin not listed", async () => {
  const context = await withCookie();
  try {
    const page = await context.newPage();
    const cors = [];
    page.on("console", (msg) => cors.push(msg.text()));
    await page.goto(unlisted.url + "/");
    const url = `${server.url}/events?topic=private.cors`;
    assert.equal(await openSource(page, url, true), "error");
    assert.deepEqual(await page.evaluate(() => window.notes), []);
    assert.ok(
      cors.some((text) => /CORS|Access-Control-Allow-Origin/i.test(text)),
      `blocked by CORS: ${JSON.stringify(cors)}`,
    );
  } finally {
    await context.close();
  }
});

test("the client trades a bearer token for tickets across origins (EventSource + ?ticket=)", async () => {
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    await page.goto(listed.url + "/");
    const token = signJwt(SECRET, { grants });
    await page.evaluate(
      async ({ base, token }) => {
        const { SseHubClient, fetchTicket } = await import("/client.js");
        window.notes = [];
        window.tickets = 0;
        window.hub = new SseHubClient({
          url: base,
          topics: ["private.ticket"],
          transport: "eventsource",
          pauseWhenHidden: false,
          getTicket: async () => {
            window.tickets++;
            return fetchTicket({ url: base, token });
          },
        });
        window.hub.on("note", (e) => window.notes.push(e.data));
        window.hub.connect();
      },
      { base: server.url, token },
    );
    await page.waitForFunction(() => window.hub.state === "open", null, { timeout: WAIT });
    await send("private.ticket", "by ticket");
    await page.waitForFunction(() => window.notes.length === 1, null, { timeout: WAIT });
    assert.equal(await page.evaluate(() => window.tickets), 1);
  } finally {
    await context.close();
  }
});

test("auth-expired: the client asks getToken again and reconnects (fetch transport)", async () => {
  const page = await browser.newPage();
  try {
    await page.goto(server.url + "/healthz");
    // The first token expires in 2 s, later ones in 5 minutes.
    const tokens = [signJwt(SECRET, { grants, ttlS: 2 }), signJwt(SECRET, { grants, ttlS: 300 })];
    await page.evaluate(async (tokens) => {
      const { SseHubClient } = await import("/client.js");
      window.expired = 0;
      window.asked = 0;
      window.notes = [];
      window.hub = new SseHubClient({
        topics: ["private.expiry"],
        pauseWhenHidden: false,
        getToken: () => tokens[Math.min(window.asked++, tokens.length - 1)],
      });
      window.hub.on("auth-expired", () => window.expired++);
      window.hub.on("note", (e) => window.notes.push(e.data));
      window.hub.connect();
    }, tokens);
    await page.waitForFunction(() => window.hub.state === "open", null, { timeout: WAIT });
    assert.equal(await page.evaluate(() => window.hub.transport), "fetch");
    const first = await page.evaluate(() => window.hub.connectionId);
    await page.waitForFunction(() => window.expired === 1, null, { timeout: WAIT });
    await page.waitForFunction(
      (first) => window.hub.state === "open" && window.hub.connectionId && window.hub.connectionId !== first,
      first,
      { timeout: WAIT },
    );
    assert.equal(await page.evaluate(() => window.asked), 2, "a fresh token for the new stream");
    await send("private.expiry", "after refresh");
    await page.waitForFunction(() => window.notes.includes("after refresh"), null, { timeout: WAIT });
  } finally {
    await page.close();
  }
});
