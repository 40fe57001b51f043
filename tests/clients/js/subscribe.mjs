// Subscribe with graphql-ws (the reference graphql-transport-ws client) and print what arrives.
//
//   node subscribe.mjs <url> <query> <variables-json> <count>
//
// stdout gets one JSON object per line: {"event":"connected"} after connection_ack, then
// {"event":"next","payload":...} for each `next`, then {"event":"done"} once <count> payloads
// arrived and the client has completed the subscription and disposed of the connection.
// Errors go to stderr with a non-zero exit status.
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

const [url, query, variablesJson = '{}', countText = '1'] = process.argv.slice(2);
if (!url || !query) {
  process.stderr.write('usage: node subscribe.mjs <url> <query> [variables-json] [count]\n');
  process.exit(64);
}
const variables = JSON.parse(variablesJson);
const count = Number.parseInt(countText, 10);

const print = (object) => process.stdout.write(`${JSON.stringify(object)}\n`);

const watchdog = setTimeout(() => {
  process.stderr.write('timed out\n');
  process.exit(3);
}, 60_000);

const client = createClient({
  url,
  webSocketImpl: WebSocket,
  lazy: false,
  retryAttempts: 0,
  on: {
    connected: () => print({ event: 'connected' }),
  },
});

let received = 0;
const finished = new Promise((resolve, reject) => {
  const unsubscribe = client.subscribe(
    { query, variables },
    {
      next: (payload) => {
        received += 1;
        print({ event: 'next', payload });
        if (received === count) {
          unsubscribe();
          resolve();
        }
      },
      error: (error) => reject(error),
      complete: () => {
        if (received < count) reject(new Error(`completed after ${received} of ${count} payloads`));
      },
    },
  );
});

try {
  await finished;
  await client.dispose();
  print({ event: 'done' });
  clearTimeout(watchdog);
} catch (error) {
  const text =
    error instanceof Error
      ? error.stack
      : error && typeof error === 'object' && 'code' in error
        ? `socket closed ${error.code} ${error.reason}`
        : String(error);
  process.stderr.write(`subscription failed: ${text}\n`);
  process.exitCode = 1;
  await client.dispose();
  clearTimeout(watchdog);
}
