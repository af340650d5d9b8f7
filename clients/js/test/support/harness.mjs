// Shared pieces of the browser tests: the real `sse-hub` binary on a free
// loopback port, and Debian's chromium driven by playwright-core.
//
// The binary comes from SSE_HUB_BIN (./scripts/test sets it after building
// it) or target/debug/sse-hub; the browser from CHROMIUM_PATH or
// /usr/bin/chromium. Never a browser downloaded by a tool.

import { spawn } from "node:child_process";
import { createHmac } from "node:crypto";
import { createServer as createHttpServer } from "node:http";
import { existsSync, readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
export const repoRoot = resolve(here, "../../../..");

/** Longest wait for something that should happen (ms). */
export const WAIT = 10_000;

export const CHROMIUM_FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
];

export function binaryPath(name = "sse-hub") {
  if (name === "sse-hub" && process.env.SSE_HUB_BIN) return process.env.SSE_HUB_BIN;
  const target = process.env.CARGO_TARGET_DIR
    ? resolve(repoRoot, process.env.CARGO_TARGET_DIR)
    : resolve(repoRoot, "target");
  return resolve(target, "debug", name);
}

/** Debian's chromium, headless. */
export async function launchBrowser() {
  const executablePath = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
  if (!existsSync(executablePath)) {
    throw new Error(`no browser at ${executablePath}: apt-get install chromium (./scripts/test does)`);
  }
  return chromium.launch({ executablePath, headless: true, args: CHROMIUM_FLAGS });
}

/** The environment of this process without SSE_HUB_* variables. */
function cleanEnv(extra = {}) {
  const env = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith("SSE_HUB_")) env[key] = value;
  }
  return { ...env, NO_COLOR: "1", ...extra };
}

/**
 * Starts a server binary (`sse-hub` or an example) and resolves once it
 * logged the address it listens on.
 *
 * @param {string[]} args extra flags (`--listen` defaults to 127.0.0.1:0)
 * @param {{binary?: string, port?: number, env?: object, listenFlag?: boolean}} options
 */
export async function startServer(args = [], options = {}) {
  const binary = options.binary ?? binaryPath();
  const listen = `127.0.0.1:${options.port ?? 0}`;
  const argv = options.listenFlag === false ? args : ["--listen", listen, ...args];
  const child = spawn(binary, argv, {
    env: cleanEnv(options.env),
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  const exited = new Promise((resolveExit) => child.once("exit", (code, signal) => resolveExit({ code, signal })));
  const address = await new Promise((resolveAddr, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start within ${WAIT} ms:\n${output}`)), WAIT);
    const onData = (chunk) => {
      output += chunk.toString();
      // `listening on http://127.0.0.1:PORT/` (or `address=127.0.0.1:PORT`).
      const match = output.match(/listening[^\n]*?(?:http:\/\/|address=)(\d+\.\d+\.\d+\.\d+:\d+)/);
      if (match) {
        clearTimeout(timer);
        resolveAddr(match[1]);
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`server exited (${code ?? signal}) before listening:\n${output}`));
    });
  });
  const port = Number(address.split(":").pop());
  return {
    url: `http://${address}`,
    port,
    child,
    exited,
    output: () => output,
    /** SIGKILL, then wait for the process to be gone. */
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      await exited;
    },
    /** SIGTERM (graceful drain), then wait for the exit. */
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      const timeout = setTimeout(() => child.kill("SIGKILL"), WAIT);
      const result = await exited;
      clearTimeout(timeout);
      return result;
    },
  };
}

/** POST /publish with a JSON body; resolves to {status, body}. */
export async function publish(base, event, headers = {}) {
  const response = await fetch(`${base}/publish`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(event),
  });
  const text = await response.text();
  let body = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  return { status: response.status, body };
}

/** Resolves when `check()` is truthy, polling; rejects after `timeout` ms. */
export async function waitFor(check, what, timeout = WAIT) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/**
 * An HS256 JWT for `secret` (node's crypto, no dependency): `sub`, `exp` in
 * `ttlS` seconds, and the `sse_hub` grants claim.
 */
export function signJwt(secret, { sub = "user-1", ttlS = 300, grants = {}, exp } = {}) {
  const enc = (obj) => Buffer.from(JSON.stringify(obj)).toString("base64url");
  const header = enc({ alg: "HS256", typ: "JWT" });
  const payload = enc({ sub, exp: exp ?? Math.floor(Date.now() / 1000) + ttlS, sse_hub: grants });
  const signature = createHmac("sha256", secret).update(`${header}.${payload}`).digest("base64url");
  return `${header}.${payload}.${signature}`;
}

/**
 * A static page server on another loopback port (a second origin): `GET
 * /client.js` answers the client module, anything else `html`. Resolves to {url, close()}.
 */
export async function pageServer(html) {
  const server = createHttpServer((req, res) => {
    if (req.url === "/client.js") {
      res.writeHead(200, { "content-type": "text/javascript; charset=utf-8" });
      res.end(readFileSync(resolve(here, "../../src/sse-hub-client.js")));
      return;
    }
    res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
    res.end(html);
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address();
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise((r) => server.close(r)) };
}
