// sse-hub-client: the browser side of sse-hub. An ES module with no
// dependencies. Served by the sse-hub server at GET /client.js.
//
//   import { SseHubClient } from "/client.js";
//   const hub = new SseHubClient({ topics: ["orders.>"], onResync: refetch });
//   hub.on("order-updated", (event) => render(event.json()));
//   hub.connect();
//
// What it adds to the browser's EventSource:
// - reconnects with full-jitter backoff when EventSource gives up (any
//   non-200 answer is final to it), on network errors, and on `online`;
// - a fetch-streaming transport when a header is needed (`getToken`);
// - `getToken` / `getTicket` hooks called again on 401 and `auth-expired`;
// - `onResync` when the server says replay could not fill the gap;
// - pause / resume with the connection's `control_token` while the tab is
//   hidden (opt out with `pauseWhenHidden: false`);
// - live topic changes, the last event id and the connection state.

/** Connection states. */
export const State = Object.freeze({
  IDLE: "idle",
  CONNECTING: "connecting",
  OPEN: "open",
  RECONNECTING: "reconnecting",
  CLOSED: "closed",
});

/** Control events the server sends (they carry no `id:`). */
export const CONTROL_EVENTS = Object.freeze([
  "connected",
  "resync",
  "server-shutdown",
  "overloaded",
  "auth-expired",
]);

/** Defaults of the `backoff` option. */
export const DEFAULT_BACKOFF = Object.freeze({ initialMs: 500, maxMs: 30_000, factor: 2 });

const TRANSITIONS = {
  idle: { connect: "connecting", close: "closed" },
  connecting: { open: "open", drop: "reconnecting", close: "closed" },
  open: { drop: "reconnecting", close: "closed" },
  reconnecting: { connect: "connecting", close: "closed" },
  closed: {},
};

/**
 * The state after `input` in `state`, or `null` when the input does not
 * apply there (a closed client never reopens).
 *
 * Inputs: `connect` (a request starts), `open` (the server's `connected`
 * event), `drop` (the stream failed or ended), `close` (the app closed it).
 *
 * @param {string} state
 * @param {string} input
 * @returns {string | null}
 */
export function transition(state, input) {
  const next = TRANSITIONS[state]?.[input];
  return next ?? null;
}

/**
 * Full-jitter backoff: a uniformly random delay in
 * `[0, min(maxMs, initialMs * factor^attempt)]`, so a fleet of clients that
 * lost the same server does not come back in one burst.
 *
 * @param {number} attempt failures since the last successful connection (0 for the first retry)
 * @param {{initialMs?: number, maxMs?: number, factor?: number}} [options]
 * @param {() => number} [random] in [0, 1)
 * @returns {number} milliseconds
 */
export function backoffDelay(attempt, options = {}, random = Math.random) {
  const { initialMs, maxMs, factor } = { ...DEFAULT_BACKOFF, ...options };
  const n = Math.max(0, Math.floor(Number.isFinite(attempt) ? attempt : 0));
  const ceiling = Math.min(maxMs, initialMs * Math.pow(factor, Math.min(n, 64)));
  const cap = Number.isFinite(ceiling) ? Math.max(0, ceiling) : maxMs;
  return Math.floor(random() * cap);
}

/**
 * An incremental `text/event-stream` parser (WHATWG HTML, "Server-sent
 * events"): lines end with CRLF, LF or a lone CR; `id` with NUL is ignored;
 * `retry` only with digits; an event with no data is not dispatched.
 *
 * @param {(event: {type: string, data: string, id: string | null}) => void} onEvent
 * @param {(ms: number) => void} [onRetry]
 * @returns {{push(text: string): void, end(): void}}
 */
export function createParser(onEvent, onRetry = () => {}) {
  let buffer = "";
  let data = [];
  let type = "";
  let id = null;
  let sawData = false;
  let first = true;
  let pendingCR = false;

  function line(text) {
    if (text === "") {
      if (sawData) {
        onEvent({ type: type || "message", data: data.join("\n"), id });
      }
      data = [];
      type = "";
      id = null;
      sawData = false;
      return;
    }
    if (text.startsWith(":")) return;
    const colon = text.indexOf(":");
    let field = text;
    let value = "";
    if (colon >= 0) {
      field = text.slice(0, colon);
      value = text.slice(colon + 1);
      if (value.startsWith(" ")) value = value.slice(1);
    }
    switch (field) {
      case "data":
        data.push(value);
        sawData = true;
        break;
      case "event":
        type = value;
        break;
      case "id":
        if (!value.includes("\0")) id = value;
        break;
      case "retry":
        if (/^\d+$/.test(value)) onRetry(Number(value));
        break;
      default:
        break;
    }
  }

  return {
    push(text) {
      if (first && text.length > 0) {
        first = false;
        if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
      }
      if (pendingCR && text.startsWith("\n")) text = text.slice(1);
      pendingCR = false;
      buffer += text;
      let start = 0;
      for (let i = 0; i < buffer.length; i++) {
        const c = buffer.charCodeAt(i);
        if (c === 10 || c === 13) {
          line(buffer.slice(start, i));
          if (c === 13) {
            if (i + 1 < buffer.length) {
              if (buffer.charCodeAt(i + 1) === 10) i++;
            } else {
              pendingCR = true;
            }
          }
          start = i + 1;
        }
      }
      buffer = buffer.slice(start);
    },
    end() {
      // An unterminated last event is discarded, as the standard says.
      buffer = "";
      data = [];
      sawData = false;
    },
  };
}

/**
 * Asks the server for a one-time ticket (`POST /tickets`) for a stream that
 * cannot carry a header: EventSource across sites.
 *
 * @param {{url?: string, token?: string | null, topics?: string[], withCredentials?: boolean, fetch?: typeof fetch}} options
 * @returns {Promise<string>}
 */
export async function fetchTicket(options = {}) {
  const doFetch = options.fetch ?? globalThis.fetch.bind(globalThis);
  const headers = { "content-type": "application/json" };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  const response = await doFetch(`${trimSlash(options.url ?? "")}/tickets`, {
    method: "POST",
    headers,
    credentials: options.withCredentials ? "include" : "same-origin",
    body: JSON.stringify(options.topics ? { topics: options.topics } : {}),
  });
  if (response.status !== 201) {
    throw new SseHubError(`POST /tickets answered ${response.status}`, response.status);
  }
  const body = await response.json();
  return body.ticket;
}

/** An HTTP answer the client could not use. */
export class SseHubError extends Error {
  /**
   * @param {string} message
   * @param {number} [status]
   */
  constructor(message, status) {
    super(message);
    this.name = "SseHubError";
    /** HTTP status, when there was an answer. */
    this.status = status;
  }
}

function trimSlash(url) {
  return url.endsWith("/") ? url.slice(0, -1) : url;
}

/** One event as handlers see it. */
class HubEvent {
  constructor(type, data, id) {
    /** The SSE `event:` field (`message` when absent). */
    this.type = type;
    /** The `data:` lines joined by `\n`, exactly as published. */
    this.data = data;
    /** The event's `id:`, or `null` (control events carry none). */
    this.id = id;
  }

  /** `data` parsed as JSON. */
  json() {
    return JSON.parse(this.data);
  }
}

/**
 * One stream to an sse-hub server, kept open across failures.
 */
export class SseHubClient {
  /**
   * @param {import("./sse-hub-client").SseHubClientOptions} [options]
   */
  constructor(options = {}) {
    const env = globalThis;
    this._url = trimSlash(options.url ?? "");
    this._path = options.path ?? "/events";
    this._topics = [...(options.topics ?? [])];
    this._withCredentials = Boolean(options.withCredentials);
    this._getToken = options.getToken ?? null;
    this._getTicket = options.getTicket ?? null;
    this._onResync = options.onResync ?? null;
    this._onStateChange = options.onStateChange ?? null;
    this._pauseWhenHidden = options.pauseWhenHidden !== false;
    this._backoff = { ...DEFAULT_BACKOFF, ...(options.backoff ?? {}) };
    this._random = options.random ?? Math.random;
    this._fetch = options.fetch ?? (env.fetch ? env.fetch.bind(env) : null);
    this._EventSource = options.EventSource ?? env.EventSource ?? null;
    this._document = options.document === undefined ? env.document ?? null : options.document;
    this._window = options.window === undefined ? (typeof env.addEventListener === "function" ? env : null) : options.window;
    const wanted = options.transport ?? "auto";
    this._transport =
      wanted === "auto" ? (this._getToken || !this._EventSource ? "fetch" : "eventsource") : wanted;
    if (this._transport === "eventsource" && !this._EventSource) {
      throw new Error("sse-hub-client: no EventSource here; use transport: 'fetch'");
    }
    if (this._transport === "fetch" && !this._fetch) {
      throw new Error("sse-hub-client: no fetch here");
    }

    this._state = State.IDLE;
    this._lastEventId = options.lastEventId ?? null;
    this._connectionId = null;
    this._controlToken = null;
    this._token = null;
    this._attempt = 0;
    this._serverRetry = null;
    this._timer = null;
    this._source = null;
    this._abort = null;
    this._paused = false;
    this._wantPaused = false;
    this._handlers = new Map();
    this._any = new Set();
    this._generation = 0;
    this._sourceListener = null;
    this._sourceReconnecting = false;

    this._onVisibility = () => this._visibilityChanged();
    this._onOnline = () => this._reconnectNow();
  }

  /** `idle`, `connecting`, `open`, `reconnecting` or `closed`. */
  get state() {
    return this._state;
  }

  /** The id of the last event received with one; sent back on reconnect. */
  get lastEventId() {
    return this._lastEventId;
  }

  /** The server's id of the open connection, or `null`. */
  get connectionId() {
    return this._connectionId;
  }

  /** The topics this client subscribes to (as of its last change). */
  get topics() {
    return [...this._topics];
  }

  /** Whether the server holds batched and coalesced events for this tab. */
  get paused() {
    return this._paused;
  }

  /** `eventsource` or `fetch`. */
  get transport() {
    return this._transport;
  }

  /**
   * Calls `handler` for each event of `type` (including control events such
   * as `connected` or `resync`). Returns a function that removes it.
   */
  on(type, handler) {
    let set = this._handlers.get(type);
    if (!set) {
      set = new Set();
      this._handlers.set(type, set);
      if (this._sourceListener) this._source?.addEventListener(type, this._sourceListener);
    }
    set.add(handler);
    return () => set.delete(handler);
  }

  /**
   * Calls `handler` for every event. With the EventSource transport the
   * browser only hands over types that have a handler (`on`) or are
   * `message` and control events; the fetch transport sees every type.
   */
  onAny(handler) {
    this._any.add(handler);
    return () => this._any.delete(handler);
  }

  /** Opens the stream (and keeps it open until `close`). */
  connect() {
    if (this._state !== State.IDLE) return this;
    this._document?.addEventListener?.("visibilitychange", this._onVisibility);
    this._window?.addEventListener?.("online", this._onOnline);
    this._open();
    return this;
  }

  /** Closes the stream for good. */
  close() {
    if (this._state === State.CLOSED) return;
    this._teardown();
    this._document?.removeEventListener?.("visibilitychange", this._onVisibility);
    this._window?.removeEventListener?.("online", this._onOnline);
    this._setState("close");
    this._connectionId = null;
    this._controlToken = null;
  }

  /** Holds batched and coalesced events on the server (instant ones still flow). */
  async pause() {
    this._wantPaused = true;
    return this._control("pause");
  }

  /** Releases held events: the latest state per coalesce key arrives at once. */
  async resume() {
    this._wantPaused = false;
    return this._control("resume");
  }

  /**
   * Adds and removes topic patterns without reconnecting. Resolves to the
   * connection's topics. Before the stream is open, only the local list
   * changes (used by the next connection).
   *
   * @param {{add?: string[], remove?: string[]}} change
   */
  async updateTopics(change) {
    const add = change.add ?? [];
    const remove = change.remove ?? [];
    if (this._connectionId) {
      const response = await this._post(`/connections/${encodeURIComponent(this._connectionId)}/topics`, {
        add,
        remove,
      });
      if (!response.ok) {
        throw new SseHubError(`topic change answered ${response.status}`, response.status);
      }
      const body = await response.json();
      this._topics = [...body.topics];
    } else {
      this._topics = this._topics.filter((t) => !remove.includes(t));
      for (const t of add) if (!this._topics.includes(t)) this._topics.push(t);
    }
    return this.topics;
  }

  /** Adds topic patterns live (see `updateTopics`). */
  addTopics(topics) {
    return this.updateTopics({ add: topics });
  }

  /** Removes topic patterns live (see `updateTopics`). */
  removeTopics(topics) {
    return this.updateTopics({ remove: topics });
  }

  // ---- internals ----------------------------------------------------------

  _setState(input) {
    const next = transition(this._state, input);
    if (next === null || next === this._state) return;
    this._state = next;
    try {
      this._onStateChange?.(next);
    } catch (err) {
      reportError(err);
    }
  }

  _eventsUrl(ticket) {
    const params = new URLSearchParams();
    for (const topic of this._topics) params.append("topic", topic);
    if (ticket) params.set("ticket", ticket);
    if (this._lastEventId && this._transport === "eventsource") {
      // A new EventSource sends no Last-Event-ID header: the query carries it.
      params.set("lastEventID", this._lastEventId);
    }
    const query = params.toString();
    return `${this._url}${this._path}${query ? `?${query}` : ""}`;
  }

  async _open() {
    const generation = ++this._generation;
    this._setState("connect");
    this._connectionId = null;
    this._controlToken = null;
    this._paused = false;
    try {
      if (this._transport === "eventsource") {
        const ticket = this._getTicket ? await this._getTicket() : null;
        if (generation !== this._generation) return;
        this._openEventSource(generation, ticket);
      } else {
        if (this._getToken && this._token === null) this._token = await this._getToken();
        if (generation !== this._generation) return;
        await this._openFetch(generation);
      }
    } catch (err) {
      if (generation !== this._generation || this._state === State.CLOSED) return;
      this._emitError(err);
      this._scheduleReconnect(false);
    }
  }

  _openEventSource(generation, ticket) {
    const source = new this._EventSource(this._eventsUrl(ticket), { withCredentials: this._withCredentials });
    this._source = source;
    this._sourceListener = (e) => {
      if (generation !== this._generation) return;
      const id = e.lastEventId && !CONTROL_EVENTS.includes(e.type) ? e.lastEventId : null;
      this._dispatch(e.type, e.data, id);
    };
    const types = new Set(["message", ...CONTROL_EVENTS, ...this._handlers.keys()]);
    for (const type of types) source.addEventListener(type, this._sourceListener);
    source.addEventListener("error", () => {
      if (generation !== this._generation) return;
      this._connectionId = null;
      this._controlToken = null;
      const closed = source.readyState === 2; // EventSource.CLOSED
      if (closed || this._getTicket) {
        // The browser gave up (a non-200 answer), or its own retry would
        // reuse a consumed ticket: reconnect ourselves.
        source.close();
        this._scheduleReconnect(false);
      } else {
        // The browser retries after the server's `retry:` delay.
        this._setState("drop");
        this._sourceReconnecting = true;
      }
    });
    source.addEventListener("open", () => {
      if (generation !== this._generation) return;
      if (this._state === State.RECONNECTING) this._setState("connect");
    });
  }

  async _openFetch(generation) {
    const abort = new AbortController();
    this._abort = abort;
    const headers = { accept: "text/event-stream" };
    if (this._token) headers.authorization = `Bearer ${this._token}`;
    if (this._lastEventId) headers["last-event-id"] = this._lastEventId;
    const response = await this._fetch(this._eventsUrl(null), {
      headers,
      credentials: this._withCredentials ? "include" : "same-origin",
      cache: "no-store",
      signal: abort.signal,
    });
    if (generation !== this._generation) {
      abort.abort();
      return;
    }
    const contentType = response.headers.get("content-type") ?? "";
    if (response.status === 401 || response.status === 403) {
      // Refresh the credential before the next attempt.
      this._token = null;
      response.body?.cancel().catch(() => {});
      this._emitError(new SseHubError(`GET ${this._path} answered ${response.status}`, response.status));
      this._scheduleReconnect(false);
      return;
    }
    if (response.status !== 200 || !contentType.startsWith("text/event-stream") || !response.body) {
      response.body?.cancel().catch(() => {});
      this._emitError(new SseHubError(`GET ${this._path} answered ${response.status}`, response.status));
      this._scheduleReconnect(false);
      return;
    }
    const parser = createParser(
      (event) => {
        if (generation !== this._generation) return;
        this._dispatch(event.type, event.data, event.id);
      },
      (ms) => {
        this._serverRetry = ms;
      },
    );
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done || generation !== this._generation) break;
        parser.push(value);
      }
    } catch (err) {
      if (generation !== this._generation) return;
      // A network error mid-stream: back off.
      this._emitError(err);
      this._scheduleReconnect(false);
      return;
    }
    parser.end();
    if (generation !== this._generation) return;
    // The server ended the stream (drain, overloaded, max lifetime):
    // come back after its (jittered) `retry:` delay.
    this._scheduleReconnect(true);
  }

  _dispatch(type, data, id) {
    if (id) this._lastEventId = id;
    const event = new HubEvent(type, data, id);
    switch (type) {
      case "connected": {
        let info = {};
        try {
          info = JSON.parse(data);
        } catch {
          // keep defaults
        }
        this._connectionId = info.connection_id ?? null;
        this._controlToken = info.control_token ?? null;
        if (Array.isArray(info.topics)) this._topics = [...info.topics];
        this._attempt = 0;
        this._sourceReconnecting = false;
        if (this._state === State.RECONNECTING) this._setState("connect");
        this._setState("open");
        if (this._wantPaused || (this._pauseWhenHidden && this._document?.hidden)) {
          this._control("pause").catch(() => {});
        }
        break;
      }
      case "resync":
        try {
          this._onResync?.(event);
        } catch (err) {
          reportError(err);
        }
        break;
      case "auth-expired":
        // The server closes the stream: refresh the credential and come back at once.
        this._token = null;
        this._connectionId = null;
        this._teardown();
        this._attempt = 0;
        this._setState("drop");
        this._timer = setTimeout(() => this._open(), Math.floor(this._random() * 250));
        break;
      default:
        break;
    }
    this._emit(type, event);
  }

  _emit(type, event) {
    this._emitTyped(type, event);
    for (const handler of [...this._any]) {
      try {
        handler(event);
      } catch (err) {
        reportError(err);
      }
    }
  }

  _emitTyped(type, event) {
    for (const handler of [...(this._handlers.get(type) ?? [])]) {
      try {
        handler(event);
      } catch (err) {
        reportError(err);
      }
    }
  }

  _emitError(err) {
    const set = this._handlers.get("error");
    for (const handler of [...(set ?? [])]) {
      try {
        handler(err);
      } catch (e) {
        reportError(e);
      }
    }
  }

  _teardown() {
    this._generation++;
    clearTimeout(this._timer);
    this._timer = null;
    this._source?.close();
    this._source = null;
    this._abort?.abort();
    this._abort = null;
  }

  /**
   * @param {boolean} clean the server ended the stream itself (use its `retry:`)
   */
  _scheduleReconnect(clean) {
    if (this._state === State.CLOSED) return;
    this._teardown();
    this._connectionId = null;
    this._controlToken = null;
    this._setState("drop");
    let delay;
    if (clean && this._serverRetry !== null) {
      delay = this._serverRetry;
    } else {
      delay = backoffDelay(this._attempt, this._backoff, this._random);
      this._attempt++;
    }
    this._timer = setTimeout(() => this._open(), delay);
  }

  _reconnectNow() {
    if (this._state !== State.RECONNECTING) return;
    // The browser's own retry (or our timer) may wait long: start over now.
    this._sourceReconnecting = false;
    this._teardown();
    this._attempt = 0;
    this._open();
  }

  _visibilityChanged() {
    if (!this._pauseWhenHidden || !this._document) return;
    const action = this._document.hidden ? "pause" : "resume";
    this._wantPaused = action === "pause";
    this._control(action).catch(() => {});
  }

  async _control(action) {
    if (!this._connectionId) return false;
    const id = this._connectionId;
    const response = await this._post(`/connections/${encodeURIComponent(id)}/${action}`);
    if (response.ok && id === this._connectionId) {
      this._paused = action === "pause";
      // A local notice, not a server event: only `on("paused" | "resumed")` hears it.
      this._emitTyped(action === "pause" ? "paused" : "resumed", new HubEvent(action, "", null));
    }
    return response.ok;
  }

  _post(path, body) {
    const headers = {};
    const credential = this._controlToken ?? null;
    if (credential) headers.authorization = `Bearer ${credential}`;
    if (body !== undefined) headers["content-type"] = "application/json";
    return this._fetch(`${this._url}${path}`, {
      method: "POST",
      headers,
      credentials: this._withCredentials ? "include" : "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  }
}

function reportError(err) {
  if (typeof globalThis.reportError === "function") globalThis.reportError(err);
  else setTimeout(() => {
    throw err;
  });
}
