"""Checklist rules 1-5: subprotocol, init timeout, repeated init, on_connect, subscribe before ack."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from fraiseql.subscriptions.adapter import RequestInfo
from fraiseql.subscriptions.manager import ConnectionContext, ConnectionRejected
from tests.protocol.conftest import ServerFactory
from tests.protocol.harness import (
    COUNTER,
    PROTOCOL,
    RunningServer,
    engine_is_empty,
    wait_for_subscriptions,
    wait_until,
)

# -- rule 1: subprotocol ---------------------------------------------------------------------------


async def test_selects_graphql_transport_ws(server: RunningServer) -> None:
    client = await server.connect([PROTOCOL])
    assert client.subprotocol == PROTOCOL
    await client.init()
    await client.expect_open()


async def test_selects_graphql_transport_ws_among_several_offers(server: RunningServer) -> None:
    client = await server.connect(["graphql-ws", PROTOCOL, "other"])
    assert client.subprotocol == PROTOCOL
    await client.init()


@pytest.mark.parametrize("offered", [["graphql-ws"], ["mqtt"], ["graphql-ws", "mqtt"]])
async def test_only_unknown_subprotocols_close_4406(server: RunningServer, offered: list[str]) -> None:
    client = await server.connect(offered)
    assert client.subprotocol is None
    await client.expect_close(4406, "Subprotocol not acceptable")
    await wait_until(engine_is_empty(server), what="cleanup")


async def test_no_subprotocol_offered_is_accepted(server: RunningServer) -> None:
    client = await server.connect(None)
    assert client.subprotocol is None
    await client.init()
    await client.subscribe("1", COUNTER)
    await wait_for_subscriptions(server, 1)
    await server.publish("counter", {"n": 1})
    assert await client.receive_json() == {
        "id": "1",
        "type": "next",
        "payload": {"data": {"counter": {"n": 1}}},
    }


# -- rule 2: connection_init timeout --------------------------------------------------------------


async def test_no_init_closes_4408(make_server: ServerFactory) -> None:
    server = await make_server(connection_init_timeout=0.2)
    client = await server.connect()
    await client.expect_close(4408, "Connection initialisation timeout")
    await wait_until(engine_is_empty(server), what="cleanup")


async def test_pings_do_not_replace_init(make_server: ServerFactory) -> None:
    server = await make_server(connection_init_timeout=0.3)
    client = await server.connect()
    await client.expect_open()  # ping/pong is allowed before init...
    await client.expect_close(4408)  # ...but does not count as init


async def test_init_in_time_is_not_timed_out(make_server: ServerFactory) -> None:
    server = await make_server(connection_init_timeout=0.2, keepalive_interval=None)
    client = await server.connect()
    await client.init()
    await asyncio.sleep(0.5)  # well past the init timeout
    await client.expect_open()


async def test_slow_on_connect_does_not_trigger_init_timeout(make_server: ServerFactory) -> None:
    async def on_connect(payload: dict[str, Any] | None, request: RequestInfo) -> None:
        await asyncio.sleep(0.6)

    server = await make_server(connection_init_timeout=0.2, keepalive_interval=None, on_connect=on_connect)
    client = await server.connect()
    assert await client.init() == {"type": "connection_ack"}
    await client.expect_open()


# -- rule 3: repeated connection_init -------------------------------------------------------------


async def test_second_init_after_ack_closes_4429(server: RunningServer) -> None:
    client = await server.connect()
    await client.init()
    await client.send_json({"type": "connection_init"})
    await client.expect_close(4429, "Too many initialisation requests")


async def test_second_init_during_on_connect_closes_4429(make_server: ServerFactory) -> None:
    entered = asyncio.Event()

    async def on_connect(payload: dict[str, Any] | None, request: RequestInfo) -> None:
        entered.set()
        await asyncio.sleep(1.0)

    server = await make_server(on_connect=on_connect)
    client = await server.connect()
    await client.send_json({"type": "connection_init"})
    await asyncio.wait_for(entered.wait(), 5)
    await client.send_json({"type": "connection_init"})
    await client.expect_close(4429, "Too many initialisation requests")
    await wait_until(engine_is_empty(server), what="cleanup")


# -- rule 4: on_connect ---------------------------------------------------------------------------


async def _refuse_false(payload: dict[str, Any] | None, request: RequestInfo) -> bool:
    return False


def _refuse_sync_false(payload: dict[str, Any] | None, request: RequestInfo) -> bool:
    return False


async def _refuse_raise(payload: dict[str, Any] | None, request: RequestInfo) -> None:
    raise ConnectionRejected("bad token")


def _refuse_sync_raise(payload: dict[str, Any] | None, request: RequestInfo) -> None:
    raise ConnectionRejected("bad token")


@pytest.mark.parametrize(
    ("hook", "reason"),
    [
        (_refuse_false, "Forbidden"),
        (_refuse_sync_false, "Forbidden"),
        (_refuse_raise, "Forbidden: bad token"),
        (_refuse_sync_raise, "Forbidden: bad token"),
    ],
)
async def test_on_connect_refusal_closes_4403(make_server: ServerFactory, hook: Any, reason: str) -> None:
    server = await make_server(on_connect=hook)
    client = await server.connect()
    await client.send_json({"type": "connection_init", "payload": {"token": "nope"}})
    await client.expect_close(4403, reason)
    await wait_until(engine_is_empty(server), what="cleanup")


async def test_on_connect_sees_payload_and_request(make_server: ServerFactory) -> None:
    seen: list[tuple[dict[str, Any] | None, RequestInfo]] = []

    async def on_connect(payload: dict[str, Any] | None, request: RequestInfo) -> bool:
        seen.append((payload, request))
        return payload is not None and payload.get("token") == "secret"

    server = await make_server(on_connect=on_connect)
    good = await server.connect(path="/graphql?room=lobby", additional_headers={"X-Trace": "t-1"})
    await good.init({"token": "secret"})
    bad = await server.connect()
    await bad.send_json({"type": "connection_init", "payload": {"token": "guess"}})
    await bad.expect_close(4403)
    payload, request = seen[0]
    assert payload == {"token": "secret"}
    assert request.path == "/graphql"
    assert request.query_params == {"room": "lobby"}
    assert request.headers["x-trace"] == "t-1"
    assert PROTOCOL in request.subprotocols
    assert request.client is not None
    assert request.client[0] == "127.0.0.1"
    assert seen[1][0] == {"token": "guess"}


async def test_ack_without_payload_when_hook_returns_none(make_server: ServerFactory) -> None:
    server = await make_server(on_connect=lambda payload, request: {"user_id": "u1"})
    client = await server.connect()
    assert await client.init() == {"type": "connection_ack"}


async def test_ack_without_payload_without_hook(server: RunningServer) -> None:
    client = await server.connect()
    assert await client.init({"anything": 1}) == {"type": "connection_ack"}


@pytest.mark.parametrize(
    "result",
    [
        {"user_id": "u1", "ack_payload": {"welcome": "u1"}},
        ConnectionContext(user_id="u1", ack_payload={"welcome": "u1"}),
    ],
    ids=["dict", "context"],
)
async def test_ack_payload_when_hook_returns_one(make_server: ServerFactory, result: object) -> None:
    server = await make_server(on_connect=lambda payload, request: result)
    client = await server.connect()
    assert await client.init() == {"type": "connection_ack", "payload": {"welcome": "u1"}}


async def test_subscribe_right_behind_init_is_accepted(server: RunningServer) -> None:
    """The connection counts as acknowledged before the ack is sent: a client may send
    ``subscribe`` right after ``connection_init`` without waiting for the ack (rule 4)."""
    for attempt in range(10):
        client = await server.connect()
        await client.send_json({"type": "connection_init"})
        await client.subscribe("1", COUNTER)
        assert await client.receive_json() == {"type": "connection_ack"}, f"attempt {attempt}"
        await client.expect_open()
        await wait_for_subscriptions(server, 1)
        await server.publish("counter", {"n": attempt})
        assert (await client.receive_json())["payload"] == {"data": {"counter": {"n": attempt}}}
        await client.close()
        await wait_until(engine_is_empty(server), what="cleanup")


# -- rule 5: subscribe before connection_ack ------------------------------------------------------


async def test_subscribe_before_init_closes_4401(server: RunningServer) -> None:
    client = await server.connect()
    await client.subscribe("1", COUNTER)
    await client.expect_close(4401, "Unauthorized")
    await wait_until(engine_is_empty(server), what="cleanup")


async def test_subscribe_while_on_connect_runs_closes_4401(make_server: ServerFactory) -> None:
    entered = asyncio.Event()

    async def on_connect(payload: dict[str, Any] | None, request: RequestInfo) -> None:
        entered.set()
        await asyncio.sleep(1.0)

    server = await make_server(on_connect=on_connect)
    client = await server.connect()
    await client.send_json({"type": "connection_init"})
    await asyncio.wait_for(entered.wait(), 5)
    await client.subscribe("1", COUNTER)
    await client.expect_close(4401, "Unauthorized")
    await wait_until(engine_is_empty(server), what="cleanup")
