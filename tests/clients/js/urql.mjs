// Subscribe with urql (@urql/core: its document cache and subscriptionExchange forwarding to
// graphql-ws) and print the results as urql exposes them.
//
// Command line and output: common.mjs; each payload is {"data":...,"errors":[{"message":...,
// "path":...}]} ("errors" only when urql reports GraphQL errors).
import { Client, cacheExchange, subscriptionExchange } from '@urql/core';

import { commandLine, connect, counter, finish } from './common.mjs';

const { url, query, variables, count } = commandLine('urql.mjs');
const wsClient = connect(url);

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

const finished = new Promise((resolve, reject) => {
  const results = counter(count, () => subscription.unsubscribe(), resolve);
  const subscription = urql.subscription(query, variables).subscribe((result) => {
    try {
      results.result(describe(result));
    } catch (error) {
      reject(error);
    }
  });
});

await finish(wsClient, finished);
