// Type declarations of sse-hub-client (checked with `tsc --noEmit`).

/** Connection states. */
export type ConnectionState = "idle" | "connecting" | "open" | "reconnecting" | "closed";

/** Inputs of the state machine. */
export type StateInput = "connect" | "open" | "drop" | "close";

export declare const State: Readonly<{
  IDLE: "idle";
  CONNECTING: "connecting";
  OPEN: "open";
  RECONNECTING: "reconnecting";
  CLOSED: "closed";
}>;

/** Control events sent by the server; they carry no `id:`. */
export declare const CONTROL_EVENTS: readonly ["connected", "resync", "server-shutdown", "overloaded", "auth-expired"];

export interface BackoffOptions {
  /** Ceiling of the first retry's delay, ms (default 500). */
  initialMs?: number;
  /** Largest ceiling, ms (default 30000). */
  maxMs?: number;
  /** Growth of the ceiling per failed attempt (default 2). */
  factor?: number;
}

export declare const DEFAULT_BACKOFF: Readonly<Required<BackoffOptions>>;

/** The state after `input`, or `null` when it does not apply (a closed client never reopens). */
export declare function transition(state: ConnectionState, input: StateInput): ConnectionState | null;

/** Full-jitter backoff: uniform in `[0, min(maxMs, initialMs * factor^attempt)]`. */
export declare function backoffDelay(attempt: number, options?: BackoffOptions, random?: () => number): number;

/** A parsed `text/event-stream` event. */
export interface ParsedEvent {
  type: string;
  data: string;
  id: string | null;
}

/** An incremental, standard-conforming `text/event-stream` parser. */
export declare function createParser(
  onEvent: (event: ParsedEvent) => void,
  onRetry?: (ms: number) => void,
): { push(text: string): void; end(): void };

export interface TicketOptions {
  /** Server base URL; default: same origin. */
  url?: string;
  /** Bearer token that authorizes the ticket (or rely on the cookie). */
  token?: string | null;
  /** Topics the ticket's stream gets (each covered by a grant). */
  topics?: string[];
  withCredentials?: boolean;
  fetch?: typeof fetch;
}

/** `POST /tickets`: a one-time ticket for an EventSource that cannot send a header. */
export declare function fetchTicket(options?: TicketOptions): Promise<string>;

/** An HTTP answer the client could not use. */
export declare class SseHubError extends Error {
  constructor(message: string, status?: number);
  readonly status: number | undefined;
}

/** One event as handlers see it. */
export interface HubEvent {
  /** The SSE `event:` field (`message` when absent). */
  readonly type: string;
  /** The `data:` lines joined by `\n`, exactly as published. */
  readonly data: string;
  /** The event's id, or `null` (control events carry none). */
  readonly id: string | null;
  /** `data` parsed as JSON. */
  json<T = unknown>(): T;
}

export interface SseHubClientOptions {
  /** Server base URL, e.g. `https://events.example.com`; default: same origin. */
  url?: string;
  /** Path of the stream (default `/events`). */
  path?: string;
  /** Topic patterns to subscribe to (`*` and `>` wildcards). */
  topics?: string[];
  /**
   * `eventsource` (cookies suffice), `fetch` (a header is needed) or `auto`
   * (default: `fetch` when `getToken` is set, else `eventsource`).
   */
  transport?: "auto" | "eventsource" | "fetch";
  /** Send cookies cross-origin (EventSource `withCredentials`, fetch `credentials: "include"`). */
  withCredentials?: boolean;
  /** A bearer token for the fetch transport; called again after a 401 or `auth-expired`. */
  getToken?: () => string | null | Promise<string | null>;
  /**
   * A one-time ticket for the EventSource transport (see `fetchTicket`);
   * called before every connection. May refresh a cookie and resolve to `null`.
   */
  getTicket?: () => string | null | Promise<string | null>;
  /** The server could not replay what this client missed: refetch the state. */
  onResync?: (event: HubEvent) => void;
  /** Every state change. */
  onStateChange?: (state: ConnectionState) => void;
  /** Pause while the tab is hidden, resume when shown (default true). */
  pauseWhenHidden?: boolean;
  /** Reconnect backoff (full jitter). */
  backoff?: BackoffOptions;
  /** Last event id to start from (e.g. rendered into the page). */
  lastEventId?: string | null;
  /** For tests and non-browser hosts. */
  fetch?: typeof fetch;
  EventSource?: typeof EventSource;
  document?: Pick<Document, "hidden" | "addEventListener" | "removeEventListener"> | null;
  window?: Pick<Window, "addEventListener" | "removeEventListener"> | null;
  random?: () => number;
}

/** The connection's topics after a change. */
export interface TopicChange {
  add?: string[];
  remove?: string[];
}

/** One stream to an sse-hub server, kept open across failures. */
export declare class SseHubClient {
  constructor(options?: SseHubClientOptions);
  readonly state: ConnectionState;
  readonly lastEventId: string | null;
  readonly connectionId: string | null;
  readonly topics: string[];
  readonly paused: boolean;
  readonly transport: "eventsource" | "fetch";
  /**
   * Handles events of `type` (control events included); returns the remover.
   * `paused` and `resumed` are local notices after a successful pause/resume;
   * `error` gets failures (an answer other than 200, a network error).
   */
  on(type: "error", handler: (error: unknown) => void): () => void;
  on(type: string, handler: (event: HubEvent) => void): () => void;
  /** Every event (with EventSource: types with a handler, `message` and control events). */
  onAny(handler: (event: HubEvent) => void): () => void;
  connect(): this;
  close(): void;
  pause(): Promise<boolean>;
  resume(): Promise<boolean>;
  updateTopics(change: TopicChange): Promise<string[]>;
  addTopics(topics: string[]): Promise<string[]>;
  removeTopics(topics: string[]): Promise<string[]>;
}
