// Subscribe with Apollo Client (its framework-agnostic core, over GraphQLWsLink and graphql-ws)
// and print the results as Apollo exposes them.
//
// Command line and output: common.mjs; each payload is {"data":...,"errors":[{"message":...,
// "path":...}]} ("errors" only when Apollo reports GraphQL errors).
//
// Apollo's InMemoryCache adds `__typename` to every selection set of the document it sends, so
// each object in `data` has it too (null from a server without a schema).
import { ApolloClient, CombinedGraphQLErrors, InMemoryCache, gql } from '@apollo/client/core';
import { GraphQLWsLink } from '@apollo/client/link/subscriptions';

import { commandLine, connect, counter, finish } from './common.mjs';

const { url, query, variables, count } = commandLine('apollo.mjs');
const wsClient = connect(url);
const apollo = new ApolloClient({ link: new GraphQLWsLink(wsClient), cache: new InMemoryCache() });

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

const finished = new Promise((resolve, reject) => {
  const results = counter(count, () => subscription.unsubscribe(), resolve);
  const subscription = apollo
    // "all": a result carrying both data and errors is delivered with both (the default,
    // "none", delivers the errors but drops the data).
    .subscribe({ query: gql(query), variables, errorPolicy: 'all' })
    .subscribe({
      next: (result) => {
        try {
          results.result(describe(result));
        } catch (error) {
          reject(error);
        }
      },
      error: reject,
      complete: () => results.completed(reject),
    });
});

await finish(wsClient, finished, () => apollo.stop());
