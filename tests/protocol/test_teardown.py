"""Checklist rules 17-19: socket close frees everything, internal errors close 4500 with a short
reason, server shutdown closes 1001."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from fraiseql.subscriptions.adapter import RequestInfo
from tests.protocol.conftest import ServerFactory
from tests.protocol.harness import (
    ASYNC_COUNTER,
    COUNTER,
    FAILING,
    MESSAGE_ADDED,
    NOTIFICATION,
    Client,
    RunningServer,
    engine_is_empty,
    wait_for_subscriptions,
    wait_until,
)


async def _subscribe_everything(client: Client) -> int:
    await client.init()
    await client.subscribe("counter", COUNTER)
    await client.subscribe("async", ASYNC_COUNTER)
    await client.subscribe("failing", FAILING)
    await client.subscribe("room", MESSAGE_ADDED, {"room": "lobby"})
    await client.subscribe("notification", NOTIFICATION)
    await client.expect_open()
    return 5


# -- rule 17: socket close frees everything ----------------------------------------------------------


@pytest.mark.parametrize("how", ["clean", "abort"])
async def test_client_close_frees_every_subscription(server: RunningServer, how: str) -> None:
    client = await server.connect()
    count = await _subscribe_everything(client)
    await wait_for_subscriptions(server, count)
    assert server.metrics()["active_connections"] == 1
    if how == "clean":
        await client.close()
    else:
        client.abort()
    await wait_until(engine_is_empty(server), what="cleanup")
    await server.publish("counter", {"n": 1})  # nobody listens any more: no error


@pytest.mark.parametrize("how", ["clean", "abort"])
async def test_many_connections_closing_free_everything(server: RunningServer, how: str) -> None:
    clients = [await server.connect() for _ in range(10)]
    for client in clients:
        await _subscribe_everything(client)
    await wait_for_subscriptions(server, 50)
    assert server.metrics()["active_connections"] == 10
    for index, client in enumerate(clients):
        if how == "abort" and index % 2:
            client.abort()
        else:
            await client.close()
    await wait_until(engine_is_empty(server), what="cleanup")


async def test_close_with_async_resolvers_in_flight_frees_everything(server: RunningServer) -> None:
    client = await server.connect()
    await client.init()
    await client.subscribe("a", ASYNC_COUNTER)
    await wait_for_subscriptions(server, 1)
    for n in range(200):
        await server.publish("asyncCounter", {"n": n})
    client.abort()
    await wait_until(engine_is_empty(server), what="cleanup")
    await wait_until(lambda: server.metrics()["pending_resolver_jobs"] == 0, what="resolver jobs")


@pytest.mark.parametrize("how", ["clean", "abort"])
async def test_close_during_on_connect_frees_everything(make_server: ServerFactory, how: str) -> None:
    entered = asyncio.Event()
    finished = asyncio.Event()

    async def on_connect(payload: dict[str, Any] | None, request: RequestInfo) -> None:
        entered.set()
        try:
            await asyncio.sleep(0.5)
        finally:
            finished.set()

    server = await make_server(on_connect=on_connect)
    client = await server.connect()
    await client.send_json({"type": "connection_init"})
    await asyncio.wait_for(entered.wait(), 5)
    if how == "clean":
        await client.close()
    else:
        client.abort()
    await asyncio.wait_for(finished.wait(), 5)
    await wait_until(engine_is_empty(server), what="cleanup")


async def test_close_before_init_frees_everything(server: RunningServer) -> None:
    client = await server.connect()
    await wait_until(lambda: server.metrics()["active_connections"] == 1, what="connection")
    await client.close()
    await wait_until(engine_is_empty(server), what="cleanup")


# -- rule 18: internal errors --------------------------------------------------------------------


async def test_on_connect_crash_closes_4500(make_server: ServerFactory) -> None:
    async def on_connect(payload: dict[str, Any] | None, request: RequestInfo) -> None:
        raise RuntimeError("database unreachable " + "x" * 500)

    server = await make_server(on_connect=on_connect)
    client = await server.connect()
    await client.send_json({"type": "connection_init"})
    reason = await client.expect_close(4500)
    assert reason
    assert "x" * 50 not in reason  # the exception text is not leaked (and fits in a close frame)
    await wait_until(engine_is_empty(server), what="cleanup")


async def test_on_connect_returning_garbage_closes_4500(make_server: ServerFactory) -> None:
    server = await make_server(on_connect=lambda payload, request: 42)
    client = await server.connect()
    await client.send_json({"type": "connection_init"})
    await client.expect_close(4500)


@pytest.mark.parametrize("character", ["i", "é", "😀"], ids=["ascii", "two-bytes", "four-bytes"])
async def test_close_reason_is_kept_under_124_bytes(server: RunningServer, character: str) -> None:
    client = await server.connect()
    await client.init()
    subscription_id = character * 300
    await client.subscribe(subscription_id, COUNTER)
    await client.subscribe(subscription_id, COUNTER)
    reason = await client.expect_close(4409)  # expect_close checks <= 123 bytes (valid UTF-8)
    assert reason.startswith("Subscriber for " + character * 10)


# -- rule 19: server shutdown ------------------------------------------------------------------------


async def test_manager_shutdown_closes_1001(server: RunningServer) -> None:
    subscribed = await server.connect()
    await _subscribe_everything(subscribed)
    initialised = await server.connect()
    await initialised.init()
    fresh = await server.connect()
    await wait_until(lambda: server.manager.connection_count == 3, what="3 connections")
    await server.manager.shutdown()
    for client in (subscribed, initialised, fresh):
        await client.expect_close(1001, "Going away")
    await wait_until(engine_is_empty(server), what="cleanup")


async def test_manager_shutdown_without_connections(server: RunningServer) -> None:
    await server.manager.shutdown()
    if server.native is not None:
        # The native server is the manager's own (manager.serve()): shutdown stops it too.
        with pytest.raises(OSError, match="Connect call failed"):
            await server.connect()
        return
    client = await server.connect()  # the server itself still runs
    await client.init()


async def test_server_stop_closes_1001(make_server: ServerFactory) -> None:
    """Stopping the server (uvicorn: ``SubscriptionServer``; websockets: ``Server.close()``)."""
    server = await make_server(subscription_server=True)
    client = await server.connect()
    await _subscribe_everything(client)
    idle = await server.connect()
    await wait_until(lambda: server.manager.connection_count == 2, what="2 connections")
    server.stop()
    await client.expect_close(1001)
    await idle.expect_close(1001)
    await wait_until(engine_is_empty(server), what="cleanup")


async def test_manager_shutdown_during_on_connect_closes_1001(make_server: ServerFactory) -> None:
    entered = asyncio.Event()

    async def on_connect(payload: dict[str, Any] | None, request: RequestInfo) -> None:
        entered.set()
        await asyncio.sleep(0.5)

    server = await make_server(on_connect=on_connect)
    client = await server.connect()
    await client.send_json({"type": "connection_init"})
    await asyncio.wait_for(entered.wait(), 5)
    await server.manager.shutdown()
    await client.expect_close(1001, "Going away")  # and no connection_ack after it
    await wait_until(engine_is_empty(server), what="cleanup")
