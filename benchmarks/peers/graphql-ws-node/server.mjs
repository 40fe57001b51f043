// The benchmark's Node peer: the graphql-ws reference server (graphql-transport-ws) on `ws`, with
// graphql-js executing the subscriber's selection set for every event and graphql-subscriptions'
// PubSub fanning events out, as its users write it. The HTTP endpoints are those of the Python
// benchmark apps (benchmarks/publisher.py): GET /health, GET /stats, POST /publish_loop.
//
// Usage: node server.mjs --host 127.0.0.1 --port 8000   (the WebSocket is at /graphql)

import http from "node:http";
import { parseArgs } from "node:util";

import { buildSchema } from "graphql";
import { PubSub } from "graphql-subscriptions";
import { useServer } from "graphql-ws/use/ws";
import { WebSocketServer } from "ws";

const { values: options } = parseArgs({
  options: { host: { type: "string", default: "127.0.0.1" }, port: { type: "string", default: "8000" } },
});

const schema = buildSchema(`
  type Message { id: ID! room: String! text: String! author: String! at: Float! }
  type Query { rooms: [String!]! }
  type Subscription { messageAdded(room: String!): Message! }
`);

const pubsub = new PubSub();
let subscribers = 0;

// graphql-js subscribes a field through the root value's function of that name (called with the
// arguments) and resolves each event ({messageAdded: message}) with its default resolver.
const rootValue = {
  rooms: () => [],
  messageAdded: (args) => {
    const iterator = pubsub.asyncIterableIterator(`room:${args.room}`);
    subscribers += 1;
    const giveBack = iterator.return.bind(iterator);
    iterator.return = (value) => {
      subscribers -= 1;
      return giveBack(value);
    };
    return iterator;
  },
};

function publishOne(room, sequence, text) {
  const message = { id: String(sequence), room, text, author: "bench", at: Date.now() / 1000 };
  return pubsub.publish(`room:${room}`, { messageAdded: message });
}

const yieldToTheLoop = () => new Promise((resolve) => setImmediate(resolve));
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// The same loop as benchmarks/publisher.py's run_publish (without overlap): an absolute schedule
// with `rate`, as fast as possible (yielding after each publish) without.
async function runPublish(request) {
  const rate = Number(request.rate ?? 0);
  const count = request.duration != null ? Math.round(rate * Number(request.duration)) : Number(request.count ?? 1);
  const room = String(request.room ?? "bench");
  // With `rooms`, event i goes to room `<room>-<i mod rooms>` (one subscriber per room).
  const rooms = Number(request.rooms ?? 0);
  const roomOf = (sequence) => (rooms > 0 ? `${room}-${sequence % rooms}` : room);
  const text = String(request.text ?? "hello from the benchmark");
  const start = performance.now() / 1000;
  let maxLag = 0;
  let published = 0;
  for (let sequence = 0; sequence < count; sequence += 1) {
    if (rate > 0) {
      const delay = start + sequence / rate - performance.now() / 1000;
      if (delay > 0) await sleep(delay * 1000);
      else maxLag = Math.max(maxLag, -delay);
    }
    await publishOne(roomOf(sequence), sequence, text);
    published += 1;
    if (rate <= 0 || performance.now() / 1000 >= start + (sequence + 1) / rate) await yieldToTheLoop();
  }
  const elapsed = performance.now() / 1000 - start;
  return {
    published,
    elapsed_s: elapsed,
    achieved_rate: elapsed > 0 ? published / elapsed : 0,
    max_lag_ms: maxLag * 1000,
    finished_at: Date.now() / 1000,
  };
}

function reply(response, status, body) {
  response.writeHead(status, { "content-type": "application/json" });
  response.end(JSON.stringify(body));
}

const server = http.createServer((request, response) => {
  if (request.method === "GET" && request.url === "/health") return reply(response, 200, { ok: true });
  if (request.method === "GET" && request.url === "/stats") return reply(response, 200, { subscribers });
  if (request.method === "POST" && (request.url === "/publish_loop" || request.url === "/publish")) {
    const chunks = [];
    request.on("data", (chunk) => chunks.push(chunk));
    request.on("end", async () => {
      try {
        reply(response, 200, await runPublish(JSON.parse(Buffer.concat(chunks).toString() || "{}")));
      } catch (error) {
        reply(response, 400, { error: String(error) });
      }
    });
    return undefined;
  }
  return reply(response, 404, { error: "not found" });
});

const websockets = new WebSocketServer({ server, path: "/graphql" });
useServer({ schema, roots: { subscription: rootValue, query: rootValue } }, websockets);

server.listen(Number(options.port), options.host);
