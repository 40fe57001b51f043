"""The Python ``gql`` client (graphql-transport-ws over ``websockets``) against the FastAPI server."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest
from gql import Client, GraphQLRequest
from gql.transport.exceptions import TransportQueryError
from gql.transport.websockets import WebsocketsTransport
from graphql import ExecutionResult

from tests.protocol.harness import FAILING, MESSAGE_ADDED, RunningServer, wait_for_subscriptions, wait_until

EVENTS = 200


def _transport(server: RunningServer, subprotocols: list[str] | None) -> WebsocketsTransport:
    return WebsocketsTransport(url=server.url, subprotocols=subprotocols, close_timeout=5, ack_timeout=5)


async def _collect(
    server: RunningServer, request: GraphQLRequest, count: int, subprotocols: list[str] | None
) -> list[dict[str, Any]]:
    received: list[dict[str, Any]] = []
    async with (
        Client(transport=_transport(server, subprotocols)) as session,
        contextlib.aclosing(session.subscribe(request)) as results,
    ):
        async for result in results:
            received.append(result)
            if len(received) == count:
                break
    return received


async def _publish_when_subscribed(server: RunningServer, task: asyncio.Future[Any], count: int) -> None:
    await wait_until(
        lambda: task.done() or server.metrics()["active_subscriptions"] == 1, what="the gql subscription"
    )
    if task.done():
        task.result()  # raises the client's failure
        raise AssertionError("the gql client stopped before subscribing")
    for n in range(count):
        await server.publish("room:lobby", {"id": n, "text": f"message {n}", "secret": "not selected"})


@pytest.mark.parametrize(
    "subprotocols",
    [
        [WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],
        # gql's default offer (the legacy protocol too): the server must name the one it picked
        # as gql looks it up, `Sec-WebSocket-Protocol`, case and all.
        None,
    ],
    ids=["graphql-transport-ws", "gql-default-offer"],
)
async def test_gql_receives_events_in_order(served: RunningServer, subprotocols: list[str] | None) -> None:
    request = GraphQLRequest(MESSAGE_ADDED, variable_values={"room": "lobby"})
    task = asyncio.ensure_future(_collect(served, request, EVENTS, subprotocols))
    await _publish_when_subscribed(served, task, EVENTS)
    received = await asyncio.wait_for(task, 30)
    assert received == [{"messageAdded": {"id": n, "text": f"message {n}"}} for n in range(EVENTS)]
    await wait_until(lambda: served.metrics()["active_connections"] == 0, what="the gql connection to close")


async def _drain(server: RunningServer, request: GraphQLRequest) -> list[dict[str, Any]]:
    """Every result of a subscription until it ends (an error raises)."""
    received: list[dict[str, Any]] = []
    async with (
        Client(transport=_transport(server, [WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL])) as session,
        contextlib.aclosing(session.subscribe(request)) as results,
    ):
        async for result in results:
            received.append(result)
    return received


async def test_gql_sees_document_errors(served: RunningServer) -> None:
    with pytest.raises(TransportQueryError, match="Cannot query field"):
        await asyncio.wait_for(_drain(served, GraphQLRequest("subscription { nope }")), 10)


async def test_gql_sees_a_resolver_error_as_a_field_error_and_goes_on(served: RunningServer) -> None:
    async def collect(count: int) -> list[ExecutionResult]:
        # The transport's own stream: gql's session raises on the first result with errors.
        transport = _transport(served, [WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL])
        received: list[ExecutionResult] = []
        async with (
            Client(transport=transport),
            contextlib.aclosing(transport.subscribe(GraphQLRequest(FAILING))) as results,
        ):
            async for result in results:
                received.append(result)
                if len(received) == count:
                    break
        return received

    task = asyncio.ensure_future(collect(3))
    await wait_until(lambda: task.done() or served.metrics()["active_subscriptions"] == 1)
    await wait_for_subscriptions(served, 1)
    await served.publish("failing", {"n": 1})
    await served.publish("failing", {"n": 2, "fail": True})
    await served.publish("failing", {"n": 3})
    first, failed, third = await asyncio.wait_for(task, 10)
    assert (first.data, first.errors) == ({"failing": {"n": 1}}, None)
    assert failed.data == {"failing": None}
    # The transport leaves errors as the JSON it received (its type hint says GraphQLError).
    errors: list[dict[str, Any]] = list(failed.errors or [])  # type: ignore[arg-type]
    assert errors[0]["message"] == 'Resolver for "failing" failed.'
    assert errors[0]["path"] == ["failing"]
    assert (third.data, third.errors) == ({"failing": {"n": 3}}, None)


async def test_gql_sees_an_ending_resolver_error(make_ending_server: Any) -> None:
    server: RunningServer = await make_ending_server()
    task = asyncio.ensure_future(_drain(server, GraphQLRequest(FAILING)))
    await wait_until(lambda: task.done() or server.metrics()["active_subscriptions"] == 1)
    await wait_for_subscriptions(server, 1)
    await server.publish("failing", {"n": 1})
    await server.publish("failing", {"n": 2, "fail": True})
    with pytest.raises(TransportQueryError, match='Resolver for "failing" failed'):
        await asyncio.wait_for(task, 10)
