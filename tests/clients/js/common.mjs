// What every client script here shares: its command line, its output, a watchdog, the
// graphql-ws connection and how the script ends.
//
//   node <script>.mjs <url> <query> <variables-json> <count>
//
// stdout gets one JSON object per line: {"event":"connected"} after connection_ack, then
// {"event":"next","payload":...} per result, then {"event":"done"} once <count> results arrived
// and the client has unsubscribed and disposed of the connection. Errors go to stderr with a
// non-zero exit status.
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

export const print = (object) => process.stdout.write(`${JSON.stringify(object)}\n`);

/** `{ url, query, variables, count }` from the command line (exit 64 when it is incomplete). */
export function commandLine(script) {
  const [url, query, variablesJson = '{}', countText = '1'] = process.argv.slice(2);
  if (!url || !query) {
    process.stderr.write(`usage: node ${script} <url> <query> [variables-json] [count]\n`);
    process.exit(64);
  }
  return { url, query, variables: JSON.parse(variablesJson), count: Number.parseInt(countText, 10) };
}

/** A graphql-ws client connecting at once, printing {"event":"connected"} when acknowledged. */
export function connect(url) {
  return createClient({
    url,
    webSocketImpl: WebSocket,
    lazy: false,
    retryAttempts: 0,
    on: { connected: () => print({ event: 'connected' }) },
  });
}

/** Counts results into `resolve` once `count` arrived (calling `stop` first). */
export function counter(count, stop, resolve) {
  let received = 0;
  return {
    result(payload) {
      received += 1;
      print({ event: 'next', payload });
      if (received === count) {
        stop();
        resolve();
      }
    },
    completed(reject) {
      if (received < count) reject(new Error(`completed after ${received} of ${count} results`));
    },
  };
}

/** Waits for `finished`, then disposes of `wsClient` and ends the script as documented above. */
export async function finish(wsClient, finished, beforeDispose = () => {}) {
  const watchdog = setTimeout(() => {
    process.stderr.write('timed out\n');
    process.exit(3);
  }, 60_000);
  try {
    await finished;
    beforeDispose();
    await wsClient.dispose();
    print({ event: 'done' });
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
  } finally {
    clearTimeout(watchdog);
  }
}
