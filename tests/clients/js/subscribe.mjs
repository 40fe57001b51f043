// Subscribe with graphql-ws (the reference graphql-transport-ws client) and print what arrives:
// each `next` payload as the server sent it. Command line and output: common.mjs.
import { commandLine, connect, counter, finish } from './common.mjs';

const { url, query, variables, count } = commandLine('subscribe.mjs');
const client = connect(url);

const finished = new Promise((resolve, reject) => {
  const results = counter(count, () => unsubscribe(), resolve);
  const unsubscribe = client.subscribe(
    { query, variables },
    { next: (payload) => results.result(payload), error: reject, complete: () => results.completed(reject) },
  );
});

await finish(client, finished);
