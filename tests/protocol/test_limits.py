"""Each limit reached over real sockets gives its documented answer, and a flood on one
connection never keeps another from its events (on every integration)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed

from tests.protocol.conftest import ServerFactory
from tests.protocol.harness import (
    COUNTER,
    Client,
    RunningServer,
    engine_is_empty,
    scrape,
    wait_for_subscriptions,
    wait_until,
)


def identify(payload: dict[str, Any] | None, request: object) -> dict[str, Any]:
    return {"user_id": (payload or {}).get("user")}


def limit_reached(server: RunningServer, limit: str) -> float:
    return scrape(server).get(f"fraiseql_subscriptions_limits_reached_total{{limit={limit}}}", 0.0)


async def test_connections_beyond_the_process_limit_are_told_to_try_later(make_server: ServerFactory) -> None:
    server = await make_server(max_connections=2)
    first, second = await server.connect(), await server.connect()
    await first.init()
    await second.init()
    third = await server.connect()
    await third.expect_close(1013, "Try again later: too many connections")
    await first.close()
    await wait_until(lambda: server.manager.connection_count == 1, what="a free place")
    fourth = await server.connect()
    await fourth.init()
    assert limit_reached(server, "connections") == 1


async def test_connections_beyond_the_per_user_limit_are_closed_4429(make_server: ServerFactory) -> None:
    server = await make_server(max_connections_per_user=2, on_connect=identify)
    anns = [await server.connect() for _ in range(3)]
    await anns[0].init({"user": "ann"})
    await anns[1].init({"user": "ann"})
    await anns[2].send_json({"type": "connection_init", "payload": {"user": "ann"}})
    await anns[2].expect_close(4429, "Too many connections for this user")
    bob = await server.connect()
    await bob.init({"user": "bob"})
    await anns[0].close()
    await wait_until(lambda: server.manager.connection_count == 2, what="ann's connection released")
    again = await server.connect()
    await again.init({"user": "ann"})
    assert limit_reached(server, "connections_per_user") == 1
    for client in (anns[1], bob, again):
        await client.close()
    await wait_until(engine_is_empty(server), what="cleanup")
    assert len(server.manager._connections_per_user) == 0, "no entry kept for users without connections"


async def test_subscribe_attempts_beyond_the_rate_are_closed_4429(make_server: ServerFactory) -> None:
    server = await make_server(max_subscribes_per_second=5)
    client = await server.connect()
    await client.init()
    for index in range(50):
        with contextlib.suppress(ConnectionClosed):
            await client.subscribe(str(index), COUNTER)
    await client.expect_close(4429, "Too many subscribe attempts")
    await wait_until(engine_is_empty(server), what="cleanup")
    assert limit_reached(server, "subscribes_per_second") == 1


async def test_messages_beyond_the_rate_are_closed_4429(make_server: ServerFactory) -> None:
    server = await make_server(max_messages_per_second=10)
    client = await server.connect()
    await client.init()
    for _ in range(200):
        with contextlib.suppress(ConnectionClosed):
            await client.send_json({"type": "pong"})
    await client.expect_close(4429, "Too many messages")
    assert limit_reached(server, "messages_per_second") == 1


async def test_a_client_within_the_rates_is_never_closed(make_server: ServerFactory) -> None:
    server = await make_server(max_messages_per_second=1000, max_subscribes_per_second=1000)
    client = await server.connect()
    await client.init()
    for index in range(20):
        await client.subscribe(str(index), COUNTER)
        await client.complete(str(index))
    await client.expect_open()


async def test_frames_beyond_the_subscription_rate_are_dropped_and_counted(
    make_server: ServerFactory,
) -> None:
    server = await make_server(max_frames_per_second=5)
    client = await server.connect()
    await client.init()
    await client.subscribe("1", COUNTER)
    await wait_for_subscriptions(server, 1)
    for n in range(50):
        await server.publish("counter", {"n": n})
    metrics = server.metrics()
    dropped, queued = metrics["frames_dropped_rate"], metrics["frames_queued"]
    assert dropped > 0
    assert queued + dropped == 50
    received = [(await client.receive_json())["payload"]["data"]["counter"]["n"] for _ in range(queued)]
    assert received == sorted(received), "what is let through keeps its order"
    await client.expect_open()
    assert scrape(server)["fraiseql_subscriptions_frames_dropped_total{cause=rate}"] == dropped


Flood = Callable[[Client], Awaitable[None]]


async def _pings(client: Client) -> None:
    for _ in range(2000):
        await client.send_json({"type": "ping"})


async def _subscribes(client: Client) -> None:
    for index in range(2000):
        await client.subscribe(f"s{index}", COUNTER)


async def _garbage_subscribes(client: Client) -> None:
    for index in range(2000):
        await client.subscribe(f"g{index}", "subscription { nope " + "{ a " * 50)


@pytest.mark.parametrize(
    "flood", [_pings, _subscribes, _garbage_subscribes], ids=lambda flood: flood.__name__
)
async def test_a_flood_on_one_connection_never_holds_up_another(
    make_server: ServerFactory, flood: Flood
) -> None:
    """The abusive connection is closed (4429); meanwhile the other gets every event, in order."""
    server = await make_server()
    victim = await server.connect()
    await victim.init()
    await victim.subscribe("1", COUNTER)
    await wait_for_subscriptions(server, 1)
    abuser = await server.connect()
    await abuser.init()

    async def abuse() -> None:
        with contextlib.suppress(ConnectionClosed):
            await flood(abuser)

    flooding = asyncio.ensure_future(abuse())
    received: list[int] = []
    for n in range(100):
        await server.publish("counter", {"n": n})
        if n % 10 == 0:
            await asyncio.sleep(0)  # let the abuser's messages in between
    while len(received) < 100:
        received.append((await victim.receive_json())["payload"]["data"]["counter"]["n"])
    assert received == list(range(100))
    await flooding
    await abuser.expect_close(4429)
    await victim.expect_open()
