"""Checklist rule 16: the server's keep-alive pings and the 4504 close (project decision)."""

from __future__ import annotations

import asyncio

from tests.protocol.conftest import ServerFactory
from tests.protocol.harness import COUNTER, engine_is_empty, wait_for_subscriptions, wait_until


async def test_server_pings_and_answered_pings_keep_the_connection(make_server: ServerFactory) -> None:
    server = await make_server(keepalive_interval=0.2, keepalive_timeout=0.5)
    client = await server.connect()
    await client.init()
    await client.subscribe("s", COUNTER)
    await wait_for_subscriptions(server, 1)
    pings = 0  # also the number of events published
    n = 0  # events received
    while pings < 4 or n < pings:
        message = await client.receive_json()
        if message["type"] == "ping":
            assert set(message) <= {"type", "payload"}
            pings += 1
            await client.send_json({"type": "pong"})
            await server.publish("counter", {"n": pings - 1})
        else:
            assert message == {"id": "s", "type": "next", "payload": {"data": {"counter": {"n": n}}}}
            n += 1
    assert server.metrics()["active_subscriptions"] == 1


async def test_unanswered_ping_closes_4504(make_server: ServerFactory) -> None:
    server = await make_server(keepalive_interval=0.2, keepalive_timeout=0.2)
    client = await server.connect()
    await client.init()
    await client.subscribe("s", COUNTER)
    assert (await client.receive_json())["type"] == "ping"
    await client.expect_close(4504, "Keep-alive timeout: no pong")
    await wait_until(engine_is_empty(server), what="cleanup")


async def test_client_pings_do_not_answer_server_pings(make_server: ServerFactory) -> None:
    server = await make_server(keepalive_interval=0.2, keepalive_timeout=0.5)
    client = await server.connect()
    await client.init()
    assert (await client.receive_json())["type"] == "ping"
    await client.send_json({"type": "ping"})  # a ping is not a pong
    assert await client.receive_json() == {"type": "pong"}
    await client.expect_close(4504)


async def test_no_keepalive_pings_before_ack(make_server: ServerFactory) -> None:
    server = await make_server(keepalive_interval=0.1, keepalive_timeout=0.1, connection_init_timeout=2.0)
    client = await server.connect()
    await asyncio.sleep(0.5)
    await client.expect_open()  # the pong of our ping is the first message: no server ping


async def test_keepalive_can_be_disabled(make_server: ServerFactory) -> None:
    server = await make_server(keepalive_interval=None, keepalive_timeout=0.1)
    client = await server.connect()
    await client.init()
    await asyncio.sleep(0.5)
    await client.expect_open()
