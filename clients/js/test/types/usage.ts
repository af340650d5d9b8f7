// Compiled by `tsc --noEmit` only: the declarations describe a usable API.
import {
  backoffDelay,
  createParser,
  fetchTicket,
  SseHubClient,
  State,
  transition,
  type ConnectionState,
  type HubEvent,
} from "../../src/sse-hub-client.js";

const client = new SseHubClient({
  url: "https://events.example.com",
  topics: ["orders.>"],
  getToken: async () => "jwt",
  onResync: (event: HubEvent) => void event.type,
  onStateChange: (state: ConnectionState) => void state,
  backoff: { initialMs: 100, maxMs: 5000 },
});
const off: () => void = client.on("order", (event) => {
  const order = event.json<{ id: number }>();
  const n: number = order.id;
  void n;
});
off();
client.on("error", (error: unknown) => void error);
client.connect();
const state: ConnectionState = client.state;
const id: string | null = client.lastEventId;
void client.addTopics(["a"]).then((topics: string[]) => topics.length);
void client.pause().then((ok: boolean) => ok);
const next: ConnectionState | null = transition(State.OPEN, "drop");
const delay: number = backoffDelay(3, { maxMs: 1000 });
const parser = createParser((e) => void e.data, (ms: number) => void ms);
parser.push("data: x\n\n");
void fetchTicket({ token: "jwt", topics: ["a"] }).then((t: string) => t.length);
void [state, id, next, delay];
