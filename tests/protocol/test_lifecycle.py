"""10,000 connect/subscribe/disconnect cycles (a quarter of them aborted: TCP resets) against the
FastAPI integration and the native transport: nothing leaks."""

from __future__ import annotations

import asyncio
import os

import pytest

from tests.protocol.harness import (
    ASYNC_COUNTER,
    COUNTER,
    Integration,
    RunningServer,
    engine_is_empty,
    running_server,
    wait_until,
)

CYCLES = 10_000
WARM_UP = 500
CONCURRENCY = 16
RSS_MARGIN = 30 * 1024 * 1024


def _rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


async def _cycle(server: RunningServer, index: int) -> None:
    client = await server.connect()
    await client.init()
    await client.subscribe(f"s{index}", COUNTER)
    await client.subscribe("async", ASYNC_COUNTER)
    await client.subscribe("room", "subscription { messageAdded(room: $room) { id } }")
    await client.subscribe(
        f"r{index}", "subscription R($room: String!) { messageAdded(room: $room) { id } }", {"room": "a"}
    )
    assert (await client.receive_json())["id"] == "room"  # the invalid one's error
    await client.expect_open()  # the subscriptions are registered
    server.clients.remove(client)
    if index % 4 == 3:
        client.abort()  # an abrupt disconnect now and then
    else:
        await client.close()


async def _run(server: RunningServer, start: int, count: int) -> None:
    queue = iter(range(start, start + count))

    async def worker() -> None:
        for index in queue:
            await _cycle(server, index)

    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs /proc/self/statm (Linux)")
@pytest.mark.parametrize("integration", ["fastapi", "native"])
async def test_connection_lifecycle_does_not_leak(integration: Integration) -> None:
    async with running_server(integration) as server:
        await _run(server, 0, WARM_UP)
        await wait_until(engine_is_empty(server), what="cleanup after the warm-up")
        baseline = _rss()
        await _run(server, WARM_UP, CYCLES)
        await wait_until(engine_is_empty(server), what="cleanup after the cycles")
        metrics = server.metrics()
        assert (metrics["active_connections"], metrics["active_subscriptions"], metrics["active_groups"]) == (
            0,
            0,
            0,
        )
        assert (metrics["pending_resolver_jobs"], metrics["registered_resolvers"]) == (0, 0)
        assert server.manager.connection_count == 0
        if server.native is not None:
            endpoint = server.native.endpoint
            # A connection's TCP side goes after its engine side (the close handshake lingers).
            await wait_until(lambda: endpoint.stats()["tcp_connections"] == 0, what="every socket closed")
            assert endpoint.stats()["pending_connections"] == 0
        growth = _rss() - baseline
        assert growth < RSS_MARGIN, f"RSS grew by {growth / 2**20:.1f} MiB over {CYCLES} cycles"
