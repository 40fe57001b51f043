"""Apollo Client and urql (``tests/clients/js``), over graphql-ws, against the FastAPI server.

Each test runs ``apollo.mjs`` or ``urql.mjs`` under Node: the script subscribes through the
library and prints every result as the library exposes it (``data``, and its GraphQL errors as
``message`` and ``path``), one JSON line each, as ``subscribe.mjs`` does for plain graphql-ws.

Needs ``node`` on PATH (skipped otherwise); the ``node`` fixture (conftest.py) installs the locked
packages with ``npm ci`` when ``tests/clients/js/node_modules`` lacks any of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.protocol.harness import FAILING, MESSAGE_ADDED, RunningServer, engine_is_empty, wait_until

JS_DIR = Path(__file__).parent / "js"
EVENTS = 200
#: Generous bound for one line of output or the script's exit (never an assertion on speed).
OUTPUT_TIMEOUT = 30.0


@dataclass(frozen=True)
class JsClient:
    """A client library, the script driving it, and what it does to results on its own."""

    name: str
    script: str
    #: Fields the library adds to every selection set, with the value the test server gives them.
    added_fields: dict[str, Any] = field(default_factory=dict)
    #: Whether a result without errors still carries the errors of an earlier result.
    keeps_earlier_errors: bool = False


CLIENTS = [
    # Apollo's InMemoryCache adds __typename to every selection set; the harness serves without a
    # schema, where __typename is the event's own "__typename" or null (docs/engine.md).
    JsClient("apollo", "apollo.mjs", added_fields={"__typename": None}),
    # urql's subscriptionExchange merges each result into the previous one (mergeResultPatch,
    # @urql/core 6.0.3): a result without "errors" keeps the previous result's errors.
    JsClient("urql", "urql.mjs", keeps_earlier_errors=True),
]


@pytest.fixture(params=CLIENTS, ids=[client.name for client in CLIENTS])
def client(request: pytest.FixtureRequest) -> JsClient:
    js_client: JsClient = request.param
    return js_client


@dataclass
class ClientRun:
    """One run of a client script: what it prints, and how it ends."""

    client: JsClient
    process: asyncio.subprocess.Process

    async def next_event(self) -> dict[str, Any] | None:
        """The next line of stdout as a JSON object (``None`` at the end of the output)."""
        assert self.process.stdout is not None
        line = await asyncio.wait_for(self.process.stdout.readline(), OUTPUT_TIMEOUT)
        if not line:
            return None
        event = json.loads(line)
        assert isinstance(event, dict), line
        return event

    async def failure(self) -> str:
        """What the script wrote to stderr (stopping it first: only used to explain a failure)."""
        assert self.process.stderr is not None
        if self.process.returncode is None:
            self.process.kill()
        stderr = await asyncio.wait_for(self.process.stderr.read(), OUTPUT_TIMEOUT)
        return f"{self.client.name} exited {await self.process.wait()}: {stderr.decode()}"

    async def results(self, count: int) -> list[dict[str, Any]]:
        """The payloads of the next ``count`` results, then the clean end: ``done``, exit status 0."""
        assert self.process.stderr is not None
        events = [await self.next_event() for _ in range(count + 1)]
        stderr = (await asyncio.wait_for(self.process.stderr.read(), OUTPUT_TIMEOUT)).decode()
        assert await asyncio.wait_for(self.process.wait(), OUTPUT_TIMEOUT) == 0, stderr
        assert events[-1] == {"event": "done"}, (events, stderr)
        payloads: list[dict[str, Any]] = []
        for event in events[:-1]:
            assert event is not None, (events, stderr)
            assert event["event"] == "next", (events, stderr)
            payloads.append(event["payload"])
        return payloads


@contextlib.asynccontextmanager
async def subscribed(
    node: str, client: JsClient, server: RunningServer, query: str, variables: dict[str, Any], count: int
) -> AsyncIterator[ClientRun]:
    """Run ``client``'s script until it is connected and its subscription is active on ``server``
    (so that nothing published afterwards can be missed); kill it at exit if it still runs."""
    process = await asyncio.create_subprocess_exec(
        node,
        str(JS_DIR / client.script),
        server.url,
        query,
        json.dumps(variables),
        str(count),
        cwd=JS_DIR,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    run = ClientRun(client, process)
    try:
        first = await run.next_event()
        assert first == {"event": "connected"}, (first, await run.failure())
        await wait_until(
            lambda: process.returncode is not None or server.metrics()["active_subscriptions"] == 1,
            timeout=OUTPUT_TIMEOUT,
            what=f"the {client.name} subscription",
        )
        assert process.returncode is None, await run.failure()
        yield run
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def test_receives_events_in_order(node: str, client: JsClient, served: RunningServer) -> None:
    async with subscribed(node, client, served, MESSAGE_ADDED, {"room": "lobby"}, EVENTS) as run:
        for n in range(EVENTS):
            await served.publish("room:lobby", {"id": n, "text": f"message {n}", "secret": "x"})
        payloads = await run.results(EVENTS)
    # Exactly the selected fields (never "secret"), in publication order.
    assert payloads == [
        {"data": {"messageAdded": {"id": n, "text": f"message {n}", **client.added_fields}}}
        for n in range(EVENTS)
    ]


async def test_resolver_failure_is_a_graphql_error_and_the_subscription_goes_on(
    node: str, client: JsClient, served: RunningServer
) -> None:
    async with subscribed(node, client, served, FAILING, {}, 3) as run:
        await served.publish("failing", {"n": 1})
        await served.publish("failing", {"n": 2, "fail": True})
        await served.publish("failing", {"n": 3})
        first, failed, third = await run.results(3)

    assert first == {"data": {"failing": {"n": 1, **client.added_fields}}}

    # The spec's field error: the nullable field is null, and the error says where and why.
    assert failed["data"] == {"failing": None}
    [error] = failed["errors"]
    assert error["path"] == ["failing"]
    assert error["message"] == 'Resolver for "failing" failed.'

    # The next event is delivered normally (the server's third `next` carries no errors; urql
    # still shows the failure's, see CLIENTS).
    assert third["data"] == {"failing": {"n": 3, **client.added_fields}}
    assert third.get("errors") == (failed["errors"] if client.keeps_earlier_errors else None)


async def test_connection_is_released_after_dispose(
    node: str, client: JsClient, served: RunningServer
) -> None:
    async with subscribed(node, client, served, MESSAGE_ADDED, {"room": "lobby"}, 1) as run:
        assert served.metrics()["active_connections"] == 1
        await served.publish("room:lobby", {"id": 1, "text": "last"})
        assert await run.results(1) == [
            {"data": {"messageAdded": {"id": 1, "text": "last", **client.added_fields}}}
        ]
    # The script printed "done" after disposing of its graphql-ws client: the server sees the
    # socket close and releases the connection and everything it held.
    await wait_until(
        lambda: served.metrics()["active_connections"] == 0,
        what=f"the {client.name} connection to close",
    )
    await wait_until(engine_is_empty(served), what="the engine to release everything")
