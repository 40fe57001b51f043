// Subscribe with urql (@urql/core: its document cache and subscriptionExchange forwarding to
// graphql-ws) and print the results as urql exposes them.
//
//   node urql.mjs <url> <query> <variables-json> <count>
//
// stdout gets one JSON object per line: {"event":"connected"} after connection_ack, then
// {"event":"next","payload":{"data":...,"errors":[{"message":...,"path":...}]}} for each result
// ("errors" only when urql reports GraphQL errors), then {"event":"done"} once <count> results
// arrived and the client has unsubscribed and disposed of the connection.
// Errors go to stderr with a non-zero exit status.
import { Client, cacheExchange, subscriptionExchange } from '@urql/core';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

const [url, query, variablesJson = '{}', countText = '1'] = process.argv.slice(2);
if (!url || !query) {
  process.stderr.write('usage: node urql.mjs <url> <query> [variables-json] [count]\n');
  process.exit(64);
}
const variables = JSON.parse(variablesJson);
const count = Number.parseInt(countText, 10);

const print = (object) => process.stdout.write(`${JSON.stringify(object)}\n`);

const watchdog = setTimeout(() => {
  process.stderr.write('timed out\n');
  process.exit(3);
}, 60_000);

const wsClient = createClient({
  url,
  webSocketImpl: WebSocket,
  lazy: false,
  retryAttempts: 0,
  on: {
    connected: () => print({ event: 'connected' }),
  },
});

const urql = new Client({
  // Required by urql; never fetched (there is no fetchExchange: everything goes over graphql-ws).
  url,
  exchanges: [
    cacheExchange,
    subscriptionExchange({
      // graphql-ws takes urql's request as it is (query text, variables) and feeds urql's sink.
      forwardSubscription: (request) => ({
        subscribe: (sink) => {
          const unsubscribe = wsClient.subscribe({ ...request, query: request.query ?? '' }, sink);
          return { unsubscribe };
        },
      }),
    }),
  ],
});

// The stable JSON form of one result: urql's data, and the GraphQL errors of its CombinedError
// (if any) reduced to message and path. A network error fails the script.
const describe = (result) => {
  const payload = { data: result.data };
  if (result.error !== undefined) {
    if (result.error.networkError !== undefined) throw result.error.networkError;
    payload.errors = result.error.graphQLErrors.map(({ message, path }) => ({ message, path }));
  }
  return payload;
};

let received = 0;
const finished = new Promise((resolve, reject) => {
  const subscription = urql.subscription(query, variables).subscribe((result) => {
    try {
      received += 1;
      print({ event: 'next', payload: describe(result) });
      if (received === count) {
        subscription.unsubscribe();
        resolve();
      }
    } catch (error) {
      reject(error);
    }
  });
});

try {
  await finished;
  await wsClient.dispose();
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
  await wsClient.dispose();
  clearTimeout(watchdog);
}
