// Subscribe with Apollo Client (its framework-agnostic core, over GraphQLWsLink and graphql-ws)
// and print the results as Apollo exposes them.
//
//   node apollo.mjs <url> <query> <variables-json> <count>
//
// stdout gets one JSON object per line: {"event":"connected"} after connection_ack, then
// {"event":"next","payload":{"data":...,"errors":[{"message":...,"path":...}]}} for each result
// ("errors" only when Apollo reports GraphQL errors), then {"event":"done"} once <count> results
// arrived and the client has unsubscribed and disposed of the connection.
// Errors go to stderr with a non-zero exit status.
//
// Apollo's InMemoryCache adds `__typename` to every selection set of the document it sends, so
// each object in `data` has it too (null from a server without a schema).
import { ApolloClient, CombinedGraphQLErrors, InMemoryCache, gql } from '@apollo/client/core';
import { GraphQLWsLink } from '@apollo/client/link/subscriptions';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

const [url, query, variablesJson = '{}', countText = '1'] = process.argv.slice(2);
if (!url || !query) {
  process.stderr.write('usage: node apollo.mjs <url> <query> [variables-json] [count]\n');
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

const apollo = new ApolloClient({
  link: new GraphQLWsLink(wsClient),
  cache: new InMemoryCache(),
});

// The stable JSON form of one result: Apollo's data, and its GraphQL errors (if any) reduced to
// message and path. Anything other than GraphQL errors (a network error) fails the script.
const describe = (result) => {
  const payload = { data: result.data };
  if (result.error !== undefined) {
    if (!CombinedGraphQLErrors.is(result.error)) throw result.error;
    payload.errors = result.error.errors.map(({ message, path }) => ({ message, path }));
  }
  return payload;
};

let received = 0;
const finished = new Promise((resolve, reject) => {
  const subscription = apollo
    .subscribe({
      query: gql(query),
      variables,
      // "all": a result carrying both data and errors is delivered with both (the default,
      // "none", delivers the errors but drops the data).
      errorPolicy: 'all',
    })
    .subscribe({
      next: (result) => {
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
      },
      error: (error) => reject(error),
      complete: () => {
        if (received < count) reject(new Error(`completed after ${received} of ${count} results`));
      },
    });
});

try {
  await finished;
  apollo.stop();
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
