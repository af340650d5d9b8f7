// The client's pure logic: backoff bounds, the state machine, the parser.

import { test } from "node:test";
import assert from "node:assert/strict";
import { backoffDelay, createParser, DEFAULT_BACKOFF, State, transition } from "../../src/sse-hub-client.js";

test("backoff: full jitter stays within [0, min(max, initial * factor^n)]", () => {
  const options = { initialMs: 100, maxMs: 5_000, factor: 2 };
  for (let attempt = 0; attempt < 80; attempt++) {
    const ceiling = Math.min(5_000, 100 * 2 ** attempt);
    for (const r of [0, 0.25, 0.5, 0.999999]) {
      const d = backoffDelay(attempt, options, () => r);
      assert.ok(Number.isInteger(d), `integer delay at attempt ${attempt}`);
      assert.ok(d >= 0 && d <= ceiling, `attempt ${attempt}: ${d} within [0, ${ceiling}]`);
    }
    // The top of the range is reached (jitter spans the whole window).
    assert.ok(backoffDelay(attempt, options, () => 0.999999) >= ceiling - 1);
  }
  for (let i = 0; i < 1000; i++) {
    const d = backoffDelay(1000, options);
    assert.ok(d >= 0 && d <= 5_000);
  }
});

test("backoff: defaults and bad attempts never give NaN or a negative delay", () => {
  assert.equal(backoffDelay(0, {}, () => 0.999999), DEFAULT_BACKOFF.initialMs - 1);
  for (const attempt of [-5, NaN, Infinity, 1e308]) {
    const d = backoffDelay(attempt, {}, () => 0.5);
    assert.ok(Number.isFinite(d) && d >= 0 && d <= DEFAULT_BACKOFF.maxMs, `${attempt} -> ${d}`);
  }
  assert.equal(backoffDelay(3, { initialMs: 10, maxMs: 1000 }, () => 0), 0);
});

test("state machine: the transitions of a connection's life", () => {
  assert.equal(transition(State.IDLE, "connect"), State.CONNECTING);
  assert.equal(transition(State.CONNECTING, "open"), State.OPEN);
  assert.equal(transition(State.CONNECTING, "drop"), State.RECONNECTING);
  assert.equal(transition(State.OPEN, "drop"), State.RECONNECTING);
  assert.equal(transition(State.RECONNECTING, "connect"), State.CONNECTING);
  for (const state of Object.values(State)) {
    if (state !== State.CLOSED) assert.equal(transition(state, "close"), State.CLOSED);
  }
});

test("state machine: inputs that do not apply are refused; closed is final", () => {
  assert.equal(transition(State.IDLE, "open"), null);
  assert.equal(transition(State.OPEN, "connect"), null);
  assert.equal(transition(State.RECONNECTING, "open"), null);
  assert.equal(transition(State.IDLE, "drop"), null);
  for (const input of ["connect", "open", "drop", "close"]) {
    assert.equal(transition(State.CLOSED, input), null);
  }
  assert.equal(transition("bogus", "connect"), null);
});

function parse(chunks) {
  const events = [];
  const retries = [];
  const parser = createParser((e) => events.push(e), (ms) => retries.push(ms));
  for (const chunk of chunks) parser.push(chunk);
  return { events, retries };
}

test("parser: every line ending, split anywhere, gives the same events", () => {
  const text = "retry: 3000\r\nevent: a\r\ndata: x\r\ndata:  y\r\nid: 1\r\n\r\n: ping\r\rdata: z\r\r";
  const whole = parse([text]);
  assert.deepEqual(whole.retries, [3000]);
  assert.deepEqual(whole.events, [
    { type: "a", data: "x\n y", id: "1" },
    { type: "message", data: "z", id: null },
  ]);
  for (let i = 1; i < text.length; i++) {
    assert.deepEqual(parse([text.slice(0, i), text.slice(i)]).events, whole.events, `split at ${i}`);
  }
  const lf = parse([text.replaceAll("\r\n", "\n").replaceAll("\r", "\n")]);
  assert.deepEqual(lf.events, whole.events);
});

test("parser: ids with NUL, bad retries, empty events and unterminated tails are ignored", () => {
  const { events, retries } = parse([
    "\ufeffid: a\0b\ndata: 1\n\nretry: 12x\nretry: -1\n\nevent: empty\n\ndata: tail-without-blank-line",
  ]);
  assert.deepEqual(events, [{ type: "message", data: "1", id: null }]);
  assert.deepEqual(retries, []);
});
